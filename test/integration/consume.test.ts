// basic.consume / basic.cancel: consumer tags, exclusive consumers, broker-initiated cancel,
// consumer priorities.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, consume, expectChannelError, expectConnectionError, messageCount, openChannel,
  texts, type Channel,
} from '../helpers/amqp.js';

describe('consumers', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const sharedQueue = async (ch: Channel, name: string) => {
    const q = h.q(name);
    await ch.assertQueue(q, { durable: false });
    return q;
  };

  it('generates amq.ctag- consumer tags when none is given, and echoes given ones', async () => {
    const { ch } = await h.channel();
    const q = await sharedQueue(ch, 'tags');
    const a = await ch.consume(q, () => {});
    const b = await ch.consume(q, () => {});
    assert.match(a.consumerTag, /^amq\.ctag-[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a.consumerTag, b.consumerTag);
    assert.deepEqual(await ch.consume(q, () => {}, { consumerTag: 'chosen-tag' }), { consumerTag: 'chosen-tag' });
    assert.equal((await ch.checkQueue(q)).consumerCount, 3);
  });

  it('closes the connection with 530 NOT_ALLOWED when a consumer tag is reused on a channel', async () => {
    const { conn, ch } = await h.channel();
    const q = await sharedQueue(ch, 'dup-tag');
    await ch.consume(q, () => {}, { consumerTag: 'dup' });
    // The same tag on another channel is fine.
    const other = await openChannel(conn);
    await other.consume(q, () => {}, { consumerTag: 'dup' });
    await expectConnectionError(conn, () => ch.consume(q, () => {}, { consumerTag: 'dup' }), 530,
      "NOT_ALLOWED - attempt to reuse consumer tag 'dup'");
  });

  it('refuses a second consumer on a queue with an exclusive consumer (403)', async () => {
    const { conn, ch } = await h.channel();
    const q = await sharedQueue(ch, 'excl-consumer');
    await ch.consume(q, () => {}, { exclusive: true });
    const other = await openChannel(conn);
    await expectChannelError(other, () => other.consume(q, () => {}), 403,
      `ACCESS_REFUSED - queue '${q}' in vhost '/' in exclusive use`);
    // Nor can an exclusive consumer join a queue that already has consumers.
    const q2 = await sharedQueue(ch, 'excl-late');
    await ch.consume(q2, () => {});
    const third = await openChannel(conn);
    await expectChannelError(third, () => third.consume(q2, () => {}, { exclusive: true }), 403,
      `ACCESS_REFUSED - queue '${q2}' in vhost '/' in exclusive use`);
  });

  it('fails to consume from a missing queue with 404', async () => {
    const { ch } = await h.channel();
    const q = h.q('missing');
    await expectChannelError(ch, () => ch.consume(q, () => {}), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
  });

  it('stops deliveries after basic.cancel; unacked messages can still be acked', async () => {
    const { ch } = await h.channel();
    const q = await sharedQueue(ch, 'cancel');
    const c = await consume(ch, q);
    ch.sendToQueue(q, Buffer.from('before'));
    const [m] = await c.take(1);
    assert.deepEqual(await ch.cancel(c.consumerTag), { consumerTag: c.consumerTag });
    ch.sendToQueue(q, Buffer.from('after'));
    assert.equal((await ch.checkQueue(q)).consumerCount, 0);
    assert.equal(await messageCount(ch, q), 1);
    ch.ack(m);
    const left = await ch.get(q, { noAck: true });
    assert.ok(left, 'the message published after cancel waits in the queue');
    assert.equal(left.content.toString(), 'after');
    assert.deepEqual(texts(c.messages), ['before']);
    // Cancelling an unknown tag is not an error.
    assert.deepEqual(await ch.cancel('never-existed'), { consumerTag: 'never-existed' });
  });

  it('sends basic.cancel to consumers of a deleted queue and keeps the channel open', async () => {
    const { conn, ch } = await h.channel();
    const q = await sharedQueue(ch, 'deleted');
    const c = await consume(ch, q);
    const admin = await openChannel(conn);
    await admin.deleteQueue(q);
    await c.waitCancelled();
    // The channel is still usable.
    const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q2, Buffer.from('alive'));
    const [m] = await (await consume(ch, q2, { noAck: true })).take(1);
    assert.equal(m.content.toString(), 'alive');
  });

  it('delivers to the highest-priority consumer while it can take messages', async () => {
    const { conn, ch } = await h.channel();
    const q = await sharedQueue(ch, 'priority');
    const lowCh = await openChannel(conn);
    const low = await consume(lowCh, q, { noAck: true, priority: 1 });
    const high = await consume(ch, q, { noAck: true, priority: 10 });
    for (const b of bodies('p', 10)) ch.sendToQueue(q, Buffer.from(b));
    assert.deepEqual(texts(await high.take(10)), bodies('p', 10));
    assert.equal(low.messages.length, 0);

    // A high-priority consumer at its prefetch limit lets the lower one receive.
    const q2 = await sharedQueue(ch, 'priority-blocked');
    const blockedCh = await openChannel(conn);
    await blockedCh.prefetch(1);
    const blocked = await consume(blockedCh, q2, { priority: 10 });
    const fallback = await consume(lowCh, q2, { noAck: true, priority: 1 });
    for (const b of bodies('b', 4)) ch.sendToQueue(q2, Buffer.from(b));
    assert.deepEqual(texts(await blocked.take(1)), ['b-0']);
    assert.deepEqual(texts(await fallback.take(3)), ['b-1', 'b-2', 'b-3']);
  });
});
