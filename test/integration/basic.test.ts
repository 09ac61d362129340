// basic.publish and delivery: ordering, message properties, mandatory returns, the
// immediate flag, user-id validation.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, closedWith, assertAmqpError, consume, drain, expectChannelError, messageCount,
  nextEvent, openChannel, texts, waitFor, type Channel, type Message,
} from '../helpers/amqp.js';

describe('basic publish and deliver', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const tempQueue = async (ch: Channel) => (await ch.assertQueue('', { exclusive: true })).queue;

  it('preserves publish order to a consumer and to basic.get', async () => {
    const { ch } = await h.channel();
    const q = await tempQueue(ch);
    const sent = bodies('ordered', 500);
    for (const b of sent) ch.sendToQueue(q, Buffer.from(b));
    const c = await consume(ch, q, { noAck: true });
    assert.deepEqual(texts(await c.take(500)), sent);
    await c.cancel();

    for (const b of sent.slice(0, 20)) ch.sendToQueue(q, Buffer.from(b));
    await ch.checkQueue(q); // a round trip after the publishes
    assert.deepEqual(texts(await drain(ch, q)), sent.slice(0, 20));
  });

  it('reports exchange, routing key, delivery tags and consumer tag on deliveries', async () => {
    const { ch } = await h.channel();
    const q = await tempQueue(ch);
    await ch.bindQueue(q, 'amq.topic', 'orders.*');
    const c = await consume(ch, q, { noAck: true, consumerTag: 'my-consumer' });
    ch.publish('amq.topic', 'orders.new', Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    const [a, b] = await c.take(2);
    assert.deepEqual(a.fields, { consumerTag: 'my-consumer', deliveryTag: 1, redelivered: false, exchange: 'amq.topic', routingKey: 'orders.new' });
    assert.deepEqual(b.fields, { consumerTag: 'my-consumer', deliveryTag: 2, redelivered: false, exchange: '', routingKey: q });
  });

  const allHeaderTypes = {
    string: 'hello',
    emptyString: '',
    unicode: 'ünïcødé ✓ 日本',
    byte: -5,
    short: -300,
    int: -70000,
    long: { '!': 'long', value: -(2 ** 40) },
    bigLong: 2 ** 52,
    unsignedByte: { '!': 'uint8', value: 200 },
    unsignedShort: { '!': 'uint16', value: 60000 },
    unsignedInt: { '!': 'uint32', value: 4_000_000_000 },
    float: { '!': 'float', value: 1.5 },
    double: 3.14159,
    negativeDouble: -0.25,
    yes: true,
    no: false,
    nothing: null,
    nested: { a: 1, b: { c: 'deep', d: [1, 2] } },
    emptyTable: {},
    array: [1, 'two', true, null, [3, 4], { k: 'v' }, 2.5],
    emptyArray: [],
    bytes: Buffer.from([0, 1, 2, 254, 255]),
    timestamp: { '!': 'timestamp', value: 1_700_000_000 },
    decimal: { '!': 'decimal', value: { places: 2, digits: 12345 } },
  };
  // What amqplib decodes each of the above to.
  const decodedHeaderTypes = {
    ...allHeaderTypes,
    long: -(2 ** 40),
    unsignedByte: 200,
    unsignedShort: 60000,
    unsignedInt: 4_000_000_000,
    float: 1.5,
  };

  it('round-trips all 14 basic properties and every field-table type in headers', async () => {
    const { ch } = await h.channel();
    const q = await tempQueue(ch);
    const properties = {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: allHeaderTypes,
      deliveryMode: 2,
      priority: 7,
      correlationId: 'corr-42',
      replyTo: 'reply.queue',
      expiration: '3600000',
      messageId: 'msg-0001',
      timestamp: 1_700_000_123,
      type: 'order.created',
      userId: 'guest',
      appId: 'warren-integration-tests',
      clusterId: 'cluster-7',
    };
    // amqplib's publish() never sets cluster-id; its lower-level sendMessage sends any property.
    const raw = ch as unknown as { sendMessage(fields: object, props: object, content: Buffer): boolean };
    raw.sendMessage({ exchange: '', routingKey: q, mandatory: false, immediate: false }, properties, Buffer.from('{"ok":true}'));
    const [m] = await (await consume(ch, q, { noAck: true })).take(1);
    assert.equal(m.content.toString(), '{"ok":true}');
    assert.deepEqual(m.properties, { ...properties, headers: decodedHeaderTypes });
  });

  it('leaves absent properties absent', async () => {
    const { ch } = await h.channel();
    const q = await tempQueue(ch);
    ch.sendToQueue(q, Buffer.from('bare'), { headers: undefined });
    const [m] = await (await consume(ch, q, { noAck: true })).take(1);
    const { headers, ...rest } = m.properties;
    for (const [k, v] of Object.entries(rest)) assert.equal(v, undefined, `property ${k}`);
    assert.ok(headers === undefined || Object.keys(headers).length === 0);
  });

  it('rejects a user-id that is not the connection user with 406', async () => {
    const { conn, ch } = await h.channel();
    const q = await tempQueue(ch);
    const pub = await openChannel(conn);
    pub.sendToQueue(q, Buffer.from('impostor'), { userId: 'bob' });
    assertAmqpError(await closedWith(pub), 406,
      "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'");
    assert.equal(await messageCount(ch, q), 0);
  });

  it('returns an unroutable mandatory message with 312 NO_ROUTE, content and properties', async () => {
    const { ch } = await h.channel();
    const q = await tempQueue(ch);
    const returned = nextEvent(ch, 'return');
    ch.publish('amq.direct', 'no-such-binding', Buffer.from('bounce'), {
      mandatory: true, contentType: 'text/plain', messageId: 'r-1', headers: { attempt: 3 },
    });
    const [m] = (await returned) as [Message];
    assert.deepEqual(m.fields, { replyCode: 312, replyText: 'NO_ROUTE', exchange: 'amq.direct', routingKey: 'no-such-binding' });
    assert.equal(m.content.toString(), 'bounce');
    assert.equal(m.properties.contentType, 'text/plain');
    assert.equal(m.properties.messageId, 'r-1');
    assert.deepEqual(m.properties.headers, { attempt: 3 });

    // Through the default exchange to a missing queue, too; a routable mandatory message is not returned.
    const returns: Message[] = [];
    ch.on('return', (r: Message) => returns.push(r));
    ch.sendToQueue(q, Buffer.from('routable'), { mandatory: true });
    ch.sendToQueue(`${q}-missing`, Buffer.from('nowhere'), { mandatory: true });
    await waitFor(() => returns.length >= 1, 'basic.return');
    assert.equal(returns.length, 1);
    assert.deepEqual(returns[0].fields, { replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: `${q}-missing` });
    assert.deepEqual(texts(await drain(ch, q)), ['routable']);
  });

  it('silently drops an unroutable message without mandatory', async () => {
    const { ch } = await h.channel();
    const returns: Message[] = [];
    ch.on('return', (r: Message) => returns.push(r));
    ch.publish('amq.direct', 'no-such-binding', Buffer.from('dropped'));
    const q = await tempQueue(ch); // a round trip after the publish
    ch.sendToQueue(q, Buffer.from('x'), { mandatory: true });
    await (await consume(ch, q, { noAck: true })).take(1);
    assert.equal(returns.length, 0);
  });

  it('closes the connection with 540 NOT_IMPLEMENTED on the immediate flag', async () => {
    // amqplib always sends immediate=false; @cloudamqp/amqp-client can set it.
    const client = new AMQPClient(broker.url);
    await client.connect();
    const errors: string[] = [];
    client.onerror = (e) => errors.push(e.message);
    try {
      const ch = await client.channel();
      const q = await ch.queueDeclare('', { exclusive: true });
      await ch.basicPublish('', q.name, 'now!', {}, false, true);
      await waitFor(() => client.closed, 'connection close');
      assert.ok(errors.includes('connection closed: NOT_IMPLEMENTED - immediate=true (540)'), JSON.stringify(errors));
    } finally {
      if (!client.closed) await client.close();
    }
  });

  it('auto-acks with noAck: nothing is left to redeliver after the channel closes', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('noack');
    await ch.assertQueue(q, { durable: false });
    const consumerCh = await openChannel(conn);
    for (const b of bodies('n', 5)) ch.sendToQueue(q, Buffer.from(b));
    const c = await consume(consumerCh, q, { noAck: true });
    assert.deepEqual(texts(await c.take(5)), bodies('n', 5));
    await consumerCh.close();
    assert.equal(await messageCount(ch, q), 0);
  });

  it('fails a publish to a missing exchange with 404 on that channel only', async () => {
    const { conn, ch } = await h.channel();
    const x = h.x('missing');
    const pub = await openChannel(conn);
    pub.publish(x, 'k', Buffer.from('x'));
    assertAmqpError(await closedWith(pub), 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`);
    await ch.checkExchange('amq.direct');
    await expectChannelError(ch, () => ch.checkExchange(x), 404, `no exchange '${x}'`);
  });
});
