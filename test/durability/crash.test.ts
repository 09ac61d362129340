// The crash test: rounds of concurrent confirmed publishing and consuming, each ended by a kill -9
// at a random moment, then a restart. Publishers republish what was not confirmed (at-least-once,
// as real applications do). At the end the queue is drained and the whole history is checked:
//  - every confirmed message was consumed at least once (acked before a crash, or there at the end);
//  - nothing was consumed that was never published, and every body is intact;
//  - a message consumed twice is explained: it was published twice (unconfirmed, then republished),
//    or its ack was still in flight at the kill. An ack counts as processed once a round trip on
//    the consumer's channel that followed it came back (a channel handles methods in order); a
//    message acked that way more than ACK_GRACE_MS before the kill must never come back;
//  - a message delivered again (published once) is flagged redelivered;
//  - per publisher, messages published once come out in publish order.
// Set WARREN_CRASH_SEED to replay a run's random choices.
import { describe, it, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { sleep } from '../helpers/amqp.js';
import { rng } from '../helpers/random.js';
import {
  channel, closeAll, confirmChannel, connect, drain, publishConfirmed, startWarren,
  type Conn, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
const QUEUE = 'crash';
const PUBLISHERS = 2;
/**
 * The broker writes a processed ack in the same turn of its event loop (no fsync is needed to
 * survive a kill -9); 100 ms leaves room for scheduling hiccups on a busy machine. Rounds last
 * 50-500 ms, so the 300 ms of the simpler tests would excuse most lost acks here.
 */
const ACK_GRACE_MS = 100;
/** Confirms a publisher may wait for at once. */
const MAX_IN_FLIGHT = 500;


const bodyOf = (id: number) => `${id}:${'abcdefghijklmnopqrstuvwxyz'.slice(0, id % 27)}${'#'.repeat(id % 200)}`;
const publisherOf = (id: number) => id % PUBLISHERS;

interface History {
  /** id -> times published (more than once: republished after an unconfirmed crash). */
  published: Map<number, number>;
  confirmed: Set<number>;
  /** id -> each ack sent: its round, and when the broker was known to have processed it (if it was). */
  acks: Map<number, Ack[]>;
  /** When each round's broker was killed. */
  killedAt: number[];
  /** ids delivered so far (to tell a redelivery). */
  delivered: Set<number>;
  problems: string[];
}

interface Ack {
  round: number;
  processedAt?: number;
}

interface RoundStats {
  round: number;
  killAfterMs: number;
  published: number;
  republished: number;
  confirmed: number;
  delivered: number;
  acked: number;
  restartMs: number;
  recovered: number;
}

async function runPublisher(
  conn: Conn, ch: ConfirmChannel, h: History, next: () => number, pending: Set<number>,
  stats: RoundStats, killed: () => boolean,
): Promise<void> {
  let inFlight = 0;
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  while (!killed() && !conn.closed) {
    const id = next();
    pending.add(id);
    const times = (h.published.get(id) ?? 0) + 1;
    h.published.set(id, times);
    stats.published++;
    if (times > 1) stats.republished++;
    inFlight++;
    let ok: boolean;
    try {
      ok = ch.publish('', QUEUE, Buffer.from(bodyOf(id)), { persistent: true }, (err: unknown) => {
        inFlight--;
        if (err) return; // nacked, or the connection died: unconfirmed, republished next round
        h.confirmed.add(id);
        pending.delete(id);
        stats.confirmed++;
      });
    } catch {
      break; // the channel is already closed
    }
    if (!ok) await Promise.race([new Promise((r) => ch.once('drain', r)), closed]);
    while (inFlight >= MAX_IN_FLIGHT && !conn.closed) await sleep(1);
  }
}

async function runCrashTest(t: TestContext, opts: { rounds: number; env?: Record<string, string> }): Promise<void> {
  const seed = Number(process.env.WARREN_CRASH_SEED ?? Date.now() % 1_000_000);
  const random = rng(seed);
  t.diagnostic(`seed ${seed} (WARREN_CRASH_SEED=${seed} replays the random choices)`);
  const broker = await startWarren({ env: opts.env });
  brokers.push(broker);
  const h: History = { published: new Map(), confirmed: new Set(), acks: new Map(), killedAt: [], delivered: new Set(), problems: [] };
  // Each publisher's next new id, and what it must republish.
  const nextNew = Array.from({ length: PUBLISHERS }, (_, p) => p);
  const republish: number[][] = Array.from({ length: PUBLISHERS }, () => []);
  const allStats: RoundStats[] = [];

  for (let round = 0; round < opts.rounds; round++) {
    const stats: RoundStats = { round, killAfterMs: 0, published: 0, republished: 0, confirmed: 0, delivered: 0, acked: 0, restartMs: 0, recovered: 0 };
    allStats.push(stats);
    let killed = false;
    const pubConns = await Promise.all(Array.from({ length: PUBLISHERS }, () => connect(broker.url)));
    const subConn = await connect(broker.url);
    conns.push(...pubConns, subConn);
    const sub = await channel(subConn);
    await sub.assertQueue(QUEUE, { durable: true });
    if (round > 0) stats.recovered = (await sub.checkQueue(QUEUE)).messageCount;

    // The consumer acks what it got every 0-30 ms (so some deliveries are always unacked), then
    // makes a round trip on its channel to learn that the broker processed those acks.
    await sub.prefetch(200);
    const toAck: { m: ConsumeMessage; id: number }[] = [];
    await sub.consume(QUEUE, (m) => {
      if (!m || killed) return;
      const body = m.content.toString();
      const id = Number(body.slice(0, body.indexOf(':')));
      stats.delivered++;
      if (!h.published.has(id) || body !== bodyOf(id)) {
        h.problems.push(`round ${round}: delivered a message that was never published: ${JSON.stringify(body.slice(0, 60))}`);
        return;
      }
      if (h.delivered.has(id) && h.published.get(id) === 1 && !m.fields.redelivered) {
        h.problems.push(`round ${round}: message ${id} delivered again without the redelivered flag`);
      }
      h.delivered.add(id);
      toAck.push({ m, id });
    });
    const acker = (async () => {
      while (!killed && !subConn.closed) {
        await sleep(Math.floor(random() * 30));
        if (killed || subConn.closed) break;
        const batch: Ack[] = [];
        try {
          for (const { m, id } of toAck.splice(0)) {
            sub.ack(m);
            const a: Ack = { round };
            batch.push(a);
            h.acks.set(id, [...(h.acks.get(id) ?? []), a]);
            stats.acked++;
          }
          await sub.checkQueue(QUEUE);
        } catch {
          break; // the broker is gone: these acks may or may not have been processed
        }
        const now = Date.now();
        for (const a of batch) a.processedAt = now;
      }
    })();

    const pending = Array.from({ length: PUBLISHERS }, () => new Set<number>());
    const publishers = pubConns.map(async (conn, p) => {
      const todo = republish[p].splice(0);
      const next = () => {
        if (todo.length) return todo.shift()!;
        const id = nextNew[p];
        nextNew[p] += PUBLISHERS;
        return id;
      };
      try {
        await runPublisher(conn, await confirmChannel(conn), h, next, pending[p], stats, () => killed);
      } catch (e) {
        if (!killed) throw e; // only the kill may interrupt a publisher (e.g. opening its channel)
      } finally {
        for (const id of todo) pending[p].add(id); // not republished yet: still owed
      }
    });

    stats.killAfterMs = 50 + Math.floor(random() * 450);
    await sleep(stats.killAfterMs);
    killed = true;
    for (const c of [...pubConns, subConn]) {
      if (c.closed) h.problems.push(`round ${round}: a connection was closed before the kill: ${c.error?.message ?? 'no error given'}`);
    }
    h.killedAt[round] = Date.now();
    await broker.stop('SIGKILL');
    await Promise.all([...publishers, acker]);
    for (let p = 0; p < PUBLISHERS; p++) republish[p].push(...[...pending[p]].sort((a, b) => a - b));
    const t0 = Date.now();
    await broker.restart();
    stats.restartMs = Date.now() - t0;
    await closeAll(...pubConns, subConn);
  }

  assert.deepEqual(h.problems.slice(0, 20), [], `${h.problems.length} problems during the rounds`);

  // Republish what is still unconfirmed, this time waiting for every confirm, then drain.
  const conn = await connect(broker.url);
  conns.push(conn);
  const ch = await confirmChannel(conn);
  const last = republish.flat().sort((a, b) => a - b);
  for (const id of last) h.published.set(id, (h.published.get(id) ?? 0) + 1);
  await publishConfirmed(ch, '', QUEUE, last.map((id) => ({ body: bodyOf(id), options: { persistent: true } })));
  for (const id of last) h.confirmed.add(id);
  const rest = await drain(conn, QUEUE, 60_000);

  // ---- the verdict
  const consumed = new Map<number, number>();
  const count = (id: number) => consumed.set(id, (consumed.get(id) ?? 0) + 1);
  for (const [id, acks] of h.acks) for (let i = 0; i < acks.length; i++) count(id);
  const lastSeen = new Map<number, number>(); // per publisher: the last once-published id drained
  for (const m of rest) {
    const body = m.content.toString();
    const id = Number(body.slice(0, body.indexOf(':')));
    if (!h.published.has(id) || body !== bodyOf(id)) {
      h.problems.push(`the final drain holds a message that was never published: ${JSON.stringify(body.slice(0, 60))}`);
      continue;
    }
    count(id);
    if (h.published.get(id) === 1) {
      const p = publisherOf(id);
      if ((lastSeen.get(p) ?? -1) > id) h.problems.push(`publisher ${p}: message ${id} drained after ${lastSeen.get(p)}: out of publish order`);
      lastSeen.set(p, id);
    }
  }
  const lost = [...h.confirmed].filter((id) => !consumed.has(id));
  const neverPublished = [...consumed.keys()].filter((id) => !h.published.has(id));
  let duplicates = 0;
  let republishedDuplicates = 0;
  let inFlightAckDuplicates = 0;
  let latestLostAck = 0; // of the lost acks the broker had processed: the most ms before the kill
  const unexplained: string[] = [];
  for (const [id, n] of consumed) {
    if (n < 2) continue;
    duplicates++;
    const published = h.published.get(id) ?? 0;
    if (published >= n) {
      republishedDuplicates++;
      continue;
    }
    // Consumed more often than published: acks were lost. Only those in flight at a kill may be.
    const acks = h.acks.get(id) ?? [];
    const lostAcks = n - published;
    const unprocessed = acks.filter((a) => a.processedAt === undefined).length;
    const processedLate = acks.filter((a) => a.processedAt !== undefined && h.killedAt[a.round] - a.processedAt < ACK_GRACE_MS);
    if (unprocessed + processedLate.length >= lostAcks) {
      inFlightAckDuplicates++;
      if (unprocessed < lostAcks) for (const a of processedLate) latestLostAck = Math.max(latestLostAck, h.killedAt[a.round] - a.processedAt!);
    } else {
      unexplained.push(`${id} (published ${published}x, consumed ${n}x, acks: ${JSON.stringify(acks.map((a) => ({
        round: a.round, processedMsBeforeKill: a.processedAt === undefined ? null : h.killedAt[a.round] - a.processedAt })))})`);
    }
  }

  for (const s of allStats) {
    t.diagnostic(`round ${s.round}: recovered ${s.recovered} ready messages; killed after ${s.killAfterMs} ms; `
      + `published ${s.published} (${s.republished} republished), confirmed ${s.confirmed}, delivered ${s.delivered}, acked ${s.acked}; `
      + `restart took ${s.restartMs} ms`);
  }
  const totalAcks = [...h.acks.values()].reduce((n, a) => n + a.length, 0);
  t.diagnostic(`${h.published.size} distinct messages published, ${h.confirmed.size} confirmed; ${totalAcks} acked during the rounds, `
    + `${rest.length} drained at the end`);
  t.diagnostic(`duplicates: ${duplicates} (${republishedDuplicates} republished after an unconfirmed crash, `
    + `${inFlightAckDuplicates} whose ack was in flight at the kill (${latestLostAck ? `some processed up to ${latestLostAck} ms before it` : 'none of them processed by the broker'}), `
    + `${unexplained.length} unexplained)`);

  assert.ok(h.confirmed.size > 0 && totalAcks > 0, 'the rounds did nothing: no confirms or no acks');
  assert.deepEqual(h.problems.slice(0, 20), [], `${h.problems.length} problems`);
  assert.deepEqual(neverPublished.slice(0, 20), [], 'consumed messages that were never published');
  assert.deepEqual(lost.slice(0, 20).sort((a, b) => a - b), [], `${lost.length} confirmed messages were never consumed`);
  assert.deepEqual(unexplained.slice(0, 20), [], `${unexplained.length} messages came back although their ack was processed more than ${ACK_GRACE_MS} ms before the kill`);
  assert.equal(consumed.size, h.published.size, 'every message is confirmed by the end, so every one must have been consumed');
  await broker.stop();
}

describe('crash test', { timeout: 120_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  it('keeps every confirmed message and every ack through repeated kill -9 under load', async (t) => {
    // Messages stay in memory here (paging under crashes is the next test).
    await runCrashTest(t, { rounds: 8, env: { WARREN_QUEUE_WINDOW_MESSAGES: '10000000', WARREN_QUEUE_WINDOW_BYTES: '1GiB' } });
  });

  it('does the same with a 1000-message window, the queue paging to disk', async (t) => {
    await runCrashTest(t, { rounds: 4, env: { WARREN_QUEUE_WINDOW_MESSAGES: '1000' } });
  });
});
