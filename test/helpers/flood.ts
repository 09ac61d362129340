// Slow consumers and a publisher flood at once, against a running broker: the scenario behind
// bench/load/flood.ts (long, recorded) and test/integration/flood.test.ts (short, asserted).
//
//   - flooders publish as fast as their sockets take it (waiting for 'drain'), round robin over
//     the slow consumers' queues; one more floods the stalled consumers' queues; confirmers
//     publish to the slow queues with publisher confirms, at most `confirmWindow` unconfirmed each;
//   - slow consumers (prefetch 10) ack each delivery `slowAckMs` after it arrives;
//   - a stalled consumer (no-ack) stops reading its socket; another (manual ack, prefetch 100)
//     never acks;
//   - a bystander publishes a timestamped message every `bystanderEveryMs` to a queue of its own
//     and its consumer, on another connection, measures the round trip and the longest gap.
// The broker's RSS is sampled throughout; the result says whether anyone starved.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { rss } from './process-memory.js';
import { LoadPool, type LoadConnection } from './load-client.js';
import type { PublisherReport, PublisherSetup } from './flood-publishers.js';

export interface FloodOptions {
  port: number;
  host?: string;
  /** Broker process, for RSS (none: RSS not measured). */
  pid?: number;
  durationMs: number;
  flooders: number;
  confirmers: number;
  confirmWindow: number;
  slowConsumers: number;
  slowAckMs: number;
  bodySize: number;
  bystanderEveryMs: number;
  /** Ignore the first part of the run for per-second rates (consumers still starting). */
  warmupMs: number;
  prefix: string;
  log?: (s: string) => void;
}

