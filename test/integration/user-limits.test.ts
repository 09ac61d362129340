// Per-user limits (max-connections, max-channels) as RabbitMQ has them: the /api/user-limits
// endpoints with RabbitMQ's shapes and validation reasons (checked against RabbitMQ 3.10), limits
// in the users API and in definitions, refusals with 530 and RabbitMQ's texts, persistence
// across a restart, and warrenctl's set_user_limits, list_user_limits and clear_user_limits.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, closedWith, openChannel, suffix } from '../helpers/amqp.js';
import { apiClient, type Api } from '../helpers/http.js';
import { RawClient, ServerClosedError } from '../helpers/raw-amqp.js';
import { runCtl, tableRows } from '../helpers/warrenctl.js';

describe('user limits', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  let api: Api;
  const h = new Harness(() => broker.url);
  const user = `lim-${suffix()}`;
  const url = () => broker.url.replace('guest:guest', `${user}:pw`);

  before(async () => {
    broker = await startBroker();
    api = apiClient(broker.httpUrl);
    assert.equal((await api('PUT', `users/${user}`, { password: 'pw', tags: '' })).status, 201);
    assert.equal((await api('PUT', `permissions/%2F/${user}`, { configure: '.*', write: '.*', read: '.*' })).status, 201);
  });
  afterEach(async () => {
    await h.closeConnections();
    for (const name of ['max-connections', 'max-channels']) await api('DELETE', `user-limits/${user}/${name}`);
  });
  after(async () => {
    await h.cleanup();
    await broker?.stop();
  });

  const refused = (max: number) => (e: unknown) => {
    assert.ok(e instanceof ServerClosedError, String(e));
    assert.equal(e.code, 530);
    assert.equal(e.text, `NOT_ALLOWED - connection refused for user '${user}': user connection limit (${max}) is reached`);
    return true;
  };

  it('the endpoints: shapes, validation and unknown users as RabbitMQ answers them', async () => {
    assert.equal((await api('PUT', `user-limits/${user}/max-connections`, { value: 5 })).status, 204);
    assert.equal((await api('PUT', `user-limits/${user}/max-channels`, { value: -1 })).status, 204);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, [{ user, value: { 'max-channels': -1, 'max-connections': 5 } }]);
    assert.deepEqual((await api('GET', 'user-limits')).body, [{ user, value: { 'max-channels': -1, 'max-connections': 5 } }]);
    assert.deepEqual((await api('GET', `users/${user}`)).body.limits, { 'max-channels': -1, 'max-connections': 5 });
    assert.deepEqual((await api('PUT', `user-limits/${user}/max-foo`, { value: 1 })).body,
      { error: 'bad_request', reason: 'Unrecognised terms [{<<"max-foo">>,1}] in user-limits' });
    assert.deepEqual((await api('PUT', `user-limits/${user}/max-channels`, { value: 'x' })).body,
      { error: 'bad_request', reason: 'max-channels should be a number, actually was <<"x">>' });
    assert.deepEqual((await api('PUT', `user-limits/${user}/max-channels`, { value: 1.5 })).body,
      { error: 'bad_request', reason: 'max-channels should be a number, actually was 1.5' });
    assert.deepEqual((await api('PUT', `user-limits/${user}/max-channels`, {})).body, { error: 'bad_request', reason: '[{key_missing,value}]' });
    assert.deepEqual((await api('PUT', 'user-limits/nobody/max-channels', { value: 3 })).body, { error: 'bad_request', reason: ['no_such_user', 'nobody'] });
    assert.equal((await api('GET', 'user-limits/nobody')).status, 404);
    assert.equal((await api('DELETE', 'user-limits/nobody/max-channels')).status, 404);
    assert.equal((await api('DELETE', `user-limits/${user}/max-foo`)).status, 204);
    assert.equal((await api('DELETE', `user-limits/${user}/max-channels`)).status, 204);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, [{ user, value: { 'max-connections': 5 } }]);
    // Non-administrators may not see or change them.
    const other = `lim-mon-${suffix()}`;
    await api('PUT', `users/${other}`, { password: 'pw', tags: 'monitoring' });
    const asMonitor = apiClient(broker.httpUrl, other, 'pw');
    assert.equal((await asMonitor('GET', 'user-limits')).status, 401);
    assert.equal((await asMonitor('PUT', `user-limits/${user}/max-channels`, { value: 1 })).status, 401);
    await api('DELETE', `users/${other}`);
  });

  it('limits in the users API: PUT with limits adds them to those set, PUT without keeps them (as RabbitMQ 3.10)', async () => {
    const u = `lim-put-${suffix()}`;
    assert.equal((await api('PUT', `users/${u}`, { password: 'x', tags: '', limits: { 'max-connections': 3 } })).status, 201);
    assert.deepEqual((await api('GET', `users/${u}`)).body.limits, { 'max-connections': 3 });
    assert.equal((await api('PUT', `users/${u}`, { password: 'y', tags: 'monitoring' })).status, 204);
    assert.deepEqual((await api('GET', `user-limits/${u}`)).body, [{ user: u, value: { 'max-connections': 3 } }]);
    assert.equal((await api('PUT', `users/${u}`, { password: 'y', tags: '', limits: { 'max-channels': 2 } })).status, 204);
    assert.deepEqual((await api('GET', `user-limits/${u}`)).body, [{ user: u, value: { 'max-channels': 2, 'max-connections': 3 } }]);
    assert.deepEqual((await api('PUT', `users/${u}`, { password: 'x', tags: '', limits: { 'max-channels': 'many' } })).body,
      { error: 'bad_request', reason: 'max-channels should be a number, actually was <<"many">>' });
    await api('DELETE', `users/${u}`);
  });

  it('max-connections: connection.open beyond the limit is refused with 530; 0 refuses all; -1 none', async () => {
    await api('PUT', `user-limits/${user}/max-connections`, { value: 2 });
    const first = await h.connectUrl(url());
    await h.connectUrl(url());
    await assert.rejects(RawClient.open(broker.port, '127.0.0.1', { user, password: 'pw' }), refused(2));
    await assert.rejects(amqp.connect(url()));
    // Other users are not affected; closing one makes room.
    await h.connect();
    await first.close();
    await h.connectUrl(url());
    await api('PUT', `user-limits/${user}/max-connections`, { value: 0 });
    await assert.rejects(RawClient.open(broker.port, '127.0.0.1', { user, password: 'pw' }), refused(0));
    await api('PUT', `user-limits/${user}/max-connections`, { value: -1 });
    for (let i = 0; i < 3; i++) await h.connectUrl(url());
  });

  it('max-channels counts channels across the user\'s connections; one more closes the connection with 530', async () => {
    await api('PUT', `user-limits/${user}/max-channels`, { value: 2 });
    const a = await h.connectUrl(url());
    const b = await h.connectUrl(url());
    await openChannel(a);
    await openChannel(b);
    await assert.rejects(b.createChannel());
    const err = await closedWith(b);
    assert.equal(err?.code, 530);
    assert.ok(err.message.includes(`NOT_ALLOWED - number of channels opened for user '${user}' has reached the maximum allowed user limit of (2)`), err.message);
    // The guest user is not limited; after the refused connection closed, there is room again.
    const g = await h.connect();
    for (let i = 0; i < 3; i++) await openChannel(g);
    await openChannel(a);
  });

  it('definitions carry user limits both ways', async () => {
    const u = `lim-def-${suffix()}`;
    const r = await api('POST', 'definitions', { users: [{ name: u, password: 'x', tags: '', limits: { 'max-channels': 7 } }] });
    assert.equal(r.status, 204);
    assert.deepEqual((await api('GET', `user-limits/${u}`)).body, [{ user: u, value: { 'max-channels': 7 } }]);
    const exported = (await api('GET', 'definitions')).body.users.find((x: { name: string }) => x.name === u);
    assert.deepEqual(exported.limits, { 'max-channels': 7 });
    await api('DELETE', `users/${u}`);
  });

  it('warrenctl set_user_limits replaces, list_user_limits shows, clear_user_limits removes', async () => {
    const args = ['--url', broker.httpUrl];
    const set = await runCtl([...args, 'set_user_limits', user, '{"max-connections": 4, "max-channels": 9}']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, [{ user, value: { 'max-channels': 9, 'max-connections': 4 } }]);
    assert.equal((await runCtl([...args, 'set_user_limits', user, '{"max-channels": 3}'])).code, 0);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, [{ user, value: { 'max-channels': 3 } }]);
    const list = await runCtl([...args, '-q', 'list_user_limits', '--user', user]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(tableRows(list.stdout), [['user', 'limits'], [user, '{"max-channels":3}']]);
    const bad = await runCtl([...args, 'set_user_limits', user, '{"max-sessions": 3}']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Unrecognised terms/);
    assert.equal((await runCtl([...args, 'clear_user_limits', user, 'max-channels'])).code, 0);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, []);
    await runCtl([...args, 'set_user_limits', user, '{"max-channels": 3, "max-connections": 3}']);
    assert.equal((await runCtl([...args, 'clear_user_limits', user, 'all'])).code, 0);
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, []);
    const missing = await runCtl([...args, 'list_user_limits', '--user', 'nobody-here']);
    assert.notEqual(missing.code, 0);
  });

  it('limits survive a restart', async (t) => {
    if (broker.external) return t.skip('restarts a Warren it started');
    await api('PUT', `user-limits/${user}/max-connections`, { value: 1 });
    await broker.restart();
    assert.deepEqual((await api('GET', `user-limits/${user}`)).body, [{ user, value: { 'max-connections': 1 } }]);
    await h.connectUrl(url());
    await assert.rejects(RawClient.open(broker.port, '127.0.0.1', { user, password: 'pw' }), refused(1));
  });
});
