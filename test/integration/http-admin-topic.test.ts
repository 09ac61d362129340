// Topic permissions set through the management API and enforced as RabbitMQ enforces them: on a
// topic exchange, publishing checks the routing key against `write`, binding and unbinding
// (queue or exchange) check the binding key against `read`; {username} and {vhost} are expanded;
// an empty pattern allows only the empty key; other exchange types and exchanges without a topic
// permission are not checked. Refusals are 403 ACCESS_REFUSED with RabbitMQ's text.
// Runs against the reference RabbitMQ too (WARREN_TEST_URL=amqp://guest:guest@127.0.0.1:5673/).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { api, apiOk, enc } from '../helpers/admin-api.js';
import { assertAmqpError, closedWith, expectChannelError, openChannel, openConfirmChannel, suffix, withTimeout } from '../helpers/amqp.js';

const sfx = suffix();
const V = `api-admin-topic-${sfx}`;
const U = `topic-user-${sfx}`;
const refusal = (key: string, exchange = 'amq.topic') =>
  `ACCESS_REFUSED - access to topic '${key}' in exchange '${exchange}' in vhost '${V}' refused for user '${U}'`;

/** Publishes on a confirm channel and expects the channel to be closed with the topic refusal. */
async function publishRefused(ch: ConfirmChannel, key: string): Promise<void> {
  const closed = closedWith(ch);
  ch.publish('amq.topic', key, Buffer.from('refused'));
  assertAmqpError(await closed, 403, refusal(key));
}

describe('topic permissions (management API, enforced on AMQP)', () => {
  let b: TestBroker;
  let conn: ChannelModel;
  let guest: ChannelModel;
  before(async () => {
    b = await startBroker();
    await apiOk(b.httpUrl, 'PUT', `vhosts/${enc(V)}`, { body: {} });
    await apiOk(b.httpUrl, 'PUT', `users/${enc(U)}`, { body: { password: 'pw', tags: '' } });
    await apiOk(b.httpUrl, 'PUT', `permissions/${enc(V)}/${enc(U)}`, { body: { configure: '.*', write: '.*', read: '.*' } });
    await apiOk(b.httpUrl, 'PUT', `topic-permissions/${enc(V)}/${enc(U)}`,
      { body: { exchange: 'amq.topic', write: '^{username}\\.', read: '^r\\.{vhost}\\.' } });
    conn = await amqp.connect(`amqp://${enc(U)}:pw@${b.host}:${b.port}/${enc(V)}`);
    conn.on('error', () => {});
    guest = await amqp.connect(`${b.url}/${enc(V)}`);
  });
  after(async () => {
    await conn?.close().catch(() => {});
    await guest?.close().catch(() => {});
    if (b.external) {
      await api(b.httpUrl, 'DELETE', `users/${enc(U)}`);
      await api(b.httpUrl, 'DELETE', `vhosts/${enc(V)}`);
    }
    await b.stop();
  });

  it('the API shows it with {username} and {vhost} as written', async () => {
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', `topic-permissions/${enc(V)}/${enc(U)}`)).body,
      [{ user: U, vhost: V, exchange: 'amq.topic', write: '^{username}\\.', read: '^r\\.{vhost}\\.' }]);
    assert.deepEqual((await api(b.httpUrl, 'PUT', `topic-permissions/${enc(V)}/${enc(U)}`, { body: { write: 'x', read: 'y' } })).body,
      { error: 'bad_request', reason: '[{key_missing,exchange}]' });
  });

  it('publishing with a key matching write (after {username} expansion) is routed', async () => {
    const g = await openChannel(guest);
    const { queue } = await g.assertQueue('', { exclusive: true });
    await g.bindQueue(queue, 'amq.topic', `${U}.#`);
    const ch = await openConfirmChannel(conn);
    ch.publish('amq.topic', `${U}.orders`, Buffer.from('ok'));
    await withTimeout(ch.waitForConfirms(), 'confirm');
    const got = await g.get(queue, { noAck: true });
    assert.ok(got && got.content.toString() === 'ok');
    await ch.close();
  });

  it('publishing with a key not matching write closes the channel with 403', async () => {
    const ch = await openConfirmChannel(conn);
    await publishRefused(ch, 'someone-else.orders');
  });

  it('direct exchanges and topic exchanges without a topic permission are not checked', async () => {
    const g = await openChannel(guest);
    await g.assertExchange('free-topic', 'topic', { autoDelete: false, durable: false });
    const ch = await openConfirmChannel(conn);
    ch.publish('amq.direct', 'anything', Buffer.from('x'));
    ch.publish('free-topic', 'anything.at.all', Buffer.from('x'));
    await withTimeout(ch.waitForConfirms(), 'confirms');
    await ch.close();
    await g.deleteExchange('free-topic');
  });

  it('binding and unbinding check the binding key against read ({vhost} expanded), for queues and exchanges', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', `r.${V}.ok`);
    await ch.unbindQueue(queue, 'amq.topic', `r.${V}.ok`);
    await expectChannelError(ch, () => ch.bindQueue(queue, 'amq.topic', 'zzz'), 403, refusal('zzz'));
    const ch2 = await openChannel(conn);
    const q2 = (await ch2.assertQueue('', { exclusive: true })).queue;
    await expectChannelError(ch2, () => ch2.unbindQueue(q2, 'amq.topic', 'zzz'), 403, refusal('zzz'));
    const ch3 = await openChannel(conn);
    await expectChannelError(ch3, () => ch3.bindExchange('amq.direct', 'amq.topic', 'zzz'), 403, refusal('zzz'));
  });

  // (RabbitMQ caches a channel's recent topic checks, so a change may not reach a channel that
  // already used the key; Warren applies it at once. New channels see it on both.)
  it('a change through the API applies to new channels; an empty pattern allows only the empty key; clearing lifts the check', async () => {
    await apiOk(b.httpUrl, 'PUT', `topic-permissions/${enc(V)}/${enc(U)}`, { body: { exchange: 'amq.topic', write: '', read: '' } });
    const ch = await openConfirmChannel(conn);
    ch.publish('amq.topic', '', Buffer.from('2'));
    await withTimeout(ch.waitForConfirms(), 'confirm');
    await publishRefused(ch, `${U}.a`);
    assert.equal((await api(b.httpUrl, 'DELETE', `topic-permissions/${enc(V)}/${enc(U)}`)).status, 204);
    assert.equal((await api(b.httpUrl, 'GET', `topic-permissions/${enc(V)}/${enc(U)}`)).status, 404);
    const ch2 = await openConfirmChannel(conn);
    ch2.publish('amq.topic', 'anyone.at.all', Buffer.from('4'));
    await withTimeout(ch2.waitForConfirms(), 'confirm');
    await ch2.close();
  });
});
