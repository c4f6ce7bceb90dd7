// The chair's desk: tool approvals waiting for the operator, interrupting
// or resetting one agent, the rate limit, and browser notifications for
// what needs the operator while the page is in the background.

import { state, el, ago } from './state.js';
import { control, toast } from './hub.js';

const $ = (id) => document.getElementById(id);
const seen = new Set(); // approval ids already notified

function ages(age, left) {
  return left > 0 ? `asked ${ago(age)} ago · the host decides in ${ago(left)}` : `asked ${ago(age)} ago · left to the host`;
}

// Moves the approvals' clocks on without rebuilding their cards (a button
// being clicked is never replaced under the pointer).
export function refreshAges() {
  const now = Date.now() / 1000;
  for (const n of document.querySelectorAll('#approval-list .age')) {
    n.textContent = ages(now - Number(n.dataset.asked), Number(n.dataset.expires) - now);
  }
}

// What the operator allows must read as what runs: characters that do not
// show, or that turn the text around (a right-to-left override makes a
// command read as a comment), are shown as escapes, \u{202E}.
const HIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB]|\uDB40[\uDC00-\uDFFF]/g;
export function visible(text) {
  return String(text ?? '').replace(HIDDEN, (c) => `\\u{${c.codePointAt(0).toString(16).toUpperCase()}}`);
}

export function renderApprovals() {
  const items = state.approvals.map((a) =>
    el('li', { 'data-approval': a.id },
      el('div', { class: 'title' }, `${a.peer} asks to run ${a.tool}`),
      a.summary ? el('pre', { class: 'summary', title: 'what runs' }, visible(a.summary)) : null,
      a.description ? el('div', { class: 'muted' }, `The agent says: ${visible(a.description)}`) : null,
      el('pre', { class: 'preview', title: 'the whole input' }, visible(a.preview)),
      el('div', { class: 'muted age', 'data-asked': String(Date.now() / 1000 - a.age),
        'data-expires': String(Date.now() / 1000 + a.expires_in) }, ages(a.age, a.expires_in)),
      el('div', { class: 'row-actions' },
        el('button', { type: 'button', class: 'small', 'data-verdict': 'approve',
          onclick: () => control({ action: 'approve', id: a.id }) }, 'Allow'),
        el('button', { type: 'button', class: 'small danger', 'data-verdict': 'deny',
          onclick: () => {
            const reason = prompt(`Deny ${a.tool} for ${a.peer}? A reason for the agent (optional):`, '');
            if (reason !== null) control({ action: 'deny', id: a.id, reason: reason.trim() || undefined });
          } }, 'Deny'))));
  $('approval-list').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'No tool waits for approval.')]));
  const badge = $('approval-count');
  badge.hidden = !state.approvals.length;
  badge.textContent = state.approvals.length;
  for (const a of state.approvals) {
    if (!seen.has(a.id)) {
      seen.add(a.id);
      notify(`${a.peer} asks to run ${a.tool}`, a.description || a.preview, `approval-${a.id}`);
    }
  }
}

// Interrupt (or reset) one agent: the operator's words reach it at its
// next step, through a pause.
export function interrupt(peer, reset) {
  const d = $('interrupt');
  d.dataset.peer = peer;
  d.dataset.reset = reset ? '1' : '';
  $('interrupt-title').textContent = reset ? `Reset ${peer}` : `Interrupt ${peer}`;
  $('interrupt-help').textContent = reset
    ? `${peer} is told to drop what it knows of the room and start afresh (a caucus agent gets a fresh session). Words to add (optional):`
    : `${peer} gets these words at its next step: its next tool call is refused with them, a caucus agent's running command is ended, a listening agent hears them at once, even while paused.`;
  $('interrupt-text').value = '';
  $('interrupt-text').required = !reset;
  d.showModal();
  $('interrupt-text').focus();
}

async function sendInterrupt() {
  const d = $('interrupt');
  const content = $('interrupt-text').value.trim();
  const reset = d.dataset.reset === '1';
  if (!reset && !content) return;
  const ok = await control({ action: reset ? 'reset_peer' : 'interrupt', peer: d.dataset.peer, content: content || undefined });
  if (ok) {
    d.close();
    toast(`${d.dataset.peer} ${reset ? 'reset' : 'interrupted'}`);
  }
}

// Browser notifications: asked for once, on the operator's first click.
export function notify(title, body, tag) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return;
  try { new Notification(title, { body, tag }); } catch (e) { /* not in this context */ }
}

function askOnce() {
  if (!('Notification' in window) || localStorage.getItem('caucus-notify-asked')) return;
  if (Notification.permission !== 'default') return;
  localStorage.setItem('caucus-notify-asked', '1');
  Notification.requestPermission().then((p) => {
    if (p === 'granted') toast('Notifications on: questions, approvals, alarms and the loop guard.');
  });
}

export function initChair() {
  $('interrupt-form').addEventListener('submit', (e) => { e.preventDefault(); sendInterrupt(); });
  $('interrupt-cancel').addEventListener('click', () => $('interrupt').close());
  $('rate-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const burst = Number($('rate-burst').value);
    const perSecond = Number($('rate-per-second').value);
    const body = { action: 'set_rate_limit', enabled: $('rate-enabled').checked };
    if ($('rate-burst').value !== '') body.burst = burst;
    if ($('rate-per-second').value !== '') body.per_second = perSecond;
    const r = await control(body);
    if (r) {
      const l = r.rate_limit;
      toast(l.enabled ? `Rate limit: ${l.burst} at once, ${l.per_second}/s after` : 'Rate limit off');
    }
  });
  document.addEventListener('click', askOnce, { once: true });
}
