// Access control as RabbitMQ enforces it: vhost access at connection.open (530 NOT_ALLOWED),
// the configure / write / read regexes of a user's permissions on every operation (403
// ACCESS_REFUSED with RabbitMQ's wording, which users match on), the loopback-only guest user,
// and the user_id property check. The same users, vhosts and permissions are loaded into Warren
// from a definitions file, or created on an external RabbitMQ through its management API.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startBrokerWithAccess, nonLoopbackIPv4, type AccessBroker, type AccessSetup } from '../helpers/access.js';
import {
  Harness, consume, closedWith, assertAmqpError, expectChannelError, openChannel, suffix, texts, withTimeout,
  type Channel, type ChannelModel,
} from '../helpers/amqp.js';
import { RawClient, ServerClosedError } from '../helpers/raw-amqp.js';

const sfx = suffix();
const V = `warren-it-perm-${sfx}`;
const PW = 'perm-test-secret';
const U = {
  /** No permissions anywhere. */
  none: `u-none-${sfx}`,
  /** configure only on names containing "ok." (unanchored), write and read everything. */
  cfg: `u-cfg-${sfx}`,
  /** write only on names starting "w.", configure and read everything. */
  write: `u-write-${sfx}`,
  /** read only on names starting "r.", configure and write everything. */
  read: `u-read-${sfx}`,
  /** Empty strings for all three: may open the vhost, may do nothing in it. */
  empty: `u-empty-${sfx}`,
  /** ".*" for all three. */
  all: `u-all-${sfx}`,
};
const setup: AccessSetup = {
  users: Object.values(U).map((name) => ({ name, password: PW, tags: '' })),
  vhosts: [V],
  permissions: [
    { user: 'guest', vhost: V, configure: '.*', write: '.*', read: '.*' },
    { user: U.cfg, vhost: V, configure: 'ok\\.', write: '.*', read: '.*' },
    { user: U.write, vhost: V, configure: '.*', write: '^w\\.', read: '.*' },
    { user: U.read, vhost: V, configure: '.*', write: '.*', read: '^r\\.' },
    { user: U.empty, vhost: V, configure: '', write: '', read: '' },
    { user: U.all, vhost: V, configure: '.*', write: '.*', read: '.*' },
  ],
};

const refused = (kind: 'exchange' | 'queue', name: string, user: string) =>
  `ACCESS_REFUSED - access to ${kind} '${name}' in vhost '${V}' refused for user '${user}'`;

