#!/usr/bin/env node
// The management API with many queues, side by side: declares N durable queues (every 10th holds a
// few messages, so sorting by messages means something) on a broker that is already running, then
// times, to the last byte and REPEAT times each (the median is reported):
//   page   GET /api/queues?page=1&page_size=100&sort=messages&sort_reverse=true
//   full   GET /api/queues                     (the whole list, unpaged)
//   over   GET /api/overview
//   metr   GET <prometheus>/metrics/per-object
// and the broker's RSS before and after declaring (RSS per 1k idle queues).
//
//   node bench/management/many-queues.mjs --amqp amqp://guest:guest@127.0.0.1:5673 \
//     --http http://127.0.0.1:15673 --metrics http://127.0.0.1:15693 --pid $(pgrep -f beam.smp) --queues 10000
// Prints one JSON line. The queues are deleted afterwards unless --keep.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';

const { values: o } = parseArgs({
  options: {
    amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    http: { type: 'string', default: 'http://127.0.0.1:15672' },
    metrics: { type: 'string', default: 'http://127.0.0.1:15692' },
    user: { type: 'string', default: 'guest:guest' },
    pid: { type: 'string' },
    queues: { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '5' },
    prefix: { type: 'string', default: 'mq-bench-' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(o.queues);
const REPEAT = Number(o.repeat);
const auth = 'Basic ' + Buffer.from(o.user).toString('base64');

function rssMiB() {
  if (!o.pid) return null;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${o.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : null;
}

async function timed(url, headers) {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  const body = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
  return { ms, bytes: body.length, body };
}

async function median(url, headers, check) {
  const times = [];
  let last;
  for (let i = 0; i < REPEAT; i++) {
    last = await timed(url, headers);
    times.push(last.ms);
  }
  if (check) check(last.body);
  times.sort((a, b) => a - b);
  return { ms: Math.round(times[Math.floor(times.length / 2)] * 10) / 10, bytes: last.bytes };
}

async function declare(ch, names) {
  // Pipelined: 500 declarations in flight at a time.
  for (let i = 0; i < names.length; i += 500) {
    await Promise.all(names.slice(i, i + 500).map((n) => ch.assertQueue(n, { durable: true })));
  }
}

async function settle(ms) {
  await new Promise((r) => setTimeout(r, ms));
}

const conn = await amqp.connect(o.amqp);
const ch = await conn.createConfirmChannel();
const names = Array.from({ length: N }, (_, i) => `${o.prefix}${String(i).padStart(6, '0')}`);
await settle(2000);
const rssBefore = rssMiB();
const t0 = performance.now();
await declare(ch, names);
const declareS = (performance.now() - t0) / 1000;
for (let i = 0; i < N; i += 10) for (let k = 0; k < 1 + (i % 7); k++) ch.sendToQueue(names[i], Buffer.from('x'), { persistent: true });
await ch.waitForConfirms();
// Let the broker's stats catch up (RabbitMQ's stats database lags by its collection interval).
await settle(Number(process.env.SETTLE_MS ?? 7000));
const rssAfter = rssMiB();
const h = { authorization: auth };
const result = {
  queues: N,
  declare_s: Math.round(declareS * 10) / 10,
  page: await median(`${o.http}/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true`, h, (b) => {
    const j = JSON.parse(b);
    if (j.items.length !== 100 || j.total_count < N) throw new Error(`page: ${j.items.length} items, total ${j.total_count}`);
  }),
  full: await median(`${o.http}/api/queues`, h, (b) => {
    const n = JSON.parse(b).filter((q) => q.name.startsWith(o.prefix)).length;
    if (n !== N) throw new Error(`full list has ${n} of ${N} bench queues`);
  }),
  overview: await median(`${o.http}/api/overview`, h),
  metrics_per_object: await median(`${o.metrics}/metrics/per-object`, {}),
  rss_before_mib: rssBefore,
  rss_after_mib: rssAfter,
  rss_per_1k_queues_mib: rssBefore === null ? null : Math.round(((rssAfter - rssBefore) / (N / 1000)) * 100) / 100,
};
console.log(JSON.stringify(result));
await conn.close().catch(() => {});
if (!o.keep) {
  // A fresh connection: the measuring one may have been closed by someone else in the meantime.
  const c2 = await amqp.connect(o.amqp);
  const ch2 = await c2.createChannel();
  for (let i = 0; i < N; i += 500) await Promise.all(names.slice(i, i + 500).map((n) => ch2.deleteQueue(n)));
  await c2.close();
}
