// Exchange declaration, deletion, the predefined exchanges, exchange-to-exchange bindings,
// internal exchanges and alternate exchanges.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, assertAmqpError, closedWith, drain, expectChannelError, expectConnectionError, messageCount,
  openChannel, publishConfirmed, texts, type ConfirmChannel,
} from '../helpers/amqp.js';

describe('exchanges', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** An exclusive server-named queue bound to `exchange` with `key` (and optional args). */
  const boundQueue = async (ch: ConfirmChannel, exchange: string, key: string, args?: object) => {
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, exchange, key, args);
    return q;
  };

  it('delivers through the default exchange by queue name', async () => {
    const { ch } = await h.confirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await publishConfirmed(ch, '', q, ['one', 'two']);
    await publishConfirmed(ch, '', `${q}-not-it`, ['lost']);
    assert.deepEqual(texts(await drain(ch, q)), ['one', 'two']);
  });

  it('refuses to bind to or declare the default exchange (403)', async () => {
    const { conn, ch } = await h.confirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await expectChannelError(ch, () => ch.bindQueue(q, '', 'k'), 403,
      'ACCESS_REFUSED - operation not permitted on the default exchange');
    const ch2 = await openChannel(conn);
    await assert.rejects(ch2.assertExchange('', 'direct'), { code: 403 });
  });

  // Regression (differential testing): an existing name got 406 instead of the type check's 503.
  it('checks the exchange type before equivalence: 503 even when the exchange exists', async () => {
    const { conn, ch } = await h.channel();
    await expectConnectionError(conn, () => ch.assertExchange('amq.direct', 'x-no-such-type'), 503,
      "COMMAND_INVALID - unknown exchange type 'x-no-such-type'");
  });

  it('has the predefined amq.* exchanges, each routing by its type', async () => {
    const { ch } = await h.confirmChannel();
    for (const x of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) await ch.checkExchange(x);
    // Redeclaring a predefined exchange with its own type and durability is allowed.
    await ch.assertExchange('amq.direct', 'direct', { durable: true });
    await ch.assertExchange('amq.match', 'headers', { durable: true });

    const direct = await boundQueue(ch, 'amq.direct', 'dk');
    const fanout = await boundQueue(ch, 'amq.fanout', 'ignored');
    const topic = await boundQueue(ch, 'amq.topic', 'stock.*.nyse');
    const headers = await boundQueue(ch, 'amq.headers', '', { 'x-match': 'all', kind: 'h' });
    const match = await boundQueue(ch, 'amq.match', '', { 'x-match': 'any', kind: 'm' });
    await publishConfirmed(ch, 'amq.direct', 'dk', ['direct-hit']);
    await publishConfirmed(ch, 'amq.direct', 'other', ['direct-miss']);
    await publishConfirmed(ch, 'amq.fanout', 'anything', ['fanout']);
    await publishConfirmed(ch, 'amq.topic', 'stock.ibm.nyse', ['topic-hit']);
    await publishConfirmed(ch, 'amq.topic', 'stock.ibm.lse', ['topic-miss']);
    await publishConfirmed(ch, 'amq.headers', '', ['headers-hit'], { headers: { kind: 'h' } });
    await publishConfirmed(ch, 'amq.match', '', ['match-hit'], { headers: { kind: 'm' } });
    await publishConfirmed(ch, 'amq.match', '', ['match-miss'], { headers: { kind: 'h' } });
    assert.deepEqual(texts(await drain(ch, direct)), ['direct-hit']);
    assert.deepEqual(texts(await drain(ch, fanout)), ['fanout']);
    assert.deepEqual(texts(await drain(ch, topic)), ['topic-hit']);
    assert.deepEqual(texts(await drain(ch, headers)), ['headers-hit']);
    assert.deepEqual(texts(await drain(ch, match)), ['match-hit']);
  });

  it('declares each exchange type, idempotently, and passive-declares it', async () => {
    const { ch } = await h.confirmChannel();
    for (const type of ['direct', 'fanout', 'topic', 'headers']) {
      const name = h.x(type);
      assert.deepEqual(await ch.assertExchange(name, type, { durable: false }), { exchange: name });
      await ch.assertExchange(name, type, { durable: false });
      await ch.checkExchange(name);
      await ch.deleteExchange(name);
    }
  });

  it('fails a passive declare of a missing exchange with 404', async () => {
    const { ch } = await h.channel();
    const name = h.x('missing');
    await expectChannelError(ch, () => ch.checkExchange(name), 404,
      `NOT_FOUND - no exchange '${name}' in vhost '/'`);
  });

  it('fails a redeclare with another type with 406 inequivalent arg', async () => {
    const { conn, ch } = await h.channel();
    const name = h.x('retype');
    await ch.assertExchange(name, 'direct', { durable: false });
    await expectChannelError(ch, () => ch.assertExchange(name, 'fanout', { durable: false }), 406,
      `PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${name}' in vhost '/': received 'fanout' but current is 'direct'`);
    // The original is untouched.
    const ch2 = await openChannel(conn);
    await ch2.assertExchange(name, 'direct', { durable: false });
  });

  it('fails redeclares with other durable / auto_delete / internal flags with 406', async () => {
    const { conn } = await h.channel();
    const name = h.x('reflags');
    const setup = await openChannel(conn);
    await setup.assertExchange(name, 'topic', { durable: false });
    const cases: [object, string][] = [
      [{ durable: true }, `inequivalent arg 'durable' for exchange '${name}' in vhost '/': received 'true' but current is 'false'`],
      [{ durable: false, autoDelete: true }, `inequivalent arg 'auto_delete' for exchange '${name}' in vhost '/': received 'true' but current is 'false'`],
      [{ durable: false, internal: true }, `inequivalent arg 'internal' for exchange '${name}' in vhost '/': received 'true' but current is 'false'`],
    ];
    for (const [opts, msg] of cases) {
      const ch = await openChannel(conn);
      await assert.rejects(ch.assertExchange(name, 'topic', opts), (e: Error & { code?: number }) => {
        assert.equal(e.code, 406);
        assert.ok(e.message.includes(`PRECONDITION_FAILED - ${msg}`), e.message);
        return true;
      });
    }
  });

  it('refuses to declare a new exchange with the reserved amq. prefix (403)', async () => {
    const { ch } = await h.channel();
    const name = `amq.warren-it-${Date.now()}`;
    await expectChannelError(ch, () => ch.assertExchange(name, 'direct'), 403,
      `ACCESS_REFUSED - exchange name '${name}' contains reserved prefix 'amq.*'`);
  });

  it('closes the connection with 503 COMMAND_INVALID on an unknown exchange type', async () => {
    const { conn, ch } = await h.channel();
    await expectConnectionError(conn, () => ch.assertExchange(h.x('badtype'), 'x-no-such-type'), 503,
      "COMMAND_INVALID - unknown exchange type 'x-no-such-type'");
  });

  it('deletes with if-unused only when there are no bindings (406 otherwise)', async () => {
    const { conn, ch } = await h.confirmChannel();
    const name = h.x('ifunused');
    await ch.assertExchange(name, 'fanout', { durable: false });
    const q = await boundQueue(ch, name, '');
    await expectChannelError(ch, () => ch.deleteExchange(name, { ifUnused: true }), 406,
      `PRECONDITION_FAILED - exchange '${name}' in vhost '/' in use`);
    const ch2 = await openChannel(conn);
    await ch2.checkExchange(name);
    await ch2.unbindQueue(q, name, '');
    await ch2.deleteExchange(name, { ifUnused: true });
    await assert.rejects(ch2.checkExchange(name), { code: 404 });
  });

  // Regression (differential testing): a binding into the exchange counted as a use.
  it('if-unused looks only at bindings from the exchange; bindings into it go with it', async () => {
    const { conn, ch } = await h.confirmChannel();
    const src = h.x('ifunused-src');
    const dst = h.x('ifunused-dst');
    await ch.assertExchange(src, 'fanout', { durable: false });
    await ch.assertExchange(dst, 'fanout', { durable: false });
    await ch.bindExchange(dst, src, '');
    await ch.deleteExchange(dst, { ifUnused: true });
    await assert.rejects((await openChannel(conn)).checkExchange(dst), { code: 404 });
    await ch.deleteExchange(src, { ifUnused: true }); // its only binding went with dst
  });

  it('deletes an exchange with its bindings; deleting a missing exchange succeeds', async () => {
    const { ch } = await h.confirmChannel();
    const name = h.x('delete');
    await ch.assertExchange(name, 'fanout', { durable: false });
    const q = await boundQueue(ch, name, '');
    await ch.deleteExchange(name);
    await ch.deleteExchange(name);
    await ch.assertExchange(name, 'fanout', { durable: false });
    await publishConfirmed(ch, name, '', ['after re-create']);
    assert.equal(await messageCount(ch, q), 0, 'the old binding went with the exchange');
  });

  it('deletes an auto-delete exchange when its last binding is removed', async () => {
    const { conn, ch } = await h.confirmChannel();
    const name = h.x('autodel');
    await ch.assertExchange(name, 'direct', { durable: false, autoDelete: true });
    await ch.checkExchange(name); // never bound: still there
    const q = await boundQueue(ch, name, 'a');
    await ch.bindQueue(q, name, 'b');
    await ch.unbindQueue(q, name, 'a');
    await ch.checkExchange(name);
    await ch.unbindQueue(q, name, 'b');
    const ch2 = await openChannel(conn);
    await assert.rejects(ch2.checkExchange(name), { code: 404 });
  });

  // Regression: only an explicit unbind used to trigger it.
  it('deletes an auto-delete exchange when its last bound queue is deleted, or its connection closes', async () => {
    const { ch } = await h.confirmChannel();
    const name = h.x('autodel-q');
    await ch.assertExchange(name, 'fanout', { durable: false, autoDelete: true });
    const q = await boundQueue(ch, name, '');
    await ch.deleteQueue(q);
    const check = await h.channel();
    await assert.rejects(check.ch.checkExchange(name), { code: 404 });

    const other = await h.channel();
    const name2 = h.x('autodel-excl');
    await other.ch.assertExchange(name2, 'fanout', { durable: false, autoDelete: true });
    const excl = (await other.ch.assertQueue('', { exclusive: true })).queue;
    await other.ch.bindQueue(excl, name2, '');
    await other.conn.close();
    const after = await h.channel();
    // RabbitMQ removes exclusive queues (and so the exchange) shortly after the connection closes.
    let gone = false;
    for (const deadline = Date.now() + 5000; !gone && Date.now() < deadline;) {
      const probe = await openChannel(after.conn);
      probe.on('error', () => {});
      gone = await probe.checkExchange(name2).then(() => false, () => true);
      if (!gone) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(gone, 'the auto-delete exchange outlived its only (exclusive) queue');
  });

  it('routes through exchange-to-exchange bindings and stops after unbind', async () => {
    const { ch } = await h.confirmChannel();
    const src = h.x('e2e-src');
    const mid = h.x('e2e-mid');
    const dst = h.x('e2e-dst');
    await ch.assertExchange(src, 'topic', { durable: false });
    await ch.assertExchange(mid, 'direct', { durable: false });
    await ch.assertExchange(dst, 'fanout', { durable: false });
    await ch.bindExchange(mid, src, 'orders.#');
    await ch.bindExchange(dst, mid, 'orders.eu');
    const viaMid = await boundQueue(ch, mid, 'orders.us');
    const viaDst = await boundQueue(ch, dst, '');
    await publishConfirmed(ch, src, 'orders.eu', ['eu']);
    await publishConfirmed(ch, src, 'orders.us', ['us']);
    await publishConfirmed(ch, src, 'refunds.eu', ['refund']);
    assert.deepEqual(texts(await drain(ch, viaMid)), ['us']);
    assert.deepEqual(texts(await drain(ch, viaDst)), ['eu']);

    await ch.unbindExchange(dst, mid, 'orders.eu');
    await publishConfirmed(ch, src, 'orders.eu', ['eu-after-unbind']);
    assert.deepEqual(texts(await drain(ch, viaDst)), []);
  });

  it('delivers one copy when a queue is reachable along several exchange paths', async () => {
    const { ch } = await h.confirmChannel();
    const src = h.x('diamond-src');
    const left = h.x('diamond-left');
    const right = h.x('diamond-right');
    await ch.assertExchange(src, 'fanout', { durable: false });
    await ch.assertExchange(left, 'fanout', { durable: false });
    await ch.assertExchange(right, 'fanout', { durable: false });
    await ch.bindExchange(left, src, '');
    await ch.bindExchange(right, src, '');
    const q = await boundQueue(ch, left, '');
    await ch.bindQueue(q, right, '');
    await publishConfirmed(ch, src, '', ['once']);
    assert.deepEqual(texts(await drain(ch, q)), ['once']);
  });

  it('refuses publishes to an internal exchange (403) but routes into it from other exchanges', async () => {
    const { conn, ch } = await h.confirmChannel();
    const internal = h.x('internal');
    const front = h.x('front');
    await ch.assertExchange(internal, 'fanout', { durable: false, internal: true });
    await ch.assertExchange(front, 'fanout', { durable: false });
    await ch.bindExchange(internal, front, '');
    const q = await boundQueue(ch, internal, '');
    await publishConfirmed(ch, front, '', ['via front']);
    assert.deepEqual(texts(await drain(ch, q)), ['via front']);

    const pub = await openChannel(conn);
    pub.publish(internal, '', Buffer.from('direct to internal'));
    assertAmqpError(await closedWith(pub), 403,
      `ACCESS_REFUSED - cannot publish to internal exchange '${internal}' in vhost '/'`);
    assert.deepEqual(texts(await drain(ch, q)), [], 'nothing got through');
  });

  it('sends unroutable messages to the alternate exchange', async () => {
    const { ch } = await h.confirmChannel();
    const ae = h.x('ae');
    const main = h.x('with-ae');
    await ch.assertExchange(ae, 'fanout', { durable: false });
    await ch.assertExchange(main, 'direct', { durable: false, alternateExchange: ae });
    const routed = await boundQueue(ch, main, 'known');
    const unrouted = await boundQueue(ch, ae, '');
    const returned: string[] = [];
    ch.on('return', (m) => returned.push(m.content.toString()));
    await publishConfirmed(ch, main, 'known', ['routed']);
    await publishConfirmed(ch, main, 'unknown', ['to-ae'], { mandatory: true });
    assert.deepEqual(texts(await drain(ch, routed)), ['routed']);
    assert.deepEqual(texts(await drain(ch, unrouted)), ['to-ae']);
    assert.deepEqual(returned, [], 'a message taken by the alternate exchange is not returned');
  });

  it('fails redeclare with a different alternate-exchange argument with 406', async () => {
    const { ch } = await h.channel();
    const name = h.x('ae-redeclare');
    await ch.assertExchange(name, 'direct', { durable: false });
    await expectChannelError(ch, () => ch.assertExchange(name, 'direct', { durable: false, alternateExchange: 'foo' }), 406,
      `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${name}' in vhost '/': received the value 'foo' of type 'longstr' but current is none`);
  });
});
