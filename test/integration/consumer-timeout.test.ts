// Consumer (delivery acknowledgement) timeouts, as RabbitMQ 3.13 applies them: a delivery left
// unacked longer than the timeout closes its channel with 406 and RabbitMQ's text, and the
// channel's unacked messages go back to the queue, redelivered. The timeout comes from the
// consumer's x-consumer-timeout argument, else the queue's (x-consumer-timeout argument or
// consumer-timeout policy, the lower), else the server's consumer_timeout (--consumer-timeout).
// basic.get deliveries count too. Timings are loose: the check runs every 0.1-1 s.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, closedWith, consume, openChannel, sleep, tracked, withTimeout } from '../helpers/amqp.js';
import { apiClient } from '../helpers/http.js';

const timedOut = (channel: number, ms: number) =>
  `PRECONDITION_FAILED - delivery acknowledgement on channel ${channel} timed out. Timeout value used: ${ms} ms. `
  + 'This timeout value can be configured, see consumers doc guide to learn more';

describe('consumer timeout', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => {
    broker = await startBroker();
  });
  afterEach(() => h.closeConnections());
  after(async () => {
    await h.cleanup();
    await broker?.stop();
  });

  /** Publishes `n` messages to `q` and waits for them to be there. */
  async function fill(q: string, n: number): Promise<void> {
    const { ch } = await h.channel();
    for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await withTimeout((async () => {
      while ((await ch.checkQueue(q)).messageCount < n) await sleep(20);
    })(), `${n} messages in ${q}`);
  }

  /** A consumer that never acks: its channel must be closed with the timeout text; the messages come back redelivered. */
  async function expectTimeout(q: string, ms: number, consumeArgs?: Record<string, unknown>): Promise<void> {
    await fill(q, 2);
    const { ch } = await h.channel();
    const c = await consume(ch, q, consumeArgs === undefined ? {} : { arguments: consumeArgs });
    const got = await c.take(2);
    assert.deepEqual(got.map((m) => m.fields.redelivered), [false, false]);
    const err = await closedWith(ch, ms + 8000);
    assert.ok(err, 'the channel was closed with an error');
    assert.equal(err.code, 406);
    assert.equal(err.message, `Channel closed by server: 406 (PRECONDITION-FAILED) with message "${timedOut(1, ms)}"`);
    // Requeued: another consumer gets both, flagged redelivered, in order.
    const { ch: other } = await h.channel();
    const again = await (await consume(other, q, {}, true)).take(2);
    assert.deepEqual(again.map((m) => [m.content.toString(), m.fields.redelivered]), [['m0', true], ['m1', true]]);
  }

  it('x-consumer-timeout on the queue: an unacked delivery closes the channel with 406; its messages are redelivered', async () => {
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'ct-arg', { 'x-consumer-timeout': 1000 });
    await expectTimeout(q, 1000);
  });

  it('deliveries acked in time leave the channel open', async () => {
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'ct-ok', { 'x-consumer-timeout': 1000 });
    await fill(q, 3);
    const conn = await h.connect();
    const consumerCh = await openChannel(conn);
    await consumerCh.prefetch(1);
    const c = await consume(consumerCh, q);
    // Each delivery is held for 600 ms, under the timeout, then acked: 1.8 s in all, over it.
    for (let i = 0; i < 3; i++) {
      const [m] = (await c.take(i + 1)).slice(i);
      await sleep(600);
      consumerCh.ack(m);
    }
    await sleep(1500);
    assert.equal(tracked(consumerCh).closed, false, 'the channel is still open');
    assert.equal((await consumerCh.checkQueue(q)).messageCount, 0);
  });

  it('the consumer-timeout policy applies to queues without the argument', async () => {
    const api = apiClient(broker.httpUrl);
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'ct-policy');
    const bad = await api('PUT', 'policies/%2F/ct-bad', { pattern: 'ct-policy', definition: { 'consumer-timeout': 'soon' } });
    assert.deepEqual(bad.body, { error: 'bad_request', reason: 'Validation failed\n\n&lt;&lt;"soon"&gt;&gt; is not a valid consumer timeout\n' });
    const name = `ct-${q}`;
    assert.equal((await api('PUT', `policies/%2F/${encodeURIComponent(name)}`, { pattern: `^${q.replace(/\./g, '\\.')}$`, definition: { 'consumer-timeout': 1200 } })).status, 201);
    try {
      await expectTimeout(q, 1200);
    } finally {
      await api('DELETE', `policies/%2F/${encodeURIComponent(name)}`);
    }
  });

  it('x-consumer-timeout as a basic.consume argument; the management API shows the effective value', async () => {
    const api = apiClient(broker.httpUrl);
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'ct-consumer');
    await fill(q, 1);
    const { ch: cch } = await h.channel();
    await consume(cch, q, { consumerTag: 'ct-1', arguments: { 'x-consumer-timeout': 900 } });
    const { ch: other } = await h.channel();
    await consume(other, q, { consumerTag: 'ct-default' });
    const consumers = (await api('GET', 'consumers/%2F')).body as { consumer_tag: string; consumer_timeout: number }[];
    const shown = Object.fromEntries(consumers.filter((c) => c.consumer_tag.startsWith('ct-')).map((c) => [c.consumer_tag, c.consumer_timeout]));
    assert.deepEqual(shown, { 'ct-1': 900, 'ct-default': 1_800_000 });
    const err = await closedWith(cch, 9000);
    assert.equal(err?.code, 406);
    assert.ok(err.message.includes(timedOut(1, 900)), err.message);
    // Requeued to the remaining consumer, redelivered; that channel (server default, 30 min) stays open.
    await sleep(200);
    assert.equal(tracked(other).closed, false);
  });

  it('refuses a malformed x-consumer-timeout with 406', async () => {
    const { ch } = await h.channel();
    await assert.rejects(ch.assertQueue(h.q('ct-bad'), { durable: false, arguments: { 'x-consumer-timeout': -5 } }));
    const err = await closedWith(ch);
    assert.equal(err?.code, 406);
    assert.match(err.message, /invalid arg 'x-consumer-timeout' for queue/);
    const { ch: c2 } = await h.channel();
    const q = await h.declareQueue(c2, 'ct-bad-consume');
    await assert.rejects(c2.consume(q, () => {}, { arguments: { 'x-consumer-timeout': 'soon' } }));
    const err2 = await closedWith(c2);
    assert.equal(err2?.code, 406);
    assert.match(err2.message, /invalid arg 'x-consumer-timeout' for consumer/);
  });
});

