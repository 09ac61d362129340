// Queue declaration (server-named, passive, equivalence), exclusivity, auto-delete,
// bind/unbind, purge and delete.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, consume, drain, expectChannelError, messageCount, openChannel, openConfirmChannel,
  publishConfirmed, sleep, suffix, texts, bodies, type Channel, type ChannelModel,
} from '../helpers/amqp.js';

describe('queues', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** Whether `queue` exists, checked with a passive declare on a throwaway channel. */
  const exists = async (conn: ChannelModel, queue: string): Promise<boolean> => {
    const ch = await openChannel(conn);
    try {
      await ch.checkQueue(queue);
      await ch.close();
      return true;
    } catch (e) {
      assert.equal((e as { code?: number }).code, 404, String(e));
      return false;
    }
  };

  /** RabbitMQ deletes exclusive/auto-delete queues asynchronously: poll until the queue is gone. */
  const eventuallyGone = async (conn: ChannelModel, queue: string) => {
    const deadline = Date.now() + 5000;
    while (await exists(conn, queue)) {
      if (Date.now() > deadline) assert.fail(`queue ${queue} still exists after 5 s`);
      await sleep(20);
    }
  };

  const fill = async (conn: ChannelModel, queue: string, n: number) => {
    const ch = await openConfirmChannel(conn);
    await publishConfirmed(ch, '', queue, bodies('m', n));
    await ch.close();
  };

  it('gives an empty name a server-generated amq.gen- name', async () => {
    const { ch } = await h.channel();
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    assert.match(a.queue, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a.queue, b.queue);
    assert.deepEqual(await ch.checkQueue(a.queue), { queue: a.queue, messageCount: 0, consumerCount: 0 });
  });

  it('reports ready message and consumer counts in declare-ok', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('counts');
    assert.deepEqual(await ch.assertQueue(q, { durable: false }), { queue: q, messageCount: 0, consumerCount: 0 });
    await fill(conn, q, 3);
    assert.deepEqual(await ch.assertQueue(q, { durable: false }), { queue: q, messageCount: 3, consumerCount: 0 });
    // An unacknowledged message is not counted as ready.
    const got = await ch.get(q, { noAck: false });
    assert.ok(got);
    assert.equal((await ch.checkQueue(q)).messageCount, 2);
    await ch.purgeQueue(q);
    const other = await openChannel(conn);
    await other.consume(q, () => {}, { noAck: false });
    await other.consume(q, () => {}, { noAck: false });
    assert.deepEqual(await ch.checkQueue(q), { queue: q, messageCount: 0, consumerCount: 2 });
  });

  it('fails a passive declare of a missing queue with 404', async () => {
    const { ch } = await h.channel();
    const q = h.q('missing');
    await expectChannelError(ch, () => ch.checkQueue(q), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
  });

  it('fails redeclares with other durable / auto_delete / arguments with 406 inequivalent arg', async () => {
    const { conn } = await h.channel();
    const q = h.q('equiv');
    const setup = await openChannel(conn);
    await setup.assertQueue(q, { durable: false, arguments: { 'x-max-length': 1000 } });
    const prefix = `PRECONDITION_FAILED - inequivalent arg`;
    const cases: [object, string][] = [
      [{ durable: true, arguments: { 'x-max-length': 1000 } },
        `${prefix} 'durable' for queue '${q}' in vhost '/': received 'true' but current is 'false'`],
      [{ durable: false, autoDelete: true, arguments: { 'x-max-length': 1000 } },
        `${prefix} 'auto_delete' for queue '${q}' in vhost '/': received 'true' but current is 'false'`],
      [{ durable: false, arguments: { 'x-max-length': 2000 } },
        `${prefix} 'x-max-length' for queue '${q}' in vhost '/': received '2000' but current is '1000'`],
      [{ durable: false },
        `${prefix} 'x-max-length' for queue '${q}' in vhost '/': received none but current is the value '1000' of type 'short'`],
      [{ durable: false, arguments: { 'x-max-length': 1000, 'x-message-ttl': 5000 } },
        `${prefix} 'x-message-ttl' for queue '${q}' in vhost '/': received the value '5000' of type 'short' but current is none`],
    ];
    for (const [opts, msg] of cases) {
      const ch = await openChannel(conn);
      await expectChannelError(ch, () => ch.assertQueue(q, opts), 406, msg);
    }
    // Integers of another width but the same value are equivalent.
    const ch = await openChannel(conn);
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': { '!': 'long', value: 1000 } } });
  });

  it('fails a redeclare with another exclusive flag with 405 RESOURCE_LOCKED', async () => {
    // RabbitMQ reports a mismatched exclusive flag as a lock conflict, also on the owning connection.
    const { conn } = await h.channel();
    // Short names: the full reply text must fit in 255 bytes (see errors.test.ts for truncation).
    const shared = h.own(`wit-${suffix()}`);
    const excl = h.own(`wit-${suffix()}`);
    const setup = await openChannel(conn);
    await setup.assertQueue(shared, { durable: false });
    await setup.assertQueue(excl, { exclusive: true });
    for (const [name, exclusive] of [[shared, true], [excl, false]] as const) {
      const ch = await openChannel(conn);
      await expectChannelError(ch, () => ch.assertQueue(name, { durable: false, exclusive }), 405,
        `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}' in vhost '/'. ` +
        'It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.');
    }
  });

  it('locks an exclusive queue against every other connection (405)', async () => {
    const { conn: owner, ch } = await h.channel();
    const q = h.q('locked');
    await ch.assertQueue(q, { exclusive: true });
    const other = await h.connect();
    const locked = `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${q}' in vhost '/'`;
    const attempts: [string, (c: Channel) => Promise<unknown>][] = [
      ['declare', (c) => c.assertQueue(q, { exclusive: true })],
      ['passive declare', (c) => c.checkQueue(q)],
      ['consume', (c) => c.consume(q, () => {})],
      ['get', (c) => c.get(q)],
      ['purge', (c) => c.purgeQueue(q)],
      ['delete', (c) => c.deleteQueue(q)],
      ['bind', (c) => c.bindQueue(q, 'amq.fanout', '')],
    ];
    for (const [what, attempt] of attempts) {
      const c = await openChannel(other);
      await expectChannelError(c, () => attempt(c), 405, locked).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
    // Publishing to it from elsewhere is allowed.
    const pub = await openConfirmChannel(other);
    await publishConfirmed(pub, '', q, ['from another connection']);
    assert.deepEqual(texts(await drain(ch, q)), ['from another connection']);
    assert.equal(await exists(owner, q), true);
  });

  it('deletes an exclusive queue when its connection closes', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('excl-gone');
    const plain = h.q('stays');
    await ch.assertQueue(q, { exclusive: true });
    await ch.assertQueue(plain, { durable: false });
    await conn.close();
    const watcher = await h.connect();
    await eventuallyGone(watcher, q);
    assert.equal(await exists(watcher, plain), true);
  });

  it('deletes an auto-delete queue when its last consumer is cancelled', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('autodel');
    await ch.assertQueue(q, { durable: false, autoDelete: true });
    assert.equal(await exists(conn, q), true, 'never consumed: stays');
    const a = await consume(ch, q);
    const b = await consume(ch, q);
    await a.cancel();
    assert.equal(await exists(conn, q), true, 'one consumer left');
    await b.cancel();
    await eventuallyGone(conn, q);
  });

  it('deletes an auto-delete queue when its consumer channel closes', async () => {
    const { conn } = await h.channel();
    const ch = await openChannel(conn);
    const q = h.q('autodel-close');
    await ch.assertQueue(q, { durable: false, autoDelete: true });
    await consume(ch, q);
    await ch.close();
    await eventuallyGone(conn, q);
  });

  it('binds and unbinds; unbinding a missing binding succeeds; binding to missing things is 404', async () => {
    const { conn, ch } = await h.confirmChannel();
    const q = h.q('bind');
    const x = h.x('bind');
    await ch.assertQueue(q, { durable: false });
    await ch.assertExchange(x, 'direct', { durable: false });
    await ch.bindQueue(q, x, 'k');
    await publishConfirmed(ch, x, 'k', ['bound']);
    await ch.unbindQueue(q, x, 'k');
    await ch.unbindQueue(q, x, 'k');
    await publishConfirmed(ch, x, 'k', ['unbound']);
    assert.deepEqual(texts(await drain(ch, q)), ['bound']);

    const missingX = h.x('nope');
    const c1 = await openChannel(conn);
    await expectChannelError(c1, () => c1.bindQueue(q, missingX, 'k'), 404, `NOT_FOUND - no exchange '${missingX}' in vhost '/'`);
    const missingQ = h.q('nope');
    const c2 = await openChannel(conn);
    await expectChannelError(c2, () => c2.bindQueue(missingQ, x, 'k'), 404, `NOT_FOUND - no queue '${missingQ}' in vhost '/'`);
  });

  // Regressions found by the differential tester against RabbitMQ.
  it('checks a bind in RabbitMQ order: default exchange, then the exchange, then the queue, then exclusivity', async () => {
    const { conn } = await h.channel();
    const missingQ = h.q('order-nope');
    const missingX = h.x('order-nope');
    const c1 = await openChannel(conn);
    await expectChannelError(c1, () => c1.bindQueue(missingQ, '', 'k'), 403,
      'ACCESS_REFUSED - operation not permitted on the default exchange');
    const c2 = await openChannel(conn);
    await expectChannelError(c2, () => c2.bindQueue(missingQ, missingX, 'k'), 404,
      `NOT_FOUND - no exchange '${missingX}' in vhost '/'`);
    const c3 = await openChannel(conn);
    await expectChannelError(c3, () => c3.bindExchange(h.x('order-dst'), missingX, 'k'), 404,
      `NOT_FOUND - no exchange '${missingX}' in vhost '/'`);
    // Another connection's exclusive queue with a missing exchange: the exchange is reported.
    const owner = await openChannel(await h.connect());
    const locked = (await owner.assertQueue('', { exclusive: true })).queue;
    const c4 = await openChannel(conn);
    await expectChannelError(c4, () => c4.bindQueue(locked, missingX, 'k'), 404,
      `NOT_FOUND - no exchange '${missingX}' in vhost '/'`);
    const c5 = await openChannel(conn);
    await expectChannelError(c5, () => c5.bindQueue(locked, 'amq.direct', 'k'), 405, /RESOURCE_LOCKED/);
  });

  it('unbinding from a missing queue or exchange succeeds, as in RabbitMQ', async () => {
    const { ch } = await h.channel();
    const q = h.q('unbind-missing');
    await ch.assertQueue(q, { durable: false });
    await ch.unbindQueue(h.q('unbind-nope'), 'amq.direct', 'k');
    await ch.unbindQueue(q, h.x('unbind-nope'), 'k');
    await ch.unbindExchange(h.x('unbind-nope'), 'amq.direct', 'k');
    await ch.unbindExchange('amq.direct', h.x('unbind-nope'), 'k');
    await ch.checkQueue(q); // the channel is still open
  });

  it('purges ready messages and returns the count, leaving unacked ones', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('purge');
    await ch.assertQueue(q, { durable: false });
    await fill(conn, q, 5);
    const held = await ch.get(q, { noAck: false });
    assert.ok(held);
    assert.deepEqual(await ch.purgeQueue(q), { messageCount: 4 });
    assert.deepEqual(await ch.purgeQueue(q), { messageCount: 0 });
    ch.nack(held, false, true);
    assert.equal(await messageCount(ch, q), 1, 'the unacked message survives the purge');
  });

  it('refuses delete if-unused while a consumer exists (406)', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('ifunused');
    await ch.assertQueue(q, { durable: false });
    const consumerCh = await openChannel(conn);
    await consume(consumerCh, q);
    await expectChannelError(ch, () => ch.deleteQueue(q, { ifUnused: true }), 406,
      `PRECONDITION_FAILED - queue '${q}' in vhost '/' in use`);
    assert.equal(await exists(conn, q), true);
  });

  it('refuses delete if-empty while messages are ready (406)', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('ifempty');
    await ch.assertQueue(q, { durable: false });
    await fill(conn, q, 2);
    await expectChannelError(ch, () => ch.deleteQueue(q, { ifEmpty: true }), 406,
      `PRECONDITION_FAILED - queue '${q}' in vhost '/' not empty`);
    const ch2 = await openChannel(conn);
    await ch2.purgeQueue(q);
    assert.deepEqual(await ch2.deleteQueue(q, { ifEmpty: true, ifUnused: true }), { messageCount: 0 });
  });

  it('returns the message count on delete, cancels its consumers, and ignores a missing queue', async () => {
    const { conn, ch } = await h.channel();
    const q = h.q('delete');
    await ch.assertQueue(q, { durable: false });
    await fill(conn, q, 3);
    assert.deepEqual(await ch.deleteQueue(q), { messageCount: 3 });
    assert.equal(await exists(conn, q), false);
    assert.deepEqual(await ch.deleteQueue(q), { messageCount: 0 });
  });

  it('refuses to declare a queue with the reserved amq. prefix (403) but allows passive checks (404)', async () => {
    const { conn, ch } = await h.channel();
    const name = `amq.warren-it-${Date.now()}`;
    await expectChannelError(ch, () => ch.assertQueue(name), 403,
      `ACCESS_REFUSED - queue name '${name}' contains reserved prefix 'amq.*'`);
    const ch2 = await openChannel(conn);
    await expectChannelError(ch2, () => ch2.checkQueue(name), 404, `NOT_FOUND - no queue '${name}' in vhost '/'`);
  });
});
