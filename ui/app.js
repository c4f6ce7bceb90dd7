// Entry point: authenticates, keeps the /ui feed connected, dispatches
// events to the panels, and wires the page's controls (the calls to the hub
// are in hub.js).

import { state, apply } from './state.js';
import { renderHealth } from './health.js';
import { renderFlow, addMessage, initFlow } from './flow.js';
import { renderChannels } from './channels.js';
import { renderForms, initForms } from './forms.js';
import { renderApprovals, refreshAges, initChair, notify } from './chair.js';
import { renderGlance } from './glance.js';
import { authHeaders, control, hasToken, setToken, toast } from './hub.js';

let retry = 500;
const $ = (id) => document.getElementById(id);

// The feed's state, shown beside the mode: live, or down and retrying.
function connection(s, text) {
  const c = $('conn');
  c.dataset.state = s;
  c.textContent = text;
}

function render(panels) {
  if (panels.some((p) => ['mode', 'health', 'forms', 'approvals'].includes(p))) renderGlance();
  for (const p of panels) {
    if (p === 'mode') {
      const m = $('mode');
      m.textContent = state.mode;
      m.dataset.mode = state.mode;
    } else if (p === 'health') {
      renderHealth();
      renderFlow();
      refreshAges();
    } else if (p === 'channels') {
      renderChannels();
      renderFlow();
    } else if (p === 'forms') {
      renderForms();
    } else if (p === 'approvals') {
      renderApprovals();
    } else if (p === 'rate' && state.rateLimit) {
      $('rate-enabled').checked = state.rateLimit.enabled;
      $('rate-burst').value = state.rateLimit.burst;
      $('rate-per-second').value = state.rateLimit.per_second;
    }
  }
}

function handle(ev) {
  if (ev.type === 'auth_ok') {
    state.role = ev.role;
    $('role').textContent = ev.auth ? `as ${ev.role}` : '';
    document.body.classList.toggle('observer', ev.role !== 'operator');
    return;
  }
  if (ev.type === 'auth_error') {
    askToken('That token was refused.');
    return;
  }
  if (ev.type === 'heartbeat_result') {
    const r = ev.result;
    toast(`${r.peer}: ${r.state}${r.listening ? ', listening' : ''}${r.status ? ` — ${r.status}` : ''}`);
    return;
  }
  if (ev.type === 'snapshot') {
    // After a reconnect the transcript stays; only what it lacks is added.
    for (const m of ev.log) addMessage(m);
  }
  if (ev.type === 'message') addMessage(ev.message);
  if (ev.type === 'form') notify(`${ev.form.asker} asks: ${ev.form.title}`, `for ${ev.form.to}`, `form-${ev.form.id}`);
  if (ev.type === 'backlog_alarm') notify(`${ev.peer}: messages wait and nothing listens`, `${ev.waiting} waiting`, `alarm-${ev.peer}`);
  if (ev.type === 'loop_guard') {
    const why = `Loop guard: ${ev.count} agent messages with no word from you; the room is paused.`;
    toast(why);
    notify('caucus paused itself', why, 'loop-guard');
  }
  render(apply(ev));
}

function disconnected() {
  $('banner').hidden = false;
  connection('down', `feed down, retrying in ${(retry / 1000).toFixed(1)} s`);
  setTimeout(connect, retry);
  retry = Math.min(retry * 2, 5000);
}

function askToken(error) {
  const d = $('login');
  $('login-error').textContent = error || '';
  $('login-error').hidden = !error;
  if (!d.open) d.showModal();
}

async function connect() {
  let ticket;
  try {
    const r = await fetch('/ui/ticket', { method: 'POST', headers: authHeaders() });
    if (r.status === 401) {
      $('banner').hidden = true;
      askToken(hasToken() ? 'That token was refused.' : '');
      return;
    }
    if (!r.ok) throw new Error(`ticket: ${r.status}`);
    ticket = (await r.json()).ticket;
  } catch (e) {
    disconnected();
    return;
  }
  const url = new URL('/ui', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (ticket) url.searchParams.set('ticket', ticket);
  const ws = new WebSocket(url);
  let opened = false;
  ws.onopen = () => { opened = true; retry = 500; $('banner').hidden = true; connection('live', 'live'); };
  ws.onmessage = (e) => {
    try { handle(JSON.parse(e.data)); } catch (err) { console.error('bad event', err); }
  };
  ws.onclose = (e) => {
    if (e.code === 1008) return; // refused ticket: the login dialog is up
    if (!opened) { disconnected(); return; }
    disconnected();
  };
}

// Single keys when no field has the focus; `?` lists them.
function shortcuts(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, dialog[open], [contenteditable]')) return;
  const operator = state.role === 'operator' || state.role === null;
  if (e.key === '?') { e.preventDefault(); $('help').showModal(); }
  else if (e.key === '/') { e.preventDefault(); $('search').focus(); }
  else if (e.key === 'c' && operator) { e.preventDefault(); $('content').focus(); }
  else if (e.key === 'p' && operator) { e.preventDefault(); control({ action: 'pause' }); }
  else if (e.key === 'r' && operator) { e.preventDefault(); control({ action: 'resume' }); }
}

function init() {
  document.addEventListener('keydown', shortcuts);
  $('help-open').addEventListener('click', () => $('help').showModal());
  for (const b of document.querySelectorAll('.controls button')) {
    b.addEventListener('click', async () => {
      const action = b.dataset.action;
      if (action === 'stop' && !confirm('Stop the room? Every agent is told to stop.')) return;
      await control({ action });
    });
  }
  $('login-form').addEventListener('submit', () => {
    setToken($('login-token').value.trim());
    connect();
  });
  initFlow();
  initForms();
  initChair();
  launch().then(connect);
}

// The URL the hub printed at start signs this tab in once: its single-use
// ticket is traded for the operator token, and taken out of the address
// bar and the history at once.
async function launch() {
  const m = /^#ticket=([0-9a-f]+)$/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, '', location.pathname + location.search);
  try {
    const r = await fetch('/ui/launch', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ticket: m[1] }),
    });
    const body = await r.json();
    if (r.ok && body.token) {
      setToken(body.token);
    } else if (!r.ok) {
      toast(body.detail || 'That console link no longer works.');
    }
  } catch (e) {
    toast('The console link could not be used: sign in with the token.');
  }
}

init();
