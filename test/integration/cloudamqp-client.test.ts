// The basics again with a second client library, @cloudamqp/amqp-client, which frames and
// encodes differently from amqplib; plus messages crossing between the two libraries.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, bodies, consume, waitFor } from '../helpers/amqp.js';
import { CloudClients, expectCloudChannelError, type AMQPMessage } from '../helpers/cloudamqp.js';

describe('@cloudamqp/amqp-client', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const cloud = new CloudClients(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); await cloud.closeAll(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const channel = async () => (await cloud.connect()).channel();
  const bodyOf = (m: AMQPMessage | null) => m?.bodyToString() ?? null;

  it('declares, binds, publishes and consumes in order with acks', async () => {
    const ch = await channel();
    const x = h.x('cloud');
    await ch.exchangeDeclare(x, 'topic', { durable: false });
    // (This client makes server-named queues auto-delete by default; keep it after the cancel.)
    const q = await ch.queueDeclare('', { exclusive: true, autoDelete: false });
    assert.match(q.name, /^amq\.gen-/);
    assert.deepEqual({ ...q }, { name: q.name, messageCount: 0, consumerCount: 0 });
    await ch.queueBind(q.name, x, 'logs.#');
    const got: AMQPMessage[] = [];
    const consumer = await ch.basicConsume(q.name, { noAck: false }, async (m) => {
      got.push(m);
      await m.ack();
    });
    assert.match(consumer.tag, /^amq\.ctag-/);
    for (const b of bodies('log', 20)) await ch.basicPublish(x, 'logs.app.info', b);
    await ch.basicPublish(x, 'metrics.cpu', 'not routed');
    await waitFor(() => got.length >= 20, '20 deliveries');
    assert.deepEqual(got.map(bodyOf), bodies('log', 20));
    assert.deepEqual(got.map((m) => m.deliveryTag), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.ok(got.every((m) => m.exchange === x && m.routingKey === 'logs.app.info' && m.consumerTag === consumer.tag));
    await consumer.cancel();
    const after = await ch.queueDeclare(q.name, { passive: true });
    assert.deepEqual([after.messageCount, after.consumerCount], [0, 0]);
  });

  it('round-trips message properties', async () => {
    const ch = await channel();
    const q = (await ch.queueDeclare('', { exclusive: true })).name;
    const timestamp = new Date(1_700_000_000_000);
    const properties = {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { str: 'v', int: 42, neg: -7, float: 2.5, bool: true, nested: { a: 'b' }, list: [1, 'x'] },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'cid',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'mid',
      timestamp,
      type: 't',
      userId: 'guest',
      appId: 'cloudamqp-test',
    };
    await ch.basicPublish('', q, '{"a":1}', properties);
    const m = await ch.basicGet(q);
    assert.ok(m);
    assert.equal(m.bodyToString(), '{"a":1}');
    assert.deepEqual(m.properties, properties);
    assert.equal(m.messageCount, 0);
  });

  it('basic.get returns null on an empty queue and counts the remaining messages', async () => {
    const ch = await channel();
    const q = (await ch.queueDeclare('', { exclusive: true })).name;
    assert.equal(await ch.basicGet(q), null);
    for (const b of bodies('g', 3)) await ch.basicPublish('', q, b);
    const first = await ch.basicGet(q, { noAck: false });
    assert.equal(bodyOf(first), 'g-0');
    assert.equal(first?.messageCount, 2);
    await first!.reject(true);
    const again = await ch.basicGet(q, { noAck: false });
    assert.equal(bodyOf(again), 'g-0');
    assert.equal(again?.redelivered, true);
    await again!.nack(false);
    const rest = [await ch.basicGet(q), await ch.basicGet(q), await ch.basicGet(q)];
    assert.deepEqual(rest.map(bodyOf), ['g-1', 'g-2', null]);
  });

  it('confirms publishes, resolving each with its delivery tag', async () => {
    const ch = await channel();
    await ch.confirmSelect();
    const q = (await ch.queueDeclare('', { exclusive: true })).name;
    const tags = await Promise.all(bodies('c', 50).map((b) => ch.basicPublish('', q, b)));
    assert.deepEqual(tags, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal((await ch.queueDeclare(q, { passive: true })).messageCount, 50);
    // A mandatory unroutable message is returned, and still confirmed.
    const returned: AMQPMessage[] = [];
    ch.onReturn = (m) => { returned.push(m); };
    assert.equal(await ch.basicPublish('amq.direct', 'nowhere', 'r', {}, true), 51);
    assert.equal(returned.length, 1, 'basic.return arrives before the ack');
    assert.deepEqual([returned[0].replyCode, returned[0].replyText, returned[0].exchange, returned[0].routingKey, bodyOf(returned[0])],
      [312, 'NO_ROUTE', 'amq.direct', 'nowhere', 'r']);
  });

  it('applies prefetch and queue purge/delete counts', async () => {
    const ch = await channel();
    const q = h.q('cloud-prefetch');
    await ch.queueDeclare(q, { durable: false });
    for (const b of bodies('p', 6)) await ch.basicPublish('', q, b);
    await ch.prefetch(2);
    const got: AMQPMessage[] = [];
    await ch.basicConsume(q, { noAck: false }, (m) => { got.push(m); });
    await waitFor(() => got.length >= 2, '2 deliveries');
    assert.equal((await ch.queueDeclare(q, { passive: true })).messageCount, 4);
    assert.equal(got.length, 2);
    const other = await channel();
    assert.deepEqual(await other.queuePurge(q), { messageCount: 4 });
    await got[1].ack(true);
    assert.deepEqual(await other.queueDelete(q), { messageCount: 0 });
  });

  it('reports channel errors with code and text', async () => {
    const client = await cloud.connect();
    const ch = await client.channel();
    const q = h.q('missing');
    await expectCloudChannelError(ch.queueDeclare(q, { passive: true }), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
    assert.equal(ch.closed, true);
    assert.equal(client.closed, false);
    const ch2 = await client.channel();
    await ch2.queueDeclare('', { exclusive: true });
  });

  it('exchanges messages with amqplib in both directions, properties intact', async () => {
    const cloudCh = await channel();
    const { ch } = await h.channel();
    const toCloud = (await cloudCh.queueDeclare(h.q('to-cloud'), { durable: false })).name;
    const toAmqplib = (await ch.assertQueue(h.q('to-amqplib'), { durable: false })).queue;

    const received: AMQPMessage[] = [];
    await cloudCh.basicConsume(toCloud, { noAck: true }, (m) => { received.push(m); });
    ch.sendToQueue(toCloud, Buffer.from('from amqplib'), { messageId: 'a-1', headers: { n: 1, s: 'x' }, priority: 2 });
    await waitFor(() => received.length >= 1, 'delivery to @cloudamqp/amqp-client');
    const fromAmqplib = received[0];
    assert.equal(bodyOf(fromAmqplib), 'from amqplib');
    assert.equal(fromAmqplib.properties.messageId, 'a-1');
    assert.deepEqual(fromAmqplib.properties.headers, { n: 1, s: 'x' });
    assert.equal(fromAmqplib.properties.priority, 2);

    await cloudCh.basicPublish('', toAmqplib, 'from cloudamqp', { correlationId: 'c-1', headers: { flag: true } });
    const [m] = await (await consume(ch, toAmqplib, { noAck: true })).take(1);
    assert.equal(m.content.toString(), 'from cloudamqp');
    assert.equal(m.properties.correlationId, 'c-1');
    assert.deepEqual(m.properties.headers, { flag: true });
  });
});
