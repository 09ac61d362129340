// The crash soak: kill -9 at random moments under mixed load, then restart, many times over.
// The load, all at once:
//  - four confirmed publishers of persistent messages: to a direct exchange with two queues bound
//    by the same key, to a topic exchange whose two queues take all or half of them, straight to
//    a queue, and to a delayed-message exchange (x-delayed-type direct) with x-delay 0-6000 ms;
//  - a consumer per queue acking, with different prefetches, some one by one and some with
//    multiple=true;
//  - a worker declaring and deleting durable queues, exchanges and bindings (crash-soak-churn.ts);
//  - a vhost, user, permissions and policies made through the management API beforehand
//    (crash-soak-accounts.ts).
// A round runs the load for a random 50-800 ms, kills the broker with SIGKILL, restarts it and
// checks every definition. After the last round, what is unconfirmed is republished, the
// consumers run until no delayed message is pending, and every queue is drained. The whole
// history is judged by test/helpers/crash-ledger.ts's rules (no confirmed message lost, no
// processed ack undone, redeliveries flagged, publish order kept), and no delayed message may
// arrive before its publish time + x-delay (late is allowed: nothing is routed while the broker
// is down).
// Run from test/durability/crash-soak.test.ts (a few rounds) and bench/crash-soak.mjs (ROUNDS=100).
import assert from 'node:assert/strict';
import type { Channel } from 'amqplib';
import { sleep } from '../helpers/amqp.js';
import { api, enc } from '../helpers/admin-api.js';
import { rng } from '../helpers/random.js';
import {
  ackUndone, assertVerdict, describeDuplicates, drainedKeys, idOf, judge, newLedger, noteDelivery, runAcker, runPublisher,
  type Ledger, type PublishStats, type Unacked, type Verdict,
} from '../helpers/crash-ledger.js';
import {
  channel, closeAll, confirmChannel, connect, drain, publishConfirmed, startWarren, type Conn, type TestBroker,
} from '../helpers/durability.js';
import { checkAccounts, createAccounts } from './crash-soak-accounts.js';
import { ChurnModel } from './crash-soak-churn.js';

/** Same rule and reason as crash.test.ts: a processed ack is written in the turn it arrives. */
const ACK_GRACE_MS = 100;
const MAX_IN_FLIGHT = 200;
/**
 * A delivery may come this much before publish time + x-delay: the client's clock reading at
 * publish precedes the broker's, so only timer rounding can make a correct broker look early.
 */
const EARLY_SLACK_MS = 5;
/** Longer than a restart takes on a busy machine, so that many delayed messages are pending across kills. */
const MAX_DELAY_MS = 6000;
/**
 * Warren settles a routed delayed message (removes it from the exchange's store) only once its
 * copies in the queues are fsync'ed, so that a power loss cannot lose it; a kill -9 between the
 * routing and that fsync makes it route the message again after the restart (at-least-once, like
 * RabbitMQ's plugin, which routes and then deletes). The ids of routed records go to a journal
 * once their copies are written, and a restart on the same boot skips them, so only a copy that
 * was delivered before it was written (and so not acked yet: an ack takes a later turn) is routed
 * again. Such a repeat is not flagged redelivered. One repeat per kill is excused only for a copy
 * that may have been routed in that window: delivered at most this long before the kill (an fsync
 * on a busy machine) and without an ack processed before the kill, or due before the kill and
 * first delivered after it. A delayed message whose ack was processed must never come back.
 * Repeats are counted and reported.
 */
const REROUTE_GRACE_MS = 1000;

/** key -> how many repeats of a delayed message kills may have caused (see REROUTE_GRACE_MS). */
function rerouteAllowance(l: Ledger<string>, delayed: DelayedTimes, rounds: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, list] of delayed.deliveries) {
    const id = Number(key.slice(key.indexOf('|') + 1));
    const earliestDue = delayed.firstPublished.get(id)! + delayOf(id);
    const acks = l.acks.get(key) ?? [];
    let n = 0;
    for (let r = 0; r < rounds; r++) {
      const ackProcessed = acks.some((a) => a.round === r && a.processedAt !== undefined && l.killedAt[r] - a.processedAt >= ACK_GRACE_MS);
      const nearKill = !ackProcessed && list.some((d) => d.round === r && l.killedAt[r] - d.at <= REROUTE_GRACE_MS);
      const acrossKill = earliestDue <= l.killedAt[r] && !list.some((d) => d.round === r) && list.some((d) => d.round === r + 1);
      if (nearKill || acrossKill) n++;
    }
    if (n) out.set(key, n);
  }
  return out;
}

