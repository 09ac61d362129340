// Vhost limits: max-connections refuses connection.open with 530 and max-queues refuses
// declaring a new queue with 406, in RabbitMQ's words; -1 or no limit means none; the endpoints'
// shapes, validation and administrator-only changes.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, expectChannelError, openChannel, suffix } from '../helpers/amqp.js';
import { RawClient, ServerClosedError } from '../helpers/raw-amqp.js';
import { Policies } from '../helpers/policies.js';
import { type AccessBroker, startBrokerWithAccess } from '../helpers/access.js';

describe('vhost limits', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const pol = new Policies(() => broker.httpUrl);
  const vhost = `limits-${suffix()}`;
  const enc = encodeURIComponent(vhost);

  let access: AccessBroker;

  before(async () => {
    access = await startBrokerWithAccess({ users: [], vhosts: [vhost], permissions: [{ user: 'guest', vhost, configure: '.*', write: '.*', read: '.*' }] });
    broker = access.broker;
  });
  afterEach(async () => {
    await h.closeConnections();
    for (const name of ['max-connections', 'max-queues']) await pol.call('DELETE', `vhost-limits/${enc}/${name}`);
  });
  after(async () => {
    await h.cleanup();
    await access?.teardown();
  });

  const openRaw = () => RawClient.open(broker.port, '127.0.0.1', { vhost });
  const refusedWith = async (max: number) => {
    await assert.rejects(openRaw(), (e: unknown) => {
      assert.ok(e instanceof ServerClosedError, String(e));
      assert.equal(e.code, 530);
      assert.equal(e.text, `NOT_ALLOWED - access to vhost '${vhost}' refused for user 'guest': connection limit (${max}) is reached`);
      return true;
    });
  };

  it('max-connections: connections beyond the limit are refused with 530; closing one makes room', async () => {
    await pol.setLimit(vhost, 'max-connections', 2);
    const first = await h.connectUrl(h.brokerUrl('', vhost));
    await h.connectUrl(h.brokerUrl('', vhost));
    await refusedWith(2);
    // amqplib sees the refusal as a failed connect.
    await assert.rejects(amqp.connect(h.brokerUrl('', vhost)));
    // Other vhosts are not affected.
    await h.connect();
    await first.close();
    await h.connectUrl(h.brokerUrl('', vhost));
  });

  it('max-connections 0 refuses every connection; -1 means no limit', async () => {
    await pol.setLimit(vhost, 'max-connections', 0);
    await refusedWith(0);
    await pol.setLimit(vhost, 'max-connections', -1);
    for (let i = 0; i < 3; i++) await h.connectUrl(h.brokerUrl('', vhost));
  });

  it('max-queues: declaring a new queue beyond the limit fails with 406; redeclaring an existing one does not', async () => {
    await pol.setLimit(vhost, 'max-queues', 1);
    const conn = await h.connectUrl(h.brokerUrl('', vhost));
    let ch = await openChannel(conn);
    const q1 = `limited-${suffix()}`;
    await ch.assertQueue(q1, { durable: false, autoDelete: true });
    await ch.assertQueue(q1, { durable: false, autoDelete: true });
    const q2 = `limited-${suffix()}`;
    await expectChannelError(ch, () => ch.assertQueue(q2, { durable: false }), 406,
      `PRECONDITION_FAILED - cannot declare queue '${q2}': queue limit in vhost '${vhost}' (1) is reached`);
    ch = await openChannel(conn);
    await expectChannelError(ch, () => ch.assertQueue('', { exclusive: true }), 406, /cannot declare queue 'amq\.gen-[^']+': queue limit in vhost/);
    ch = await openChannel(conn);
    await pol.call('DELETE', `vhost-limits/${enc}/max-queues`);
    await ch.assertQueue(q2, { durable: false, autoDelete: true });
    await ch.deleteQueue(q1);
    await ch.deleteQueue(q2);
  });

  it('max-queues 0 refuses every new queue', async () => {
    await pol.setLimit(vhost, 'max-queues', 0);
    const conn = await h.connectUrl(h.brokerUrl('', vhost));
    const ch = await openChannel(conn);
    await expectChannelError(ch, () => ch.assertQueue(`none-${suffix()}`, { durable: false }), 406, 'queue limit in vhost');
  });

  it('endpoints: list and per-vhost shapes, DELETE always 204, RabbitMQ\'s validation reasons', async () => {
    await pol.setLimit(vhost, 'max-queues', 10);
    await pol.setLimit(vhost, 'max-connections', 5);
    assert.deepEqual((await pol.call('GET', `vhost-limits/${enc}`)).body, [{ vhost, value: { 'max-queues': 10, 'max-connections': 5 } }]);
    const all = (await pol.call('GET', 'vhost-limits')).body as { vhost: string }[];
    assert.deepEqual(all.filter((l) => l.vhost === vhost), [{ vhost, value: { 'max-queues': 10, 'max-connections': 5 } }]);
    assert.equal((await pol.call('DELETE', `vhost-limits/${enc}/max-queues`)).status, 204);
    assert.equal((await pol.call('DELETE', `vhost-limits/${enc}/max-queues`)).status, 204);
    assert.deepEqual((await pol.call('GET', `vhost-limits/${enc}`)).body, [{ vhost, value: { 'max-connections': 5 } }]);
    await pol.call('DELETE', `vhost-limits/${enc}/max-connections`);
    assert.deepEqual((await pol.call('GET', `vhost-limits/${enc}`)).body, []);
    assert.equal((await pol.call('GET', 'vhost-limits/no-such-vhost')).status, 404);
    const bad = async (name: string, body: unknown, reason: string) => {
      const r = await pol.call('PUT', `vhost-limits/${enc}/${name}`, body);
      assert.deepEqual([r.status, r.body], [400, { error: 'bad_request', reason }]);
    };
    await bad('max-bogus', { value: 2 }, 'Validation failed\n\nUnrecognised terms [{<<"max-bogus">>,2}] in limits\n');
    await bad('max-queues', { value: 'x' }, 'Validation failed\n\nmax-queues should be a number, actually was <<"x">>\n');
    await bad('max-queues', { value: 1.5 }, 'Validation failed\n\nmax-queues should be a number, actually was 1.5\n');
    await bad('max-queues', {}, '[{key_missing,value}]');
  });
});

