// basic.qos and dispatch between competing consumers: per-consumer vs per-channel prefetch,
// round-robin, fair dispatch, and the work-queue redelivery when a worker dies.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, consume, messageCount, openChannel, openConfirmChannel, publishConfirmed,
  texts, waitFor, type ChannelModel,
} from '../helpers/amqp.js';

describe('qos and dispatch', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const queueWith = async (conn: ChannelModel, name: string, n: number) => {
    const ch = await openConfirmChannel(conn);
    const q = h.q(name);
    await ch.assertQueue(q, { durable: false });
    if (n > 0) await publishConfirmed(ch, '', q, bodies(name, n));
    await ch.close();
    return q;
  };

  it('per-consumer prefetch (global=false) limits each consumer separately', async () => {
    const { conn, ch } = await h.channel();
    const q1 = await queueWith(conn, 'pc1', 5);
    const q2 = await queueWith(conn, 'pc2', 5);
    await ch.prefetch(2);
    const a = await consume(ch, q1);
    const b = await consume(ch, q2);
    await a.take(2);
    await b.take(2);
    // The queues keep the rest: nothing more was sent beyond each consumer's limit.
    assert.equal(await messageCount(ch, q1), 3);
    assert.equal(await messageCount(ch, q2), 3);
    assert.equal(a.messages.length + b.messages.length, 4);
    ch.ack(a.messages[0]);
    assert.deepEqual(texts(await a.take(3)), ['pc1-0', 'pc1-1', 'pc1-2']);
    assert.equal(await messageCount(ch, q1), 2);
    assert.equal(b.messages.length, 2);
  });

  it('per-channel prefetch (global=true) limits all consumers on the channel together', async () => {
    const { conn, ch } = await h.channel();
    const q1 = await queueWith(conn, 'gl1', 5);
    const q2 = await queueWith(conn, 'gl2', 5);
    await ch.prefetch(3, true);
    const a = await consume(ch, q1);
    const b = await consume(ch, q2);
    await waitFor(() => a.messages.length + b.messages.length >= 3, '3 deliveries');
    assert.equal((await messageCount(ch, q1)) + (await messageCount(ch, q2)), 7);
    assert.equal(a.messages.length + b.messages.length, 3);
    ch.ackAll();
    await waitFor(() => a.messages.length + b.messages.length >= 6, '3 more deliveries');
    assert.equal((await messageCount(ch, q1)) + (await messageCount(ch, q2)), 4);
    assert.equal(a.messages.length + b.messages.length, 6);
  });

  it('prefetch 0 means no limit', async () => {
    const { conn, ch } = await h.channel();
    const q = await queueWith(conn, 'unlimited', 50);
    await ch.prefetch(0);
    const c = await consume(ch, q);
    await c.take(50);
    assert.equal(await messageCount(ch, q), 0);
  });

  it('round-robins between consumers that are all ready', async () => {
    const { conn, ch } = await h.channel();
    const q = await queueWith(conn, 'rr', 0);
    const a = await consume(await openChannel(conn), q, { noAck: true });
    const b = await consume(await openChannel(conn), q, { noAck: true });
    const sent = bodies('rr', 10);
    for (const m of sent) ch.sendToQueue(q, Buffer.from(m));
    await waitFor(() => a.messages.length + b.messages.length === 10, '10 deliveries');
    assert.deepEqual(texts(a.messages), sent.filter((_, i) => i % 2 === 0));
    assert.deepEqual(texts(b.messages), sent.filter((_, i) => i % 2 === 1));
  });

  // Regression: a newcomer was served next instead of queueing up behind the others.
  it('a consumer that joins waits its turn behind those already consuming', async () => {
    const { conn, ch } = await h.channel();
    const q = await queueWith(conn, 'rr-join', 0);
    const a = await consume(await openChannel(conn), q, { noAck: true });
    const b = await consume(await openChannel(conn), q, { noAck: true });
    ch.sendToQueue(q, Buffer.from('m-0')); // to a; b is next, then a
    await waitFor(() => a.messages.length === 1, 'first delivery');
    const c = await consume(await openChannel(conn), q, { noAck: true });
    for (const m of ['m-1', 'm-2', 'm-3', 'm-4']) ch.sendToQueue(q, Buffer.from(m));
    await waitFor(() => a.messages.length + b.messages.length + c.messages.length === 5, '5 deliveries');
    assert.deepEqual(texts(a.messages), ['m-0', 'm-2']);
    assert.deepEqual(texts(b.messages), ['m-1', 'm-4']);
    assert.deepEqual(texts(c.messages), ['m-3']);
  });

  it('a consumer that joins after the only one was served still waits its turn', async () => {
    const { conn, ch } = await h.channel();
    const q = await queueWith(conn, 'rr-join-one', 0);
    const a = await consume(await openChannel(conn), q, { noAck: true });
    ch.sendToQueue(q, Buffer.from('m-0'));
    await waitFor(() => a.messages.length === 1, 'first delivery');
    const b = await consume(await openChannel(conn), q, { noAck: true });
    for (const m of ['m-1', 'm-2', 'm-3']) ch.sendToQueue(q, Buffer.from(m));
    await waitFor(() => a.messages.length + b.messages.length === 4, '4 deliveries');
    assert.deepEqual(texts(a.messages), ['m-0', 'm-1', 'm-3']);
    assert.deepEqual(texts(b.messages), ['m-2']);
  });

  it('fair dispatch: with prefetch 1 a busy consumer is skipped', async () => {
    const { conn, ch } = await h.channel();
    const q = await queueWith(conn, 'fair', 0);
    const fastCh = await openChannel(conn);
    const slowCh = await openChannel(conn);
    await fastCh.prefetch(1);
    await slowCh.prefetch(1);
    const fast = await consume(fastCh, q, {}, true); // acks at once
    const slow = await consume(slowCh, q); // never acks
    for (const m of bodies('fair', 8)) ch.sendToQueue(q, Buffer.from(m));
    await waitFor(() => fast.messages.length + slow.messages.length === 8, '8 deliveries');
    assert.equal(slow.messages.length, 1, `slow consumer got ${texts(slow.messages)}`);
    assert.equal(fast.messages.length, 7);
    assert.equal(await messageCount(ch, q), 0);
  });

  for (const how of ['channel', 'connection'] as const) {
    it(`work queue: a worker whose ${how} closes has its unacked messages redelivered to another`, async () => {
      const { conn, ch } = await h.channel();
      const q = await queueWith(conn, `work-${how}`, 4);
      const worker1Conn = await h.connect();
      const w1ch = await openChannel(worker1Conn);
      await w1ch.prefetch(2);
      const w1 = await consume(w1ch, q);
      assert.deepEqual(texts(await w1.take(2)), [`work-${how}-0`, `work-${how}-1`]);

      const w2ch = await openChannel(await h.connect());
      await w2ch.prefetch(10);
      const w2 = await consume(w2ch, q);
      assert.deepEqual(texts(await w2.take(2)), [`work-${how}-2`, `work-${how}-3`]);

      if (how === 'channel') await w1ch.close();
      else await worker1Conn.close();
      const all = await w2.take(4);
      assert.deepEqual(texts(all.slice(2)).sort(), [`work-${how}-0`, `work-${how}-1`]);
      assert.deepEqual(all.map((m) => m.fields.redelivered), [false, false, true, true]);
      for (const m of all) w2ch.ack(m);
      assert.equal(await messageCount(ch, q), 0);
    });
  }
});
