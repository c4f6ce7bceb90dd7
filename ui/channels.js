// Channels panel: members and topics, and the talking sticks by scope.

import { state, el } from './state.js';
import { control } from './hub.js';

const $ = (id) => document.getElementById(id);

export function renderChannels() {
  const channels = Object.entries(state.channels).map(([name, c]) =>
    el('li', { 'data-channel': name },
      el('div', {}, el('strong', {}, name), ' ',
        el('button', {
          class: 'small danger act', type: 'button',
          onclick: () => { if (confirm(`Close ${name}? Every member is unsubscribed.`)) control({ action: 'close_channel', channel: name }); },
        }, 'Close')),
      c.topic ? el('div', { class: 'topic' }, c.topic) : null,
      el('div', { class: 'members' }, c.members.join(', '))));
  $('channel-list').replaceChildren(...(channels.length ? channels : [el('li', { class: 'muted' }, 'No channels.')]));

  const floors = Object.values(state.floors).map((f) =>
    el('li', { 'data-scope': f.scope },
      el('div', {}, el('strong', {}, f.scope === 'all' ? 'whole room' : f.scope), ` held by ${f.holder}`, ' ',
        el('button', { class: 'small act', type: 'button', onclick: () => control({ action: 'clear_floor', scope: f.scope }) }, 'Clear')),
      f.reason ? el('div', { class: 'topic' }, f.reason) : null,
      f.hands.length ? el('div', { class: 'hands' }, `hands: ${f.hands.join(', ')}`) : null));
  $('floor-list').replaceChildren(...(floors.length ? floors : [el('li', { class: 'muted' }, 'Nobody holds a stick.')]));
}
