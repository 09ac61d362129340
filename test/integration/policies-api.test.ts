// The policy endpoints themselves: RabbitMQ's JSON shapes, its validation reasons, status codes,
// who may read and change what, and policies in definitions export and import.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Policies } from '../helpers/policies.js';

const PW = 'secret';
const users = [
  { name: 'pm', tags: 'policymaker' },
  { name: 'pm-away', tags: 'policymaker' },
  { name: 'mgmt', tags: 'management' },
  { name: 'mon', tags: 'monitoring' },
  { name: 'adm-away', tags: 'administrator' },
];

describe('policy endpoints', { timeout: 60_000, skip: process.env.WARREN_TEST_URL ? 'sets up users through definitions' : false }, () => {
  let broker: TestBroker;
  const pol = new Policies(() => broker.httpUrl);
  const as = (user: string) => `${user}:${PW}`;

  before(async () => {
    broker = await startBroker({
      definitions: {
        vhosts: [{ name: 'other' }],
        users: users.map((u) => ({ name: u.name, password: PW, tags: u.tags })),
        permissions: ['pm', 'mgmt', 'mon'].map((user) => ({ user, vhost: '/', configure: '.*', write: '.*', read: '.*' })),
        policies: [{ vhost: 'other', name: 'imported', pattern: '^imp', 'apply-to': 'queues', definition: { 'max-length': 9 }, priority: 3 }],
        parameters: [
          { vhost: 'other', component: 'operator_policy', name: 'op-imported', value: { pattern: '.*', definition: { 'message-ttl': 60000 }, priority: 0, 'apply-to': 'all' } },
          { vhost: 'other', component: 'vhost-limits', name: 'limits', value: { 'max-connections': 100 } },
        ],
      },
    });
  });
  after(async () => { await broker?.stop(); });

  it('queues and exchanges show the policy in effect: policy, operator_policy, effective_policy_definition', async () => {
    const put = (path: string, body: unknown) => pol.call('PUT', path, body);
    assert.equal((await put('queues/%2F/shown-q', { durable: false, arguments: { 'x-max-length': 3 } })).status, 201);
    assert.equal((await put('exchanges/%2F/shown-x', { type: 'fanout' })).status, 201);
    await pol.set('shown', { pattern: '^shown-', definition: { 'max-length': 7, 'alternate-exchange': 'ae' }, priority: 1 });
    await pol.call('PUT', 'operator-policies/%2F/shown-op', { pattern: '^shown-q', definition: { 'message-ttl': 1000 }, 'apply-to': 'queues' });
    let q = (await pol.call('GET', 'queues/%2F/shown-q')).body as Record<string, unknown>;
    assert.deepEqual([q.policy, q.operator_policy, q.effective_policy_definition],
      ['shown', 'shown-op', { 'max-length': 7, 'alternate-exchange': 'ae', 'message-ttl': 1000 }]);
    const x = (await pol.call('GET', 'exchanges/%2F/shown-x')).body as Record<string, unknown>;
    assert.equal(x.policy, 'shown');
    await pol.clear('shown');
    await pol.call('DELETE', 'operator-policies/%2F/shown-op');
    q = (await pol.call('GET', 'queues/%2F/shown-q')).body as Record<string, unknown>;
    assert.deepEqual([q.policy, q.operator_policy, q.effective_policy_definition], [null, null, {}]);
    assert.ok(!('policy' in ((await pol.call('GET', 'exchanges/%2F/shown-x')).body as object)), 'no policy, no field (as RabbitMQ)');
    await pol.call('DELETE', 'queues/%2F/shown-q');
    await pol.call('DELETE', 'exchanges/%2F/shown-x');
  });

  it('PUT answers 201 when created and 204 when updated; GET shows RabbitMQ\'s shape with defaults; DELETE 204 then 404', async () => {
    let r = await pol.call('PUT', 'policies/%2F/shape', { pattern: '^s', definition: { 'max-length': 5 } });
    assert.equal(r.status, 201);
    r = await pol.call('PUT', 'policies/%2F/shape', { pattern: '^s', definition: { 'max-length': 6 }, priority: 4, 'apply-to': 'queues' });
    assert.equal(r.status, 204);
    r = await pol.call('GET', 'policies/%2F/shape');
    assert.deepEqual(r.body, { vhost: '/', name: 'shape', pattern: '^s', 'apply-to': 'queues', definition: { 'max-length': 6 }, priority: 4 });
    assert.deepEqual((await pol.call('GET', 'policies/%2F')).body, [r.body]);
    // Lists come by priority, lowest first (RabbitMQ's default sort).
    await pol.set('shape-top', { pattern: '^t', definition: { 'max-length': 1 }, priority: 9 });
    await pol.set('shape-low', { pattern: '^l', definition: { 'max-length': 1 }, priority: -1 });
    assert.deepEqual(((await pol.call('GET', 'policies/%2F')).body as { name: string }[]).map((p) => p.name), ['shape-low', 'shape', 'shape-top']);
    await pol.clear('shape-top');
    await pol.clear('shape-low');
    assert.equal((await pol.call('DELETE', 'policies/%2F/shape')).status, 204);
    assert.equal((await pol.call('DELETE', 'policies/%2F/shape')).status, 404);
    assert.deepEqual((await pol.call('GET', 'policies/%2F/shape')).body, { error: 'Object Not Found', reason: 'Not Found' });
    assert.equal((await pol.call('GET', 'policies/nowhere')).status, 404);
    for (const path of ['policies/nowhere/p', 'operator-policies/nowhere/p']) {
      r = await pol.call('PUT', path, { pattern: '^s', definition: { 'max-length': 5 } });
      assert.deepEqual([r.status, r.body], [404, { error: 'not_found', reason: 'vhost_not_found' }], path);
    }
    r = await pol.call('PUT', 'vhost-limits/nowhere/max-queues', { value: 1 });
    assert.deepEqual([r.status, r.body], [404, { error: 'not_found', reason: 'vhost_not_found' }]);
  });

  it('rejects what RabbitMQ rejects, with its reasons', async () => {
    const bad = async (body: unknown, reason: string, kind = 'policies') => {
      const r = await pol.call('PUT', `${kind}/%2F/bad`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(r.body, { error: 'bad_request', reason });
    };
    await bad({ pattern: '^a', definition: { foo: 1 } }, 'Validation failed\n\n[{&lt;&lt;"foo"&gt;&gt;,1}] are not recognised policy settings\n');
    await bad({ pattern: '^a', definition: { 'max-length': 'x' } }, 'Validation failed\n\n&lt;&lt;"x"&gt;&gt; is not a valid maximum length\n');
    await bad({ pattern: '^a', definition: { 'message-ttl': -1 } }, 'Validation failed\n\n-1 is not a valid message TTL\n');
    await bad({ pattern: '^a', definition: { expires: 0 } }, 'Validation failed\n\n0 is not a valid queue expiry\n');
    await bad({ pattern: '^a', definition: { overflow: 'bad' } }, 'Validation failed\n\n&lt;&lt;"bad"&gt;&gt; is not a valid overflow value\n');
    await bad({ pattern: '^a', definition: {} }, 'Validation failed\n\nno policy provided\n');
    await bad({ pattern: '^a' }, '[{key_missing,definition}]');
    await bad({ definition: { 'max-length': 1 } }, '[{key_missing,pattern}]');
    await bad({ pattern: '^a', definition: { 'max-length': 1 }, priority: 'x' }, 'Validation failed\n\npriority should be a number, actually was &lt;&lt;"x"&gt;&gt;\n');
    await bad({ pattern: '^a', 'apply-to': 'bogus', definition: { 'max-length': 1 } },
      "Validation failed\n\napply-to 'bogus' unrecognised; should be one of: 'queues', 'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'\n");
    const r = await pol.call('PUT', 'policies/%2F/bad', { pattern: '(', definition: { 'max-length': 1 } });
    assert.equal(r.status, 400);
    assert.match(r.body.reason, /^Validation failed\n\npattern should be regular expression but is invalid: /);
    // Operator policies take only the limits, and their reasons are not HTML-escaped.
    await bad({ pattern: '^a', definition: { 'max-length': 2, 'dead-letter-exchange': 'x' } },
      'Validation failed\n\n[{<<"dead-letter-exchange">>,<<"x">>}] are not recognised policy settings\n', 'operator-policies');
    assert.equal((await pol.call('GET', 'policies/%2F/bad')).status, 404);
  });

  it('policymakers with access to the vhost change policies; others may only list what their vhosts hold', async () => {
    const body = { pattern: '^pm', definition: { 'max-length': 1 } };
    assert.equal((await pol.call('PUT', 'policies/%2F/by-pm', body, as('pm'))).status, 201);
    assert.equal((await pol.call('GET', 'policies/%2F/by-pm', undefined, as('pm'))).status, 200);
    for (const user of ['mgmt', 'mon', 'pm-away']) {
      const r = await pol.call('PUT', 'policies/%2F/by-other', body, as(user));
      assert.equal(r.status, 401, user);
      assert.deepEqual(r.body, { error: 'not_authorised', reason: 'User not authorised to access object' });
      assert.equal((await pol.call('DELETE', 'policies/%2F/by-pm', undefined, as(user))).status, 401, user);
    }
    // An administrator needs no permissions in the vhost.
    assert.equal((await pol.call('PUT', 'policies/other/by-admin', body, as('adm-away'))).status, 201);
    // Lists: administrators see every vhost, everyone else the vhosts they have access to.
    const names = async (user: string) => ((await pol.call('GET', 'policies', undefined, as(user))).body as { name: string }[]).map((p) => p.name).sort();
    assert.deepEqual(await names('adm-away'), ['by-admin', 'by-pm', 'imported']);
    assert.deepEqual(await names('mgmt'), ['by-pm']);
    assert.deepEqual(await names('pm-away'), []);
    assert.equal((await pol.call('GET', 'policies/%2F', undefined, as('pm-away'))).status, 401);
    assert.equal((await pol.call('GET', 'policies/other', undefined, as('adm-away'))).status, 200);
    await pol.clear('by-pm');
    await pol.clear('by-admin', 'other');
  });

  it('operator policies: only administrators read one or change them; lists as for policies', async () => {
    const body = { pattern: '^op', definition: { 'max-length': 1 } };
    for (const user of ['pm', 'mgmt', 'mon']) {
      const r = await pol.call('PUT', 'operator-policies/%2F/op', body, as(user));
      assert.deepEqual([r.status, r.body], [401, { error: 'not_authorised', reason: 'Not administrator user' }], user);
    }
    assert.equal((await pol.call('PUT', 'operator-policies/%2F/op', body, as('adm-away'))).status, 201);
    assert.equal((await pol.call('GET', 'operator-policies/%2F/op', undefined, as('pm'))).status, 401);
    assert.deepEqual((await pol.call('GET', 'operator-policies', undefined, as('mgmt'))).body,
      [{ vhost: '/', name: 'op', pattern: '^op', 'apply-to': 'all', definition: { 'max-length': 1 }, priority: 0 }]);
    assert.equal((await pol.call('DELETE', 'operator-policies/%2F/op', undefined, as('adm-away'))).status, 204);
  });

  it('definitions imported at boot: policies, operator policies and vhost limits from parameters', async () => {
    assert.deepEqual((await pol.call('GET', 'policies/other/imported')).body,
      { vhost: 'other', name: 'imported', pattern: '^imp', 'apply-to': 'queues', definition: { 'max-length': 9 }, priority: 3 });
    assert.deepEqual((await pol.call('GET', 'operator-policies/other/op-imported')).body,
      { vhost: 'other', name: 'op-imported', pattern: '.*', 'apply-to': 'all', definition: { 'message-ttl': 60000 }, priority: 0 });
    assert.deepEqual((await pol.call('GET', 'vhost-limits/other')).body, [{ vhost: 'other', value: { 'max-connections': 100 } }]);
  });
});
