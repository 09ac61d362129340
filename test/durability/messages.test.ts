// Persistent messages in durable queues survive a clean restart and a kill -9, in order and intact;
// transient messages and non-durable queues do not. Acked messages never come back; delivered but
// unacked ones come back marked redelivered; after a clean restart, never-delivered ones do not.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, ConsumeMessage } from 'amqplib';
import { sleep } from '../helpers/amqp.js';
import {
  ACK_WRITE_GRACE_MS, assertSequence, bodiesOf, channel, closeAll, confirmChannel, connect, drain, persistent,
  pollUntil, publishConfirmed, restartBroker, startWarren, type Conn, type Outgoing, type RestartKind, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];

async function fresh(): Promise<{ broker: TestBroker; conn: Conn }> {
  const broker = await startWarren();
  brokers.push(broker);
  const conn = await connect(broker.url);
  conns.push(conn);
  return { broker, conn };
}

async function reconnect(broker: TestBroker): Promise<Conn> {
  const conn = await connect(broker.url);
  conns.push(conn);
  return conn;
}

/**
 * Consumes `n` messages with manual acks (prefetch `n`), then cancels the consumer so that acking
 * them does not pull in more deliveries. Returns the channel holding them unacked.
 */
async function receive(conn: Conn, queue: string, n: number): Promise<{ ch: Channel; got: ConsumeMessage[] }> {
  const ch = await channel(conn);
  await ch.prefetch(n);
  const got: ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(queue, (m) => { if (m) got.push(m); });
  await pollUntil(() => got.length, (len) => len >= n, `${n} deliveries from ${queue}`, 10_000);
  await ch.cancel(consumerTag);
  assert.equal(got.length, n, 'more deliveries than the prefetch allows');
  return { ch, got };
}