describe('permissions', { timeout: 60_000 }, () => {
  let ab: AccessBroker;
  const h = new Harness(() => ab.broker.url);
  /** Names of resources created in V by the admin (guest), unique per file. */
  const n = (name: string) => `${name}.${sfx}`;

  before(async () => {
    ab = await startBrokerWithAccess(setup);
    // Resources the restricted users act on, made by guest (full permissions on V).
    const conn = await h.connectUrl(ab.url('guest', 'guest', V));
    const ch = await openChannel(conn);
    for (const x of ['no.x', 'ok.x', 'w.x', 'r.x', 'nr.x', 'plain.x']) await ch.assertExchange(n(x), 'fanout', { durable: false });
    for (const q of ['no.q', 'ok.q', 'w.q', 'r.q', 'nr.q', 'plain.q']) await ch.assertQueue(n(q), { durable: false });
    await h.closeConnections();
  });
  afterEach(async () => { await h.closeConnections(); });
  after(async () => { await h.closeConnections(); await ab?.teardown(); });

  /** A connection as `user` to vhost V and a channel on it. */
  const as = async (user: string): Promise<{ conn: ChannelModel; ch: Channel }> => {
    const conn = await h.connectUrl(ab.url(user, user === 'guest' ? 'guest' : PW, V));
    return { conn, ch: await openChannel(conn) };
  };

  /** Runs `action` on a fresh channel of `user` and expects a 403 naming the resource. */
  const expectRefused = async (user: string, action: (ch: Channel) => Promise<unknown>, kind: 'exchange' | 'queue', name: string) => {
    const { ch } = await as(user);
    await expectChannelError(ch, () => action(ch), 403, refused(kind, name, user));
  };

  /** A publish is refused asynchronously: the channel is closed with 403. */
  const expectPublishRefused = async (user: string, exchange: string, routingKey: string, shownAs = exchange) => {
    const { ch } = await as(user);
    ch.publish(exchange, routingKey, Buffer.from('refused'));
    assertAmqpError(await closedWith(ch), 403, refused('exchange', shownAs, user));
  };

  /** Opens vhost V (or `vhost`) as `user` with a raw client; resolves with the close it got, if any. */
  const rawOpen = async (user: string, password: string, vhost: string, host = ab.broker.host) => {
    const c = await RawClient.connect(ab.broker.port, host);
    try {
      await c.handshake({ user, password, vhost });
      return { client: c, error: undefined };
    } catch (e) {
      return { client: c, error: e as Error };
    }
  };

  describe('vhost access', () => {
    it('refuses connection.open with 530 for a user without permissions on the vhost', async () => {
      for (const vhost of [V, '/']) {
        const { client, error } = await rawOpen(U.none, PW, vhost);
        try {
          assert.ok(error instanceof ServerClosedError, `expected connection.close, got ${error?.message ?? 'open-ok'}`);
          assert.equal(error.code, 530);
          assert.equal(error.text, `NOT_ALLOWED - access to vhost '${vhost}' refused for user '${U.none}'`);
          assert.deepEqual([error.classId, error.methodId], [10, 40], 'connection.open');
          client.sendCloseOk();
          await client.expectSocketClosed();
        } finally {
          client.destroy();
        }
      }
    });

    it('refuses connection.open with 530 for a vhost that does not exist', async () => {
      const missing = `warren-it-no-such-vhost-${sfx}`;
      const { client, error } = await rawOpen('guest', 'guest', missing);
      try {
        assert.ok(error instanceof ServerClosedError, `expected connection.close, got ${error?.message ?? 'open-ok'}`);
        assert.equal(error.code, 530);
        assert.equal(error.text, `NOT_ALLOWED - vhost ${missing} not found`);
        client.sendCloseOk();
        await client.expectSocketClosed();
      } finally {
        client.destroy();
      }
    });

    it('lets a user whose permissions are all empty strings open the vhost', async () => {
      const { conn } = await as(U.empty);
      assert.ok(conn);
    });
  });

  describe('configure', () => {
    it('refuses exchange.declare, queue.declare, exchange.delete and queue.delete of non-matching names', async () => {
      await expectRefused(U.cfg, (ch) => ch.assertExchange(n('no.new-x'), 'direct', { durable: false }), 'exchange', n('no.new-x'));
      await expectRefused(U.cfg, (ch) => ch.assertQueue(n('no.new-q'), { durable: false }), 'queue', n('no.new-q'));
      await expectRefused(U.cfg, (ch) => ch.deleteExchange(n('no.x')), 'exchange', n('no.x'));
      await expectRefused(U.cfg, (ch) => ch.deleteQueue(n('no.q')), 'queue', n('no.q'));
      // Nothing was created or deleted.
      const { ch } = await as('guest');
      await ch.checkExchange(n('no.x'));
      await ch.checkQueue(n('no.q'));
      await assert.rejects(ch.checkQueue(n('no.new-q')), /NOT_FOUND/);
    });

    it('allows them for matching names (the regex is not anchored)', async () => {
      const { ch } = await as(U.cfg);
      for (const name of [n('ok.cfg-x'), n('pre-ok.cfg-x')]) {
        await ch.assertExchange(name, 'direct', { durable: false });
        await ch.deleteExchange(name);
      }
      for (const name of [n('ok.cfg-q'), n('pre-ok.cfg-q')]) {
        await ch.assertQueue(name, { durable: false });
        await ch.deleteQueue(name);
      }
    });

    it('passive declares need no configure permission', async () => {
      const { ch } = await as(U.cfg);
      await ch.checkExchange(n('no.x'));
      assert.equal((await ch.checkQueue(n('no.q'))).queue, n('no.q'));
    });
  });

  describe('write', () => {
    it('refuses basic.publish to an exchange without write permission', async () => {
      await expectPublishRefused(U.write, n('r.x'), '');
    });

    it('checks a publish to the default exchange as amq.default', async () => {
      await expectPublishRefused(U.write, '', n('w.q'), 'amq.default');
    });

    it('allows publishing to an exchange with write permission', async () => {
      const admin = await as('guest');
      await admin.ch.bindQueue(n('w.q'), n('w.x'), '');
      const { ch } = await as(U.write);
      const c = await consume(ch, n('w.q'), { noAck: true });
      ch.publish(n('w.x'), '', Buffer.from('written'));
      assert.deepEqual(texts(await c.take(1)), ['written']);
    });

    it('queue.bind and queue.unbind need write on the queue and read on the exchange', async () => {
      // write: only "w." names; read: everything.
      await expectRefused(U.write, (ch) => ch.bindQueue(n('plain.q'), n('w.x'), 'k'), 'queue', n('plain.q'));
      await expectRefused(U.write, (ch) => ch.unbindQueue(n('plain.q'), n('w.x'), 'k'), 'queue', n('plain.q'));
      // read: only "r." names; write: everything.
      await expectRefused(U.read, (ch) => ch.bindQueue(n('plain.q'), n('nr.x'), 'k'), 'exchange', n('nr.x'));
      await expectRefused(U.read, (ch) => ch.unbindQueue(n('plain.q'), n('nr.x'), 'k'), 'exchange', n('nr.x'));
      // Both granted.
      const w = await as(U.write);
      await w.ch.bindQueue(n('w.q'), n('plain.x'), 'k');
      await w.ch.unbindQueue(n('w.q'), n('plain.x'), 'k');
      const r = await as(U.read);
      await r.ch.bindQueue(n('plain.q'), n('r.x'), 'k');
      await r.ch.unbindQueue(n('plain.q'), n('r.x'), 'k');
    });

    it('exchange.bind and exchange.unbind need write on the destination and read on the source', async () => {
      await expectRefused(U.write, (ch) => ch.bindExchange(n('plain.x'), n('w.x'), 'k'), 'exchange', n('plain.x'));
      await expectRefused(U.write, (ch) => ch.unbindExchange(n('plain.x'), n('w.x'), 'k'), 'exchange', n('plain.x'));
      await expectRefused(U.read, (ch) => ch.bindExchange(n('plain.x'), n('nr.x'), 'k'), 'exchange', n('nr.x'));
      await expectRefused(U.read, (ch) => ch.unbindExchange(n('plain.x'), n('nr.x'), 'k'), 'exchange', n('nr.x'));
      const w = await as(U.write);
      await w.ch.bindExchange(n('w.x'), n('plain.x'), 'k');
      await w.ch.unbindExchange(n('w.x'), n('plain.x'), 'k');
      const r = await as(U.read);
      await r.ch.bindExchange(n('plain.x'), n('r.x'), 'k');
      await r.ch.unbindExchange(n('plain.x'), n('r.x'), 'k');
    });

    it('declaring a queue with a dead-letter exchange needs write on that exchange and read on the queue', async () => {
      await expectRefused(U.write, (ch) => ch.assertQueue(n('w.dlx-q1'), { durable: false, deadLetterExchange: n('r.x') }),
        'exchange', n('r.x'));
      await expectRefused(U.read, (ch) => ch.assertQueue(n('nr.dlx-q2'), { durable: false, deadLetterExchange: n('r.x') }),
        'queue', n('nr.dlx-q2'));
      const { ch } = await as(U.write);
      await ch.assertQueue(n('w.dlx-q3'), { durable: false, deadLetterExchange: n('w.x') });
      await ch.deleteQueue(n('w.dlx-q3'));
    });

    it('declaring an exchange with an alternate exchange needs write on it and read on the exchange', async () => {
      await expectRefused(U.write, (ch) => ch.assertExchange(n('w.ae-x1'), 'direct', { durable: false, alternateExchange: n('r.x') }),
        'exchange', n('r.x'));
      await expectRefused(U.read, (ch) => ch.assertExchange(n('nr.ae-x2'), 'direct', { durable: false, alternateExchange: n('r.x') }),
        'exchange', n('nr.ae-x2'));
      const { ch } = await as(U.write);
      await ch.assertExchange(n('w.ae-x3'), 'direct', { durable: false, alternateExchange: n('w.x') });
      await ch.deleteExchange(n('w.ae-x3'));
    });
  });

  describe('read', () => {
    it('refuses basic.consume, basic.get and queue.purge without read on the queue', async () => {
      await expectRefused(U.read, (ch) => ch.consume(n('nr.q'), () => {}), 'queue', n('nr.q'));
      await expectRefused(U.read, (ch) => ch.get(n('nr.q')), 'queue', n('nr.q'));
      await expectRefused(U.read, (ch) => ch.purgeQueue(n('nr.q')), 'queue', n('nr.q'));
    });

    it('allows them with read on the queue', async () => {
      const { ch } = await as(U.read);
      ch.sendToQueue(n('r.q'), Buffer.from('one'));
      ch.sendToQueue(n('r.q'), Buffer.from('two'));
      const got = await withTimeout((async () => {
        for (;;) {
          const m = await ch.get(n('r.q'), { noAck: true });
          if (m) return m;
        }
      })(), 'basic.get');
      assert.equal(got.content.toString(), 'one');
      assert.equal((await ch.purgeQueue(n('r.q'))).messageCount, 1);
      const c = await consume(ch, n('r.q'), { noAck: true });
      ch.sendToQueue(n('r.q'), Buffer.from('three'));
      assert.deepEqual(texts(await c.take(1)), ['three']);
    });
  });

  describe('empty and match-all permissions', () => {
    it('an empty string denies every operation of its kind', async () => {
      await expectRefused(U.empty, (ch) => ch.assertExchange(n('any-x'), 'direct', { durable: false }), 'exchange', n('any-x'));
      await expectRefused(U.empty, (ch) => ch.assertQueue(n('any-q'), { durable: false }), 'queue', n('any-q'));
      await expectPublishRefused(U.empty, '', n('plain.q'), 'amq.default');
      await expectPublishRefused(U.empty, n('plain.x'), '');
      await expectRefused(U.empty, (ch) => ch.get(n('plain.q')), 'queue', n('plain.q'));
      await expectRefused(U.empty, (ch) => ch.consume(n('plain.q'), () => {}), 'queue', n('plain.q'));
      await expectRefused(U.empty, (ch) => ch.bindQueue(n('plain.q'), n('plain.x'), ''), 'queue', n('plain.q'));
    });

    it('".*" allows everything', async () => {
      const { ch } = await as(U.all);
      const x = n('all-x');
      const q = n('all-q');
      await ch.assertExchange(x, 'fanout', { durable: false });
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, x, '');
      const c = await consume(ch, q, { noAck: true });
      ch.publish(x, '', Buffer.from('via exchange'));
      ch.sendToQueue(q, Buffer.from('via default'));
      assert.deepEqual(texts(await c.take(2)), ['via exchange', 'via default']);
      await ch.purgeQueue(q);
      await ch.unbindQueue(q, x, '');
      await ch.deleteQueue(q);
      await ch.deleteExchange(x);
    });
  });

  describe('user_id', () => {
    it('refuses a publish whose user_id is not the authenticated user with 406', async () => {
      const { ch } = await as(U.all);
      ch.publish('', n('plain.q'), Buffer.from('spoofed'), { userId: 'someone-else' });
      assertAmqpError(await closedWith(ch), 406,
        `PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was '${U.all}'`);
    });

    it('accepts a publish whose user_id is the authenticated user', async () => {
      const { ch } = await as(U.all);
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      const c = await consume(ch, q, { noAck: true });
      ch.sendToQueue(q, Buffer.from('honest'), { userId: U.all });
      const [m] = await c.take(1);
      assert.equal(m.properties.userId, U.all);
    });
  });
});

