// Micro-measurements of the delayed exchange's internals, on the built broker (dist/), outside
// any client traffic:
//   A. splitting one level-1 bucket of N records into level 0 (DelayBuckets.ripen at the split
//      time): how long the event loop is blocked, and what it allocates;
//   B. routing K messages that fall due together with the real DelaySchedule and a durable
//      "queue" log as the router's target: the time spent settling them after the fsyncs
//      (MessageStore.runSyncWaiters -> DelaySchedule.settleSynced), per sync round.
//
//   node bench/delayed/wheel-costs.mjs [A|B|AB]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MessageStore } from '../../dist/src/store/message-store.js';
import { DelayBuckets } from '../../dist/src/store/delay-buckets.js';
import { DelaySchedule, DelayedExchange } from '../../dist/src/broker/delayed.js';
import { buildMessage } from '../../dist/src/broker/message.js';
import { propertiesToBuffer } from '../../dist/src/amqp/properties.js';
import { FLAG_PERSISTENT } from '../../dist/src/store/segment-log.js';

const silent = pino({ level: 'silent' });
const which = process.argv[2] ?? 'AB';
const L1 = 256 * 64;
const mib = (b) => (b / 2 ** 20).toFixed(0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A 16-byte-body persistent message with an x-delay header, as the load generator sends. */
function message(delay) {
  const props = propertiesToBuffer({ deliveryMode: 2, headers: { 'x-delay': delay } });
  return buildMessage('delayed-bench', 'k', props, Buffer.alloc(16));
}

async function partA() {
  console.log('A. split of one level-1 bucket (16.4 s of due times) into level 0');
  for (const n of [100_000, 270_000, 540_000]) {
    const dir = mkdtempSync(join(tmpdir(), 'wb-wheel-'));
    const store = new MessageStore(dir, silent);
    const buckets = new DelayBuckets({ store, dir: join(dir, 'delayed', 'x'), durable: true });
    const now = Date.now();
    const id = Math.ceil((now + 60_000) / L1); // a level-1 bucket a minute or more out
    const m = message(60_000);
    for (let i = 0; i < n; i++) {
      const due = id * L1 + Math.floor((i / n) * L1);
      buckets.add(due, i + 1, true, m.data, m.propsEnd, now);
      if (i % 10_000 === 0) store.flush();
    }
    store.flush();
    await sleep(300); // the fsyncs
    global.gc?.();
    const m0 = process.memoryUsage();
    const t0 = process.hrtime.bigint();
    let loaded = 0;
    buckets.ripen(id * L1 - 1024, Infinity, () => loaded++); // the split time (4 level-0 slots ahead)
    const t1 = process.hrtime.bigint();
    const m1 = process.memoryUsage();
    store.flush();
    const t2 = process.hrtime.bigint();
    // then the first level-0 bucket is loaded (512 ms before its start)
    let l0 = 0;
    const t3 = process.hrtime.bigint();
    buckets.ripen(id * L1 - 512, Infinity, () => l0++);
    const t4 = process.hrtime.bigint();
    console.log(`  N=${n}: split blocks ${(Number(t1 - t0) / 1e6).toFixed(0)} ms (+ ${(Number(t2 - t1) / 1e6).toFixed(0)} ms to write the copies out), ` +
      `${(Number(t1 - t0) / n / 1e3).toFixed(2)} µs/record; during it heapUsed +${mib(m1.heapUsed - m0.heapUsed)} MiB, ` +
      `arrayBuffers +${mib(m1.arrayBuffers - m0.arrayBuffers)} MiB, rss +${mib(m1.rss - m0.rss)} MiB; ` +
      `loading the first level-0 bucket (${l0} records) ${(Number(t4 - t3) / 1e6).toFixed(1)} ms`);
    buckets.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function partB() {
  console.log('B. settling routed persistent messages after their queue syncs');
  for (const k of [2_000, 8_000, 32_000, 64_000]) {
    const dir = mkdtempSync(join(tmpdir(), 'wb-wheel-'));
    const store = new MessageStore(dir, silent);
    const queueLog = store.openDurable('/', 'q', true);
    const x = new DelayedExchange('delayed-bench', '/', { durable: true, autoDelete: false, internal: false, arguments: { 'x-delayed-type': 'direct' } });
    const buckets = new DelayBuckets({ store, dir: join(dir, 'delayed', 'x'), durable: true });
    let seq = 0;
    const router = (_x, msg) => {
      queueLog.append(++seq, FLAG_PERSISTENT, 0, msg.data, msg.propsEnd);
      return store.pendingEpoch;
    };
    const rounds = [];
    const orig = store.runSyncWaiters.bind(store);
    store.runSyncWaiters = () => {
      const waiters = store.syncWaiters.length;
      const pending = sched.settleLater.length;
      const t0 = process.hrtime.bigint();
      orig();
      rounds.push({ waiters, pending, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    };
    const sched = new DelaySchedule(x, buckets, router);
    const m = message(1500);
    for (let i = 0; i < k; i++) sched.add(m, 1500); // all due together, 1.5 s from now
    store.flush();
    await sleep(1000);
    rounds.length = 0;
    const t0 = Date.now();
    while (buckets.count > 0 && Date.now() - t0 < 120_000) await sleep(5);
    const total = rounds.reduce((a, r) => a + r.ms, 0);
    const worst = rounds.reduce((a, r) => (r.ms > a.ms ? r : a), { ms: 0 });
    console.log(`  K=${k} due at once: all routed and settled ${Date.now() - t0 - 500} ms after due; ${rounds.length} sync rounds, ` +
      `${total.toFixed(0)} ms in runSyncWaiters (${(total * 1e3 / k).toFixed(1)} µs per message); worst round ${worst.ms.toFixed(1)} ms ` +
      `with ${worst.waiters} waiters and ${worst.pending} routed records awaiting settlement`);
    sched.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (which.includes('A')) await partA();
if (which.includes('B')) await partB();
