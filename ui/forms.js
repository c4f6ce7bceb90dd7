// Forms panel: questions agents asked the operator, answered in a wizard,
// one card per field, then a recap, then Submit (or cancel the question).

import { state, el } from './state.js';
import { control } from './hub.js';

const $ = (id) => document.getElementById(id);
let current = null; // { form, step, answers }

export function renderForms() {
  const items = state.forms.map((f) =>
    el('li', { 'data-form': f.id },
      el('div', { class: 'title' }, f.title),
      el('div', { class: 'muted' }, `from ${f.asker} · for ${f.to} · ${f.fields.length} question(s)`),
      el('div', { class: 'row-actions' },
        el('button', { type: 'button', class: 'small', onclick: () => open(f) }, 'Answer'))));
  $('form-list').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'No pending questions.')]));
  const badge = $('form-count');
  badge.hidden = !state.forms.length;
  badge.textContent = state.forms.length;
  if (current && !state.forms.some((f) => f.id === current.form.id)) {
    current = null;
    $('wizard').close();
  }
}

function open(form) {
  current = { form, step: 0, answers: {} };
  $('wizard-title').textContent = form.title;
  $('wizard-meta').textContent = `${form.asker} asks, for ${form.to}`;
  show();
  $('wizard').showModal();
}

function card(field, answers) {
  const value = answers[field.key];
  const body = [el('p', {}, el('strong', {}, field.label), field.required ? ' *' : '')];
  if (field.type === 'radio' || field.type === 'checkbox') {
    for (const opt of field.options) {
      const checked = field.type === 'radio' ? value === opt : (value || []).includes(opt);
      body.push(el('label', { class: 'opt' },
        el('input', { type: field.type, name: field.key, value: opt, checked }), ' ', opt));
    }
    if (field.allow_other) {
      const other = field.type === 'radio' && value && !field.options.includes(value) ? value : '';
      body.push(el('label', { class: 'opt' }, 'Other: ',
        el('input', { type: 'text', name: `${field.key}__other`, value: other })));
    }
  } else if (field.type === 'textarea') {
    body.push(el('textarea', { name: field.key, rows: 5 }, value || ''));
  } else {
    body.push(el('input', { type: 'text', name: field.key, value: value || '' }));
  }
  return el('div', { class: 'field-card', 'data-key': field.key }, ...body);
}

// Reads the shown card into current.answers.
function collect() {
  const { form, step, answers } = current;
  const field = form.fields[step];
  if (!field) return;
  const root = $('wizard-body');
  if (field.type === 'radio') {
    const picked = root.querySelector(`input[name="${CSS.escape(field.key)}"]:checked`);
    const other = root.querySelector(`input[name="${CSS.escape(field.key)}__other"]`);
    answers[field.key] = (other && other.value.trim()) || (picked ? picked.value : null);
  } else if (field.type === 'checkbox') {
    const picked = [...root.querySelectorAll(`input[name="${CSS.escape(field.key)}"]:checked`)].map((i) => i.value);
    const other = root.querySelector(`input[name="${CSS.escape(field.key)}__other"]`);
    if (other && other.value.trim()) picked.push(other.value.trim());
    answers[field.key] = picked;
  } else {
    answers[field.key] = root.querySelector(`[name="${CSS.escape(field.key)}"]`).value;
  }
}

function missing(field, answers) {
  const v = answers[field.key];
  return field.required && (v == null || (Array.isArray(v) ? !v.length : !String(v).trim()));
}

function show() {
  const { form, step, answers } = current;
  const recap = step >= form.fields.length;
  if (recap) {
    const rows = form.fields.flatMap((f) => {
      const v = answers[f.key];
      const shown = Array.isArray(v) ? v.join(', ') : v;
      return [el('dt', {}, f.label), el('dd', {}, shown || '(no answer)')];
    });
    $('wizard-body').replaceChildren(el('dl', { class: 'recap' }, ...rows));
    $('wizard-step').textContent = 'Check your answers, then submit.';
  } else {
    $('wizard-body').replaceChildren(card(form.fields[step], answers));
    $('wizard-step').textContent = `Question ${step + 1} of ${form.fields.length}`;
  }
  $('wizard-back').disabled = step === 0;
  $('wizard-next').hidden = recap;
  $('wizard-submit').hidden = !recap;
}

export function initForms() {
  $('wizard-next').addEventListener('click', () => {
    collect();
    const field = current.form.fields[current.step];
    if (missing(field, current.answers)) {
      $('wizard-step').textContent = 'This question needs an answer.';
      return;
    }
    current.step += 1;
    show();
  });
  $('wizard-back').addEventListener('click', () => {
    collect();
    current.step = Math.max(0, current.step - 1);
    show();
  });
  $('wizard-close').addEventListener('click', () => { current = null; $('wizard').close(); });
  $('wizard-submit').addEventListener('click', async () => {
    const answers = { ...current.answers };
    const ok = await control({ action: 'answer_form', id: current.form.id, answers });
    if (ok) { current = null; $('wizard').close(); }
  });
  $('wizard-cancel-form').addEventListener('click', async () => {
    if (!confirm('Cancel this question? The agents are told it was cancelled.')) return;
    const ok = await control({ action: 'cancel_form', id: current.form.id });
    if (ok) { current = null; $('wizard').close(); }
  });
}
