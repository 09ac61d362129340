// basic.get, ack / nack / reject (single, multiple, requeue), the redelivered flag,
// basic.recover, and acknowledgement errors.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, closedWith, assertAmqpError, consume, drain, messageCount, openChannel,
  openConfirmChannel, publishConfirmed, texts, type Channel, type ChannelModel, type GetMessage,
} from '../helpers/amqp.js';

describe('acknowledgements', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** A fresh non-exclusive queue holding `n` messages m-0 .. m-(n-1). */
  const filledQueue = async (conn: ChannelModel, name: string, n: number) => {
    const ch = await openConfirmChannel(conn);
    const q = h.q(name);
    await ch.assertQueue(q, { durable: false });
    await publishConfirmed(ch, '', q, bodies('m', n));
    await ch.close();
    return q;
  };

  /** basic.get `n` messages without auto-ack. */
  const getUnacked = async (ch: Channel, q: string, n: number) => {
    const got: GetMessage[] = [];
    for (let i = 0; i < n; i++) {
      const m = await ch.get(q, { noAck: false });
      assert.ok(m, `message ${i} available`);
      got.push(m);
    }
    return got;
  };

  const redelivered = (ms: { fields: { redelivered: boolean } }[]) => ms.map((m) => m.fields.redelivered);

  it('basic.get returns messages with the remaining count, then get-empty', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'get', 3);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await ch.get(q, { noAck: true });
      assert.ok(m);
      assert.equal(m.content.toString(), `m-${i}`);
      assert.equal(m.fields.exchange, '');
      assert.equal(m.fields.routingKey, q);
      assert.equal(m.fields.redelivered, false);
      counts.push(m.fields.messageCount);
    }
    assert.deepEqual(counts, [2, 1, 0]);
    assert.equal(await ch.get(q), false);
  });

  it('numbers delivery tags per channel across gets and consumers', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'tags', 4);
    const gets = await getUnacked(ch, q, 2);
    const c = await consume(ch, q);
    const delivered = await c.take(2);
    assert.deepEqual([...gets, ...delivered].map((m) => m.fields.deliveryTag), [1, 2, 3, 4]);
    await c.cancel();
    ch.nackAll(true);
    assert.equal(await messageCount(ch, q), 4, 'all four requeued');
    const other = await openChannel(conn);
    const again = await getUnacked(other, q, 1);
    assert.equal(again[0].fields.deliveryTag, 1, 'a new channel starts at 1');
  });

  it('acks a single message and, with multiple, everything up to a tag', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'ack', 5);
    const ms = await getUnacked(ch, q, 5);
    ch.ack(ms[4]); // m-4 alone
    ch.ack(ms[1], true); // m-0, m-1
    await ch.close(); // m-2 and m-3 go back
    const { ch: ch2 } = await h.channel();
    const back = await drain(ch2, q);
    assert.deepEqual(texts(back), ['m-2', 'm-3']);
    assert.deepEqual(redelivered(back), [true, true]);
  });

  it('ackAll (multiple with tag 0) acks every outstanding delivery', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'ackall', 4);
    await getUnacked(ch, q, 4);
    ch.ackAll();
    await ch.close();
    const { ch: ch2 } = await h.channel();
    assert.equal(await messageCount(ch2, q), 0);
  });

  it('nack/reject with requeue=false discard; with requeue=true put back in order, redelivered', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'nack', 6);
    const ms = await getUnacked(ch, q, 6);
    ch.reject(ms[0], false); // m-0 discarded
    ch.nack(ms[2], true, false); // m-1, m-2 discarded
    ch.reject(ms[4], true); // m-4 requeued
    ch.nack(ms[5], true, true); // m-3, m-5 requeued
    const back = await drain(ch, q);
    assert.deepEqual(texts(back), ['m-3', 'm-4', 'm-5']);
    assert.deepEqual(redelivered(back), [true, true, true]);
  });

  it('nackAll with requeue puts everything back in its original order', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'nackall', 5);
    await getUnacked(ch, q, 5);
    ch.nackAll(true);
    const back = await drain(ch, q);
    assert.deepEqual(texts(back), bodies('m', 5));
    assert.deepEqual(redelivered(back), [true, true, true, true, true]);
  });

  // Regression (differential testing): only acks gave credit back to a prefetch-limited consumer.
  for (const how of ['reject', 'nack', 'nackAll'] as const) {
    it(`a ${how} without requeue frees the consumer's prefetch for the next message`, async () => {
      const { conn, ch } = await h.channel();
      const q = await filledQueue(conn, `credit-${how}`, 3);
      await ch.prefetch(2);
      const c = await consume(ch, q);
      const held = await c.take(2);
      assert.deepEqual(texts(held), ['m-0', 'm-1']);
      if (how === 'reject') ch.reject(held[0], false);
      else if (how === 'nack') ch.nack(held[1], true, false);
      else ch.nackAll(false);
      assert.deepEqual(texts(await c.take(3)), ['m-0', 'm-1', 'm-2']);
    });
  }

  it('redelivers unacked messages with redelivered=true after the channel closes', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'close-requeue', 3);
    const c = await consume(ch, q);
    assert.deepEqual(redelivered(await c.take(3)), [false, false, false]);
    await ch.close();
    const { ch: ch2 } = await h.channel();
    const c2 = await consume(ch2, q, { noAck: true });
    const again = await c2.take(3);
    assert.deepEqual(texts(again), bodies('m', 3));
    assert.deepEqual(redelivered(again), [true, true, true]);
  });

  it('basic.recover redelivers unacked messages with redelivered=true', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'recover', 2);
    const c = await consume(ch, q);
    await c.take(2);
    await ch.recover();
    const all = await c.take(4);
    assert.deepEqual(texts(all.slice(2)), ['m-0', 'm-1']);
    assert.deepEqual(redelivered(all), [false, false, true, true]);
    assert.deepEqual(all.map((m) => m.fields.deliveryTag), [1, 2, 3, 4]);
    ch.ack(all[3], true);
    await ch.close();
    const { ch: ch2 } = await h.channel();
    assert.equal(await messageCount(ch2, q), 0);
  });

  const ackErrors: [string, (ch: Channel, m: GetMessage) => void, string][] = [
    ['ack of an unknown delivery tag', (ch, m) => ch.ack({ ...m, fields: { ...m.fields, deliveryTag: 42 } }), 'unknown delivery tag 42'],
    ['double ack', (ch, m) => { ch.ack(m); ch.ack(m); }, 'unknown delivery tag 1'],
    ['nack of an unknown delivery tag', (ch, m) => ch.nack({ ...m, fields: { ...m.fields, deliveryTag: 7 } }), 'unknown delivery tag 7'],
    ['reject after ack', (ch, m) => { ch.ack(m); ch.reject(m); }, 'unknown delivery tag 1'],
    ['ack multiple above the highest tag', (ch, m) => ch.ack({ ...m, fields: { ...m.fields, deliveryTag: 9 } }, true), 'unknown delivery tag 9'],
    // RabbitMQ wants the tag named by a multiple ack to be unacked itself.
    ['ack multiple of a tag already acked', (ch, m) => { ch.ack(m); ch.ack(m, true); }, 'unknown delivery tag 1'],
  ];
  for (const [what, act, text] of ackErrors) {
    it(`closes the channel with 406 PRECONDITION_FAILED on ${what}`, async () => {
      const { conn, ch } = await h.channel();
      const q = await filledQueue(conn, 'bad-ack', 1);
      const [m] = await getUnacked(ch, q, 1);
      act(ch, m);
      assertAmqpError(await closedWith(ch), 406, `PRECONDITION_FAILED - ${text}`);
      // The connection survives; the unacked message (if any) went back to the queue.
      const ch2 = await openChannel(conn);
      await ch2.checkQueue(q);
    });
  }

  it('treats an ack of a no-ack delivery as an unknown delivery tag (406)', async () => {
    const { conn, ch } = await h.channel();
    const q = await filledQueue(conn, 'noack-ack', 1);
    const m = await ch.get(q, { noAck: true });
    assert.ok(m);
    ch.ack(m);
    assertAmqpError(await closedWith(ch), 406, 'PRECONDITION_FAILED - unknown delivery tag 1');
  });
});
