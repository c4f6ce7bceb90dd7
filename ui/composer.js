// The operator's composer: Enter sends, Shift+Enter breaks the line, and
// `@name` / `#channel` complete from the room (arrows to choose, Tab or
// Enter to take, Escape to close). Taking a completion as the first word
// of a message to `all` addresses the message to it.

import { state, el } from './state.js';
import { control } from './hub.js';

const $ = (id) => document.getElementById(id);
let choices = [];
let chosen = 0;

// The `@x` or `#x` word the caret ends, if any: its start and text.
function wordAtCaret(area) {
  const upto = area.value.slice(0, area.selectionStart);
  const m = /(^|\s)([@#][^\s@#]*)$/.exec(upto);
  return m ? { start: upto.length - m[2].length, word: m[2] } : null;
}

function candidates(word) {
  const prefix = word.slice(1).toLowerCase();
  const pool = word[0] === '@'
    ? state.peers.filter((p) => p.state === 'live').map((p) => p.name)
    : Object.keys(state.channels).map((c) => c.slice(1));
  return pool.filter((n) => n.toLowerCase().startsWith(prefix)).slice(0, 8)
    .map((n) => word[0] + n);
}

function close() {
  choices = [];
  $('complete').hidden = true;
  $('content').removeAttribute('aria-activedescendant');
  $('content').setAttribute('aria-expanded', 'false');
}

function show() {
  const list = $('complete');
  list.replaceChildren(...choices.map((c, i) => el('li', {
    id: `complete-${i}`, role: 'option', 'aria-selected': String(i === chosen),
    onmousedown: (e) => { e.preventDefault(); chosen = i; take(); },
  }, c)));
  list.hidden = !choices.length;
  const area = $('content');
  area.setAttribute('aria-expanded', String(choices.length > 0));
  if (choices.length) area.setAttribute('aria-activedescendant', `complete-${chosen}`);
}

function update() {
  const at = wordAtCaret($('content'));
  choices = at ? candidates(at.word) : [];
  chosen = 0;
  if (choices.length === 1 && at && choices[0] === at.word) choices = [];
  show();
}

function take() {
  const area = $('content');
  const at = wordAtCaret(area);
  const pick = choices[chosen];
  if (!at || !pick) { close(); return; }
  const before = area.value.slice(0, at.start);
  const after = area.value.slice(area.selectionStart);
  area.value = `${before}${pick} ${after}`;
  const caret = before.length + pick.length + 1;
  area.setSelectionRange(caret, caret);
  if (!before.trim() && ($('to').value.trim() || 'all') === 'all') {
    $('to').value = pick[0] === '@' ? pick.slice(1) : pick;
  }
  close();
}

async function send() {
  const to = $('to').value.trim() || 'all';
  const content = $('content').value;
  if (!content.trim()) return;
  const ok = await control({ action: 'say', to, content });
  if (ok) $('content').value = '';
}

export function initComposer() {
  const area = $('content');
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  area.addEventListener('input', update);
  area.addEventListener('blur', () => setTimeout(close, 100));
  area.addEventListener('keydown', (e) => {
    if (e.isComposing) return;
    if (choices.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        chosen = (chosen + (e.key === 'ArrowDown' ? 1 : choices.length - 1)) % choices.length;
        show();
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) { e.preventDefault(); take(); return; }
      if (e.key === 'Escape') { e.preventDefault(); close(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); }
  });
}