interface Stream {
  name: string;
  exchange: string;
  routingKey: (id: number) => string;
  /** The queues a message of this stream is routed to. */
  queues: (id: number) => string[];
  perSecond: number;
  delayed?: boolean;
}

const STREAMS: Stream[] = [
  { name: 'direct', exchange: 'soak.direct', routingKey: () => 'a', queues: () => ['soak.direct.a', 'soak.direct.b'], perSecond: 800 },
  {
    name: 'topic', exchange: 'soak.topic', routingKey: (id) => `p1.${(id >> 2) % 2 ? 'odd' : 'even'}`,
    queues: (id) => ((id >> 2) % 2 ? ['soak.topic.all'] : ['soak.topic.all', 'soak.topic.even']), perSecond: 800,
  },
  { name: 'plain', exchange: '', routingKey: () => 'soak.plain', queues: () => ['soak.plain'], perSecond: 800 },
  { name: 'delayed', exchange: 'soak.delayed', routingKey: () => 'd', queues: () => ['soak.delayed.q'], perSecond: 300, delayed: true },
];

/** Each queue's consumer: prefetch (0 = unlimited) and whether it acks with multiple=true. */
const CONSUMERS: { queue: string; prefetch: number; multiple: boolean }[] = [
  { queue: 'soak.direct.a', prefetch: 100, multiple: false },
  { queue: 'soak.direct.b', prefetch: 0, multiple: true },
  { queue: 'soak.topic.all', prefetch: 50, multiple: true },
  { queue: 'soak.topic.even', prefetch: 200, multiple: false },
  { queue: 'soak.plain', prefetch: 20, multiple: true },
  // Unlimited, so a delayed message is delivered the moment it is routed (the early check is tight).
  { queue: 'soak.delayed.q', prefetch: 0, multiple: false },
];

/** Ids are global: stream s publishes s, s+4, s+8... */
const streamOf = (id: number) => STREAMS[id % STREAMS.length];
const bodyOf = (id: number) => `${id}:${'soak'.repeat(id % 50)}${'.'.repeat(id % 300)}`;
/** Every tenth delayed message has x-delay 0 (routed at once); the rest spread over 1-6000 ms. */
const delayOf = (id: number) => (((id * 2654435761) >>> 0) % 10 === 0 ? 0 : 1 + (((id * 40503) >>> 0) % MAX_DELAY_MS));
const keyOf = (queue: string, id: number) => `${queue}|${id}`;

