// Publisher confirms (amqplib ConfirmChannel) and transactions (@cloudamqp/amqp-client, since
// amqplib has no tx API).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, drain, eventually, messageCount, openChannel, texts, withTimeout, type ConfirmChannel, type Message,
} from '../helpers/amqp.js';
import { CloudClients, expectCloudChannelError, type AMQPChannel } from '../helpers/cloudamqp.js';

interface AckFields { deliveryTag: number; multiple: boolean }

describe('publisher confirms and transactions', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const cloud = new CloudClients(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); await cloud.closeAll(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** Records basic.ack / basic.nack / basic.return in arrival order. */
  const recordEvents = (ch: ConfirmChannel) => {
    const log: string[] = [];
    const acks: AckFields[] = [];
    ch.on('ack', (f: AckFields) => { acks.push(f); log.push(`ack:${f.deliveryTag}${f.multiple ? '+' : ''}`); });
    ch.on('nack', (f: AckFields) => log.push(`nack:${f.deliveryTag}${f.multiple ? '+' : ''}`));
    ch.on('return', (m: Message) => log.push(`return:${m.content.toString()}`));
    return { log, acks };
  };

  /** The delivery tags a sequence of (possibly multiple) acks confirms; no tag may be confirmed twice. */
  const confirmedTags = (acks: AckFields[]) => {
    const seen = new Set<number>();
    for (const a of acks) {
      assert.ok(!seen.has(a.deliveryTag), `tag ${a.deliveryTag} confirmed twice`);
      if (a.multiple) for (let t = 1; t <= a.deliveryTag; t++) seen.add(t);
      else seen.add(a.deliveryTag);
    }
    return [...seen].sort((x, y) => x - y);
  };

  it('acks every publish, with increasing delivery tags and per-message callbacks', async () => {
    const { ch } = await h.confirmChannel();
    const { acks } = recordEvents(ch);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const results = await Promise.all(bodies('c', 10).map((b) => new Promise((resolve) => {
      ch.sendToQueue(q, Buffer.from(b), {}, (err) => resolve(err));
    })));
    assert.deepEqual(results, Array(10).fill(null), 'each callback gets null (ack)');
    assert.deepEqual(confirmedTags(acks), Array.from({ length: 10 }, (_, i) => i + 1));
    const tags = acks.map((a) => a.deliveryTag);
    assert.deepEqual(tags, [...tags].sort((x, y) => x - y), 'acks arrive in increasing tag order');
    assert.equal(await messageCount(ch, q), 10);
  });

  it('confirms many messages in flight, possibly with multiple acks, and waitForConfirms resolves', async () => {
    const { ch } = await h.confirmChannel();
    const { acks } = recordEvents(ch);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const n = 2000;
    for (const b of bodies('many', n)) ch.sendToQueue(q, Buffer.from(b));
    await withTimeout(ch.waitForConfirms(), 'waitForConfirms', 10_000);
    assert.equal(acks.at(-1)?.deliveryTag, n, 'the last ack covers the last publish');
    assert.deepEqual(confirmedTags(acks), Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(await messageCount(ch, q), n);
  });

  it('sends basic.return before basic.ack for an unroutable mandatory message', async () => {
    const { ch } = await h.confirmChannel();
    const { log } = recordEvents(ch);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.publish('amq.direct', 'nobody-home', Buffer.from('returned'), { mandatory: true });
    ch.publish('amq.direct', 'nobody-home', Buffer.from('dropped'));
    ch.sendToQueue(q, Buffer.from('routed'), { mandatory: true });
    await withTimeout(ch.waitForConfirms(), 'waitForConfirms');
    assert.deepEqual(log.filter((e) => e.startsWith('return')), ['return:returned']);
    assert.ok(log.indexOf('return:returned') < log.findIndex((e) => e.startsWith('ack:1')), `order: ${log}`);
    assert.ok(!log.some((e) => e.startsWith('nack')), `no nacks: ${log}`);
    assert.deepEqual(texts(await drain(ch, q)), ['routed']);
  });

  it('confirms persistent messages to a durable queue', async () => {
    const { ch } = await h.confirmChannel();
    const q = h.q('durable-confirm');
    await ch.assertQueue(q, { durable: true });
    for (const b of bodies('p', 20)) ch.sendToQueue(q, Buffer.from(b), { persistent: true });
    await withTimeout(ch.waitForConfirms(), 'waitForConfirms');
    const got = await drain(ch, q);
    assert.deepEqual(texts(got), bodies('p', 20));
    assert.ok(got.every((m) => m.properties.deliveryMode === 2));
  });

  it('nacks a publish that a full reject-publish queue refuses', async () => {
    const { ch } = await h.confirmChannel();
    const { log } = recordEvents(ch);
    const q = h.q('reject-publish');
    await ch.assertQueue(q, { durable: false, maxLength: 1, overflow: 'reject-publish' });
    const outcome = (b: string) => new Promise<string>((resolve) => {
      ch.sendToQueue(q, Buffer.from(b), {}, (err) => resolve(err ? 'nack' : 'ack'));
    });
    assert.deepEqual(await Promise.all([outcome('fits'), outcome('overflows')]), ['ack', 'nack']);
    // RabbitMQ 3.10 sends this nack with multiple=true, which is equivalent here since tag 1 is
    // already confirmed: compare tags only.
    assert.deepEqual(log.map((e) => e.replace('+', '')), ['ack:1', 'nack:2']);
    await assert.rejects(() => { ch.sendToQueue(q, Buffer.from('also overflows')); return ch.waitForConfirms(); });
    assert.deepEqual(texts(await drain(ch, q)), ['fits']);
  });

  // ---- transactions, with @cloudamqp/amqp-client ----

  const txChannel = async () => {
    const c = await cloud.connect();
    const ch = await c.channel();
    await ch.txSelect();
    const observer = await c.channel();
    const q = (await observer.queueDeclare(h.q('tx'), { durable: false, exclusive: false })).name;
    const count = async () => (await observer.queueDeclare(q, { passive: true })).messageCount;
    return { c, ch, observer, q, count };
  };

  const publishAll = async (ch: AMQPChannel, q: string, msgs: string[]) => {
    for (const m of msgs) await ch.basicPublish('', q, m);
  };

  it('delivers transactional publishes only on commit', async () => {
    const { ch, q, count } = await txChannel();
    await publishAll(ch, q, ['t1', 't2', 't3']);
    await ch.queueDeclare(q, { passive: true }); // a round trip on the publishing channel
    assert.equal(await count(), 0, 'nothing visible before commit');
    await ch.txCommit();
    assert.equal(await count(), 3);
    // The channel stays transactional for the next transaction.
    await publishAll(ch, q, ['t4']);
    assert.equal(await count(), 3);
    await ch.txCommit();
    assert.equal(await count(), 4);
  });

  it('discards transactional publishes on rollback', async () => {
    const { ch, observer, q, count } = await txChannel();
    await publishAll(ch, q, ['r1', 'r2']);
    await ch.txRollback();
    assert.equal(await count(), 0);
    await publishAll(ch, q, ['kept']);
    await ch.txCommit();
    const m = await observer.basicGet(q);
    assert.equal(m?.bodyToString(), 'kept');
    assert.equal(await observer.basicGet(q), null);
  });

  // Regression (differential testing): Warren routed at commit, so a binding changed in between
  // decided where the message went.
  it('routes a transactional publish when it is published and delivers it on commit', async () => {
    const { ch, observer, q, count } = await txChannel();
    const x = h.x('tx-route');
    await observer.exchangeDeclare(x, 'direct', { durable: false });
    await observer.queueBind(q, x, 'was-bound');
    const returned: string[] = [];
    ch.onReturn = (m) => { returned.push(`${m.replyCode} ${m.bodyToString()}`); };
    await ch.basicPublish(x, 'was-bound', 'routed-then-unbound', {}, true);
    await ch.basicPublish(x, 'bound-later', 'unroutable-then-bound', {}, true);
    await ch.queueDeclare(q, { passive: true }); // both publishes are in
    await observer.queueUnbind(q, x, 'was-bound');
    await observer.queueBind(q, x, 'bound-later');
    assert.deepEqual(returned, [], 'returns come with the commit');
    await ch.txCommit();
    assert.equal(await count(), 1);
    assert.equal((await observer.basicGet(q, { noAck: true }))?.bodyToString(), 'routed-then-unbound');
    await eventually(async () => assert.deepEqual(returned, ['312 unroutable-then-bound']), 'the return');
  });

  it('a transactional publish to the default exchange goes to the queue of that name at commit', async () => {
    const { ch, observer } = await txChannel();
    const later = h.q('tx-declared-later');
    await ch.basicPublish('', later, 'before-the-queue');
    await observer.queueDeclare(later, { durable: false, exclusive: false });
    await ch.txCommit();
    assert.equal((await observer.basicGet(later, { noAck: true }))?.bodyToString(), 'before-the-queue');
    await observer.queueDelete(later);
  });

  it('applies acks inside a transaction only on commit', async () => {
    const { c, ch, observer, q, count } = await txChannel();
    await publishAll(observer, q, ['a1', 'a2']);
    const m1 = await ch.basicGet(q, { noAck: false });
    const m2 = await ch.basicGet(q, { noAck: false });
    assert.deepEqual([m1?.bodyToString(), m2?.bodyToString()], ['a1', 'a2']);
    await ch.basicAck(m1!.deliveryTag);
    await ch.txRollback(); // the ack of a1 is discarded: a1 is unacked again
    await ch.basicAck(m2!.deliveryTag);
    await ch.txCommit(); // a2 is gone
    await ch.close(); // a1, still unacked, goes back
    await eventually(async () => assert.equal(await count(), 1), 'a1 requeued');
    const back = await observer.basicGet(q);
    assert.equal(back?.bodyToString(), 'a1');
    assert.equal(back?.redelivered, true);
    assert.ok(!c.closed);
  });

  it('rejects commit/rollback on a non-transactional channel and mixing tx with confirms (406)', async () => {
    const c = await cloud.connect();
    await expectCloudChannelError((await c.channel()).txCommit(), 406, 'PRECONDITION_FAILED - channel is not transactional');
    await expectCloudChannelError((await c.channel()).txRollback(), 406, 'PRECONDITION_FAILED - channel is not transactional');
    const tx = await c.channel();
    await tx.txSelect();
    await expectCloudChannelError(tx.confirmSelect(), 406, 'PRECONDITION_FAILED - cannot switch from tx to confirm mode');
    const confirm = await c.channel();
    await confirm.confirmSelect();
    await expectCloudChannelError(confirm.txSelect(), 406, 'PRECONDITION_FAILED - cannot switch from confirm to tx mode');
    // The connection is still fine.
    const ok = await c.channel();
    await ok.queueDeclare('', { exclusive: true });
  });

  it('keeps confirm mode per channel: a plain channel on the same connection gets no acks', async () => {
    const { conn, ch } = await h.confirmChannel();
    const plain = await openChannel(conn);
    const plainAcks: unknown[] = [];
    plain.on('ack', (f: unknown) => plainAcks.push(f));
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    plain.sendToQueue(q, Buffer.from('plain'));
    ch.sendToQueue(q, Buffer.from('confirmed'));
    await withTimeout(ch.waitForConfirms(), 'waitForConfirms');
    await plain.checkQueue(q);
    assert.deepEqual(plainAcks, []);
  });
});
