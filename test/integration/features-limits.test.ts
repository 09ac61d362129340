// Queue length limits: x-max-length and x-max-length-bytes with the overflow behaviours
// drop-head (default; the oldest are dropped and dead-lettered with reason 'maxlen'),
// reject-publish (publisher confirms nack the refused messages) and reject-publish-dlx
// (nack and dead-letter); only ready messages count, not unacknowledged ones.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, drain, eventually, messageCount, publishConfirmed, sleep, texts, type Channel,
} from '../helpers/amqp.js';
import { deathSummary, publishOutcome, publishOutcomes, xDeath } from '../helpers/features.js';

describe('features: queue length limits', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** A limited queue dead-lettering to a fresh DLQ through the default exchange. */
  const limited = async (ch: Channel, name: string, args: Record<string, unknown>) => {
    const dlq = h.q(`${name}-dlq`);
    await ch.assertQueue(dlq, { durable: false });
    const q = h.q(name);
    await ch.assertQueue(q, {
      durable: false,
      arguments: { ...args, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq },
    });
    return { q, dlq };
  };

  const settle = async (ch: Channel, q: string, n: number) =>
    eventually(async () => assert.equal(await messageCount(ch, q), n), `${n} messages in ${q}`);

  it("x-max-length drop-head keeps the newest and dead-letters the oldest with reason 'maxlen'", async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxlen', { 'x-max-length': 3 });
    await publishConfirmed(ch, '', q, bodies('m', 5));
    assert.equal(await messageCount(ch, q), 3);
    await settle(ch, dlq, 2);
    const dead = await drain(ch, dlq);
    assert.deepEqual(texts(dead), ['m-0', 'm-1']);
    for (const m of dead) {
      assert.deepEqual(deathSummary(m), [{ queue: q, reason: 'maxlen', count: 1 }]);
      assert.equal(xDeath(m)[0].exchange, '');
      assert.deepEqual(xDeath(m)[0]['routing-keys'], [q]);
      assert.equal(m.properties.headers?.['x-first-death-reason'], 'maxlen');
    }
    assert.deepEqual(texts(await drain(ch, q)), ['m-2', 'm-3', 'm-4']);
  });

  // Regression: drop-head trimmed the queue before a waiting consumer could take the message.
  it('x-max-length 0 still hands a message to a consumer that can take it at once', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxlen0', { 'x-max-length': 0 });
    await publishConfirmed(ch, '', q, ['dropped']);
    await settle(ch, dlq, 1);
    const got: string[] = [];
    await ch.consume(q, (m) => { if (m) got.push(m.content.toString()); }, { noAck: true });
    await publishConfirmed(ch, '', q, ['delivered']);
    await eventually(async () => assert.deepEqual(got, ['delivered']), 'delivery to the consumer');
    assert.equal(await messageCount(ch, dlq), 1);
  });

  // Regression (differential testing): a requeue could leave a drop-head queue over its limit.
  it('requeued messages that push a drop-head queue over its limit drop (and dead-letter) the head', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxlen-requeue', { 'x-max-length': 1 });
    await publishConfirmed(ch, '', q, ['first']);
    const held = await ch.get(q, { noAck: false });
    assert.ok(held);
    await publishConfirmed(ch, '', q, ['second']);
    ch.nack(held, false, true); // back to the head: 2 ready, limit 1
    await settle(ch, dlq, 1);
    assert.deepEqual(texts(await drain(ch, dlq)), ['first']);
    assert.deepEqual(texts(await drain(ch, q)), ['second']);
  });

  it('explicit x-overflow drop-head behaves like the default', async () => {
    const { ch } = await h.confirmChannel();
    const q = h.q('maxlen-explicit');
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': 2, 'x-overflow': 'drop-head' } });
    assert.deepEqual(await publishOutcomes(ch, '', q, bodies('m', 4)), ['ack', 'ack', 'ack', 'ack']);
    assert.deepEqual(texts(await drain(ch, q)), ['m-2', 'm-3']);
  });

  it('x-max-length 0 keeps nothing', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxlen0', { 'x-max-length': 0 });
    await publishConfirmed(ch, '', q, ['gone']);
    assert.equal(await messageCount(ch, q), 0);
    await settle(ch, dlq, 1);
    const [m] = await drain(ch, dlq);
    assert.deepEqual(deathSummary(m), [{ queue: q, reason: 'maxlen', count: 1 }]);
  });

  it('x-max-length-bytes counts body bytes only and drops from the head', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxbytes', { 'x-max-length-bytes': 10 });
    // Large headers and properties do not count towards the limit.
    const props = { headers: { pad: 'x'.repeat(500) }, messageId: 'y'.repeat(100) };
    await publishConfirmed(ch, '', q, ['aaaa', 'bbbb'], props);
    assert.equal(await messageCount(ch, q), 2, '8 body bytes fit in 10');
    await publishConfirmed(ch, '', q, ['cccc'], props); // 12 bytes: 'aaaa' goes
    await publishConfirmed(ch, '', q, ['dd'], props); // 10 bytes: fits exactly
    assert.equal(await messageCount(ch, q), 3);
    await publishConfirmed(ch, '', q, ['eeeeeeeeee'], props); // 20 bytes: all but the new one go
    await settle(ch, dlq, 4);
    const dead = await drain(ch, dlq);
    assert.deepEqual(texts(dead), ['aaaa', 'bbbb', 'cccc', 'dd']);
    assert.ok(dead.every((m) => deathSummary(m)[0].reason === 'maxlen'));
    assert.deepEqual(texts(await drain(ch, q)), ['eeeeeeeeee']);
  });

  it('x-max-length-bytes with a single message larger than the limit drops it', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'maxbytes-big', { 'x-max-length-bytes': 4 });
    await publishConfirmed(ch, '', q, ['fit', 'too-big']);
    await settle(ch, dlq, 2);
    assert.deepEqual(texts(await drain(ch, dlq)), ['fit', 'too-big']);
    assert.equal(await messageCount(ch, q), 0);
  });

  it('reject-publish nacks refused messages, enqueues nothing of them and does not dead-letter', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'reject-publish', { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    assert.deepEqual(await publishOutcomes(ch, '', q, bodies('m', 4)), ['ack', 'ack', 'nack', 'nack']);
    await sleep(30);
    assert.equal(await messageCount(ch, q), 2);
    assert.equal(await messageCount(ch, dlq), 0, 'reject-publish does not dead-letter');
    // Room again after one is taken.
    const m = await ch.get(q, { noAck: true });
    assert.ok(m);
    assert.equal(m.content.toString(), 'm-0');
    assert.deepEqual(await publishOutcomes(ch, '', q, ['m-4', 'm-5']), ['ack', 'nack']);
    assert.deepEqual(texts(await drain(ch, q)), ['m-1', 'm-4']);
    // The channel is fine after the nacks.
    assert.equal(await publishOutcome(ch, '', q, 'after'), 'ack');
  });

  it('reject-publish with x-max-length-bytes refuses a message that would exceed the limit', async () => {
    const { ch } = await h.confirmChannel();
    const q = h.q('reject-bytes');
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length-bytes': 10, 'x-overflow': 'reject-publish' } });
    assert.deepEqual(await publishOutcomes(ch, '', q, ['aaaa', 'bbbb', 'cc', 'd']), ['ack', 'ack', 'ack', 'nack']);
    assert.deepEqual(texts(await drain(ch, q)), ['aaaa', 'bbbb', 'cc']);
  });

  it("reject-publish-dlx nacks refused messages and dead-letters them with reason 'maxlen'", async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'reject-dlx', { 'x-max-length': 2, 'x-overflow': 'reject-publish-dlx' });
    assert.deepEqual(await publishOutcomes(ch, '', q, bodies('m', 4)), ['ack', 'ack', 'nack', 'nack']);
    await settle(ch, dlq, 2);
    const dead = await drain(ch, dlq);
    assert.deepEqual(texts(dead), ['m-2', 'm-3']);
    for (const m of dead) {
      assert.deepEqual(deathSummary(m), [{ queue: q, reason: 'maxlen', count: 1 }]);
      assert.equal(m.properties.headers?.['x-first-death-reason'], 'maxlen');
    }
    assert.deepEqual(texts(await drain(ch, q)), ['m-0', 'm-1'], 'the queue kept the first ones');
  });

  it('unacknowledged messages do not count towards the limit', async () => {
    const { ch } = await h.confirmChannel();
    const { q, dlq } = await limited(ch, 'unacked', { 'x-max-length': 2 });
    await publishConfirmed(ch, '', q, bodies('m', 2));
    const held = [await ch.get(q, { noAck: false }), await ch.get(q, { noAck: false })];
    assert.ok(held[0] && held[1]);
    await publishConfirmed(ch, '', q, ['m-2', 'm-3']);
    await sleep(30);
    assert.equal(await messageCount(ch, q), 2);
    assert.equal(await messageCount(ch, dlq), 0, 'nothing dropped: only 2 ready');
    await publishConfirmed(ch, '', q, ['m-4']);
    await settle(ch, dlq, 1);
    assert.deepEqual(texts(await drain(ch, dlq)), ['m-2'], 'the oldest ready message is dropped, not an unacked one');
    ch.ack(held[1]!, true);
    assert.deepEqual(texts(await drain(ch, q)), ['m-3', 'm-4']);
  });

  it('reject-publish: unacknowledged messages do not count either', async () => {
    const { ch } = await h.confirmChannel();
    const q = h.q('unacked-reject');
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    assert.equal(await publishOutcome(ch, '', q, 'm-0'), 'ack');
    const held = await ch.get(q, { noAck: false });
    assert.ok(held);
    assert.deepEqual(await publishOutcomes(ch, '', q, ['m-1', 'm-2']), ['ack', 'nack']);
    ch.ack(held);
    assert.deepEqual(texts(await drain(ch, q)), ['m-1']);
  });
});
