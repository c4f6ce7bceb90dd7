// Drives the caucus console in Debian's headless Chromium, as an operator
// would: sees a peer's message arrive, answers a form through the wizard,
// speaks into the room, clicks Stop, logs in on a hub with auth, and keeps a
// 10,000-message transcript usable. Screenshots go to docs/.
//
// Usage: node console.mjs CAUCUS_BINARY [DOCS_DIR]

import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [binary, docs = '../../docs'] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const started = [];

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Stories run with --no-auth unless they bring their own credential, or ask
// for the hub as it starts out of the box ('default-auth').
async function startHub(...extra) {
  const outOfTheBox = extra[0] === 'default-auth';
  if (outOfTheBox) extra = extra.slice(1);
  else if (!extra.includes('--operator-token')) extra = ['--no-auth', ...extra];
  const proc = spawn(binary, ['hub', '--port', '0', '--no-browser', '--log-level', 'warn', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(proc);
  // Both lines may come in one chunk: every line is collected from the start.
  const seen = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (l) => {
    seen.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const nth = (n) => new Promise((resolve, reject) => {
    const look = () => (seen.length > n ? resolve(seen[n]) : waiters.push(look));
    look();
    proc.once('exit', () => reject(new Error('the hub exited at start')));
  });
  const line = await nth(0);
  // The second line: the console URL (with its single-use ticket).
  const consoleLine = nth(1);
  const url = line.replace('caucus hub listening on ', '').replace(/\/$/, '');
  const call = async (method, path, body, headers = {}) => {
    const r = await fetch(url + path, {
      method,
      headers: { 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const join = async (project) => {
    const r = await call('POST', '/register', { project, protocol_version: 1 });
    check(r.status === 200, `register ${project}`);
    return r.body.token;
  };
  const receive = (token, timeout = 20) =>
    call('GET', `/receive?timeout=${timeout}`, undefined, { Authorization: `Bearer ${token}` });
  const waitListening = async (peer) => {
    for (let i = 0; i < 1500; i++) {
      const p = await call('GET', `/ping?peer=${peer}`);
      if (p.body.listening) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${peer} never listened`);
  };
  return { url, call, join, receive, waitListening, consoleLine };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    await operatorStory(browser);
    await chairStory(browser);
    await deskStory(browser);
    await authStory(browser);
    await launchStory(browser);
    await bigTranscript(browser);
  } finally {
    await browser.close();
  }
}

async function operatorStory(browser) {
  const hub = await startHub();
  const alice = await hub.join('alice');
  const bob = await hub.join('bob');
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(hub.url + '/');
  await page.locator('#roster li[data-peer="alice"]').waitFor();
  check(await page.locator('#mode').textContent() === 'running', 'mode shows running');

  // A peer's message appears in the flow.
  await hub.call('POST', '/send', { token: alice, to: 'all', content: 'hello from alice' });
  await page.locator('.msg .body', { hasText: 'hello from alice' }).waitFor();
  await hub.call('POST', '/channels/join', { token: bob, channel: '#design' });
  await hub.call('POST', '/send', { token: bob, to: '#design', content: 'shall we pick v2?' });
  await page.locator('#channel-list li[data-channel="#design"]').waitFor();
  await hub.call('POST', '/status', { token: alice, status: 'reviewing the schema' });
  await page.locator('#roster .status', { hasText: 'reviewing the schema' }).waitFor();
  console.log('a message sent by a peer appeared in the console');

  // The operator speaks through the composer.
  await page.fill('#to', 'bob');
  await page.fill('#content', 'operator here, carry on');
  await page.click('#composer button[type=submit]');
  // What bob had waiting before may come first: poll until the operator's
  // words arrive (bounded).
  let heardOperator = false;
  for (let i = 0; i < 10 && !heardOperator; i++) {
    const heard = await hub.receive(bob, 5);
    heardOperator = heard.body.messages.some((m) => m.sender === 'human' && m.content === 'operator here, carry on');
  }
  check(heardOperator, 'bob heard the operator');
  console.log('the composer spoke to a peer');

  // A form, answered through the wizard; the asker receives the answer.
  const asked = await hub.call('POST', '/ask', {
    token: bob, title: 'Which schema?', fields: [
      { key: 'schema', label: 'Schema version', type: 'radio', options: ['v1', 'v2'], required: true },
      { key: 'why', label: 'Why', type: 'textarea' },
    ],
  });
  check(asked.status === 200, 'bob asked');
  await page.locator(`#form-list li[data-form="${asked.body.form_id}"] button`).click();
  await page.locator('#wizard[open]').waitFor();
  await page.check('#wizard-body input[value="v2"]');
  await page.screenshot({ path: `${docs}/console-form.png` });
  await page.click('#wizard-next');
  await page.fill('#wizard-body textarea', 'smaller and already deployed');
  await page.click('#wizard-next');
  await page.locator('.recap').waitFor();
  await page.click('#wizard-submit');
  await page.locator('#wizard[open]').waitFor({ state: 'detached' }).catch(() => {});
  await page.waitForFunction(() => !document.querySelector('#wizard').open);
  const answer = await hub.receive(bob, 5);
  const got = answer.body.messages.find((m) => m.kind === 'answer');
  check(got && got.meta.answers.schema === 'v2' && got.meta.answers.why === 'smaller and already deployed',
    `bob got the answer: ${JSON.stringify(answer.body)}`);
  console.log('a form was answered through the wizard and the asker received the answer');

  await page.locator('.msg.answer').waitFor();
  await page.screenshot({ path: `${docs}/console.png` });

  // Stop: a waiting peer's /receive returns the stop. Drain alice first so
  // her poll waits.
  await hub.receive(alice, 0);
  const poll = hub.receive(alice, 20);
  await hub.waitListening('alice');
  await page.click('button[data-action="stop"]');
  const stopped = await poll;
  check(stopped.body.mode === 'stopped', 'mode stopped');
  check(stopped.body.messages.some((m) => m.kind === 'control' && m.content === 'stop'), 'alice got the stop');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'stopped');
  console.log('clicking Stop all returned the stop to a waiting peer');

  check(errors.length === 0, `no page errors: ${errors.join('; ')}`);
  await page.close();
}

// The chair's desk: a tool approval allowed and one denied from the page,
// an interrupt through a pause, the rate limit changed, and the browser
// notifications for what needs the operator.
async function chairStory(browser) {
  const hub = await startHub('--loop-guard', '8');
  const dev = await hub.join('dev');
  const bearer = { Authorization: `Bearer ${dev}` };
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript(() => {
    window.__notes = [];
    class Note {
      constructor(title, options) { window.__notes.push({ title, ...options }); }
      static get permission() { return 'granted'; }
      static requestPermission() { return Promise.resolve('granted'); }
    }
    window.Notification = Note;
    document.hasFocus = () => false; // the operator is in another window
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('dialog', (d) => (d.type() === 'prompt' ? d.accept('not on main') : d.accept()));
  await page.goto(hub.url + '/');
  await page.locator('#roster li[data-peer="dev"]').waitFor();
  const notes = () => page.evaluate(() => window.__notes.map((n) => n.title));

  // An approval shows with its preview; Allow answers the waiting hook.
  const asked = await hub.call('POST', '/approvals',
    { token: dev, tool: 'Bash', description: 'clean the build', input: { command: 'rm -rf build' } });
  check(asked.status === 200, `approval filed: ${JSON.stringify(asked.body)}`);
  const card = page.locator(`#approval-list li[data-approval="${asked.body.id}"]`);
  await card.waitFor();
  check((await card.locator('.preview').textContent()).includes('rm -rf build'), 'the preview shows the input');
  check((await card.locator('.summary').textContent()) === 'rm -rf build', 'the summary is the command, not the description');
  // A right-to-left override cannot make a command read as something else.
  const sly = await hub.call('POST', '/approvals',
    { token: dev, tool: 'Bash', description: 'a comment', input: { command: 'echo hi #\u202E; rm -rf ~' } });
  const slyCard = page.locator(`#approval-list li[data-approval="${sly.body.id}"]`);
  await slyCard.waitFor();
  const slyText = await slyCard.locator('.summary').textContent();
  check(slyText.includes('\\u{202E}') && !slyText.includes('\u202E'), `direction characters show as escapes: ${slyText}`);
  await hub.call('POST', '/control', { action: 'deny', id: sly.body.id }, bearer);
  await page.screenshot({ path: `${docs}/console-approval.png` });
  await card.locator('button[data-verdict="approve"]').click();
  const allowed = await hub.call('GET', `/approval?id=${asked.body.id}&timeout=5`, undefined, bearer);
  check(allowed.body.state === 'allow', `allowed: ${JSON.stringify(allowed.body)}`);
  await card.waitFor({ state: 'detached' });
  const denyMe = await hub.call('POST', '/approvals', { token: dev, tool: 'Write', input: { file_path: 'main.rs' } });
  await page.locator(`#approval-list li[data-approval="${denyMe.body.id}"] button[data-verdict="deny"]`).click();
  const denied = await hub.call('GET', `/approval?id=${denyMe.body.id}&timeout=5`, undefined, bearer);
  check(denied.body.state === 'deny' && denied.body.reason === 'not on main', `denied: ${JSON.stringify(denied.body)}`);
  console.log('a tool approval was allowed, and another denied with a reason, from the page');

  // Interrupt through a pause: the agent's poll gets only the interrupt.
  await page.click('button[data-action="pause"]');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'paused');
  await page.locator('#roster li[data-peer="dev"] button[data-act="interrupt"]').click();
  await page.locator('#interrupt[open]').waitFor();
  await page.fill('#interrupt-text', 'stop the migration and listen');
  await page.click('#interrupt-send');
  const heard = await hub.receive(dev, 5);
  check(heard.body.messages.length === 1 && heard.body.messages[0].content === 'stop the migration and listen'
    && heard.body.messages[0].meta.interrupt === true, `interrupt heard: ${JSON.stringify(heard.body)}`);
  await page.locator('.msg.interrupt .body', { hasText: 'stop the migration' }).waitFor();
  await page.click('button[data-action="resume"]');
  console.log('the interrupt button reached the agent through a pause');

  // The rate limit, changed from the page, takes effect at once.
  await page.fill('#rate-burst', '2');
  await page.fill('#rate-per-second', '0.01');
  await page.check('#rate-enabled');
  await page.click('#rate-form button[type=submit]');
  await page.locator('#toast', { hasText: '2 at once' }).waitFor();
  const codes = [];
  for (let i = 0; i < 3; i++) {
    codes.push((await hub.call('POST', '/send', { token: dev, to: 'all', content: `burst ${i}` })).status);
  }
  check(codes.join() === '200,200,429', `the new burst holds: ${codes}`);
  await page.uncheck('#rate-enabled');
  await page.click('#rate-form button[type=submit]');
  await page.locator('#toast', { hasText: 'Rate limit off' }).waitFor();
  check((await hub.call('POST', '/send', { token: dev, to: 'all', content: 'free again' })).status === 200, 'limit off');
  console.log('the rate limit was changed from the page and took effect');

  // Away from the page: a question and the loop guard notify.
  await hub.call('POST', '/ask', { token: dev, title: 'Merge now?', fields: [{ key: 'ok', label: 'ok', type: 'text' }] });
  for (let i = 0; i < 10; i++) {
    await hub.call('POST', '/send', { token: dev, to: 'all', content: `again ${i}` });
    if ((await hub.call('GET', '/receive?timeout=0', undefined, bearer)).body.mode === 'paused') break;
  }
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'paused');
  await page.waitForFunction(() => window.__notes.length >= 4);
  const titles = await notes();
  for (const want of ['asks to run Bash', 'asks to run Write', 'asks: Merge now?', 'paused itself']) {
    check(titles.some((t) => t.includes(want)), `a notification for "${want}": ${titles.join(' | ')}`);
  }
  console.log(`browser notifications: ${titles.length} (approvals, a question, the loop guard)`);
  check(errors.length === 0, `no page errors: ${errors.join('; ')}`);
  await context.close();
}

// The console as the chair's desk: Markdown rendered safely, long messages
// folded, search over a history longer than the log, export in each
// format, the composer's Enter and completion, shortcuts, the room at a
// glance, axe-core, and the light and dark screenshots of a busy room.
async function deskStory(browser) {
  const data = mkdtempSync(join(tmpdir(), 'caucus-desk-'));
  const hub = await startHub('--no-rate-limit', '--data-dir', data);
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => hub.join(n)));
  const say = (token, to, content) => hub.call('POST', '/send', { token, to, content });
  await say(bob, 'alice', 'the quokka protocol is settled: v2 ships');
  for (let i = 0; i < 3000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) =>
      say([alice, bob, carol][k % 3], k % 2 ? 'all' : 'bob', `status line ${i + k}`)));
  }
  await hub.call('POST', '/channels/join', { token: carol, channel: '#api' });
  await hub.call('POST', '/channels/join', { token: bob, channel: '#api' });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(hub.url + '/');
  await page.locator('#conn[data-state="live"]').waitFor();
  await page.locator('#roster li[data-peer="carol"]').waitFor();

  // Markdown, rendered to safe nodes; hostile HTML shown as text, never run.
  await say(alice, '#api', '**Plan** for `v2`, in _three_ steps:\n\n1. freeze the schema\n2. migrate\n3. ship\n\n'
    + '```\nfn main() { println!("hi"); }\n```\n> quoted words\n\nSee [the spec](https://example.com/spec) and ~~v1~~.');
  await say(bob, '#api', '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> [x](javascript:alert(1))');
  await say(carol, 'all', `A long report:\n${Array.from({ length: 60 }, (_, i) => `- finding ${i}`).join('\n')}`);
  const plan = page.locator('.msg', { hasText: 'freeze the schema' });
  await plan.waitFor();
  check(await plan.locator('strong', { hasText: 'Plan' }).count() === 1, 'bold renders');
  check(await plan.locator('code', { hasText: 'v2' }).count() === 1, 'inline code renders');
  check(await plan.locator('em', { hasText: 'three' }).count() === 1, 'emphasis renders');
  check(await plan.locator('ol > li').count() === 3, 'a numbered list renders');
  check((await plan.locator('pre code').textContent()).includes('println!("hi")'), 'a code block renders');
  check(await plan.locator('blockquote').count() === 1 && await plan.locator('del').count() === 1, 'quote and strike');
  const a = plan.locator('a', { hasText: 'the spec' });
  check(await a.getAttribute('href') === 'https://example.com/spec' && await a.getAttribute('target') === '_blank'
    && (await a.getAttribute('rel')).includes('noopener'), 'links open in a new tab with rel=noopener');
  check((await plan.locator('.link-target').textContent()).includes('https://example.com/spec'),
    'a link whose text is not its target shows the target');
  const hostile = page.locator('.msg', { hasText: 'onerror' });
  await hostile.waitFor();
  check((await hostile.locator('.body').textContent()).includes('<script>window.__pwned=2</script>'), 'hostile HTML shows as text');
  check(await page.locator('#transcript img, #transcript script').count() === 0, 'no element came from a message');
  check(await hostile.locator('a').count() === 0, 'a javascript: link is not a link');
  check(await page.evaluate(() => window.__pwned) === undefined, 'nothing from a message ran');
  const long = page.locator('.msg', { hasText: 'A long report' });
  check(await long.evaluate((n) => n.classList.contains('folded')), 'a long message is folded');
  await long.locator('button.fold').click();
  check(await long.evaluate((n) => !n.classList.contains('folded')), 'Show more unfolds it');
  console.log('Markdown rendered (bold, code, lists, code block, links); hostile HTML stayed text; a long message folded');

  // Search: one message among thousands, older than the in-memory log.
  await page.click('#search');
  await page.keyboard.type('quokka');
  await page.locator('#results li.msg').first().waitFor();
  check(await page.locator('#results li.msg').count() === 1, 'search finds exactly one message');
  check(await page.locator('#results mark', { hasText: 'quokka' }).count() === 1, 'the match is highlighted');
  check(await page.locator('#transcript').isHidden(), 'the rest is hidden');
  await page.screenshot({ path: `${docs}/console-search.png` });
  await page.keyboard.press('Escape');
  await page.locator('#transcript').waitFor();
  console.log('search found one message among 3,000 and hid the rest');

  // Export, each format, from the page.
  for (const [format, ext] of [['markdown', 'md'], ['json', 'json'], ['text', 'txt']]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-export="${format}"]`)]);
    check(download.suggestedFilename() === `caucus-chat.${ext}`, `export ${format}: ${download.suggestedFilename()}`);
    const text = readFileSync(await download.path(), 'utf8');
    check(text.includes('freeze the schema'), `the ${format} export holds the transcript`);
  }
  console.log('export downloaded Markdown, JSON and text');

  // The composer: @ completes, Tab takes it and addresses the message,
  // Enter sends, Shift+Enter breaks the line.
  await hub.receive(alice, 0);
  await page.click('#content');
  await page.keyboard.type('@al');
  await page.locator('#complete li', { hasText: '@alice' }).waitFor();
  await page.keyboard.press('Tab');
  check(await page.inputValue('#to') === 'alice', 'the completion addressed the message');
  await page.keyboard.type('first line');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('second line');
  await page.keyboard.press('Enter');
  const got = await hub.receive(alice, 5);
  check(got.body.messages.some((m) => m.sender === 'human' && m.content === '@alice first line\nsecond line'),
    `alice got the composed message: ${JSON.stringify(got.body.messages.map((m) => m.content))}`);
  await page.fill('#to', 'all');
  console.log('the composer completed @alice, broke a line with Shift+Enter and sent with Enter');

  // Shortcuts, from the page itself.
  await page.locator('#flow-title').click();
  await page.keyboard.press('p');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'paused');
  await page.keyboard.press('r');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'running');
  await page.keyboard.press('?');
  await page.locator('#help[open]').waitFor();
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('#help').open);
  console.log('p paused, r resumed, ? showed the shortcuts');

  // The room at a glance, with something waiting for the operator.
  await hub.call('POST', '/ask', { token: carol, title: 'Ship v2 today?', fields: [{ key: 'ok', label: 'ok', type: 'text' }] });
  await hub.call('POST', '/approvals', { token: bob, tool: 'Bash', input: { command: 'cargo publish' } });
  await page.locator('#glance-needs', { hasText: '1 question, 1 approval' }).waitFor();
  const cell = page.locator('#glance-matrix td[data-from="alice"][data-to="#api"]');
  await cell.waitFor();
  check(await cell.textContent() === '1', 'the matrix counts alice -> #api');
  console.log('the glance panel shows what waits and who talks to whom');

  // axe-core, in the light and the dark scheme: no serious or critical
  // violation. Then the screenshots of this busy room.
  await page.evaluate(readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8'));
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const found = await page.evaluate(async () => (await window.axe.run(document)).violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.length} (${v.nodes[0].target.join(' ')})`));
    check(found.length === 0, `axe-core (${scheme}): ${found.join('; ')}`);
    await page.screenshot({ path: `${docs}/console-${scheme}.png` });
  }
  console.log('axe-core: no serious or critical violation, light or dark');
  check(errors.length === 0, `no page errors: ${errors.join('; ')}`);
  await context.close();
}