export interface FloodResult {
  durationMs: number;
  published: { flood: number; stalledFlood: number; confirmed: number; confirmsPublished: number; nacked: number };
  /** Longest time a flooder's write waited for 'drain' (held back by the broker). */
  longestPublisherStallMs: number;
  /** connection.blocked notifications to publishers. */
  blockedNotifications: number;
  slow: { delivered: number[]; minPerSecond: number; expectedPerSecond: number };
  stalled: { noAckDelivered: number; unackedDelivered: number };
  bystander: { sent: number; received: number; maxGapMs: number; latencyP50Ms: number; latencyP99Ms: number; latencyMaxMs: number };
  /** This process's event-loop delay (if large, the client, not the broker, was slow). */
  clientLoopDelayMaxMs: number;
  rssMiB: { baseline: number; max: number; end: number } | null;
  errors: Record<string, number>;
  errorSamples: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runFlood(o: FloodOptions): Promise<FloodResult> {
  const log = o.log ?? (() => {});
  // No heartbeats: a consumer that stops reading on purpose must not be dropped for silence.
  const pool = new LoadPool({ port: o.port, host: o.host, heartbeat: 0 });
  const admin = await pool.open();
  const slowQ = Array.from({ length: o.slowConsumers }, (_, i) => `${o.prefix}slow-${i}`);
  const stalledNoAckQ = `${o.prefix}stalled-noack`;
  const stalledUnackedQ = `${o.prefix}stalled-unacked`;
  const bystanderQ = `${o.prefix}bystander`;
  const stalledQ = [stalledNoAckQ, stalledUnackedQ];
  for (const q of [...slowQ, ...stalledQ, bystanderQ]) await admin.declareQueue(q);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const baseline = o.pid ? rss(o.pid) : 0;
  let maxRss = baseline;
  const sampler = o.pid ? setInterval(() => { maxRss = Math.max(maxRss, rss(o.pid!)); }, 100) : null;

  // ------------------------------------------------------------- consumers
  const slow: LoadConnection[] = [];
  const perSecond: number[][] = slowQ.map(() => []);
  const started = Date.now();
  const second = () => Math.floor((Date.now() - started) / 1000);
  for (let i = 0; i < slowQ.length; i++) {
    const c = await pool.open();
    await c.qos(10);
    c.onDelivery = (d) => {
      const s = second();
      perSecond[i][s] = (perSecond[i][s] ?? 0) + 1;
      setTimeout(() => c.ack(d.tag), o.slowAckMs);
    };
    await c.consume(slowQ[i]);
    slow.push(c);
  }
  const stalledNoAck = await pool.open();
  await stalledNoAck.consume(stalledNoAckQ, true);
  stalledNoAck.socket.pause();
  const stalledUnacked = await pool.open();
  await stalledUnacked.qos(100);
  stalledUnacked.onDelivery = () => {}; // never acks
  await stalledUnacked.consume(stalledUnackedQ);

  const bySub = await pool.open();
  const latencies: number[] = [];
  let lastArrival = Date.now();
  let maxGap = 0;
  let stopping = false;
  bySub.onDelivery = (d) => {
    const now = Date.now();
    if (!stopping) maxGap = Math.max(maxGap, now - lastArrival);
    lastArrival = now;
    latencies.push(now - Number(d.head.readBigUInt64BE(0)));
  };
  await bySub.consume(bystanderQ, true);
  const byPub = await pool.open();
  let bystanderSent = 0;

  // Publishers run in a worker thread: a flood in this thread would delay our own consumers
  // and make the broker look slower than it is.
  const worker = new Worker(new URL('./flood-publishers.js', import.meta.url), {
    workerData: {
      port: o.port, host: o.host, flooders: o.flooders, confirmers: o.confirmers, confirmWindow: o.confirmWindow,
      bodySize: o.bodySize, targets: slowQ, stalledTargets: stalledQ,
    } satisfies PublisherSetup,
  });
  let pub: PublisherReport = { flood: 0, stalledFlood: 0, confirmsPublished: 0, confirmed: 0, nacked: 0, longestStallMs: 0, blocked: 0, errors: {}, errorSamples: [] };
  let workerDone = false;
  worker.on('message', (m: PublisherReport | 'ready') => { if (m !== 'ready') pub = m; });
  worker.on('error', (e) => { pool.errors.add('publisher worker', e.message); workerDone = true; });
  worker.on('exit', () => { workerDone = true; });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const stamp = Buffer.alloc(16);
  const bystanderTimer = setInterval(() => {
    stamp.writeBigUInt64BE(BigInt(Date.now()), 0);
    byPub.publish(bystanderQ, stamp);
    bystanderSent++;
  }, o.bystanderEveryMs);
  lastArrival = Date.now();

  const progress = setInterval(() => {
    log(`${((Date.now() - started) / 1000).toFixed(0)} s: flood ${pub.flood}, confirmed ${pub.confirmed}, `
      + `slow ${slow.reduce((n, c) => n + c.delivered, 0)}, bystander ${latencies.length}/${bystanderSent} max gap ${maxGap} ms, `
      + `stalled flood ${pub.stalledFlood}, RSS ${o.pid ? Math.round(rss(o.pid) / 1048576) : '-'} MiB (max ${Math.round(maxRss / 1048576)}), errors ${pool.errors.total}`);
  }, 5000);
  await sleep(o.durationMs);
  clearInterval(bystanderTimer);
  // The last bystander message still counts for the gap: wait for it before stopping the clock.
  for (let i = 0; i < 50 && latencies.length < bystanderSent; i++) await sleep(100);
  stopping = true;
  clearInterval(progress);
  worker.postMessage('stop');
  while (!workerDone) await sleep(50);
  if (sampler) clearInterval(sampler);
  const end = o.pid ? rss(o.pid) : 0;
  loopDelay.disable();

  // Per-second rates of the slow consumers over whole seconds after the warm-up.
  const from = Math.ceil(o.warmupMs / 1000);
  const to = Math.floor(o.durationMs / 1000) - 1;
  let minPerSecond = Infinity;
  for (const series of perSecond) for (let s = from; s < to; s++) minPerSecond = Math.min(minPerSecond, series[s] ?? 0);
  const sorted = [...latencies].sort((a, b) => a - b);
  const result: FloodResult = {
    durationMs: Date.now() - started,
    published: { flood: pub.flood, stalledFlood: pub.stalledFlood, confirmsPublished: pub.confirmsPublished, confirmed: pub.confirmed, nacked: pub.nacked },
    longestPublisherStallMs: pub.longestStallMs,
    blockedNotifications: pub.blocked + byPub.blockedCount,
    slow: { delivered: slow.map((c) => c.delivered), minPerSecond: minPerSecond === Infinity ? 0 : minPerSecond, expectedPerSecond: (10 * 1000) / o.slowAckMs },
    stalled: { noAckDelivered: stalledNoAck.delivered, unackedDelivered: stalledUnacked.delivered },
    bystander: {
      sent: bystanderSent, received: latencies.length, maxGapMs: maxGap,
      latencyP50Ms: percentile(sorted, 50), latencyP99Ms: percentile(sorted, 99), latencyMaxMs: sorted[sorted.length - 1] ?? NaN,
    },
    clientLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
    rssMiB: o.pid ? { baseline: Math.round(baseline / 1048576), max: Math.round(maxRss / 1048576), end: Math.round(end / 1048576) } : null,
    errors: { ...pool.errors.toJSON(), ...Object.fromEntries(Object.entries(pub.errors).map(([k, v]) => [`publisher ${k}`, v])) },
    errorSamples: [...pool.errors.samples, ...pub.errorSamples],
  };

  // Clean up. The stalled consumer is dropped rather than closed (the worker dropped the
  // publishers the same way: the broker may still hold their reads back, so a close would wait
  // behind their backlog). The queues go, with what is left in them.
  stalledNoAck.destroy();
  for (const c of [...pool.conns]) if (c !== admin) await c.close();
  for (const q of [...slowQ, ...stalledQ, bystanderQ]) await admin.deleteQueue(q);
  await admin.close();
  pool.stop();
  return result;
}
