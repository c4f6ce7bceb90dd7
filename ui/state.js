// The console's single state object, fed by the event stream. Render
// functions read it; only `apply` writes it.

export const state = {
  mode: 'running',
  role: null,
  peers: [],
  channels: {},
  floors: {},
  forms: [],
  approvals: [],
  rateLimit: null,
  health: null,
};

// Applies one feed event; returns the names of the panels it touched.
export function apply(ev) {
  switch (ev.type) {
    case 'snapshot':
      Object.assign(state, {
        mode: ev.mode, peers: ev.peers, channels: ev.channels,
        floors: ev.floors, forms: ev.forms, health: ev.health,
        approvals: ev.approvals || [], rateLimit: ev.rate_limit || null,
      });
      return ['mode', 'health', 'channels', 'forms', 'approvals', 'rate', 'log'];
    case 'message': return ['message'];
    case 'peers': state.peers = ev.peers; return ['health'];
    case 'channels': state.channels = ev.channels; return ['channels'];
    case 'floor': state.floors = ev.floors; return ['channels'];
    case 'mode': state.mode = ev.mode; return ['mode'];
    case 'form': state.forms = [...state.forms, ev.form]; return ['forms'];
    case 'form_resolved': state.forms = state.forms.filter((f) => f.id !== ev.id); return ['forms'];
    case 'approvals': state.approvals = ev.approvals; return ['approvals'];
    case 'rate_limit': state.rateLimit = ev.rate_limit; return ['rate'];
    case 'health': state.health = ev.health; state.peers = ev.peers; return ['health'];
    default: return [];
  }
}

// Small DOM helper: el('li', {class: 'x'}, child, 'text').
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function ago(seconds) {
  if (seconds == null) return '–';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}`;
}
