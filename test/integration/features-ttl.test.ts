// Message TTL (x-message-ttl queue argument and the per-message expiration property) and
// queue expiry (x-expires), with RabbitMQ's classic-queue semantics: expired messages are
// removed at the head of the queue (also without consumers), a message is only dropped once
// it reaches the head, and requeued messages keep their original expiry.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, consume, drain, eventually, messageCount, openConfirmChannel, publishConfirmed,
  sleep, texts, type Channel, type ConfirmChannel,
} from '../helpers/amqp.js';
import { queueExists } from '../helpers/features.js';

describe('features: message TTL and queue expiry', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });


  /** Polls the ready count (passive declare) until it equals `n`; returns when that happened. */
  const countBecomes = async (ch: Channel, q: string, n: number, ms = 3000): Promise<number> => {
    await eventually(async () => assert.equal(await messageCount(ch, q), n), `${q} holds ${n}`, ms);
    return Date.now();
  };

  describe('per-queue TTL (x-message-ttl)', () => {
    it('drops expired messages at the head without any consumer, and never delivers them', async () => {
      const { conn, ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'qttl', { 'x-message-ttl': 150 });
      const t0 = Date.now();
      await publishConfirmed(ch, '', q, bodies('old', 3));
      assert.equal(await messageCount(ch, q), 3, 'not expired yet');
      const gone = await countBecomes(ch, q, 0);
      assert.ok(gone - t0 >= 140, `expired after ${gone - t0} ms, TTL is 150 ms`);
      // A consumer that subscribes now only sees what is published afterwards.
      const sub = await h.channel();
      const c = await consume(sub.ch, q, { noAck: true });
      await publishConfirmed(ch, '', q, ['fresh']);
      assert.deepEqual(texts(await c.take(1)), ['fresh']);
      await sleep(50);
      assert.deepEqual(texts(c.messages), ['fresh']);
      await conn.close();
    });

    it('does not expire messages that are delivered in time', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'qttl-live', { 'x-message-ttl': 300 });
      await publishConfirmed(ch, '', q, bodies('m', 3));
      assert.deepEqual(texts(await drain(ch, q)), bodies('m', 3));
    });

    it('x-message-ttl 0 drops a message unless a consumer can take it at once', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'qttl0', { 'x-message-ttl': 0 });
      await publishConfirmed(ch, '', q, ['nobody-waiting']);
      await countBecomes(ch, q, 0, 1000);
      assert.equal(await ch.get(q), false);
      const sub = await h.channel();
      const c = await consume(sub.ch, q, { noAck: true });
      await publishConfirmed(ch, '', q, bodies('now', 3));
      assert.deepEqual(texts(await c.take(3, 2000)), bodies('now', 3));
    });
  });

  describe('per-message TTL (expiration)', () => {
    it('drops expired messages at the head without consumers; others stay deliverable', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'mttl');
      const t0 = Date.now();
      await publishConfirmed(ch, '', q, bodies('short', 2), { expiration: '100' });
      assert.equal(await messageCount(ch, q), 2);
      const gone = await countBecomes(ch, q, 0);
      assert.ok(gone - t0 >= 90, `expired after ${gone - t0} ms, expiration is 100 ms`);
      await publishConfirmed(ch, '', q, ['long'], { expiration: '60000' });
      await publishConfirmed(ch, '', q, ['none']);
      const got = await drain(ch, q);
      assert.deepEqual(texts(got), ['long', 'none']);
      assert.equal(got[0].properties.expiration, '60000', 'the expiration property is delivered as published');
      assert.equal(got[1].properties.expiration, undefined);
    });

    it('the shorter of queue TTL and message TTL applies', async () => {
      const { ch } = await h.confirmChannel();
      const longQueue = await h.declareQueue(ch, 'mttl-shorter-msg', { 'x-message-ttl': 60_000 });
      const shortQueue = await h.declareQueue(ch, 'mttl-shorter-queue', { 'x-message-ttl': 100 });
      const t0 = Date.now();
      await publishConfirmed(ch, '', longQueue, ['msg-ttl-wins'], { expiration: '100' });
      await publishConfirmed(ch, '', shortQueue, ['queue-ttl-wins'], { expiration: '60000' });
      const gone1 = await countBecomes(ch, longQueue, 0, 2000);
      const gone2 = await countBecomes(ch, shortQueue, 0, 2000);
      assert.ok(gone1 - t0 >= 90 && gone2 - t0 >= 90, 'not before the shorter TTL');
      // And a longer message TTL than the queue's does not keep a message past the queue TTL
      // while a shorter one is not extended by the queue's either (both checked above).
    });

    it('expiration 0 drops the message unless a consumer is waiting for it', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'mttl0');
      await publishConfirmed(ch, '', q, ['no-consumer'], { expiration: '0' });
      await countBecomes(ch, q, 0, 1000);
      assert.equal(await ch.get(q), false);

      const sub = await h.channel();
      await sub.ch.prefetch(1);
      const c = await consume(sub.ch, q);
      await publishConfirmed(ch, '', q, ['waiting'], { expiration: '0' });
      const [m] = await c.take(1, 2000);
      assert.equal(m.content.toString(), 'waiting');
      assert.equal(m.properties.expiration, '0');
      // The consumer now has no credit (prefetch 1, unacked): the next one expires at once.
      await publishConfirmed(ch, '', q, ['no-credit'], { expiration: '0' });
      await countBecomes(ch, q, 0, 1000);
      sub.ch.ack(m);
      // A round trip on the consumer's channel: the broker has taken the ack (and the credit is
      // back) before the next publish, which comes over another connection.
      await sub.ch.checkQueue(q);
      await publishConfirmed(ch, '', q, ['waiting-again'], { expiration: '0' });
      const got = await c.take(2);
      assert.deepEqual(texts(got), ['waiting', 'waiting-again']);
      assert.equal(await messageCount(ch, q), 0);
    });

    // Regression (differential testing): storing a persistent message could take the clock
    // into the next millisecond, and the waiting consumer lost a TTL 0 message to expiry.
    it('expiration 0 reaches a waiting consumer however long the message takes to store', async () => {
      const { ch } = await h.confirmChannel();
      const q = (await ch.assertQueue(h.q('mttl0-durable'), { durable: true })).queue;
      const sub = await h.channel();
      const c = await consume(sub.ch, q, { noAck: true });
      const big = Buffer.alloc(256 * 1024, 'x');
      for (let i = 0; i < 40; i++) ch.sendToQueue(q, big, { expiration: '0', persistent: true, messageId: `m-${i}` });
      await ch.waitForConfirms();
      const got = await c.take(40, 5000);
      assert.deepEqual(got.map((m) => m.properties.messageId), Array.from({ length: 40 }, (_, i) => `m-${i}`));
      await ch.deleteQueue(q);
    });

    // Regression (CI): a consumer with credit whose socket had filled up lost TTL 0 messages;
    // RabbitMQ hands them to the channel anyway, within its credit-flow window (400).
    it('expiration 0 reaches a consumer with credit whose socket is full', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'mttl0-full-socket');
      const sub = await h.channel();
      const c = await consume(sub.ch, q, { noAck: true });
      const stream = (sub.conn as unknown as { connection: { stream: NodeJS.ReadableStream } }).connection.stream;
      stream.pause(); // the broker's writes to this consumer back up
      const N = 120; // 30 MiB: well past what the kernel buffers on loopback, within the window
      const big = Buffer.alloc(256 * 1024, 'y');
      for (let i = 0; i < N; i++) ch.sendToQueue(q, big, { expiration: '0', messageId: `f-${i}` });
      await ch.waitForConfirms();
      assert.equal(await messageCount(ch, q), 0);
      stream.resume();
      const got = await c.take(N, 10_000);
      assert.deepEqual(got.map((m) => m.properties.messageId), Array.from({ length: N }, (_, i) => `f-${i}`));
    });

    it('a message behind a longer-lived head is only dropped when it reaches the head', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'mttl-behind');
      await publishConfirmed(ch, '', q, ['head'], { expiration: '400' });
      await publishConfirmed(ch, '', q, ['behind'], { expiration: '30' });
      await publishConfirmed(ch, '', q, ['tail']);
      await sleep(150);
      // 'behind' is past its expiry but not at the head: RabbitMQ still counts it.
      assert.equal(await messageCount(ch, q), 3, 'expired message behind the head is still counted');
      // Once 'head' expires, 'behind' reaches the head and is dropped with it.
      await countBecomes(ch, q, 1);
      assert.deepEqual(texts(await drain(ch, q)), ['tail']);
    });

    it('an expired message behind a non-expiring head is dropped when basic.get reaches it', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'mttl-get');
      await publishConfirmed(ch, '', q, ['head']);
      await publishConfirmed(ch, '', q, ['behind'], { expiration: '30' });
      await publishConfirmed(ch, '', q, ['tail']);
      await sleep(120);
      assert.equal(await messageCount(ch, q), 3, 'expired message behind the head is still counted');
      const first = await ch.get(q, { noAck: true });
      assert.ok(first);
      assert.equal(first.content.toString(), 'head');
      assert.equal(first.fields.messageCount, 1, 'the expired one was dropped when it became the head');
      const second = await ch.get(q, { noAck: true });
      assert.ok(second);
      assert.equal(second.content.toString(), 'tail');
      assert.equal(await ch.get(q), false);
    });
  });

  describe('requeued messages', () => {
    it('keep their original expiry: a message held past its TTL is dropped on requeue', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'requeue-expired', { 'x-message-ttl': 150 });
      await publishConfirmed(ch, '', q, ['held', 'witness']);
      const held = await ch.get(q, { noAck: false });
      assert.ok(held);
      assert.equal(held.content.toString(), 'held');
      // Unacked messages do not expire; 'witness' does, which shows the TTL has passed.
      await countBecomes(ch, q, 0);
      ch.nack(held, false, true);
      await sleep(30);
      assert.equal(await messageCount(ch, q), 0, 'the requeued message had already expired');
      assert.equal(await ch.get(q), false);
    });

    it('keep their original expiry: the TTL does not restart on requeue', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'requeue-ttl', { 'x-message-ttl': 300 });
      const t0 = Date.now();
      await publishConfirmed(ch, '', q, ['m']);
      const m = await ch.get(q, { noAck: false });
      assert.ok(m);
      await sleep(150);
      ch.nack(m, false, true);
      const again = await ch.get(q, { noAck: false });
      assert.ok(again, 'still alive after requeue');
      assert.equal(again.fields.redelivered, true);
      ch.nack(again, false, true);
      const gone = await countBecomes(ch, q, 0);
      // Expires ~300 ms after publishing; a restarted TTL would give >= 450 ms.
      assert.ok(gone - t0 >= 280 && gone - t0 < 440, `expired ${gone - t0} ms after publishing (TTL 300 ms)`);
    });
  });

  describe('queue expiry (x-expires)', () => {
    /** A confirm channel used only for probing with mandatory publishes. */
    const prober = async (): Promise<ConfirmChannel> => openConfirmChannel(await h.connect());

    const waitGone = async (probe: ConfirmChannel, q: string, ms = 3000): Promise<number> => {
      const deadline = Date.now() + ms;
      while (await queueExists(probe, q)) {
        if (Date.now() > deadline) throw new Error(`queue ${q} still exists after ${ms} ms`);
        await sleep(20);
      }
      return Date.now();
    };

    it('deletes a queue that is not used for the expiry period', async () => {
      const { ch } = await h.channel();
      const probe = await prober();
      const q = h.q('expires');
      const t0 = Date.now();
      await ch.assertQueue(q, { durable: false, arguments: { 'x-expires': 200 } });
      assert.equal(await queueExists(probe, q), true);
      const gone = await waitGone(probe, q);
      assert.ok(gone - t0 >= 190, `deleted after ${gone - t0} ms, x-expires is 200 ms`);
      // Passive declare now fails with 404.
      await assert.rejects(ch.checkQueue(q), (e: { code?: number }) => e.code === 404);
    });

    it('a consumer keeps the queue alive; after it is cancelled the queue expires', async () => {
      const { ch } = await h.channel();
      const probe = await prober();
      const q = h.q('expires-consumer');
      await ch.assertQueue(q, { durable: false, arguments: { 'x-expires': 100 } });
      const c = await consume(ch, q, { noAck: true });
      await sleep(350);
      assert.equal(await queueExists(probe, q), true, 'alive while consumed');
      await c.take(1); // the probe message was delivered
      await c.cancel();
      const t0 = Date.now();
      const gone = await waitGone(probe, q);
      assert.ok(gone - t0 >= 80, `deleted ${gone - t0} ms after the cancel, x-expires is 100 ms`);
    });

    it('redeclaring the queue restarts the expiry timer', async () => {
      const { ch } = await h.channel();
      const probe = await prober();
      const q = h.q('expires-redeclare');
      const args = { 'x-expires': 300 };
      await ch.assertQueue(q, { durable: false, arguments: args });
      await sleep(200);
      await ch.assertQueue(q, { durable: false, arguments: args });
      const t1 = Date.now();
      await sleep(200); // 400 ms after the first declare, 200 ms after the second
      assert.equal(await queueExists(probe, q), true, 'the redeclare restarted the timer');
      const gone = await waitGone(probe, q);
      assert.ok(gone - t1 >= 290, `deleted ${gone - t1} ms after the redeclare, x-expires is 300 ms`);
    });
  });
});