describe('consumer timeout: the server setting (--consumer-timeout), basic.get', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => {
    broker = await startBroker({ args: ['--consumer-timeout', '1000'] });
  });
  afterEach(() => h.closeConnections());
  after(async () => {
    await h.cleanup();
    await broker?.stop();
  });

  it('a basic.get delivery left unacked closes its channel; the message is requeued redelivered', async (t) => {
    if (broker.external) {
      t.skip('needs a Warren started with --consumer-timeout 1000 (WARREN_TEST_URL points elsewhere)');
      return;
    }
    const conn = await h.connect();
    const ch = await openChannel(conn);
    await openChannel(conn); // channel 2 holds nothing and stays open
    const ch3 = await openChannel(conn);
    const q = await h.declareQueue(ch, 'ct-get');
    ch.sendToQueue(q, Buffer.from('got'));
    await sleep(100);
    const m = await ch3.get(q, { noAck: false });
    assert.ok(m, 'a message');
    assert.equal(m.fields.redelivered, false);
    const err = await closedWith(ch3, 9000);
    assert.equal(err?.code, 406);
    assert.ok(err.message.includes(timedOut(3, 1000)), err.message);
    const again = await ch.get(q, { noAck: true });
    assert.ok(again, 'requeued');
    assert.equal(again.content.toString(), 'got');
    assert.equal(again.fields.redelivered, true);
    assert.equal(tracked(ch).closed, false);
  });

  it('a queue\'s longer x-consumer-timeout overrides the server setting', async () => {
    const { ch } = await h.channel();
    const long = await h.declareQueue(ch, 'ct-long', { 'x-consumer-timeout': 60_000 });
    ch.sendToQueue(long, Buffer.from('kept'));
    const { ch: holder } = await h.channel();
    await (await consume(holder, long)).take(1);
    await sleep(2000);
    assert.equal(tracked(holder).closed, false, 'x-consumer-timeout 60000 beats the server\'s 1000');
  });
});
