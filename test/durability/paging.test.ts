// Paging: with a small in-memory window (WARREN_QUEUE_WINDOW_MESSAGES=1000) queues keep most of
// their messages on disk and read them back in order as consumers drain them. The order and the
// content must be exact, for durable and non-durable queues, persistent and transient messages;
// across a restart only the persistent messages of a durable queue come back, still in order.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsumeMessage } from 'amqplib';
import { sleep } from '../helpers/amqp.js';
import {
  ACK_WRITE_GRACE_MS, assertOpen, assertSequence, bodiesOf, channel, closeAll, confirmChannel, connect, drain,
  pollUntil, publishConfirmed, restartBroker, startWarren, type Conn, type Outgoing, type RestartKind, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
const WINDOW = { WARREN_QUEUE_WINDOW_MESSAGES: '1000' };

/** Mixed messages: every third transient; sizes from a few bytes to ~6 KiB, so that records vary. */
function mixed(prefix: string, n: number): Outgoing[] {
  return Array.from({ length: n }, (_, i) => {
    const keep = i % 3 !== 0;
    const filler = String.fromCharCode(97 + (i % 26)).repeat((i * 37) % (i % 100 === 0 ? 6000 : 300));
    return { body: `${prefix}-${i}-${keep ? 'p' : 't'}|${filler}`, options: { persistent: keep } };
  });
}
const bodies = (ms: Outgoing[]) => ms.map((m) => String(m.body));
const isPersistent = (m: Outgoing) => m.options!.persistent === true;

async function setup(durable: boolean, msgs: Outgoing[]): Promise<{ broker: TestBroker; conn: Conn }> {
  const broker = await startWarren({ env: WINDOW });
  brokers.push(broker);
  const conn = await connect(broker.url);
  conns.push(conn);
  await (await channel(conn)).assertQueue('q', { durable });
  await publishConfirmed(await confirmChannel(conn), '', 'q', msgs);
  assert.equal((await (await channel(conn)).checkQueue('q')).messageCount, msgs.length, 'messages in the queue');
  return { broker, conn };
}

describe('paging with a 1000-message window', { timeout: 120_000 }, () => {
  // Regression: paging back a recovered segment counted its dead records (transient ones from
  // before the restart) against the live ones, so the segment was deleted while deliveries from
  // it were still unacked; a crash then lost them.
  it('keeps unacked messages of a recovered segment after paging past its dead records', async () => {
    const msgs = mixed('r', 3000);
    const { broker, conn } = await setup(true, msgs);
    await closeAll(conn);
    await restartBroker(broker, 'clean'); // transient ones are now dead records on disk
    const c2 = await connect(broker.url);
    conns.push(c2);
    // One more message after the restart: it goes to a new segment, so paging moves on from the
    // recovered one once it has read it.
    const extra: Outgoing = { body: 'r-after-restart', options: { persistent: true } };
    await publishConfirmed(await confirmChannel(c2), '', 'q', [extra]);
    const kept = [...msgs.filter(isPersistent), extra];
    const holder = await channel(c2);
    await holder.prefetch(10);
    const held: ConsumeMessage[] = [];
    const { consumerTag } = await holder.consume('q', (m) => { if (m) held.push(m); });
    await pollUntil(() => held.length, (n) => n >= 10, '10 unacked deliveries', 10_000);
    await holder.cancel(consumerTag);
    // Drain the rest with acks: paging reads the whole recovered segment, dead records included.
    const rest = await channel(c2);
    const got: string[] = [];
    await rest.prefetch(500);
    await rest.consume('q', (m) => { if (m) { got.push(m.content.toString()); rest.ack(m); } });
    await pollUntil(() => got.length, (n) => n >= kept.length - 10, `${kept.length - 10} deliveries`, 20_000);
    await rest.checkQueue('q');
    await sleep(ACK_WRITE_GRACE_MS);
    await restartBroker(broker, 'crash');
    const c3 = await connect(broker.url);
    conns.push(c3);
    const back = bodiesOf(await drain(c3, 'q'));
    assertSequence(back, bodies(kept.slice(0, 10)), 'the unacked deliveries after the crash');
  });

  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  it('delivers 20,000 messages of a non-durable queue in order and intact', async () => {
    const msgs = mixed('n', 20_000);
    const { broker, conn } = await setup(false, msgs);
    assertSequence(bodiesOf(await drain(conn, 'q')), bodies(msgs), 'non-durable queue');
    await broker.stop();
  });

  it('delivers 30,000 mixed persistent and transient messages of a durable queue in order and intact', async () => {
    const msgs = mixed('d', 30_000);
    const { broker, conn } = await setup(true, msgs);
    assertSequence(bodiesOf(await drain(conn, 'q')), bodies(msgs), 'durable queue');
    await broker.stop();
  });

  it('brings back only the persistent ones of 30,000 mixed messages after a clean restart, in order', async () => {
    const msgs = mixed('r', 30_000);
    const { broker } = await setup(true, msgs);
    await restartBroker(broker, 'clean');
    const conn = await connect(broker.url);
    conns.push(conn);
    const got = await drain(conn, 'q');
    assertSequence(bodiesOf(got), bodies(msgs.filter(isPersistent)), 'durable queue after a clean restart');
    assert.equal(got.filter((m) => m.fields.redelivered).length, 0, 'never-delivered messages marked redelivered');
    await broker.stop();
  });

  for (const kind of ['clean', 'crash'] as RestartKind[]) {
    it(`resumes a half-consumed paged queue after a ${kind} restart: acked ones gone, the rest in order`, async () => {
      const msgs = mixed('h', 30_000);
      const { broker, conn } = await setup(true, msgs);
      // Consume and ack the first 12,000 (well past the window: paged-in records get settled).
      const ch = await channel(conn);
      await ch.prefetch(1000);
      const got: ConsumeMessage[] = [];
      const { consumerTag } = await ch.consume('q', (m) => {
        if (!m) return;
        got.push(m);
        if (got.length % 100 === 0 && got.length <= 12_000) ch.ack(m, true);
      });
      await pollUntil(() => { assertOpen(conn); return got.length; }, (n) => n >= 12_000, '12,000 deliveries', 30_000);
      await ch.cancel(consumerTag);
      assertSequence(bodiesOf(got.slice(0, 12_000)), bodies(msgs.slice(0, 12_000)), 'first 12,000 deliveries');
      await ch.checkQueue('q');
      await sleep(ACK_WRITE_GRACE_MS);

      await restartBroker(broker, kind);
      const c2 = await connect(broker.url);
      conns.push(c2);
      const rest = await drain(c2, 'q');
      assertSequence(bodiesOf(rest), bodies(msgs.slice(12_000).filter(isPersistent)), `after the ${kind} restart`);
      // Delivered before (beyond 12,000 but unacked): redelivered. Never delivered: not, after a clean stop.
      const deliveredBefore = new Set(bodiesOf(got.slice(12_000)));
      for (const m of rest) {
        const b = m.content.toString();
        if (deliveredBefore.has(b)) assert.equal(m.fields.redelivered, true, `${b.slice(0, 12)} was delivered before but is not redelivered`);
        else if (kind === 'clean') assert.equal(m.fields.redelivered, false, `${b.slice(0, 12)} was never delivered but is redelivered`);
      }
      await broker.stop();
    });
  }
});