describe('persistent messages', { timeout: 90_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  for (const kind of ['clean', 'crash'] as RestartKind[]) {
    it(`keeps exactly the persistent messages of durable queues, in order and intact, across a ${kind} restart`, async () => {
      const { broker, conn } = await fresh();
      const ch = await channel(conn);
      await ch.assertQueue('durable', { durable: true });
      await ch.assertQueue('transient', { durable: false });
      await ch.assertExchange('fan', 'fanout', { durable: true });
      await ch.bindQueue('durable', 'fan', '');
      await ch.bindQueue('transient', 'fan', '');

      // Interleaved persistent and transient messages, with properties that must come back as sent.
      const sent: Outgoing[] = [];
      for (let i = 0; i < 300; i++) {
        const keep = i % 3 !== 1;
        sent.push({
          body: `${keep ? 'p' : 't'}-${i}-${'x'.repeat(i % 50)}`,
          options: {
            persistent: keep, messageId: `id-${i}`, contentType: 'text/plain', correlationId: `c${i}`,
            priority: i % 10, timestamp: 1_700_000_000 + i, headers: { n: i, s: `h${i}`, nested: { ok: true } },
            ...(i % 7 === 0 ? { appId: 'warren-test', type: 'kind-a' } : {}),
          },
        });
      }
      const pub = await confirmChannel(conn);
      await publishConfirmed(pub, 'fan', '', sent);
      // Straight to the queue too, with an empty body (an edge case for the record format).
      await publishConfirmed(pub, '', 'durable', [{ body: '', options: { persistent: true, messageId: 'empty' } }]);

      await restartBroker(broker, kind);
      const c2 = await reconnect(broker);
      const check = await channel(c2);
      await assert.rejects(check.checkQueue('transient'), (e: { code?: number }) => e.code === 404, 'non-durable queue survived');
      const got = await drain(c2, 'durable');
      const kept = [...sent.filter((m) => m.options!.persistent), { body: '', options: { persistent: true, messageId: 'empty' } }];
      assertSequence(bodiesOf(got), kept.map((m) => String(m.body)), 'recovered messages');
      for (let i = 0; i < got.length; i++) {
        const want = kept[i].options!;
        const p = got[i].properties;
        assert.equal(p.deliveryMode, 2, `deliveryMode of ${want.messageId}`);
        assert.equal(p.messageId, want.messageId);
        if (want.messageId === 'empty') continue;
        assert.equal(p.contentType, 'text/plain');
        assert.equal(p.correlationId, want.correlationId);
        assert.equal(p.priority, want.priority);
        assert.equal(p.timestamp, want.timestamp);
        assert.equal(p.appId, want.appId);
        assert.equal(p.type, want.type);
        assert.deepEqual(p.headers, want.headers);
        if (kind === 'clean') assert.equal(got[i].fields.redelivered, false, `never delivered, yet redelivered: ${want.messageId}`);
      }
      await closeAll(conn, c2);
      await broker.stop();
    });
  }

  it('does not bring back acked messages after a kill -9; delivered-unacked ones come back redelivered', async () => {
    const { broker, conn } = await fresh();
    const setup = await channel(conn);
    await setup.assertQueue('q', { durable: true });
    await publishConfirmed(await confirmChannel(conn), '', 'q', persistent('m', 200));

    // 0..119 are delivered; of those, every third one is acked one by one, 30..59 with one
    // multiple ack, and 100..119 by basic.get with no-ack (settled on delivery).
    const { ch, got } = await receive(conn, 'q', 100);
    assertSequence(bodiesOf(got), persistent('m', 100).map((m) => String(m.body)), 'first deliveries');
    const acked = new Set<number>();
    for (let i = 0; i < 30; i += 3) { ch.ack(got[i]); acked.add(i); }
    ch.ack(got[59], true); // everything up to 59 not yet acked
    for (let i = 0; i < 60; i++) acked.add(i);
    for (let i = 61; i < 100; i += 3) { ch.ack(got[i]); acked.add(i); }
    const getter = await channel(conn);
    for (let i = 100; i < 120; i++) {
      const m = await getter.get('q', { noAck: true });
      assert.ok(m, `basic.get ${i}`);
      assert.equal(m.content.toString(), `m-${i}`);
      acked.add(i);
    }
    await getter.close(); // a round trip: the acks above were all processed
    await sleep(ACK_WRITE_GRACE_MS);

    await restartBroker(broker, 'crash');
    const c2 = await reconnect(broker);
    const back = await drain(c2, 'q');
    const expected = persistent('m', 200).map((m) => String(m.body)).filter((_, i) => !acked.has(i));
    assertSequence(bodiesOf(back), expected, 'messages after the crash');
    for (const m of back) {
      const i = Number(m.content.toString().slice(2));
      if (i < 100) assert.equal(m.fields.redelivered, true, `m-${i} was delivered before the crash but is not marked redelivered`);
    }
    await closeAll(conn, c2);
    await broker.stop();
  });

  // Regression: the ack of the last live record in a small current segment was dropped, so a
  // fully acked little queue got its last message back after a restart.
  for (const kind of ['clean', 'crash'] as RestartKind[]) {
    it(`keeps a small fully acked queue empty across a ${kind} restart`, async () => {
      const { broker, conn } = await fresh();
      const q = `small-acked-${kind}`;
      await (await channel(conn)).assertQueue(q, { durable: true });
      await publishConfirmed(await confirmChannel(conn), '', q, persistent('s', 3));
      const { ch, got } = await receive(conn, q, 3);
      for (const m of got) ch.ack(m);
      // A round trip on the same channel: the acks were processed before we restart.
      await ch.checkQueue(q);
      await sleep(ACK_WRITE_GRACE_MS);
      await restartBroker(broker, kind);
      const after = await reconnect(broker);
      assert.equal((await (await channel(after)).checkQueue(q)).messageCount, 0, 'acked messages came back');
    });
  }

  it('after a clean restart, marks exactly the previously delivered messages redelivered', async () => {
    const { broker, conn } = await fresh();
    await (await channel(conn)).assertQueue('q', { durable: true });
    await publishConfirmed(await confirmChannel(conn), '', 'q', persistent('m', 100));
    const { ch, got } = await receive(conn, 'q', 30);
    const acked = new Set<number>();
    for (let i = 0; i < 30; i += 2) { ch.ack(got[i]); acked.add(i); }
    await ch.checkQueue('q'); // the acks were processed before the shutdown starts

    await restartBroker(broker, 'clean'); // unacked deliveries go back to the queue at shutdown
    const c2 = await reconnect(broker);
    const back = await drain(c2, 'q');
    const expected = persistent('m', 100).map((m) => String(m.body)).filter((_, i) => !acked.has(i));
    assertSequence(bodiesOf(back), expected, 'messages after the clean restart');
    const flags = back.map((m) => `${m.content.toString()}:${m.fields.redelivered}`);
    const wantFlags = expected.map((b) => `${b}:${Number(b.slice(2)) < 30}`);
    assertSequence(flags, wantFlags, 'redelivered flags (true for the 15 delivered-unacked, false for the rest)');

    // And the redelivered marks do not stick forever: drained now, nothing is left.
    await restartBroker(broker, 'clean');
    const c3 = await reconnect(broker);
    assert.equal((await (await channel(c3)).checkQueue('q')).messageCount, 0, 'drained messages came back');
    await closeAll(conn, c2, c3);
    await broker.stop();
  });

  it('keeps messages across several restarts, with publishes and acks in between', async () => {
    // The log is recovered, appended to, partly acked, and recovered again.
    const { broker } = await fresh();
    const expected: string[] = [];
    let next = 0;
    for (const kind of ['crash', 'clean', 'crash', 'crash'] as RestartKind[]) {
      const conn = await reconnect(broker);
      const ch = await channel(conn);
      await ch.assertQueue('q', { durable: true });
      const batch = persistent('m', 50, next);
      next += 50;
      await publishConfirmed(await confirmChannel(conn), '', 'q', batch);
      expected.push(...batch.map((m) => String(m.body)));
      // Ack the 10 oldest.
      const { ch: cch, got } = await receive(conn, 'q', 10);
      assertSequence(bodiesOf(got.slice(0, 10)), expected.slice(0, 10), `oldest messages before the ${kind} restart`);
      cch.ack(got[9], true);
      expected.splice(0, 10);
      await cch.close(); // returns anything else it held
      await sleep(ACK_WRITE_GRACE_MS);
      await restartBroker(broker, kind);
    }
    const conn = await reconnect(broker);
    assertSequence(bodiesOf(await drain(conn, 'q')), expected, 'messages after four restarts');
    await closeAll(conn);
    await broker.stop();
  });
});
