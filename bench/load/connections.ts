// Many connections held open: opens N connections (one channel each) against a running broker,
// holds them with light traffic (each publishes a 16-byte message every few seconds to one of a
// few queues; every k-th connection consumes with manual acks), heartbeats on, then closes them
// all cleanly. Counts every error (refused, timeouts, unexpected closes, server-sent closes) and
// measures the broker's RSS at baseline, while all N are open, and after they closed.
//
//   node dist/bench/load/connections.js --port 5673 --pid $(pgrep beam.smp) --http http://127.0.0.1:15673
//   node dist/bench/load/connections.js --port 25672 --pid <warren pid> --http http://127.0.0.1:25673
//
// Prints progress to stderr and one JSON line to stdout. Exit status 1 if any error was counted
// or the broker did not see all N connections.
import { parseArgs } from 'node:util';
import { LoadPool, type LoadConnection } from '../../test/helpers/load-client.js';
import { MiB, rss, rssSampler } from '../../test/helpers/process-memory.js';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5672' },
    user: { type: 'string', default: 'guest' },
    password: { type: 'string', default: 'guest' },
    pid: { type: 'string' },
    http: { type: 'string' },
    n: { type: 'string', default: '10000' },
    hold: { type: 'string', default: '60' },
    'publish-every': { type: 'string', default: '10' },
    'consumer-every': { type: 'string', default: '10' },
    queues: { type: 'string', default: '100' },
    heartbeat: { type: 'string', default: '10' },
    parallel: { type: 'string', default: '50' },
    'open-timeout': { type: 'string', default: '30' },
    settle: { type: 'string', default: '10' },
    label: { type: 'string', default: '' },
  },
});

const N = Number(o.n);
const HOLD_S = Number(o.hold);
const PUBLISH_EVERY_S = Number(o['publish-every']);
const CONSUMER_EVERY = Number(o['consumer-every']);
const QUEUES = Number(o.queues);
const PARALLEL = Number(o.parallel);
const pid = o.pid ? Number(o.pid) : null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const mib = (b: number) => Math.round((b / MiB) * 10) / 10;

/** The broker's own count of connections, from the management API (/api/overview). */
async function brokerConnections(): Promise<number | null> {
  if (!o.http) return null;
  const auth = Buffer.from(`${o.user}:${o.password}`).toString('base64');
  try {
    const res = await fetch(`${o.http}/api/overview`, { headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(15_000) });
    const body = await res.json() as { object_totals?: { connections?: number } };
    return body.object_totals?.connections ?? null;
  } catch (e) {
    log(`management API: ${(e as Error).message}`);
    return null;
  }
}

const pool = new LoadPool({
  port: Number(o.port), host: o.host, user: o.user, password: o.password, heartbeat: Number(o.heartbeat),
  openTimeoutMs: Number(o['open-timeout']) * 1000,
});
const errorSummary = () => (pool.errors.total === 0 ? 'no errors' : `errors ${JSON.stringify(pool.errors.toJSON())}`);
// Every queue has a consumer: publisher i sends to queue i % Q, consumer k (the k-th consuming
// connection) takes from queue k % Q.
const Q = Math.min(QUEUES, Math.ceil(N / CONSUMER_EVERY));
const queueName = (q: number) => `load-conn-${q % Q}`;

// Setup on a connection of its own, outside the N measured.
const admin = await pool.open();
for (let q = 0; q < Q; q++) await admin.declareQueue(queueName(q));
const connectionsBefore = await brokerConnections();
await sleep(1000);
const rssBaseline = pid ? rss(pid) : 0;
log(`baseline: broker RSS ${mib(rssBaseline)} MiB, broker connections ${connectionsBefore}`);

