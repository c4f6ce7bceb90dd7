// The room at a glance: what needs the operator (questions, approvals,
// alarms), each agent's state in one line, and who talks to whom (message
// counts by sender and recipient, from the messages this page has seen).

import { state, el, ago } from './state.js';

const $ = (id) => document.getElementById(id);
const counts = new Map(); // sender -> Map(recipient -> n)
export const lastSaid = new Map(); // sender -> ts of its last message
const MAX_AXIS = 10;
let timer = null;

export function countMessage(m) {
  if (m.origin === 'hub' || (m.kind !== 'message' && m.kind !== 'answer')) return;
  const row = counts.get(m.sender) || new Map();
  row.set(m.recipient, (row.get(m.recipient) || 0) + 1);
  counts.set(m.sender, row);
  lastSaid.set(m.sender, Math.max(lastSaid.get(m.sender) || 0, m.ts));
  if (!timer) timer = setTimeout(() => { timer = null; renderGlance(); }, 250);
}

// One agent's state in words: what it is doing and what waits for it.
export function doing(p) {
  if (p.state === 'reaped') return 'away';
  const parts = [p.paused ? 'paused' : p.listening ? 'listening'
    : p.last_listened_age == null ? 'never listened' : 'working'];
  const said = lastSaid.get(p.name);
  parts.push(said ? `said something ${ago(Date.now() / 1000 - said)} ago` : 'silent so far');
  return parts.join(' · ');
}

function matrix() {
  const total = (row) => [...row.values()].reduce((a, b) => a + b, 0);
  const senders = [...counts.entries()].sort((a, b) => total(b[1]) - total(a[1]))
    .slice(0, MAX_AXIS).map(([s]) => s);
  const byRecipient = new Map();
  for (const row of counts.values()) {
    for (const [r, n] of row) byRecipient.set(r, (byRecipient.get(r) || 0) + n);
  }
  const recipients = [...byRecipient.entries()].sort((a, b) => b[1] - a[1])
    .slice(0, MAX_AXIS).map(([r]) => r);
  if (!senders.length) return el('p', { class: 'muted' }, 'Nobody has spoken yet.');
  const max = Math.max(...[...counts.values()].flatMap((row) => [...row.values()]));
  const head = el('tr', {}, el('th', { scope: 'col' }, el('span', { class: 'sr-only' }, 'from \\ to')),
    ...recipients.map((r) => el('th', { scope: 'col' }, r)));
  const rows = senders.map((s) => el('tr', {},
    el('th', { scope: 'row' }, s),
    ...recipients.map((r) => {
      const n = counts.get(s).get(r) || 0;
      const cell = el('td', { 'data-from': s, 'data-to': r }, n ? String(n) : '');
      if (n) cell.style.setProperty('--heat', String(0.08 + 0.3 * (n / max)));
      return cell;
    })));
  return el('table', { class: 'matrix' },
    el('caption', {}, 'Messages by sender (rows) and recipient (columns)'),
    el('thead', {}, head), el('tbody', {}, ...rows));
}

export function renderGlance() {
  const live = state.peers.filter((p) => p.state === 'live');
  const alarms = live.filter((p) => p.backlog_alarm).length;
  const needs = [
    [state.forms.length, 'question', 'questions'],
    [state.approvals.length, 'approval', 'approvals'],
    [alarms, 'backlog alarm', 'backlog alarms'],
  ].filter(([n]) => n).map(([n, one, many]) => `${n} ${n === 1 ? one : many}`);
  $('glance-needs').textContent = needs.length
    ? `Waiting for you: ${needs.join(', ')}.`
    : 'Nothing waits for you.';
  $('glance-needs').classList.toggle('alarm', needs.length > 0);
  const listening = live.filter((p) => p.listening).length;
  const never = live.filter((p) => !p.listening && p.last_listened_age == null).length;
  const parts = [`${listening} listening`, `${live.length - listening - never} working`];
  if (never) parts.push(`${never} never listened`);
  $('glance-summary').textContent = `${live.length} agent${live.length === 1 ? '' : 's'} in the room: `
    + `${parts.join(', ')}; the room is ${state.mode}.`;
  $('glance-matrix').replaceChildren(matrix());
}