describe('the loopback-only guest user', { timeout: 30_000 }, () => {
  let broker: TestBroker;
  let ab: AccessBroker | undefined;
  const ip = nonLoopbackIPv4();
  const user = `u-remote-${sfx}`;

  before(async () => {
    if (process.env.WARREN_TEST_URL) {
      ab = await startBrokerWithAccess({
        users: [{ name: user, password: PW }], vhosts: [],
        permissions: [{ user, vhost: '/', configure: '.*', write: '.*', read: '.*' }],
      });
      broker = ab.broker;
    } else {
      // Listen on every address, so the machine's own non-loopback address reaches the broker.
      broker = await startBroker({
        args: ['--bind', '0.0.0.0'],
        definitions: {
          users: [{ name: user, password: PW, tags: '' }],
          permissions: [{ user, vhost: '/', configure: '.*', write: '.*', read: '.*' }],
        },
      });
    }
  });
  after(async () => { if (ab) await ab.teardown(); else await broker?.stop(); });

  /** A raw connection to the broker through the machine's non-loopback address. */
  const connectRemote = async (): Promise<RawClient> => {
    assert.ok(ip, 'this machine has no non-loopback IPv4 address: cannot check the loopback restriction');
    try {
      return await RawClient.connect(broker.port, ip);
    } catch (e) {
      throw new Error(`cannot reach the broker at ${ip}:${broker.port} (${(e as Error).message}); `
        + 'this test needs a broker listening on a non-loopback address');
    }
  };

  it('refuses guest connecting from a non-loopback address with 403', async () => {
    const c = await connectRemote();
    try {
      assert.notEqual(c.socket.localAddress, '127.0.0.1');
      await assert.rejects(c.handshake({ user: 'guest', password: 'guest' }), (e: Error) => {
        assert.ok(e instanceof ServerClosedError, `expected connection.close, got: ${e.message}`);
        assert.equal(e.code, 403);
        assert.equal(e.text, 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.');
        return true;
      });
      await c.expectSocketClosed(5000);
    } finally {
      c.destroy();
    }
  });

  it('lets other users connect from that address, and guest through loopback', async () => {
    const remote = await connectRemote();
    try {
      await remote.handshake({ user, password: PW });
    } finally {
      await remote.close();
    }
    const local = await RawClient.connect(broker.port, '127.0.0.1');
    try {
      await local.handshake({ user: 'guest', password: 'guest' });
    } finally {
      await local.close();
    }
  });
});
