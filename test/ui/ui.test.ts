// The web UI in a real browser: Debian's headless Chromium driven by playwright-core against a
// Warren of its own. Walks through what a RabbitMQ user does first (log in, watch the overview,
// create a queue, publish from an exchange's page, peek and get the message back, see a delayed
// message and cancel it, add a user and a policy, delete the queue), runs axe-core on every page
// and keeps a screenshot of each under test-artifacts/ui/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import amqp from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { orSkip, REPO_ROOT, requirePath } from '../interop/support.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'ui');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let b: TestBroker;
let browser: Browser | undefined;

before(async () => {
  b = await startBroker();
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await b?.stop();
});

async function launch(): Promise<Browser> {
  requirePath('Chromium', CHROMIUM, 'chromium');
  // --no-sandbox: CI and this machine run tests as root, where Chromium's sandbox refuses to start.
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  return browser;
}

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }

/** axe-core's serious and critical findings on what the page shows now. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  // Evaluated through the debugger rather than a <script> tag, which the page's CSP forbids.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: AxeViolation[] }> } }).axe.run(document, { resultTypes: ['violations'] });
    return r.violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
}

/** Saves a screenshot and checks accessibility of the current page. */
async function snap(page: Page, name: string, problems: string[]): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  for (const p of await accessibilityProblems(page)) problems.push(`${name}: ${p}`);
}

async function streamText(s: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of s) text += String(chunk);
  return text;
}