// Out of the box: the URL the hub prints signs this browser in as the chair,
// once; the ticket leaves the address bar at once.
async function launchStory(browser) {
  const hub = await startHub('default-auth');
  const printed = await hub.consoleLine;
  const link = printed.slice(printed.indexOf('http'));
  check(/#ticket=[0-9a-f]{64}$/.test(link), `the console line carries a ticket: ${printed}`);
  const page = await browser.newPage();
  await page.goto(link);
  await page.waitForFunction(() => document.getElementById('role').textContent.includes('operator'));
  check(!(await page.evaluate(() => document.getElementById('login').open)), 'no token was asked for');
  check((await page.evaluate(() => location.hash)) === '', 'the ticket left the address bar');
  await page.click('.controls button[data-action="pause"]');
  await page.waitForFunction(() => document.body.textContent.includes('paused'));
  // The same link a second time signs nobody in.
  const other = await browser.newPage();
  await other.goto(link);
  await other.waitForFunction(() => document.getElementById('login').open);
  console.log('out of the box, the printed console link signed one browser in as the chair, once');
  await page.close();
  await other.close();
}

async function authStory(browser) {
  const hub = await startHub('--operator-token', 'op-secret-0123456789abcdef', '--observer-token', 'obs-secret-0123456789abcdef');
  const page = await browser.newPage();
  await page.goto(hub.url + '/');
  await page.locator('#login[open]').waitFor();
  await page.fill('#login-token', 'wrong');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  await page.fill('#login-token', 'obs-secret-0123456789abcdef');
  await page.click('#login-form button[type=submit]');
  await page.locator('#role', { hasText: 'observer' }).waitFor();
  check(!(await page.locator('button[data-action="stop"]').isVisible()), 'an observer sees no Stop button');
  const token = await hub.join('carol');
  await hub.call('POST', '/send', { token, to: 'all', content: 'observed' });
  await page.locator('.msg .body', { hasText: 'observed' }).waitFor();
  console.log('with auth on, the page asked for a token, refused a wrong one, and an observer watched');
  await page.close();
}

async function bigTranscript(browser) {
  const hub = await startHub('--no-rate-limit');
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(hub.url + '/');
  await page.locator('#mode', { hasText: 'running' }).waitFor();
  const tokens = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((n) => hub.join(n)));
  const total = 10000;
  const t0 = Date.now();
  for (let i = 0; i < total; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) =>
      hub.call('POST', '/send', { token: tokens[k % 4], to: k % 2 ? 'nobody' : '#ops', content: `line ${i + k}` })));
  }
  await page.waitForFunction(() => document.querySelector('#transcript').childElementCount >= 10000, null, { timeout: 120000 });
  const shown = Date.now() - t0;
  const filterMs = await page.evaluate(() => {
    const s = document.querySelector('#filter');
    const t = performance.now();
    s.value = 'd1';
    s.dispatchEvent(new Event('change'));
    document.body.offsetHeight; // force layout
    return performance.now() - t;
  });
  const scrollMs = await page.evaluate(async () => {
    const list = document.querySelector('#transcript');
    const t = performance.now();
    for (let i = 0; i < 20; i++) {
      list.scrollTop = (list.scrollHeight * i) / 20;
      await new Promise((r) => requestAnimationFrame(r));
    }
    return (performance.now() - t) / 20;
  });
  const count = await page.locator('#transcript > li').count();
  check(count === 10000, `the transcript holds 10,000 messages (${count})`);
  console.log(`10,000 messages: all shown ${shown} ms after the first send; filter by peer ${filterMs.toFixed(1)} ms; ` +
    `${scrollMs.toFixed(1)} ms per scrolled frame`);
  await page.close();
}

main()
  .then(() => { console.log('console in a real browser: OK'); })
  .catch((e) => { console.error(e); process.exitCode = 1; })
  .finally(() => { for (const p of started) p.kill(); });
