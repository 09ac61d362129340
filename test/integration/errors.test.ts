// Error scoping: channel errors close only their channel, connection errors close the whole
// connection, and neither disturbs other channels or connections. Also the details users see
// in the close frames (class/method ids, reply-text truncation).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, assertAmqpError, closedWith, consume, expectChannelError, expectConnectionError, openChannel,
  texts, tracked, type Channel, type ChannelModel,
} from '../helpers/amqp.js';
import { CloudClients, type AMQPChannel } from '../helpers/cloudamqp.js';

describe('errors', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const cloud = new CloudClients(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); await cloud.closeAll(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** Proves a connection works end to end: declare, publish, consume on a new channel. */
  const assertUsable = async (conn: ChannelModel, label: string) => {
    const ch = await openChannel(conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from(label));
    const [m] = await (await consume(ch, q, { noAck: true })).take(1);
    assert.equal(m.content.toString(), label);
    await ch.close();
  };

  /** Each provokes a channel error on `ch`; `other` is a second channel of the same connection. */
  const channelErrors: [string, number, (ch: Channel, other: Channel, name: string) => Promise<unknown>, string, [number, number]][] = [
    ['404 passive declare of a missing queue', 404, (ch, _o, name) => ch.checkQueue(name),
      'NOT_FOUND - no queue', [50, 10]],
    ['403 declare with the amq. prefix', 403, (ch, _o, name) => ch.assertExchange(`amq.${name}`, 'direct'),
      'ACCESS_REFUSED - exchange name', [40, 10]],
    ['405 declare of a queue exclusive to another connection', 405, async (ch, _o, name) => {
      const owner = await h.connect();
      await (await openChannel(owner)).assertQueue(name, { exclusive: true });
      return ch.assertQueue(name, { exclusive: true });
    }, 'RESOURCE_LOCKED - cannot obtain exclusive access to locked queue', [50, 10]],
    ['406 queue redeclared with another durable flag', 406, async (ch, other, name) => {
      await other.assertQueue(name, { durable: false });
      return ch.assertQueue(name, { durable: true });
    }, "PRECONDITION_FAILED - inequivalent arg 'durable'", [50, 10]],
  ];

  for (const [what, code, provoke, text, [classId, methodId]] of channelErrors) {
    it(`a channel error (${what}) closes only that channel`, async () => {
      const conn = await h.connect();
      const ch = await openChannel(conn);
      const other = await openChannel(conn);
      const q = (await other.assertQueue('', { exclusive: true })).queue;
      const watcher = await consume(other, q, { noAck: true });
      const err = await expectChannelError(ch, () => provoke(ch, other, h.q('victim')), code, text);
      assert.deepEqual([err.classId, err.methodId], [classId, methodId], 'class and method of the failed method');

      assert.equal(tracked(conn).closed, false);
      assert.equal(tracked(other).closed, false);
      other.sendToQueue(q, Buffer.from('other channel still works'));
      assert.deepEqual(texts(await watcher.take(1)), ['other channel still works']);
      await assertUsable(conn, 'same connection, new channel');
      await assertUsable(await h.connect(), 'unrelated connection');
    });
  }

  // Regression (differential testing): the queue was looked up before the tag.
  it('a reused consumer tag is 530 even when the queue does not exist', async () => {
    const conn = await h.connect();
    const ch = await openChannel(conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.consume(q, () => {}, { consumerTag: 'reused' });
    await expectConnectionError(conn, () => ch.consume(h.q('no-such'), () => {}, { consumerTag: 'reused' }), 530,
      "NOT_ALLOWED - attempt to reuse consumer tag 'reused'");
  });

  it('reports the class and method of a failed basic method on channel close', async () => {
    const { conn, ch } = await h.channel();
    const x = h.x('gone');
    ch.publish(x, '', Buffer.from('x'));
    const err = await closedWith(ch);
    assertAmqpError(err, 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`);
    assert.deepEqual([err!.classId, err!.methodId], [60, 40], 'basic.publish');
    await assertUsable(conn, 'after publish error');
  });

  it('a connection error closes every channel of that connection, and only that connection', async () => {
    const bystander = await h.connect();
    const bystanderCh = await openChannel(bystander);
    const bq = (await bystanderCh.assertQueue('', { exclusive: true })).queue;
    const bystanderConsumer = await consume(bystanderCh, bq, { noAck: true });

    const conn = await h.connect();
    const ch = await openChannel(conn);
    const sibling = await openChannel(conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.consume(q, () => {}, { consumerTag: 'taken' });
    await expectConnectionError(conn, () => ch.consume(q, () => {}, { consumerTag: 'taken' }), 530,
      "NOT_ALLOWED - attempt to reuse consumer tag 'taken'");
    await closedWith(sibling);
    await assert.rejects(conn.createChannel(), /Connection closed/);
    assert.throws(() => sibling.sendToQueue(q, Buffer.from('x')), /Channel closed|Connection closed/);

    bystanderCh.sendToQueue(bq, Buffer.from('unaffected'));
    assert.deepEqual(texts(await bystanderConsumer.take(1)), ['unaffected']);
    await assertUsable(await h.connect(), 'new connection');
  });

  const notImplemented: [string, (ch: AMQPChannel) => Promise<unknown>, string][] = [
    ['basic.recover with requeue=false', (ch) => ch.basicRecover(false), 'requeue=false'],
    ['basic.qos with a prefetch size', (ch) => ch.basicQos(1, 1000, false), 'prefetch_size!=0 (1000)'],
    ['channel.flow active=false', (ch) => ch.basicFlow(false), 'active=false'],
  ];
  for (const [what, act, text] of notImplemented) {
    it(`closes the connection with 540 NOT_IMPLEMENTED on ${what}`, async () => {
      const client = await cloud.connect();
      const ch = await client.channel();
      await assert.rejects(act(ch), (e: Error) => {
        assert.equal(e.message, `connection closed: NOT_IMPLEMENTED - ${text} (540)`);
        return true;
      });
      assert.equal(client.closed, true);
      await assertUsable(await h.connect(), 'another connection');
    });
  }

  it('truncates a long reply text to 255 bytes ending in "..."', async () => {
    const { conn } = await h.channel();
    const name = `warren-it.${'long-name-'.repeat(20)}${Date.now()}`;
    h.own(name);
    const owner = await openChannel(await h.connect());
    await owner.assertQueue(name, { exclusive: true });
    const ch = await openChannel(conn);
    const err = await expectChannelError(ch, () => ch.checkQueue(name), 405, 'RESOURCE_LOCKED - cannot obtain exclusive access');
    const replyText = /with message "(.*)"$/s.exec(err.message)?.[1];
    assert.ok(replyText, err.message);
    assert.equal(Buffer.byteLength(replyText), 255);
    assert.ok(replyText.endsWith('...'));
    assert.ok(replyText.startsWith(`RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name.slice(0, 100)}`));
  });
});