describe('vhost limits: who may change them', { timeout: 60_000, skip: process.env.WARREN_TEST_URL ? 'sets up users through definitions' : false }, () => {
  let broker: TestBroker;
  const pol = new Policies(() => broker.httpUrl);

  before(async () => {
    broker = await startBroker({
      definitions: {
        users: [{ name: 'pm', password: 'pw', tags: 'policymaker' }, { name: 'mon', password: 'pw', tags: 'monitoring' }, { name: 'mgmt', password: 'pw', tags: 'management' }],
        vhosts: [{ name: 'elsewhere' }],
        permissions: [{ user: 'pm', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
      },
    });
  });
  after(async () => { await broker?.stop(); });

  it('only administrators set or clear limits; monitoring users list every vhost\'s, others those they have access to', async () => {
    for (const user of ['pm', 'mon', 'mgmt']) {
      const r = await pol.call('PUT', 'vhost-limits/%2F/max-queues', { value: 5 }, `${user}:pw`);
      assert.deepEqual([r.status, r.body], [401, { error: 'not_authorised', reason: 'Not administrator user' }], user);
      assert.equal((await pol.call('DELETE', 'vhost-limits/%2F/max-queues', undefined, `${user}:pw`)).status, 401, user);
    }
    await pol.setLimit('/', 'max-queues', 5);
    await pol.setLimit('elsewhere', 'max-queues', 7);
    const vhosts = async (user: string) => ((await pol.call('GET', 'vhost-limits', undefined, user)).body as { vhost: string }[]).map((l) => l.vhost).sort();
    assert.deepEqual(await vhosts('mon:pw'), ['/', 'elsewhere']);
    assert.deepEqual(await vhosts('pm:pw'), ['/']);
    assert.deepEqual(await vhosts('mgmt:pw'), []);
    assert.equal((await pol.call('GET', 'vhost-limits/elsewhere', undefined, 'pm:pw')).status, 401);
  });

  it('limits survive a restart', async () => {
    await pol.setLimit('/', 'max-connections', 0);
    await broker.restart();
    assert.deepEqual((await pol.call('GET', 'vhost-limits/%2F')).body, [{ vhost: '/', value: { 'max-queues': 5, 'max-connections': 0 } }]);
    await assert.rejects(RawClient.open(broker.port, '127.0.0.1', { vhost: '/' }), /connection limit \(0\) is reached/);
  });
});
