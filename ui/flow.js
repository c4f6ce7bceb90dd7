// Flow panel: the live transcript, its filter, search over the hub's
// history, export, and the operator's composer. Messages are appended as
// DOM nodes (never re-rendered); the transcript keeps the last MAX_SHOWN,
// and CSS `content-visibility` keeps layout cheap for the ones off screen.

import { state, el } from './state.js';
import { control, authHeaders, toast } from './hub.js';
import { render, highlight } from './markdown.js';
import { initComposer } from './composer.js';
import { countMessage } from './glance.js';

const MAX_SHOWN = 10000;
// A message longer than this folds, with "Show more".
const FOLD_CHARS = 1200;
const FOLD_LINES = 18;
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

function body(m) {
  const b = el('div', { class: 'body' });
  // The hub's notices are plain text; what agents and the operator write
  // is Markdown, rendered to safe nodes.
  if (m.origin === 'hub') b.append(m.content);
  else b.append(render(m.content));
  return b;
}

function foldable(li, m) {
  const lines = m.content.split('\n').length;
  if (m.content.length <= FOLD_CHARS && lines <= FOLD_LINES) return;
  li.classList.add('folded');
  const toggle = el('button', { type: 'button', class: 'small fold', 'aria-expanded': 'false' }, 'Show more');
  toggle.addEventListener('click', () => {
    const open = li.classList.toggle('folded') === false;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.textContent = open ? 'Show less' : 'Show more';
  });
  li.append(toggle);
}

function node(m) {
  const target = m.recipient === 'all'
    ? el('span', { class: 'to' }, 'all')
    : m.recipient.startsWith('#')
      ? el('span', { class: 'to channel' }, m.recipient)
      : el('span', { class: 'to direct' }, m.recipient);
  const who = el('span', { class: 'who' }, m.sender);
  if (m.origin === 'agent') who.style.setProperty('--hue', String(hue(m.sender)));
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
  body(m));
  foldable(li, m);
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
  countMessage(m);
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

// ---- search ---------------------------------------------------------------

let searchTimer = null;
let searchTurn = 0;

// The words of a query to highlight (filters are not words of the text).
function words(q) {
  const out = [];
  const re = /"([^"]*)"?|(\S+)/g;
  let m;
  while ((m = re.exec(q)) !== null) {
    const w = m[1] !== undefined ? m[1] : m[2];
    if (w && !/^(from|to):/.test(w) && !w.startsWith('#')) out.push(w);
  }
  return out;
}

function showResults(on) {
  $('transcript').hidden = on;
  $('results').hidden = !on;
  if (!on) $('count').textContent = `${$('transcript').childElementCount} shown`;
}

async function search() {
  const q = $('search').value.trim();
  const turn = ++searchTurn;
  if (!q) { showResults(false); return; }
  let answer;
  try {
    const r = await fetch(`/search?q=${encodeURIComponent(q)}&limit=200`, { headers: authHeaders() });
    answer = await r.json();
    if (!r.ok) {
      if (turn === searchTurn) $('count').textContent = `search: ${answer.detail || r.status}`;
      return;
    }
  } catch (e) {
    if (turn === searchTurn) $('count').textContent = 'search: the hub is unreachable';
    return;
  }
  if (turn !== searchTurn) return; // a newer query is on its way
  const terms = words(q);
  const items = answer.messages.map((m) => {
    const li = node(m);
    highlight(li.querySelector('.body'), terms);
    highlight(li.querySelector('header'), terms);
    return li;
  });
  $('results').replaceChildren(...(items.length ? items : [el('li', { class: 'muted empty' }, 'Nothing found.')]));
  $('results').scrollTop = 0;
  showResults(true);
  const n = answer.messages.length;
  $('count').textContent = `${n} found${answer.more ? ' (the newest; more are older)' : ''}`;
}

// ---- export ---------------------------------------------------------------

async function download(format) {
  try {
    const r = await fetch(`/export?format=${format}`, { headers: authHeaders() });
    if (!r.ok) {
      const a = await r.json().catch(() => ({}));
      toast(`export: ${a.detail || r.status}`);
      return;
    }
    const name = (/filename="?([^";]+)"?/.exec(r.headers.get('Content-Disposition') || '') || [])[1]
      || `caucus-chat.${format}`;
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    toast('export: the hub is unreachable');
  }
}

export function initFlow() {
  $('filter').addEventListener('change', applyFilter);
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 200);
  });
  $('search').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { $('search').value = ''; search(); }
    if (e.key === 'Enter') { clearTimeout(searchTimer); search(); }
  });
  for (const b of document.querySelectorAll('[data-export]')) {
    b.addEventListener('click', () => download(b.dataset.export));
  }
  initComposer();
}
