// Durable exchanges, queues and bindings survive a clean restart and a kill -9; transient ones,
// exclusive queues, deleted queues and removed bindings do not come back. An auto-delete durable
// queue that never had a consumer survives, still auto-delete.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel } from 'amqplib';
import {
  bodiesOf, channel, closeAll, confirmChannel, connect, drain, publishConfirmed, restartBroker, startWarren,
  type Conn, type RestartKind, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];

/**
 * 'ok' if a declare (passive: "does it exist?", or active: "is this equivalent?") succeeds, else
 * the reply code it failed with (404 not found, 406 inequivalent). Uses a throwaway channel.
 */
async function outcome(conn: Conn, declare: (ch: Channel) => Promise<unknown>): Promise<'ok' | number | undefined> {
  const ch = await channel(conn);
  try {
    await declare(ch);
    await ch.close();
    return 'ok';
  } catch (e) {
    return (e as { code?: number }).code;
  }
}

describe('durable topology', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  for (const kind of ['clean', 'crash'] as RestartKind[]) {
    it(`keeps durable exchanges, queues and bindings across a ${kind} restart, and only those`, async () => {
      const broker = await startWarren();
      brokers.push(broker);
      const conn = await connect(broker.url);
      conns.push(conn);
      const ch = await channel(conn);

      // Durable: a topic exchange, a fanout exchange bound to it (exchange-to-exchange), queues.
      await ch.assertExchange('d.topic', 'topic', { durable: true });
      await ch.assertExchange('d.fanout', 'fanout', { durable: true });
      await ch.assertQueue('d.q', { durable: true, arguments: { 'x-max-length': 1_000_000 } });
      await ch.assertQueue('d.q2', { durable: true });
      await ch.assertQueue('d.autodelete', { durable: true, autoDelete: true });
      await ch.bindQueue('d.q', 'd.topic', 'a.#');
      await ch.bindExchange('d.fanout', 'd.topic', 'e2e.*');
      await ch.bindQueue('d.q2', 'd.fanout', '');
      await ch.bindQueue('d.autodelete', 'd.topic', 'auto');
      // Removed before the restart: must not come back.
      await ch.bindQueue('d.q', 'd.topic', 'unbound');
      await ch.unbindQueue('d.q', 'd.topic', 'unbound');
      await ch.assertQueue('d.deleted', { durable: true });
      await ch.deleteQueue('d.deleted');
      await ch.assertExchange('d.deleted-x', 'direct', { durable: true });
      await ch.deleteExchange('d.deleted-x');
      // Transient: gone after any restart, and so are bindings involving them.
      await ch.assertExchange('t.direct', 'direct', { durable: false });
      await ch.assertQueue('t.q', { durable: false });
      await ch.bindQueue('t.q', 'd.topic', 't.key');
      await ch.bindQueue('d.q', 't.direct', 'from-transient');
      // Exclusive (even durable) queues belong to their connection and never survive it.
      await ch.assertQueue('x.q', { durable: true, exclusive: true });
      await ch.bindQueue('x.q', 'd.topic', 'x.key');

      await restartBroker(broker, kind);
      const c2 = await connect(broker.url);
      conns.push(c2);

      assert.equal(await outcome(c2, (c) => c.checkExchange('d.topic')), 'ok', 'durable exchange d.topic');
      assert.equal(await outcome(c2, (c) => c.checkExchange('d.fanout')), 'ok', 'durable exchange d.fanout');
      assert.equal(await outcome(c2, (c) => c.checkQueue('d.q')), 'ok', 'durable queue d.q');
      assert.equal(await outcome(c2, (c) => c.checkQueue('d.q2')), 'ok', 'durable queue d.q2');
      assert.equal(await outcome(c2, (c) => c.checkQueue('d.autodelete')), 'ok', 'durable auto-delete queue without consumers');
      assert.equal(await outcome(c2, (c) => c.checkQueue('d.deleted')), 404, 'a deleted durable queue came back');
      assert.equal(await outcome(c2, (c) => c.checkExchange('d.deleted-x')), 404, 'a deleted durable exchange came back');
      assert.equal(await outcome(c2, (c) => c.checkExchange('t.direct')), 404, 'transient exchange survived');
      assert.equal(await outcome(c2, (c) => c.checkQueue('t.q')), 404, 'transient queue survived');
      assert.equal(await outcome(c2, (c) => c.checkQueue('x.q')), 404, 'exclusive queue survived');

      // Properties and arguments survived: equal redeclares pass, different ones are refused.
      assert.equal(await outcome(c2, (c) => c.assertExchange('d.topic', 'topic', { durable: true })), 'ok');
      assert.equal(await outcome(c2, (c) => c.assertExchange('d.topic', 'direct', { durable: true })), 406, 'exchange type lost');
      assert.equal(await outcome(c2, (c) => c.assertQueue('d.q', { durable: true, arguments: { 'x-max-length': 1_000_000 } })), 'ok');
      assert.equal(await outcome(c2, (c) => c.assertQueue('d.q', { durable: true, arguments: { 'x-max-length': 5 } })), 406, 'queue arguments lost');
      assert.equal(await outcome(c2, (c) => c.assertQueue('d.q', { durable: false })), 406, 'queue durability lost');
      assert.equal(await outcome(c2, (c) => c.assertQueue('d.autodelete', { durable: true, autoDelete: false })), 406, 'auto-delete flag lost');

      // Re-create the transient ones fresh: their old bindings must not be resurrected with them.
      const ch2 = await channel(c2);
      await ch2.assertExchange('t.direct', 'direct', { durable: false });
      await ch2.assertQueue('t.q', { durable: false });
      await ch2.assertQueue('x.q', { durable: true, exclusive: true });

      const pub = await confirmChannel(c2);
      const send = (exchange: string, key: string) => publishConfirmed(pub, exchange, key, [{ body: `${exchange}/${key}` }]);
      await send('d.topic', 'a.b.c');        // topic binding a.# -> d.q (a direct exchange would not match)
      await send('d.topic', 'e2e.x');        // d.topic -> d.fanout -> d.q2
      await send('d.topic', 'auto');         // -> d.autodelete
      await send('d.topic', 'unbound');      // removed binding: nowhere
      await send('d.topic', 't.key');        // binding to the old transient queue: nowhere
      await send('d.topic', 'x.key');        // binding to the old exclusive queue: nowhere
      await send('t.direct', 'from-transient'); // binding of the old transient exchange: nowhere

      assert.deepEqual(bodiesOf(await drain(c2, 'd.q')), ['d.topic/a.b.c']);
      assert.deepEqual(bodiesOf(await drain(c2, 'd.q2')), ['d.topic/e2e.x']);
      // (A consumer would make the auto-delete queue go away when cancelled: use basic.get.)
      const got = await ch2.get('d.autodelete', { noAck: true });
      assert.equal(got && got.content.toString(), 'd.topic/auto');
      assert.equal(await ch2.get('d.autodelete', { noAck: true }), false);
      assert.deepEqual(bodiesOf(await drain(c2, 't.q')), [], 'a binding to a transient queue survived');
      assert.deepEqual(bodiesOf(await drain(c2, 'x.q')), [], 'a binding to an exclusive queue survived');
      await closeAll(conn, c2);
      await broker.stop();
    });
  }

  it('keeps a topology declared after a restart across the next restart', async () => {
    // The journal must keep accepting changes after recovery (not only replay the old ones).
    const broker = await startWarren();
    brokers.push(broker);
    let conn = await connect(broker.url);
    await (await channel(conn)).assertQueue('first', { durable: true });
    await closeAll(conn);
    await restartBroker(broker, 'crash');
    conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertExchange('second-x', 'fanout', { durable: true });
    await ch.assertQueue('second', { durable: true });
    await ch.bindQueue('second', 'second-x', '');
    await ch.deleteQueue('first');
    await closeAll(conn);
    await restartBroker(broker, 'crash');
    conn = await connect(broker.url);
    conns.push(conn);
    assert.equal(await outcome(conn, (c) => c.checkQueue('first')), 404, 'queue deleted after the first restart came back');
    assert.equal(await outcome(conn, (c) => c.checkQueue('second')), 'ok');
    await publishConfirmed(await confirmChannel(conn), 'second-x', '', [{ body: 'via binding' }]);
    assert.deepEqual(bodiesOf(await drain(conn, 'second')), ['via binding']);
    await closeAll(conn);
    await broker.stop();
  });
});

