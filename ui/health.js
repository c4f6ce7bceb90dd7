// Health panel: the hub's figures and the roster, with per-peer actions.

import { state, el, ago } from './state.js';
import { control } from './hub.js';
import { interrupt } from './chair.js';
import { doing } from './glance.js';

const $ = (id) => document.getElementById(id);

function peerActions(p) {
  if (p.state !== 'live') return null;
  return el('div', { class: 'row-actions' },
    p.paused
      ? el('button', { class: 'small', type: 'button', onclick: () => control({ action: 'resume_peer', peer: p.name }) }, 'Resume')
      : el('button', { class: 'small', type: 'button', onclick: () => control({ action: 'pause_peer', peer: p.name }) }, 'Pause'),
    el('button', { class: 'small', type: 'button', onclick: () => control({ action: 'heartbeat', peer: p.name }) }, 'Ping'),
    el('button', { class: 'small', type: 'button', 'data-act': 'interrupt', onclick: () => interrupt(p.name, false) }, 'Interrupt'),
    el('button', { class: 'small', type: 'button', 'data-act': 'reset', onclick: () => interrupt(p.name, true) }, 'Reset'),
    el('button', {
      class: 'small danger', type: 'button',
      onclick: () => { if (confirm(`Kick ${p.name} for good?`)) control({ action: 'kick', peer: p.name }); },
    }, 'Kick'),
  );
}

/** Who hears the peer: listening now, or since when not; what waits. */
function hearing(p) {
  const ear = p.listening
    ? 'listening'
    : p.last_listened_age == null ? 'never listened' : `last listened ${ago(p.last_listened_age)} ago`;
  const waits = p.waiting
    ? ` · ${p.waiting} waiting, oldest ${ago(p.oldest_age)}`
    : '';
  return ear + waits;
}

export function renderHealth() {
  const h = state.health;
  if (h) {
    $('h-uptime').textContent = ago(h.uptime);
    $('h-peers').textContent = h.peer_count;
    $('h-rate').textContent = h.msg_per_min;
    $('h-queue').textContent = h.queue_depth;
    $('h-mem').textContent = `${h.mem_rss_mb} MiB`;
  }
  const items = state.peers.map((p) => {
    const dotClass = p.state === 'reaped' ? 'dot reaped' : p.listening ? 'dot listening' : 'dot';
    const flags = [p.state === 'reaped' ? 'away' : null, p.paused ? 'paused' : null,
      p.interrupt ? 'interrupt pending' : null].filter(Boolean).join(', ');
    const alarm = p.backlog_alarm
      ? el('div', { class: 'alarm', role: 'alert' }, 'messages wait and nothing listens')
      : null;
    return el('li', { 'data-peer': p.name },
      el('div', {},
        el('span', { class: dotClass, title: p.listening ? 'listening' : p.state }),
        el('span', { class: 'name' }, p.name),
        flags ? el('span', { class: 'muted' }, ` (${flags})`) : null),
      p.status ? el('div', { class: 'status' }, p.status) : null,
      el('div', { class: 'meta' }, `seen ${ago(p.last_seen_age)} ago · ${p.msg_count} msg · up ${ago(p.uptime)}`),
      el('div', { class: 'meta doing' }, doing(p)),
      el('div', { class: 'meta' }, hearing(p)),
      alarm,
      peerActions(p));
  });
  $('roster').replaceChildren(...items);
}