async function declareTopology(ch: Channel): Promise<void> {
  await ch.assertExchange('soak.direct', 'direct', { durable: true });
  await ch.assertExchange('soak.topic', 'topic', { durable: true });
  await ch.assertExchange('soak.delayed', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
  for (const c of CONSUMERS) await ch.assertQueue(c.queue, { durable: true });
  for (const [q, x, k] of STATIC_BINDINGS) await ch.bindQueue(q, x, k);
}

const STATIC_BINDINGS: [string, string, string][] = [
  ['soak.direct.a', 'soak.direct', 'a'], ['soak.direct.b', 'soak.direct', 'a'],
  ['soak.topic.all', 'soak.topic', 'p1.#'], ['soak.topic.even', 'soak.topic', '*.even'],
  ['soak.delayed.q', 'soak.delayed', 'd'],
];

/** The soak's own exchanges, queues and bindings: all there, with their kinds (passive declares and the API). */
async function checkStaticTopology(conn: Conn, base: string): Promise<string[]> {
  const out: string[] = [];
  const ch = await channel(conn);
  try {
    for (const x of ['soak.direct', 'soak.topic', 'soak.delayed']) await ch.checkExchange(x);
    for (const c of CONSUMERS) await ch.checkQueue(c.queue);
  } catch (e) {
    out.push(`a passive declare of the soak's own topology failed: ${(e as Error).message}`);
  }
  await ch.close().catch(() => {});
  const delayed = await api(base, 'GET', `exchanges/${enc('/')}/soak.delayed`);
  if (delayed.body?.type !== 'x-delayed-message' || delayed.body?.arguments?.['x-delayed-type'] !== 'direct' || !delayed.body?.durable) {
    out.push(`exchange soak.delayed came back as ${JSON.stringify(delayed.body)}`);
  }
  const bindings = await api(base, 'GET', `bindings/${enc('/')}`);
  for (const [q, x, k] of STATIC_BINDINGS) {
    if (!(bindings.body as any[]).some((b) => b.source === x && b.destination === q && b.routing_key === k)) out.push(`binding ${x} -> ${q} (${k}) is gone`);
  }
  return out;
}

/** Messages the delayed exchange holds (the management API's messages_delayed). */
async function delayedPending(base: string): Promise<number> {
  const r = await api(base, 'GET', `exchanges/${enc('/')}/soak.delayed`);
  if (typeof r.body?.messages_delayed !== 'number') throw new Error(`GET /api/exchanges/%2F/soak.delayed answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body.messages_delayed;
}

export interface SoakOptions {
  rounds: number;
  seed: number;
  env?: Record<string, string>;
  /** The broker's data directory, kept afterwards (default: a temporary one, removed). */
  dataDir?: string;
  /** Progress lines (one per round, and the summary). */
  log: (line: string) => void;
}

export interface SoakResult {
  seed: number;
  rounds: number;
  published: number;
  distinctMessages: number;
  confirmed: number;
  acked: number;
  drained: number;
  delayedPublished: number;
  delayedLatestMs: number;
  /** Delayed messages routed a second time after a kill (see REROUTE_GRACE_MS). */
  delayedRerouted: number;
  churnOps: number;
  durationMs: number;
  verdict: Verdict<string>;
}

interface DelayedTimes {
  /** id -> when it was first published (ms since the epoch, client clock). */
  firstPublished: Map<number, number>;
  /** id -> when it was last published. */
  lastPublished: Map<number, number>;
  /** The most a delivery came after its due time counted from its last publish (ms): late after a restart. */
  latest: number;
  /** key -> every delivery's round and time. */
  deliveries: Map<string, { round: number; at: number }[]>;
}

/** Consumers on the soak's queues, recording deliveries in the ledger; returns how to stop them. */
async function startConsumers(conn: Conn, which: typeof CONSUMERS, l: Ledger<string>, round: number, random: () => number,
  delayed: DelayedTimes, stats: { delivered: number; acked: number }): Promise<{ stop: () => Promise<void> }> {
  let stopped = false;
  const ackers: Promise<void>[] = [];
  for (const c of which) {
    const ch = await channel(conn);
    if (c.prefetch) await ch.prefetch(c.prefetch);
    const toAck: Unacked<string>[] = [];
    await ch.consume(c.queue, (m) => {
      if (!m || stopped) return;
      const now = Date.now();
      const body = m.content.toString();
      const id = idOf(body);
      const key = keyOf(c.queue, id);
      stats.delivered++;
      let redelivered = m.fields.redelivered;
      if (streamOf(id).delayed) {
        // A delayed message routed again after a kill is a new copy, not flagged redelivered, and
        // indistinguishable from a recovered one: the flag is not checked here; the copies are
        // counted at the end (rerouteAllowance).
        redelivered = true;
        const list = delayed.deliveries.get(key);
        if (list) list.push({ round, at: now });
        else delayed.deliveries.set(key, [{ round, at: now }]);
      }
      if (ackUndone(l, key, round, ACK_GRACE_MS)) {
        // Left unacked, so that the data directory still shows the record without its ack.
        l.problems.push(`round ${round}, ${c.queue}: message ${id} came back although its ack was processed before an earlier kill `
          + `(acks: ${JSON.stringify(l.acks.get(key)!.map((a) => ({ round: a.round, processedMsBeforeKill: a.processedAt === undefined ? null : l.killedAt[a.round] - a.processedAt })))})`);
        return;
      }
      if (!noteDelivery(l, key, body, bodyOf(id), redelivered, `round ${round}, ${c.queue}`, round)) return;
      if (streamOf(id).delayed) {
        // The earliest copy published sets the earliest a correct broker may deliver it.
        const due = delayed.firstPublished.get(id)! + delayOf(id);
        if (now < due - EARLY_SLACK_MS) l.problems.push(`round ${round}: delayed message ${id} (x-delay ${delayOf(id)}) arrived ${due - now} ms early`);
        delayed.latest = Math.max(delayed.latest, now - delayed.lastPublished.get(id)! - delayOf(id));
      }
      toAck.push({ m, key });
    });
    ackers.push(runAcker({
      ledger: l, ch, conn, queue: c.queue, round, toAck, multiple: c.multiple, random,
      stopped: () => stopped, counted: (n) => { stats.acked += n; },
    }));
  }
  return { stop: async () => { stopped = true; await Promise.all(ackers); } };
}

interface RoundStats extends PublishStats {
  round: number;
  killAfterMs: number;
  delivered: number;
  acked: number;
  churnOps: number;
  restartMs: number;
  delayedPending: number;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  const random = rng(opts.seed);
  const broker: TestBroker = await startWarren({ env: opts.env, dataDir: opts.dataDir });
  try {
    return await soak(broker, opts, random, started);
  } finally {
    await broker.stop('SIGKILL');
  }
}

async function soak(broker: TestBroker, opts: SoakOptions, random: () => number, started: number): Promise<SoakResult> {
  const l = newLedger<string>();
  const delayed: DelayedTimes = {
    firstPublished: new Map(), lastPublished: new Map(), latest: 0, deliveries: new Map(),
  };
  const churn = new ChurnModel();
  const nextNew = STREAMS.map((_, s) => s);
  const republish: number[][] = STREAMS.map(() => []);
  const keysOf = (id: number) => streamOf(id).queues(id).map((q) => keyOf(q, id));
  const optionsOf = (id: number) => (streamOf(id).delayed ? { persistent: true, headers: { 'x-delay': delayOf(id) } } : { persistent: true });
  const notePublish = (id: number) => {
    if (!streamOf(id).delayed) return;
    const now = Date.now();
    if (!delayed.firstPublished.has(id)) delayed.firstPublished.set(id, now);
    delayed.lastPublished.set(id, now);
  };
  let published = 0;
  let roundsRun = 0;

  const setup = await connect(broker.url);
  await declareTopology(await channel(setup));
  await createAccounts(broker.httpUrl);
  await closeAll(setup);

  const checkDefinitions = async (when: string) => {
    const conn = await connect(broker.url);
    try {
      const found = [
        ...await checkStaticTopology(conn, broker.httpUrl),
        ...await churn.check(conn, broker.httpUrl),
        ...await checkAccounts(broker.httpUrl),
      ];
      for (const f of found) l.problems.push(`${when}: ${f}`);
    } finally {
      await closeAll(conn);
    }
  };

  for (let round = 0; round < opts.rounds; round++) {
    const stats: RoundStats = {
      round, killAfterMs: 0, published: 0, republished: 0, confirmed: 0, delivered: 0, acked: 0, churnOps: 0, restartMs: 0, delayedPending: 0,
    };
    let killed = false;
    const pubConns = await Promise.all(STREAMS.map(() => connect(broker.url)));
    const subConn = await connect(broker.url);
    const churnConn = await connect(broker.url);
    const conns = [...pubConns, subConn, churnConn];
    const consumers = await startConsumers(subConn, CONSUMERS, l, round, random, delayed, stats);
    const churnCh = await channel(churnConn);
    const okBefore = churn.okCount;
    const churning = churn.run(churnCh, random, () => killed);

    const pending = STREAMS.map(() => new Set<number>());
    const publishers = pubConns.map(async (conn, s) => {
      const todo = republish[s].splice(0);
      const next = () => {
        if (todo.length) return todo.shift()!;
        const id = nextNew[s];
        nextNew[s] += STREAMS.length;
        return id;
      };
      try {
        await runPublisher({
          conn, ch: await confirmChannel(conn), ledger: l, next, pending: pending[s], keysOf, body: bodyOf,
          exchange: STREAMS[s].exchange, routingKey: STREAMS[s].routingKey, options: optionsOf, onPublish: notePublish,
          stats, stopped: () => killed, maxInFlight: MAX_IN_FLIGHT, perSecond: STREAMS[s].perSecond,
        });
      } catch (e) {
        if (!killed) throw e; // only the kill may interrupt a publisher (e.g. opening its channel)
      } finally {
        for (const id of todo) pending[s].add(id); // not republished yet: still owed
      }
    });

    stats.killAfterMs = 50 + Math.floor(random() * 751);
    await sleep(stats.killAfterMs);
    stats.delayedPending = await delayedPending(broker.httpUrl);
    killed = true;
    for (const c of conns) {
      if (c.closed) l.problems.push(`round ${round}: a connection was closed before the kill: ${c.error?.message ?? 'no error given'}`);
    }
    l.killedAt[round] = Date.now();
    await broker.stop('SIGKILL');
    const [churnError] = await Promise.all([churning, consumers.stop(), ...publishers]);
    if (churnError) l.problems.push(`round ${round}: ${churnError}`);
    stats.churnOps = churn.okCount - okBefore;
    for (let s = 0; s < STREAMS.length; s++) republish[s].push(...[...pending[s]].sort((a, b) => a - b));
    published += stats.published;
    roundsRun++;
    const t0 = Date.now();
    await broker.restart();
    stats.restartMs = Date.now() - t0;
    await closeAll(...conns);
    await checkDefinitions(`after round ${round}`);
    opts.log(`round ${round}: killed after ${stats.killAfterMs} ms; published ${stats.published} (${stats.republished} republished), `
      + `confirmed ${stats.confirmed}, delivered ${stats.delivered}, acked ${stats.acked}; ${stats.churnOps} topology changes -ok'ed; `
      + `${stats.delayedPending} delayed messages pending at the kill; restart took ${stats.restartMs} ms`);
    // Stop early on a broken rule: the first rounds after it say the most.
    if (l.problems.length) break;
  }

  // A broken rule ends the soak here, the data directory as the failing restart left it.
  assert.deepEqual(l.problems.slice(0, 20), [], `${l.problems.length} problems during the rounds`);

  // Republish what is still unconfirmed, waiting for every confirm.
  const conn = await connect(broker.url);
  try {
    const ch = await confirmChannel(conn);
    for (let s = 0; s < STREAMS.length; s++) {
      const ids = republish[s];
      for (const id of ids) {
        notePublish(id);
        for (const k of keysOf(id)) l.published.set(k, (l.published.get(k) ?? 0) + 1);
      }
      for (const key of new Set(ids.map(STREAMS[s].routingKey))) {
        const sameKey = ids.filter((id) => STREAMS[s].routingKey(id) === key);
        await publishConfirmed(ch, STREAMS[s].exchange, key, sameKey.map((id) => ({ body: bodyOf(id), options: optionsOf(id) })));
      }
      for (const id of ids) for (const k of keysOf(id)) l.confirmed.add(k);
      published += ids.length;
    }
    // Consume the delayed queue until no delayed message is pending (so each is timed as it is
    // routed), then drain every queue.
    const final = roundsRun;
    l.killedAt[final] = Infinity; // no kill ends this phase: a lost ack here is never excused
    const stats = { delivered: 0, acked: 0 };
    const consumers = await startConsumers(conn, CONSUMERS.filter((c) => c.queue === 'soak.delayed.q'), l, final, random, delayed, stats);
    const deadline = Date.now() + MAX_DELAY_MS + 60_000;
    for (;;) {
      const pendingNow = await delayedPending(broker.httpUrl);
      if (pendingNow === 0) break;
      if (Date.now() > deadline) throw new Error(`${pendingNow} delayed messages still pending ${MAX_DELAY_MS + 60_000} ms after the last publish`);
      await sleep(100);
    }
    await sleep(200); // the last routed ones reach the consumer
    await consumers.stop();
    await checkDefinitions('at the end');
  } finally {
    await closeAll(conn);
  }
  const drainConn = await connect(broker.url);
  const drained: string[] = [];
  try {
    for (const c of CONSUMERS) {
      drained.push(...drainedKeys(l, await drain(drainConn, c.queue, 120_000), (id) => keyOf(c.queue, id), bodyOf));
    }
  } finally {
    await closeAll(drainConn);
  }

  // Publish order per queue (each has one publisher); the delayed queue is in due order instead.
  const v = judge(l, drained, ACK_GRACE_MS, {
    stream: (k) => { const q = k.slice(0, k.indexOf('|')); return q === 'soak.delayed.q' ? undefined : q; },
    seq: (k) => Number(k.slice(k.indexOf('|') + 1)),
  }, rerouteAllowance(l, delayed, roundsRun));
  const result: SoakResult = {
    seed: opts.seed, rounds: roundsRun, published, distinctMessages: nextNew.reduce((n, next, s) => n + (next - s) / STREAMS.length, 0),
    confirmed: l.confirmed.size, acked: v.totalAcks, drained: drained.length, delayedPublished: delayed.firstPublished.size,
    delayedLatestMs: delayed.latest, delayedRerouted: v.repeatedDuplicates, churnOps: churn.okCount, durationMs: Date.now() - started, verdict: v,
  };
  opts.log(`${result.rounds} rounds, seed ${opts.seed}: ${published} publishes of ${result.distinctMessages} distinct messages `
    + `(${result.delayedPublished} delayed), ${l.published.size} queue copies, ${l.confirmed.size} confirmed; ${v.totalAcks} acked during the rounds, `
    + `${drained.length} drained at the end; ${churn.okCount} topology changes; latest delayed delivery ${delayed.latest} ms after its time (from its last publish); `
    + `${Math.round(result.durationMs / 1000)} s`);
  opts.log(describeDuplicates(v));
  opts.log(`delayed messages repeated after a kill (routed again, beyond republishing and lost acks): ${v.repeatedDuplicates}`);
  assertVerdict(l, v, ACK_GRACE_MS, true);
  return result;
}