describe('access definitions', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  const definitions = {
    users: [{ name: 'alice', password: 'wonderland', tags: '' }],
    vhosts: [{ name: 'rabbit-hole' }],
    permissions: [{ user: 'alice', vhost: 'rabbit-hole', configure: '.*', write: '.*', read: '.*' }],
  };
  const login = async (broker: TestBroker, user: string, pass: string, vhost: string): Promise<'ok' | string> => {
    try {
      const c = await connect(`amqp://${user}:${pass}@127.0.0.1:${broker.port}/${encodeURIComponent(vhost)}`);
      await closeAll(c);
      return 'ok';
    } catch (e) {
      return String((e as Error).message);
    }
  };

  for (const kind of ['clean', 'crash'] as RestartKind[]) {
    it(`keeps users, vhosts and permissions from a definitions file after a ${kind} stop, without the file`, async () => {
      const first = await startWarren({ definitions });
      brokers.push(first);
      assert.equal(await login(first, 'alice', 'wonderland', 'rabbit-hole'), 'ok', 'the definitions file was not loaded');
      await first.stop(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');

      const second = await startWarren({ dataDir: first.dataDir });
      brokers.push(second);
      assert.equal(await login(second, 'alice', 'wonderland', 'rabbit-hole'), 'ok', 'user, vhost or permission lost');
      assert.notEqual(await login(second, 'alice', 'wrong-password', 'rabbit-hole'), 'ok', 'the password was not kept');
      assert.notEqual(await login(second, 'alice', 'wonderland', '/'), 'ok', 'alice got access to / she never had');
      assert.equal(await login(second, 'guest', 'guest', '/'), 'ok', 'the default user was lost');
      await second.stop();
    });
  }
});