// ------------------------------------------------------------------ open
const conns: LoadConnection[] = new Array(N);
const openStarted = Date.now();
let opened = 0;
let openFailed = 0;
let nextToOpen = 0;
// Interrupted (e.g. a broker that cannot keep up): say how far it got before leaving.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`interrupted: ${opened} opened, ${pool.conns.size} open now, ${errorSummary()}; first: ${pool.errors.samples.slice(0, 3).join(' | ')}`);
    if (pid) log(`broker RSS now ${mib(rss(pid))} MiB (baseline ${mib(rssBaseline)} MiB)`);
    process.exit(2);
  });
}
const opener = async () => {
  while (nextToOpen < N) {
    const i = nextToOpen++;
    try {
      const c = await pool.open();
      if (i % CONSUMER_EVERY === 0) {
        await c.qos(10);
        await c.consume(queueName(i / CONSUMER_EVERY));
      }
      conns[i] = c;
      if (++opened % 1000 === 0) {
        log(`${opened} open (${((Date.now() - openStarted) / 1000).toFixed(1)} s), broker RSS ${pid ? mib(rss(pid)) : '-'} MiB, ${errorSummary()}`);
      }
    } catch {
      openFailed++; // counted in pool.errors by kind
    }
  }
};
const peakSampler = pid ? rssSampler(pid, 250) : null;
await Promise.all(Array.from({ length: PARALLEL }, opener));
const openSeconds = (Date.now() - openStarted) / 1000;
log(`${opened} of ${N} open in ${openSeconds.toFixed(1)} s; ${errorSummary()}`);

// ------------------------------------------------------------------ hold
// One timer for all: each second, the connections whose turn it is publish once.
const body = Buffer.alloc(16, 0x6c);
let tickNo = 0;
const publisher = setInterval(() => {
  const slot = tickNo++ % PUBLISH_EVERY_S;
  for (let i = slot; i < N; i += PUBLISH_EVERY_S) {
    const c = conns[i];
    if (c?.isOpen) c.publish(queueName(i), body);
  }
}, 1000);
const holdSampler = pid ? rssSampler(pid, 500) : null;
await sleep((HOLD_S * 1000) / 2);
const connectionsHeld = await brokerConnections();
log(`mid-hold: broker connections ${connectionsHeld}, RSS ${pid ? mib(rss(pid)) : '-'} MiB, errors ${pool.errors.total}`);
await sleep((HOLD_S * 1000) / 2);
clearInterval(publisher);
holdSampler?.stop();
peakSampler?.stop();

let published = 0;
let delivered = 0;
const sum = () => {
  published = 0;
  delivered = 0;
  for (const c of conns) {
    if (!c) continue;
    published += c.published;
    delivered += c.delivered;
  }
};
// Let the consumers take what is left.
for (let waited = 0; waited < 20_000; waited += 200) {
  sum();
  if (delivered >= published) break;
  await sleep(200);
}
log(`held ${HOLD_S} s: published ${published}, delivered ${delivered}, errors ${pool.errors.total}`);

// ------------------------------------------------------------------ close
const closeStarted = Date.now();
const measured = new Set(conns.filter(Boolean));
const list = [...measured];
let nextToClose = 0;
await Promise.all(Array.from({ length: PARALLEL }, async () => {
  while (nextToClose < list.length) await list[nextToClose++].close();
}));
const closeSeconds = (Date.now() - closeStarted) / 1000;
log(`closed ${list.length} in ${closeSeconds.toFixed(1)} s; settling ${o.settle} s`);
await sleep(Number(o.settle) * 1000);
const connectionsAfter = await brokerConnections();
const rssAfter = pid ? rss(pid) : 0;
for (let q = 0; q < Q; q++) await admin.deleteQueue(queueName(q));
await admin.close();
pool.stop();

const result = {
  label: o.label,
  connections: N,
  opened,
  openFailed,
  openSeconds,
  closeSeconds,
  brokerConnections: { before: connectionsBefore, held: connectionsHeld, after: connectionsAfter },
  published,
  delivered,
  errors: pool.errors.total,
  errorKinds: pool.errors.toJSON(),
  errorSamples: pool.errors.samples,
  rssMiB: pid ? { baseline: mib(rssBaseline), holdMean: mib(holdSampler!.mean), peak: mib(peakSampler!.max), after: mib(rssAfter) } : null,
  kibPerConnection: pid ? Math.round((peakSampler!.max - rssBaseline) / N / 1024 * 10) / 10 : null,
  kibPerConnectionHoldMean: pid ? Math.round((holdSampler!.mean - rssBaseline) / N / 1024 * 10) / 10 : null,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
const heldAll = connectionsHeld === null || connectionsBefore === null || connectionsHeld - connectionsBefore >= N;
process.exit(pool.errors.total === 0 && opened === N && heldAll && delivered >= published ? 0 : 1);
