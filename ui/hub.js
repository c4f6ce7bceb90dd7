// The operator's way to the hub: the token this tab signed in with, the
// headers that carry it, the chair's commands over POST /control, and the
// toast that says what went wrong. Every panel imports it; it imports no
// panel (the console's modules have no import circle).

let token = sessionStorage.getItem('caucus-token') || '';
const $ = (id) => document.getElementById(id);

export function hasToken() {
  return token !== '';
}

// Signs this tab in with `t`, kept in the tab's session storage only.
export function setToken(t) {
  token = t;
  sessionStorage.setItem('caucus-token', token);
}

export function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

// Sends one operator command; resolves to the hub's answer or null.
export async function control(body) {
  try {
    const r = await fetch('/control', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) {
      toast(`${body.action}: ${answer.detail || r.status}`);
      return null;
    }
    return answer;
  } catch (e) {
    toast(`${body.action}: the hub is unreachable`);
    return null;
  }
}
