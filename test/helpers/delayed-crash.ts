// One trial of "delayed messages across a kill -9", shared by the test
// (test/durability/delayed-crash-once.test.ts) and the bench (bench/crash-delayed-repeat.mjs):
// a batch of persistent delayed messages all due at one moment on exchange 'later' (bound to
// queue 'due' by key 'k'), a consumer acking each on arrival and learning by a round trip that
// the broker processed the acks, a kill -9 `killAfterDueMs` after the due time, a restart, and
// everything that arrives afterwards, by body.
import type { ConsumeMessage } from 'amqplib';
import { sleep } from './amqp.js';
import { channel, closeAll, confirmChannel, connect, type TestBroker } from './durability.js';

export interface DelayedCrashTrial {
  /** Bodies are consecutive numbers from `first`, `count` of them. */
  first: number;
  count: number;
  /** Acks whose round trip came back before the kill (processed). */
  acked: Set<string>;
  /** Acks sent before the kill (processed or not). */
  sent: Set<string>;
  /** Bodies that arrived after the restart, in arrival order (this trial's and earlier ones'). */
  seen: string[];
}

export async function declareDelayedCrashTopology(url: string): Promise<void> {
  const setup = await connect(url);
  const ch = await channel(setup);
  await ch.assertExchange('later', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
  await ch.assertQueue('due', { durable: true });
  await ch.bindQueue('due', 'later', 'k');
  await closeAll(setup);
}

export async function delayedCrashTrial(b: TestBroker, first: number, count: number, delayMs: number, killAfterDueMs: number): Promise<DelayedCrashTrial> {
  const conn = await connect(b.url);
  const sub = await channel(conn);
  const acked = new Set<string>();
  const sent = new Set<string>();
  const got: ConsumeMessage[] = [];
  await sub.consume('due', (m) => { if (m) got.push(m); });
  const acker = (async () => {
    while (!conn.closed) {
      await sleep(2);
      const batch = got.splice(0);
      try {
        for (const m of batch) {
          sub.ack(m);
          sent.add(m.content.toString());
        }
        await sub.checkQueue('due');
      } catch { break; }
      for (const m of batch) acked.add(m.content.toString());
    }
  })();
  const pub = await confirmChannel(conn);
  for (let i = 0; i < count; i++) pub.publish('later', 'k', Buffer.from(String(first + i)), { persistent: true, headers: { 'x-delay': delayMs } });
  await pub.waitForConfirms();
  await sleep(delayMs + killAfterDueMs);
  await b.stop('SIGKILL');
  await acker;
  await b.restart();
  await closeAll(conn);
  const again = await connect(b.url);
  const ch2 = await channel(again);
  const seen: string[] = [];
  await ch2.consume('due', (m) => { if (m) seen.push(m.content.toString()); }, { noAck: true });
  await sleep(delayMs + 1000);
  await closeAll(again);
  return { first, count, acked, sent, seen };
}