function tab(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name, exact: true });
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${b.httpUrl}/api${path}`, {
    method,
    headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test('the web UI: log in, live overview, queues, exchanges, delayed messages, admin; accessible', { timeout: 180_000 }, async (t) => {
  if (b.external) return t.skip("Warren's own UI: not served by the broker under WARREN_TEST_URL");
  const br = await orSkip(t, launch);
  if (br === undefined) return;
  const ctx = await br.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
  const problems: string[] = [];
  const apiCalls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) apiCalls.push(r.url().slice(b.httpUrl.length)); });

  // Served from the management port with nothing else running.
  const index = await fetch(`${b.httpUrl}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /text\/html/);

  // Login: a wrong password is refused with a message; the right one opens the overview.
  await page.goto(b.httpUrl + '/');
  await snap(page, '01-login', problems);
  await page.getByLabel('Username').fill('guest');
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Login failed' }).waitFor();
  await page.getByLabel('Password').fill('guest');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByLabel('Refresh').selectOption('2000');

  // The overview's rate chart moves while a publisher runs.
  const conn = await amqp.connect(b.url);
  const ch = await conn.createChannel();
  await ch.assertQueue('ui-load', { durable: false });
  // A consumer that acks, so deliver and ack move too.
  await ch.prefetch(200);
  let cancelledByBroker = false;
  await ch.consume('ui-load', (m) => { if (m) ch.ack(m); else cancelledByBroker = true; }, { consumerTag: 'ui-consumer' });
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      for (let i = 0; i < 50; i++) ch.sendToQueue('ui-load', Buffer.from('x'));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const rates = page.locator('figure.chart', { hasText: 'Message rates' }).locator('[role=img]');
  await page.waitForFunction(
    (el) => { const m = /Publish ([\d.]+)(k?)\/s/.exec(el?.getAttribute('aria-label') ?? ''); return m !== null && Number(m[1]) > 0; },
    await rates.elementHandle(), { timeout: 30_000 },
  );
  const tile = page.locator('.tile', { hasText: 'Publish' }).locator('.big');
  assert.match(await tile.innerText(), /\/s$/);
  assert.notEqual(await tile.innerText(), '0/s');
  await page.waitForTimeout(8000); // a few more samples, so the screenshot shows lines
  await snap(page, '02-overview', problems);
  await page.emulateMedia({ colorScheme: 'dark' });
  await snap(page, '02-overview-dark', problems);
  await page.emulateMedia({ colorScheme: 'light' });
  publishing = false;
  await publisher;

  // Polling stops while the tab is hidden and resumes at once when it shows again (the browser's
  // visibility is simulated: headless Chromium never hides a tab).
  const setHidden = (hidden: boolean) => page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  await setHidden(true);
  const callsBefore = apiCalls.length;
  await page.waitForTimeout(5000);
  assert.equal(apiCalls.length, callsBefore, 'no requests while hidden');
  await Promise.all([page.waitForRequest((r) => r.url().includes('/api/overview'), { timeout: 1000 }), setHidden(false)]);

  // Definitions export downloads RabbitMQ-format JSON.
  await page.locator('summary', { hasText: 'Export and import definitions' }).click();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download definitions' }).click()]);
  const defs = JSON.parse(await streamText(await download.createReadStream())) as { vhosts: { name: string }[]; users: { name: string }[] };
  assert.ok(defs.users.some((u) => u.name === 'guest'));
  assert.ok(defs.vhosts.some((v) => v.name === '/'));
  // ... and importing a file adds what it defines.
  await page.getByLabel('Definitions file').setInputFiles({
    name: 'defs.json', mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify({ queues: [{ name: 'ui-imported', vhost: '/', durable: true, auto_delete: false, arguments: {} }] })),
  });
  await page.getByRole('button', { name: 'Upload and import' }).click();
  await page.getByRole('status').filter({ hasText: 'Imported defs.json' }).waitFor();
  assert.equal((await api('GET', '/queues/%2F/ui-imported')).status, 200);
  assert.equal((await api('DELETE', '/queues/%2F/ui-imported')).status, 204);

  // Connections and channels list the publisher.
  await tab(page, 'Connections').click();
  await page.getByRole('table', { name: 'connections' }).waitFor();
  await snap(page, '03-connections', problems);
  await tab(page, 'Channels').click();
  await page.getByRole('table', { name: 'channels' }).waitFor();
  await snap(page, '04-channels', problems);

  // Add a queue from the queues page.
  await tab(page, 'Queues').click();
  await page.getByRole('table', { name: 'queues' }).waitFor();
  await page.locator('#add-queue summary').click();
  await page.locator('#add-queue').getByLabel('Name', { exact: true }).fill('ui-orders');
  await page.getByRole('button', { name: 'max-length', exact: true }).click();
  await page.getByLabel('Arguments 1 value').fill('1000');
  await page.getByRole('button', { name: 'Add queue' }).click();
  await page.getByRole('status').filter({ hasText: 'Queue ui-orders added' }).waitFor();
  await page.getByRole('link', { name: 'ui-orders' }).waitFor();
  await snap(page, '05-queues', problems);

  // The list is filtered (plain and regex) and sorted by the server.
  const firstNames = async () => (await page.getByRole('table', { name: 'queues' }).locator('tbody tr td[data-label="Name"]').allInnerTexts());
  const filter = page.getByLabel('Filter queues by name');
  await filter.fill('orders');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
  assert.deepEqual(await firstNames(), ['ui-orders']);
  await page.getByLabel('Regex').check();
  await filter.fill('^ui-(l|x)');
  await page.waitForFunction(() => document.querySelector('tbody tr td[data-label="Name"]')?.textContent === 'ui-load' && document.querySelectorAll('tbody tr').length === 1);
  await filter.fill('');
  await page.getByLabel('Regex').uncheck();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2);
  assert.deepEqual(await firstNames(), ['ui-load', 'ui-orders']);
  await page.getByRole('button', { name: /^Name/ }).click();
  await page.waitForFunction(() => document.querySelector('tbody tr td[data-label="Name"]')?.textContent === 'ui-orders');
  assert.equal(await page.getByRole('columnheader', { name: /Name/ }).getAttribute('aria-sort'), 'descending');
  await page.getByRole('button', { name: /^Name/ }).click();

  // Only one page of queues, with only the columns shown, is ever asked for.
  const listCalls = apiCalls.filter((u) => u.startsWith('/api/queues?'));
  assert.ok(listCalls.length > 0);
  for (const u of listCalls) assert.match(u, /[?&]page=\d+&page_size=50&.*columns=name%2C/, u);
  assert.ok(listCalls.some((u) => /name=%5Eui-\(l%7Cx\)&use_regex=true/.test(u)), 'the regex filter went to the server');

  // Keyboard: on a fresh page the first Tab reaches the skip link, which moves focus to the content.
  await page.reload();
  await page.getByRole('table', { name: 'queues' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  const declared = await (await api('GET', '/queues/%2F/ui-orders')).json() as { arguments: Record<string, unknown> };
  assert.deepEqual(declared.arguments, { 'x-max-length': 1000 });

  // Bind amq.direct to it and publish from the exchange's page.
  await page.goto(`${b.httpUrl}/#/exchanges/%2F/amq.direct`);
  await page.getByRole('heading', { name: 'Exchange amq.direct' }).waitFor();
  const bindForm = page.getByRole('form', { name: 'Add binding from this exchange' });
  await bindForm.getByLabel('To queue').fill('ui-orders');
  await bindForm.getByLabel('Routing key', { exact: true }).fill('new');
  await bindForm.getByRole('button', { name: 'Bind' }).click();
  await page.getByRole('link', { name: 'ui-orders' }).waitFor();
  await page.locator('summary', { hasText: 'Publish message' }).click();
  const publishForm = page.locator('form', { has: page.getByRole('button', { name: 'Publish message' }) });
  await publishForm.getByLabel('Routing key', { exact: true }).fill('new');
  await publishForm.getByLabel('Headers 1 name').fill('order-id');
  await publishForm.getByLabel('Headers 1 value').fill('42');
  await publishForm.getByLabel('Payload', { exact: true }).fill('{"order": 42}');
  await publishForm.getByRole('button', { name: 'Publish message' }).click();
  await page.getByRole('status').filter({ hasText: 'published and routed' }).waitFor();
  await snap(page, '06-exchange', problems);

  // Peek shows it without side effects; get brings it back (requeued, so it stays).
  await page.goto(`${b.httpUrl}/#/queues/%2F/ui-orders`);
  await page.getByRole('heading', { name: 'Queue ui-orders' }).waitFor();
  await page.locator('summary', { hasText: 'Peek messages' }).click();
  await page.getByRole('button', { name: 'Peek', exact: true }).click();
  const peeked = page.getByRole('article', { name: 'Message 1' });
  await peeked.waitFor();
  assert.match(await peeked.innerText(), /\{"order": 42\}/);
  assert.match(await peeked.innerText(), /order-id: 42/);
  assert.match(await peeked.innerText(), /Redelivered no/);
  const afterPeek = await (await api('GET', '/queues/%2F/ui-orders')).json() as { messages_ready: number; messages: number };
  assert.equal(afterPeek.messages, 1, 'peek left the message where it was');
  await page.locator('summary', { hasText: 'Get messages' }).click();
  await page.getByRole('button', { name: 'Get messages' }).click();
  const got = page.locator('details', { hasText: 'Get messages' }).getByRole('article', { name: 'Message 1' });
  await got.waitFor();
  assert.match(await got.innerText(), /\{"order": 42\}/);
  assert.match(await got.innerText(), /Routing key new/);
  await page.waitForTimeout(6000); // a few samples for the queue's charts
  await snap(page, '07-queue', problems);

  // A delayed exchange lists a pending message, which can be cancelled.
  assert.equal((await api('PUT', '/exchanges/%2F/ui-later', { type: 'x-delayed-message', arguments: { 'x-delayed-type': 'direct' } })).status, 201);
  assert.equal((await api('POST', '/bindings/%2F/e/ui-later/q/ui-orders', { routing_key: 'later' })).status, 201);
  await page.goto(`${b.httpUrl}/#/exchanges/%2F/ui-later`);
  await page.getByRole('heading', { name: 'Exchange ui-later' }).waitFor();
  await page.locator('summary', { hasText: 'Publish message' }).click();
  const delayedForm = page.locator('form', { has: page.getByRole('button', { name: 'Publish message' }) });
  assert.equal(await delayedForm.getByLabel('Headers 1 name').inputValue(), 'x-delay');
  await delayedForm.getByLabel('Headers 1 value').fill('3600000');
  await delayedForm.getByLabel('Routing key', { exact: true }).fill('later');
  await delayedForm.getByLabel('Payload', { exact: true }).fill('see you in an hour');
  await delayedForm.getByRole('button', { name: 'Publish message' }).click();
  const listed = page.locator('#delayed').getByRole('article', { name: 'Message 1' });
  await listed.waitFor({ timeout: 15_000 });
  assert.match(await listed.innerText(), /see you in an hour/);
  assert.match(await listed.innerText(), /Due in (59|60) min/);
  await snap(page, '08-delayed', problems);
  await listed.getByRole('button', { name: 'Cancel' }).click();
  await listed.getByRole('button', { name: 'Yes, cancel' }).click();
  await page.locator('#delayed').getByText('No delayed messages pending').waitFor();
  const ex = await (await api('GET', '/exchanges/%2F/ui-later')).json() as { messages_delayed: number };
  assert.equal(ex.messages_delayed, 0);

  // Cancel by routing key, then all.
  for (const key of ['later', 'other', 'other']) {
    const r = await api('POST', '/exchanges/%2F/ui-later/publish', { routing_key: key, payload: key, payload_encoding: 'string', properties: { headers: { 'x-delay': 3_600_000 } } });
    assert.equal(r.status, 200);
  }
  const delayedCount = async () => ((await (await api('GET', '/exchanges/%2F/ui-later')).json()) as { messages_delayed: number }).messages_delayed;
  await page.locator('#delayed').getByRole('article', { name: 'Message 3' }).waitFor({ timeout: 15_000 });
  const cancelForm = page.getByRole('form', { name: 'Cancel matching delayed messages' });
  await cancelForm.getByLabel('Routing key').fill('other');
  await cancelForm.getByRole('button', { name: 'Cancel matching' }).click();
  await page.getByRole('status').filter({ hasText: 'Matching delayed messages cancelled' }).waitFor();
  assert.equal(await delayedCount(), 1);
  await page.locator('#delayed').getByRole('article', { name: 'Message 2' }).waitFor({ state: 'detached', timeout: 15_000 });
  await cancelForm.getByRole('button', { name: 'Cancel all' }).click();
  await cancelForm.getByRole('button', { name: 'Yes, cancel all' }).click();
  await page.locator('#delayed').getByText('No delayed messages pending').waitFor();
  assert.equal(await delayedCount(), 0);

  // Admin: add a user, then a policy.
  await tab(page, 'Admin').click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.locator('#user-form summary').click();
  await page.getByLabel('Username', { exact: true }).fill('ui-alice');
  await page.getByLabel('Password', { exact: true }).fill('s3cret');
  await page.getByRole('button', { name: 'monitoring' }).click();
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.getByRole('link', { name: 'ui-alice' }).waitFor();
  await snap(page, '09-users', problems);
  const alice = await (await api('GET', '/users/ui-alice')).json() as { tags: string[] | string };
  assert.deepEqual([alice.tags].flat().join(','), 'monitoring');

  await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Policies', exact: true }).click();
  await page.getByRole('heading', { name: 'Policies', exact: true }).waitFor();
  const pform = page.locator('#policy-form');
  await pform.getByLabel('Name', { exact: true }).fill('ui-cap');
  await pform.getByLabel('Pattern').fill('^ui-');
  await pform.getByRole('button', { name: 'max-length', exact: true }).click();
  await pform.getByLabel('Definition 1 value').fill('500');
  await pform.getByRole('button', { name: 'Save policy' }).click();
  await page.getByRole('cell', { name: 'ui-cap' }).waitFor();
  await snap(page, '10-policies', problems);
  const pol = await (await api('GET', '/policies/%2F/ui-cap')).json() as { definition: Record<string, unknown> };
  assert.deepEqual(pol.definition, { 'max-length': 500 });
  for (const sub of ['Virtual hosts', 'Limits', 'Operator policies']) {
    await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: sub }).click();
    await page.getByRole('heading', { level: 1 }).filter({ hasText: sub === 'Limits' ? 'limits' : sub }).waitFor();
    await snap(page, `11-${sub.toLowerCase().replace(/ /g, '-')}`, problems);
  }

  // Delete the queue from its page.
  await page.goto(`${b.httpUrl}/#/queues/%2F/ui-orders`);
  await page.getByRole('heading', { name: 'Queue ui-orders' }).waitFor();
  await page.locator('summary', { hasText: 'Purge and delete' }).click();
  await page.getByRole('button', { name: 'Delete queue' }).click();
  await page.getByRole('button', { name: 'Yes, delete queue' }).click();
  await page.getByRole('heading', { name: 'Queues' }).waitFor();
  assert.equal((await api('GET', '/queues/%2F/ui-orders')).status, 404);

  // Cancel the consumer from its queue's page; the client gets basic.cancel.
  await page.goto(`${b.httpUrl}/#/queues/%2F/ui-load`);
  const consumers = page.locator('details', { hasText: 'Consumers (1)' });
  await consumers.getByRole('cell', { name: 'ui-consumer' }).waitFor();
  await consumers.getByRole('button', { name: 'Cancel' }).click();
  await consumers.getByRole('button', { name: 'Yes, cancel' }).click();
  await page.getByText('No consumers.').waitFor();
  assert.equal(cancelledByBroker, true, 'the client was told its consumer was cancelled');

  // Close the publisher's connection with a reason; the client hears it.
  const closed = new Promise<string>((resolve) => conn.on('close', (e?: Error) => resolve(String(e?.message))));
  await tab(page, 'Connections').click();
  await page.getByRole('table', { name: 'connections' }).getByRole('link').first().click();
  await page.getByRole('heading', { name: /^Connection / }).waitFor();
  await snap(page, '03-connection', problems);
  await page.locator('summary', { hasText: 'Close this connection' }).click();
  await page.getByLabel('Reason (sent to the client)').fill('closed from the UI test');
  await page.getByRole('button', { name: 'Force close' }).click();
  assert.match(await closed, /closed from the UI test/);
  await page.getByRole('heading', { name: 'Connections' }).waitFor();

  // Phone width: the tab bar folds into a menu, tables into cards.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Menu' }).click();
  await tab(page, 'Overview').click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Log out' }).isVisible(), false, 'controls are in the folded menu');
  await snap(page, '12-overview-phone', problems);
  await page.getByRole('button', { name: 'Menu' }).click();
  await snap(page, '12-menu-phone', problems);

  // Log out: back to the login form, and the stored credentials are gone.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('warren.auth')), null);

  // A monitoring user sees no Admin tab.
  assert.equal((await api('PUT', '/users/ui-alice', { password: 's3cret', tags: 'monitoring' })).status, 204);
  await page.getByLabel('Username').fill('ui-alice');
  await page.getByLabel('Password').fill('s3cret');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Menu' }).isVisible(), true);
  await page.setViewportSize({ width: 1280, height: 900 });
  await tab(page, 'Queues').waitFor();
  assert.equal(await tab(page, 'Admin').count(), 0, 'no Admin tab for a monitoring user');
  await page.getByRole('button', { name: 'Log out' }).click();

  await ctx.close();
  assert.deepEqual(pageErrors, [], 'no script errors or CSP refusals in the page');
  assert.deepEqual(problems, [], 'no serious or critical accessibility violations');
});
