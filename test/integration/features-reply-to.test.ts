// Direct reply-to (amq.rabbitmq.reply-to): RPC without a reply queue. The client consumes the
// pseudo-queue with no-ack, publishes a request with reply_to 'amq.rabbitmq.reply-to', the
// server sees a rewritten reply_to 'amq.rabbitmq.reply-to.<token>' and replies to it through
// the default exchange.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, closedWith, assertAmqpError, consume, expectChannelError, texts, withTimeout,
  type ConsumeMessage,
} from '../helpers/amqp.js';
import { CloudClients } from '../helpers/cloudamqp.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';

describe('features: direct reply-to', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const cloud = new CloudClients(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); await cloud.closeAll(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** An RPC server on its own connection: replies 'reply:<body>' with the correlation id. */
  const startServer = async (rpcQueue: string) => {
    const { ch } = await h.channel();
    await ch.assertQueue(rpcQueue, { durable: false });
    const requests: ConsumeMessage[] = [];
    await ch.consume(rpcQueue, (m) => {
      if (!m) return;
      requests.push(m);
      ch.publish('', m.properties.replyTo, Buffer.from(`reply:${m.content}`), { correlationId: m.properties.correlationId });
      ch.ack(m);
    });
    return requests;
  };

  it('round-trips requests and replies through the pseudo-queue', async () => {
    const rpcQueue = h.q('rpc');
    const requests = await startServer(rpcQueue);
    const { ch } = await h.channel();
    const replies = await consume(ch, REPLY_TO, { noAck: true });
    assert.match(replies.consumerTag, /^amq\.ctag-/);
    for (let i = 0; i < 3; i++) {
      ch.sendToQueue(rpcQueue, Buffer.from(`req-${i}`), { replyTo: REPLY_TO, correlationId: `c-${i}` });
    }
    const got = await replies.take(3);
    assert.deepEqual(texts(got), ['reply:req-0', 'reply:req-1', 'reply:req-2']);
    assert.deepEqual(got.map((m) => m.properties.correlationId), ['c-0', 'c-1', 'c-2']);
    // The server saw a rewritten reply_to, the same for every request from this channel.
    const replyTos = requests.map((m) => m.properties.replyTo as string);
    assert.equal(replyTos.length, 3);
    assert.ok(replyTos[0].startsWith(`${REPLY_TO}.`) && replyTos[0].length > REPLY_TO.length + 1, `rewritten reply_to: ${replyTos[0]}`);
    assert.deepEqual(new Set(replyTos).size, 1);
    // Replies arrive from the default exchange with the rewritten name as routing key.
    for (const m of got) {
      assert.equal(m.fields.exchange, '');
      assert.equal(m.fields.routingKey, replyTos[0]);
      assert.equal(m.fields.consumerTag, replies.consumerTag);
      assert.equal(m.fields.redelivered, false);
    }
  });

  it('works with @cloudamqp/amqp-client as the RPC client', async () => {
    const rpcQueue = h.q('rpc-cloud');
    await startServer(rpcQueue);
    const cch = await (await cloud.connect()).channel();
    const got: string[] = [];
    const correlation: (string | undefined)[] = [];
    await cch.basicConsume(REPLY_TO, { noAck: true }, (m) => {
      got.push(m.bodyToString() ?? '');
      correlation.push(m.properties.correlationId);
    });
    await cch.basicPublish('', rpcQueue, 'ping', { replyTo: REPLY_TO, correlationId: 'cloud-1' });
    await withTimeout((async () => { while (got.length < 1) await new Promise((r) => setTimeout(r, 5)); })(), 'the reply');
    assert.deepEqual(got, ['reply:ping']);
    assert.deepEqual(correlation, ['cloud-1']);
  });

  it('consuming amq.rabbitmq.reply-to with acknowledgements fails with 406', async () => {
    const { ch } = await h.channel();
    await expectChannelError(ch, () => ch.consume(REPLY_TO, () => {}, { noAck: false }), 406,
      'PRECONDITION_FAILED - reply consumer cannot acknowledge');
  });

  it('publishing with reply_to amq.rabbitmq.reply-to without consuming it fails with 406', async () => {
    const rpcQueue = h.q('rpc-noconsumer');
    const { ch } = await h.channel();
    await ch.assertQueue(rpcQueue, { durable: false });
    ch.sendToQueue(rpcQueue, Buffer.from('orphan'), { replyTo: REPLY_TO });
    const err = await closedWith(ch);
    assertAmqpError(err, 406, 'PRECONDITION_FAILED - fast reply consumer does not exist');
    // The request was not enqueued.
    const { ch: ch2 } = await h.channel();
    assert.equal((await ch2.checkQueue(rpcQueue)).messageCount, 0);
  });
});
