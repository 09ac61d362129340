#!/usr/bin/env node
// Time until the web UI's queue list is usable, with many queues: declares N queues in a vhost of
// its own (created and deleted here), logs in with headless Chromium and measures, REPEAT times
// each (median reported):
//   open   page load straight onto the queues page (script, login check, first page of the list)
//   switch from the overview, a click on the Queues tab until the first rows show
//   filter typing a name filter until the list shows only the matching queue
// Works against Warren's UI and RabbitMQ's (the reference broker's management plugin).
//
//   node bench/ui/queue-list.mjs --ui warren --amqp amqp://guest:guest@127.0.0.1:5672 --http http://127.0.0.1:15672 --queues 10000
//   node bench/ui/queue-list.mjs --ui rabbitmq --amqp amqp://guest:guest@127.0.0.1:5673 --http http://127.0.0.1:15673 --queues 10000
// Prints one JSON line.
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { chromium } from 'playwright-core';

const { values: o } = parseArgs({
  options: {
    ui: { type: 'string', default: 'warren' },
    amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    http: { type: 'string', default: 'http://127.0.0.1:15672' },
    user: { type: 'string', default: 'guest:guest' },
    vhost: { type: 'string', default: 'ui-bench' },
    queues: { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '3' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const N = Number(o.queues);
const [user, password] = o.user.split(':');
const auth = 'Basic ' + Buffer.from(o.user).toString('base64');
const api = (method, path, body) => fetch(`${o.http}/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
const vh = encodeURIComponent(o.vhost);

async function setUp() {
  await api('PUT', `/vhosts/${vh}`, {});
  await api('PUT', `/permissions/${vh}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
  const conn = await amqp.connect(`${o.amqp}/${vh}`);
  const ch = await conn.createChannel();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, k) => ch.assertQueue(`q-${String(i + k).padStart(6, '0')}`, { durable: false })));
  }
  await conn.close();
  return (performance.now() - t0) / 1000;
}

// What "usable" means on each UI: the first rows of the list are on screen.
const UI = {
  warren: {
    login: async (page) => {
      await page.getByLabel('Username').fill(user);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
    },
    rows: 'table tbody tr',
    tab: (page) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Queues', exact: true }),
    overviewTab: (page) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Overview', exact: true }),
    filter: (page) => page.getByLabel('Filter queues by name'),
  },
  rabbitmq: {
    login: async (page) => {
      await page.fill('input[name=username]', user);
      await page.fill('input[name=password]', password);
      await page.click('input[type=submit]');
      await page.waitForSelector('#main #chart-overview, #main h1');
    },
    rows: '#main table.list tbody tr',
    tab: (page) => page.locator('#tabs a[href="#/queues"]'),
    overviewTab: (page) => page.locator('#tabs a[href="#/"]'),
    filter: (page) => page.locator('#queues-name'),
  },
}[o.ui];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.floor(s.length / 2)]); };

async function measure(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${o.http}/`);
  await UI.login(page);
  const open = [];
  const sw = [];
  const filt = [];
  for (let r = 0; r < Number(o.repeat); r++) {
    // open: a fresh load of the queues page (the login is kept by the browser tab)
    let t0 = performance.now();
    await page.goto(`${o.http}/#/queues`);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 20, UI.rows, { timeout: 120_000 });
    open.push(performance.now() - t0);
    // switch: overview -> queues
    await UI.overviewTab(page).click();
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 0 || !location.hash.includes('queues'), UI.rows);
    await page.waitForTimeout(500);
    t0 = performance.now();
    await UI.tab(page).click();
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 20, UI.rows, { timeout: 120_000 });
    sw.push(performance.now() - t0);
    // filter: one queue name typed in
    const target = `q-${String(N - 1 - r).padStart(6, '0')}`;
    t0 = performance.now();
    await UI.filter(page).fill(target);
    if (o.ui === 'rabbitmq') await UI.filter(page).press('Enter');
    await page.waitForFunction(([sel, name]) => { const rows = document.querySelectorAll(sel); return rows.length === 1 && rows[0].textContent.includes(name); }, [UI.rows, target], { timeout: 120_000 });
    filt.push(performance.now() - t0);
    await UI.filter(page).fill('');
    if (o.ui === 'rabbitmq') await UI.filter(page).press('Enter');
  }
  await ctx.close();
  return { open_ms: median(open), switch_ms: median(sw), filter_ms: median(filt) };
}

let declareS;
const browser = await chromium.launch({ executablePath: o.chromium, args: ['--no-sandbox'] });
try {
  declareS = await setUp();
  const r = await measure(browser);
  console.log(JSON.stringify({ ui: o.ui, queues: N, declare_s: Math.round(declareS * 10) / 10, ...r }));
} finally {
  await browser.close();
  await api('DELETE', `/vhosts/${vh}`);
}
