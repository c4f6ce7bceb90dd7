// Flow panel: the live transcript, its filter, and the operator's composer.
// Messages are appended as DOM nodes (never re-rendered); the transcript
// keeps the last MAX_SHOWN, and CSS `content-visibility` keeps layout cheap
// for the ones off screen.

import { state, el } from './state.js';
import { control } from './app.js';

const MAX_SHOWN = 10000;
const $ = (id) => document.getElementById(id);
let filter = '';

function hue(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

function clock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
}

// The filter is one generated style rule, not a write to every row: one
// style recalculation however long the transcript. (A constructed sheet is
// CSSOM, which the page's Content-Security-Policy allows.)
const filterSheet = new CSSStyleSheet();
document.adoptedStyleSheets = [...document.adoptedStyleSheets, filterSheet];

function applyFilter() {
  filter = $('filter').value;
  const f = CSS.escape(filter);
  filterSheet.replaceSync(filter
    ? `#transcript > li:not([data-from="${f}"]):not([data-to="${f}"]) { display: none; }`
    : '');
}

function node(m) {
  const target = m.recipient === 'all'
    ? el('span', { class: 'to' }, 'all')
    : m.recipient.startsWith('#')
      ? el('span', { class: 'to channel' }, m.recipient)
      : el('span', { class: 'to direct' }, m.recipient);
  const who = el('span', { class: 'who' }, m.sender);
  if (m.origin === 'agent') who.style.color = `hsl(${hue(m.sender)} 60% 42%)`;
  const urgent = m.meta && m.meta.interrupt ? (m.meta.reset ? 'reset' : 'interrupt') : null;
  const li = el('li', {
    class: `msg ${m.kind} ${m.origin}${urgent ? ' interrupt' : ''}`,
    'data-seq': m.seq,
    'data-id': m.id,
    'data-from': m.sender,
    'data-to': m.recipient,
  },
  el('header', {}, who, target,
    m.kind !== 'message' ? el('span', { class: 'muted' }, m.kind) : null,
    urgent ? el('span', { class: 'muted' }, urgent) : null,
    el('time', { datetime: new Date(m.ts * 1000).toISOString() }, clock(m.ts))),
  el('div', { class: 'body' }, m.content));
  return li;
}

// Messages wait here for the next frame: one layout per frame, however
// fast they arrive.
let pending = [];
const shown = new Set();

function flush() {
  const list = $('transcript');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const batch = document.createDocumentFragment();
  for (const m of pending) batch.append(node(m));
  pending = [];
  list.append(batch);
  let extra = list.childElementCount - MAX_SHOWN;
  while (extra-- > 0) {
    shown.delete(list.firstElementChild.dataset.id);
    list.firstElementChild.remove();
  }
  if (nearBottom) list.scrollTop = list.scrollHeight;
  $('count').textContent = `${list.childElementCount} shown`;
}

// Queues a message for the transcript; one already shown (a reconnect's
// snapshot repeats the log) is skipped.
export function addMessage(m) {
  if (shown.has(m.id)) return;
  shown.add(m.id);
  if (!pending.length) requestAnimationFrame(flush);
  pending.push(m);
}


// Refreshes the filter choices and the composer's completions.
export function renderFlow() {
  const peers = state.peers.map((p) => p.name);
  const channels = Object.keys(state.channels);
  const known = new Set(['hub', 'human', ...peers, ...channels]);
  const select = $('filter');
  const options = [el('option', { value: '' }, 'everything'),
    ...[...known].map((n) => el('option', { value: n }, n))];
  if (filter && !known.has(filter)) options.push(el('option', { value: filter }, filter));
  select.replaceChildren(...options);
  select.value = filter;
  $('targets').replaceChildren(...['all', ...peers, ...channels].map((n) => el('option', { value: n })));
}

export function initFlow() {
  $('filter').addEventListener('change', applyFilter);
  const form = $('composer');
  const send = async () => {
    const to = $('to').value.trim() || 'all';
    const content = $('content').value;
    if (!content.trim()) return;
    const ok = await control({ action: 'say', to, content });
    if (ok) $('content').value = '';
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('content').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  });
}
