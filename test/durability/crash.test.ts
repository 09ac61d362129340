// The crash test: rounds of concurrent confirmed publishing and consuming on one queue, each ended
// by a kill -9 at a random moment, then a restart. Publishers republish what was not confirmed
// (at-least-once, as real applications do). At the end the queue is drained and the whole history
// is checked by the rules in test/helpers/crash-ledger.ts (nothing confirmed lost, no processed
// ack undone, redeliveries flagged, publish order kept). test/durability/crash-soak.ts does the
// same under mixed load. Set WARREN_CRASH_SEED to replay a run's random choices.
import { describe, it, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../helpers/amqp.js';
import { rng } from '../helpers/random.js';
import {
  assertVerdict, describeDuplicates, drainedKeys, idOf, judge, newLedger, noteDelivery, runAcker, runPublisher, type Unacked,
} from '../helpers/crash-ledger.js';
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

async function runCrashTest(t: TestContext, opts: { rounds: number; env?: Record<string, string> }): Promise<void> {
  const seed = Number(process.env.WARREN_CRASH_SEED ?? Date.now() % 1_000_000);
  const random = rng(seed);
  t.diagnostic(`seed ${seed} (WARREN_CRASH_SEED=${seed} replays the random choices)`);
  const broker = await startWarren({ env: opts.env });
  brokers.push(broker);
  const h = newLedger<number>();
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

    await sub.prefetch(200);
    const toAck: Unacked<number>[] = [];
    await sub.consume(QUEUE, (m) => {
      if (!m || killed) return;
      const body = m.content.toString();
      const id = idOf(body);
      stats.delivered++;
      if (noteDelivery(h, id, body, bodyOf(id), m.fields.redelivered, `round ${round}`, round)) toAck.push({ m, key: id });
    });
    const acker = runAcker({
      ledger: h, ch: sub, conn: subConn, queue: QUEUE, round, toAck, multiple: false, random,
      stopped: () => killed, counted: (n) => { stats.acked += n; },
    });

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
        await runPublisher({
          conn, ch: await confirmChannel(conn), ledger: h, next, pending: pending[p], keysOf: (id) => [id], body: bodyOf,
          exchange: '', routingKey: () => QUEUE, options: () => ({ persistent: true }), stats, stopped: () => killed, maxInFlight: MAX_IN_FLIGHT,
        });
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
  const drained = drainedKeys(h, rest, (id) => id, bodyOf);
  const v = judge(h, drained, ACK_GRACE_MS, { stream: (id) => `publisher ${publisherOf(id)}`, seq: (id) => id });

  for (const s of allStats) {
    t.diagnostic(`round ${s.round}: recovered ${s.recovered} ready messages; killed after ${s.killAfterMs} ms; `
      + `published ${s.published} (${s.republished} republished), confirmed ${s.confirmed}, delivered ${s.delivered}, acked ${s.acked}; `
      + `restart took ${s.restartMs} ms`);
  }
  t.diagnostic(`${h.published.size} distinct messages published, ${h.confirmed.size} confirmed; ${v.totalAcks} acked during the rounds, `
    + `${rest.length} drained at the end`);
  t.diagnostic(describeDuplicates(v));
  assertVerdict(h, v, ACK_GRACE_MS, true);
  await broker.stop();
}

// Restarts take 2-9 s on a 2-core machine shared with other builds: 12 rounds need more than 120 s there.
describe('crash test', { timeout: 300_000 }, () => {
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
