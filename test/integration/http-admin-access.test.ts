// The management API's users, vhosts and permissions against a real Warren: create, show, list,
// update, delete with RabbitMQ's shapes and status codes; password hashes (sha256, sha512, md5,
// none) that then log in over AMQP or not; who may do what by tag (RabbitMQ 3.13 answers refusals
// with 401 "not_authorised"); and everything surviving a restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { api, apiOk, enc, type Credentials } from '../helpers/admin-api.js';

/** RabbitMQ's salted hash: base64(salt(4) + H(salt + password)). */
function saltedHash(algorithm: 'sha256' | 'sha512' | 'md5', password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash(algorithm).update(salt).update(password).digest()]).toString('base64');
}

async function canLogin(b: TestBroker, user: string, password: string, vhost = '/'): Promise<boolean> {
  try {
    const c = await amqp.connect(`amqp://${enc(user)}:${enc(password)}@127.0.0.1:${b.port}/${enc(vhost)}`);
    await c.close();
    return true;
  } catch {
    return false;
  }
}

describe('management API: vhosts, users, permissions', () => {
  let b: TestBroker;
  let base: string;
  before(async () => {
    b = await startBroker();
    base = b.httpUrl;
  });
  after(async () => b.stop());

  it('creates, shows, updates and deletes a vhost with metadata, granting its creator full permissions', async () => {
    const put = await api(base, 'PUT', 'vhosts/meta-v', { body: { description: 'orders', tags: 'prod,eu', default_queue_type: 'quorum' } });
    assert.equal(put.status, 201);
    const v = (await apiOk(base, 'GET', 'vhosts/meta-v')).body;
    assert.equal(v.name, 'meta-v');
    assert.equal(v.description, 'orders');
    assert.deepEqual(v.tags, ['prod', 'eu']);
    assert.equal(v.default_queue_type, 'quorum');
    assert.deepEqual(v.metadata, { description: 'orders', tags: ['prod', 'eu'], default_queue_type: 'quorum' });
    assert.equal(v.tracing, false);
    assert.equal(v.messages, 0);
    assert.equal(v.message_stats.publish, 0);
    const perms = (await apiOk(base, 'GET', 'vhosts/meta-v/permissions')).body;
    assert.deepEqual(perms, [{ vhost: 'meta-v', user: 'guest', configure: '.*', write: '.*', read: '.*' }]);
    // Update: 204, tags as an array this time.
    assert.equal((await api(base, 'PUT', 'vhosts/meta-v', { body: { description: 'orders 2', tags: ['x'] } })).status, 204);
    const v2 = (await apiOk(base, 'GET', 'vhosts/meta-v')).body;
    assert.equal(v2.description, 'orders 2');
    assert.deepEqual(v2.tags, ['x']);
    assert.equal(v2.default_queue_type, 'quorum', 'kept when not given');
    const list = (await apiOk(base, 'GET', 'vhosts')).body as { name: string }[];
    assert.deepEqual(list.map((x) => x.name).sort(), ['/', 'meta-v']);
    assert.equal((await api(base, 'DELETE', 'vhosts/meta-v')).status, 204);
    assert.equal((await api(base, 'GET', 'vhosts/meta-v')).status, 404);
    assert.deepEqual((await api(base, 'DELETE', 'vhosts/meta-v')).body, { error: 'Object Not Found', reason: 'Not Found' });
    // Its permissions went with it.
    assert.ok(!((await apiOk(base, 'GET', 'permissions')).body as { vhost: string }[]).some((p) => p.vhost === 'meta-v'));
  });

  it('refuses tracing and unknown default queue types rather than pretending', async () => {
    assert.equal((await api(base, 'PUT', 'vhosts/trace-v', { body: { tracing: true } })).status, 400);
    assert.equal((await api(base, 'PUT', 'vhosts/trace-v', { body: { default_queue_type: 'bogus' } })).status, 400);
    assert.equal((await api(base, 'GET', 'vhosts/trace-v')).status, 404);
  });

  it('vhost objects count messages in its queues and message_stats of its channels, open and closed', async () => {
    await apiOk(base, 'PUT', 'vhosts/count-v', { body: {} });
    const conn = await amqp.connect(`${b.url}/count-v`);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('q');
    for (let i = 0; i < 3; i++) ch.sendToQueue('q', Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    const got = await ch.get('q', { noAck: false });
    assert.ok(got);
    let v = (await apiOk(base, 'GET', 'vhosts/count-v')).body;
    assert.equal(v.messages, 3);
    assert.equal(v.messages_ready, 2);
    assert.equal(v.messages_unacknowledged, 1);
    assert.equal(v.message_stats.publish, 3, 'live channel counted');
    assert.equal(v.message_stats.get, 1);
    ch.ack(got);
    await ch.close();
    await conn.close();
    v = (await apiOk(base, 'GET', 'vhosts/count-v')).body;
    assert.equal(v.messages, 2);
    assert.equal(v.message_stats.publish, 3, 'closed channel still counted');
    assert.equal(v.message_stats.confirm, 3);
    assert.equal(v.message_stats.ack, 1);
    assert.equal(v.message_stats.deliver_get, 1);
    await apiOk(base, 'DELETE', 'vhosts/count-v');
  });

  it('deleting a vhost closes its connections with 320 CONNECTION_FORCED', async () => {
    await apiOk(base, 'PUT', 'vhosts/doomed', { body: {} });
    const conn = await amqp.connect(`${b.url}/doomed`);
    const closed = new Promise<Error | undefined>((resolve) => {
      conn.on('error', (e: Error) => resolve(e));
      conn.on('close', (e?: Error) => resolve(e));
    });
    await apiOk(base, 'DELETE', 'vhosts/doomed');
    const err = await closed;
    assert.match(String(err?.message), /320.*vhost 'doomed' is deleted/);
  });

  it('creates users from a password or a password_hash in each hashing algorithm, or with no password at all', async () => {
    assert.equal((await api(base, 'PUT', 'users/plain', { body: { password: 'pw-1', tags: 'management' } })).status, 201);
    const u = (await apiOk(base, 'GET', 'users/plain')).body;
    assert.deepEqual(Object.keys(u), ['name', 'password_hash', 'hashing_algorithm', 'tags', 'limits']);
    assert.equal(u.hashing_algorithm, 'rabbit_password_hashing_sha256');
    assert.deepEqual(u.tags, ['management']);
    assert.equal(Buffer.from(u.password_hash, 'base64').length, 36, '4-byte salt + sha256');
    for (const alg of ['sha256', 'sha512', 'md5'] as const) {
      const name = `hashed-${alg}`;
      await apiOk(base, 'PUT', `users/${name}`, { body: { password_hash: saltedHash(alg, `pw-${alg}`), hashing_algorithm: `rabbit_password_hashing_${alg}`, tags: [] } });
      await apiOk(base, 'PUT', `permissions/%2F/${name}`, { body: { configure: '.*', write: '.*', read: '.*' } });
      assert.ok(await canLogin(b, name, `pw-${alg}`), `${alg} hash logs in`);
      assert.ok(!(await canLogin(b, name, 'wrong')), `${alg} hash refuses a wrong password`);
    }
    await apiOk(base, 'PUT', 'users/nopw', { body: { password_hash: '', tags: '' } });
    await apiOk(base, 'PUT', 'permissions/%2F/nopw', { body: { configure: '.*', write: '.*', read: '.*' } });
    assert.equal((await apiOk(base, 'GET', 'users/nopw')).body.password_hash, '');
    assert.ok(!(await canLogin(b, 'nopw', '')), 'an empty password_hash allows no password login');
    // Updating without a password clears it, as RabbitMQ does.
    assert.equal((await api(base, 'PUT', 'users/plain', { body: { tags: 'monitoring' } })).status, 204);
    assert.equal((await apiOk(base, 'GET', 'users/plain')).body.password_hash, '');
  });

  it('answers bad user bodies as RabbitMQ does', async () => {
    assert.deepEqual((await api(base, 'PUT', 'users/bad', { body: { password: 'x' } })).body, { error: 'bad_request', reason: 'tags_not_present' });
    assert.deepEqual((await api(base, 'PUT', 'users/bad', { body: { password_hash: 'abc', tags: '' } })).body,
      { error: 'bad_request', reason: ['not_base64', 'abc'] });
    assert.equal((await api(base, 'PUT', 'users/bad', { body: { password_hash: saltedHash('sha256', 'x'), hashing_algorithm: 'rot13', tags: '' } })).status, 400);
    assert.deepEqual((await api(base, 'PUT', 'users/bad', { body: { password: 'x', password_hash: saltedHash('sha256', 'x'), tags: '' } })).body,
      { error: 'bad_request', reason: 'both_password_and_password_hash_are_provided' });
    // A limit RabbitMQ does not know is refused with its reason, and the user is not created.
    assert.deepEqual((await api(base, 'PUT', 'users/bad', { body: { password: 'x', tags: '', limits: { 'max-bogus': 1 } } })).body,
      { error: 'bad_request', reason: 'Unrecognised terms [{<<"max-bogus">>,1}] in user-limits' });
    assert.equal((await api(base, 'GET', 'users/bad')).status, 404);
    // The old boolean `administrator` still stands in for tags.
    assert.equal((await api(base, 'PUT', 'users/old-style', { body: { password: 'x', administrator: 'true' } })).status, 201);
    assert.deepEqual((await apiOk(base, 'GET', 'users/old-style')).body.tags, ['administrator']);
  });

  it('lists users, users without permissions, and bulk-deletes in order stopping at an unknown name', async () => {
    for (const n of ['bulk-a', 'bulk-b', 'bulk-c']) await apiOk(base, 'PUT', `users/${n}`, { body: { password: 'x', tags: '' } });
    const without = ((await apiOk(base, 'GET', 'users/without-permissions')).body as { name: string }[]).map((u) => u.name);
    assert.ok(without.includes('bulk-a') && !without.includes('guest'));
    const all = ((await apiOk(base, 'GET', 'users')).body as { name: string }[]).map((u) => u.name);
    assert.ok(all.includes('guest') && all.includes('bulk-c'));
    const r = await api(base, 'POST', 'users/bulk-delete', { body: { users: ['bulk-a', 'no-such', 'bulk-b'] } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.reason, ['no_such_user', 'no-such']);
    assert.equal((await api(base, 'GET', 'users/bulk-a')).status, 404);
    assert.equal((await api(base, 'GET', 'users/bulk-b')).status, 200);
    assert.equal((await api(base, 'POST', 'users/bulk-delete', { body: { users: ['bulk-b', 'bulk-c'] } })).status, 204);
    assert.equal((await api(base, 'GET', 'users/bulk-c')).status, 404);
  });

  it('sets, shows, lists and clears permissions, with RabbitMQ answers for missing keys, bad regexes and unknown users', async () => {
    await apiOk(base, 'PUT', 'users/perm-u', { body: { password: 'pw', tags: '' } });
    await apiOk(base, 'PUT', 'vhosts/perm-v', { body: {} });
    assert.deepEqual((await api(base, 'PUT', 'permissions/perm-v/nobody', { body: { configure: '', write: '', read: '' } })).body,
      { error: 'bad_request', reason: 'vhost_or_user_not_found' });
    assert.deepEqual((await api(base, 'PUT', 'permissions/perm-v/perm-u', { body: { configure: '.*', write: '.*' } })).body,
      { error: 'bad_request', reason: '[{key_missing,read}]' });
    const badRe = await api(base, 'PUT', 'permissions/perm-v/perm-u', { body: { configure: '(', write: '.*', read: '.*' } });
    assert.equal(badRe.status, 400);
    assert.equal(badRe.body.reason[0], 'invalid_regexp');
    assert.equal((await api(base, 'PUT', 'permissions/perm-v/perm-u', { body: { configure: '^c', write: '^w', read: '^r' } })).status, 201);
    assert.equal((await api(base, 'PUT', 'permissions/perm-v/perm-u', { body: { configure: '^c', write: '^w', read: '^r' } })).status, 204);
    assert.deepEqual((await apiOk(base, 'GET', 'permissions/perm-v/perm-u')).body,
      { user: 'perm-u', vhost: 'perm-v', configure: '^c', write: '^w', read: '^r' });
    assert.deepEqual((await apiOk(base, 'GET', 'users/perm-u/permissions')).body,
      [{ user: 'perm-u', vhost: 'perm-v', configure: '^c', write: '^w', read: '^r' }]);
    assert.ok(await canLogin(b, 'perm-u', 'pw', 'perm-v'));
    assert.equal((await api(base, 'DELETE', 'permissions/perm-v/perm-u')).status, 204);
    assert.equal((await api(base, 'GET', 'permissions/perm-v/perm-u')).status, 404);
    assert.ok(!(await canLogin(b, 'perm-u', 'pw', 'perm-v')), 'no permission, no vhost access');
  });

  it('permission lists come sorted by vhost, then user, as RabbitMQ sorts them', async () => {
    for (const v of ['sort-b', 'sort-a']) await apiOk(base, 'PUT', `vhosts/${v}`, { body: {} });
    for (const u of ['zed', 'amy']) {
      await apiOk(base, 'PUT', `users/${u}`, { body: { password: 'pw', tags: '' } });
      for (const v of ['sort-b', 'sort-a']) await apiOk(base, 'PUT', `permissions/${v}/${u}`, { body: { configure: '', write: '', read: '' } });
    }
    const list = ((await apiOk(base, 'GET', 'permissions')).body as { vhost: string; user: string }[])
      .filter((p) => p.vhost.startsWith('sort-')).map((p) => `${p.vhost}/${p.user}`);
    assert.deepEqual(list, ['sort-a/amy', 'sort-a/guest', 'sort-a/zed', 'sort-b/amy', 'sort-b/guest', 'sort-b/zed']);
    const reversed = ((await apiOk(base, 'GET', 'permissions?sort=user&sort_reverse=true')).body as { user: string }[]).map((p) => p.user);
    assert.equal(reversed[0], 'zed');
  });

  it('deleting a user closes its connections', async () => {
    await apiOk(base, 'PUT', 'users/leaver', { body: { password: 'pw', tags: '' } });
    await apiOk(base, 'PUT', 'permissions/%2F/leaver', { body: { configure: '.*', write: '.*', read: '.*' } });
    const conn = await amqp.connect(`amqp://leaver:pw@127.0.0.1:${b.port}/`);
    const closed = new Promise<Error | undefined>((resolve) => {
      conn.on('error', (e: Error) => resolve(e));
      conn.on('close', (e?: Error) => resolve(e));
    });
    await apiOk(base, 'DELETE', 'users/leaver');
    assert.match(String((await closed)?.message), /320.*user 'leaver' is deleted/);
  });
});

describe('management API: what each tag may do (RabbitMQ 3.13 rules)', () => {
  let b: TestBroker;
  let base: string;
  const as = (user: string): Credentials => ({ user, password: 'pw' });
  const refused = async (r: Promise<{ status: number; body: any }>, reason: string) => {
    const res = await r;
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.deepEqual(res.body, { error: 'not_authorised', reason });
  };
  before(async () => {
    b = await startBroker();
    base = b.httpUrl;
    await apiOk(base, 'PUT', 'vhosts/mine', { body: {} });
    await apiOk(base, 'PUT', 'vhosts/theirs', { body: {} });
    for (const [name, tags] of [['t-none', ''], ['t-mgmt', 'management'], ['t-mon', 'monitoring'], ['t-pol', 'policymaker'], ['t-admin', 'administrator']]) {
      await apiOk(base, 'PUT', `users/${name}`, { body: { password: 'pw', tags } });
      if (name !== 't-admin') await apiOk(base, 'PUT', `permissions/mine/${name}`, { body: { configure: '.*', write: '.*', read: '.*' } });
    }
    await apiOk(base, 'PUT', 'parameters/shovel/mine/p-mine', { body: { value: { 'src-uri': 'amqp://' } } });
    await apiOk(base, 'PUT', 'parameters/shovel/theirs/p-theirs', { body: { value: { 'src-uri': 'amqp://' } } });
  });
  after(async () => b.stop());

  it('without credentials or with a wrong password: 401 not_authorized with a Basic challenge', async () => {
    const r = await api(base, 'GET', 'vhosts', { as: null });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const w = await api(base, 'GET', 'vhosts', { as: { user: 't-mgmt', password: 'wrong' } });
    assert.deepEqual([w.status, w.body.error], [401, 'not_authorized']);
  });

  it('a user without a management tag may not use the API at all', async () => {
    await refused(api(base, 'GET', 'vhosts', { as: as('t-none') }), 'Not management user');
  });

  it('management: sees its own vhosts, nothing global, nothing of other vhosts', async () => {
    const m = as('t-mgmt');
    assert.deepEqual(((await apiOk(base, 'GET', 'vhosts', { as: m })).body as { name: string }[]).map((v) => v.name), ['mine']);
    await refused(api(base, 'GET', 'vhosts/mine', { as: m }), 'Not administrator user');
    await refused(api(base, 'PUT', 'vhosts/new', { as: m, body: {} }), 'Not administrator user');
    await refused(api(base, 'GET', 'users', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'permissions', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'topic-permissions', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'definitions', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'nodes', { as: m }), 'Not monitor user');
    await refused(api(base, 'GET', 'parameters', { as: m }), 'User not authorised to access object');
    await refused(api(base, 'GET', 'global-parameters', { as: m }), 'User not authorised to access object');
    await refused(api(base, 'POST', 'rebalance/queues', { as: m }), 'Not administrator user');
    assert.deepEqual((await apiOk(base, 'GET', 'aliveness-test/mine', { as: m })).body, { status: 'ok' });
    await refused(api(base, 'GET', 'aliveness-test/theirs', { as: m }), 'User not authorised to access virtual host');
    assert.equal((await api(base, 'GET', 'health/checks/alarms', { as: m })).status, 200);
  });

  it('monitoring: sees every vhost and the nodes, still no users or definitions', async () => {
    const m = as('t-mon');
    assert.deepEqual(((await apiOk(base, 'GET', 'vhosts', { as: m })).body as { name: string }[]).map((v) => v.name).sort(), ['/', 'mine', 'theirs']);
    assert.equal((await apiOk(base, 'GET', 'nodes', { as: m })).body.length, 1);
    await refused(api(base, 'GET', 'users', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'definitions', { as: m }), 'Not administrator user');
    await refused(api(base, 'GET', 'vhosts/theirs', { as: m }), 'Not administrator user');
  });

  it('policymaker: parameters in its vhosts only; global parameters', async () => {
    const p = as('t-pol');
    const listed = ((await apiOk(base, 'GET', 'parameters', { as: p })).body as { name: string }[]).map((x) => x.name);
    assert.deepEqual(listed, ['p-mine']);
    assert.equal((await api(base, 'PUT', 'parameters/shovel/mine/p2', { as: p, body: { value: { a: 1 } } })).status, 201);
    await refused(api(base, 'PUT', 'parameters/shovel/theirs/p2', { as: p, body: { value: { a: 1 } } }), 'User not authorised to access object');
    await refused(api(base, 'GET', 'parameters/shovel/theirs', { as: p }), 'User not authorised to access object');
    assert.equal((await api(base, 'PUT', 'global-parameters/gp', { as: p, body: { value: 'x' } })).status, 201);
    await refused(api(base, 'GET', 'users', { as: p }), 'Not administrator user');
  });

  it('administrator: everything, also in vhosts it has no permissions in', async () => {
    const a = as('t-admin');
    assert.equal((await api(base, 'GET', 'aliveness-test/theirs', { as: a })).status, 200);
    assert.equal((await api(base, 'GET', 'parameters/shovel/theirs/p-theirs', { as: a })).status, 200);
    assert.equal((await api(base, 'GET', 'vhosts/theirs', { as: a })).status, 200);
    assert.equal((await api(base, 'GET', 'definitions', { as: a })).status, 200);
    assert.equal((await api(base, 'POST', 'rebalance/queues', { as: a })).status, 204);
    // Lists show only vhosts with permissions unless monitoring is implied: administrator implies it.
    assert.equal(((await apiOk(base, 'GET', 'vhosts', { as: a })).body as unknown[]).length, 3);
  });
});

describe('management API: access definitions survive a restart', () => {
  it('vhost metadata, users, permissions, topic permissions, parameters, global parameters and the cluster name', async () => {
    const b = await startBroker();
    const base = b.httpUrl;
    try {
      await apiOk(base, 'PUT', 'vhosts/keep', { body: { description: 'kept', tags: 'a', default_queue_type: 'classic' } });
      await apiOk(base, 'PUT', 'users/keeper', { body: { password: 'pw', tags: 'policymaker,monitoring' } });
      await apiOk(base, 'PUT', 'permissions/keep/keeper', { body: { configure: '^k', write: '.*', read: '.*' } });
      await apiOk(base, 'PUT', 'topic-permissions/keep/keeper', { body: { exchange: 'amq.topic', write: '^{username}', read: '.*' } });
      await apiOk(base, 'PUT', 'parameters/federation-upstream/keep/up', { body: { value: { uri: 'amqp://x', 'max-hops': 2 } } });
      await apiOk(base, 'PUT', 'global-parameters/cluster_tags', { body: { value: { region: 'eu' } } });
      await apiOk(base, 'PUT', 'cluster-name', { body: { name: 'warren-east' } });
      assert.ok(((await apiOk(base, 'GET', 'global-parameters')).body as { name: string; value: unknown }[])
        .some((p) => p.name === 'cluster_name' && p.value === 'warren-east'), 'kept as the global parameter cluster_name, as RabbitMQ does');
      await apiOk(base, 'PUT', 'users/gone', { body: { password: 'pw', tags: '' } });
      await apiOk(base, 'DELETE', 'users/gone');
      await apiOk(base, 'PUT', 'vhosts/gone-v', { body: {} });
      await apiOk(base, 'DELETE', 'vhosts/gone-v');
      const before = (await apiOk(base, 'GET', 'definitions')).body;
      await b.restart();
      const after = (await apiOk(base, 'GET', 'definitions')).body;
      assert.deepEqual(after, before);
      assert.equal((await apiOk(base, 'GET', 'vhosts/keep')).body.description, 'kept');
      assert.deepEqual((await apiOk(base, 'GET', 'cluster-name')).body, { name: 'warren-east' });
      assert.equal((await api(base, 'GET', 'users/gone')).status, 404);
      assert.equal((await api(base, 'GET', 'vhosts/gone-v')).status, 404);
      assert.deepEqual((await apiOk(base, 'GET', 'parameters/federation-upstream/keep/up')).body,
        { value: { uri: 'amqp://x', 'max-hops': 2 }, vhost: 'keep', component: 'federation-upstream', name: 'up' });
      assert.deepEqual((await apiOk(base, 'GET', 'global-parameters/cluster_tags')).body, { name: 'cluster_tags', value: { region: 'eu' } });
      assert.ok(await canLogin(b, 'keeper', 'pw', 'keep'));
    } finally {
      await b.stop();
    }
  });
});
