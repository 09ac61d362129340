// Policy matching and merging (pure): priority and ties, apply-to, operator merge, args vs policy;
// and policies in a definitions export/import round trip through an in-process broker.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/broker.js';
import { exportDefinitions, importDefinitions } from '../../src/broker/definitions.js';
import { effectiveAlternate, effectiveQueueArgs, matchPolicy, mergeDefinitions } from '../../src/broker/policies.js';
import { erlangTerm, parsePolicy } from '../../src/broker/policy-validation.js';
import { recordPolicies, restorePolicies } from '../../src/broker/policy-persistence.js';
import { DefinitionsStore } from '../../src/store/definitions-store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';

const policy = (name: string, pattern: string, definition: Record<string, unknown>, priority = 0, applyTo = 'all') =>
  parsePolicy('/', name, { pattern, definition, priority, 'apply-to': applyTo }, false);

describe('policies', () => {
  test('highest priority wins; a tie goes to the name sorting last; apply-to filters by kind and queue type', () => {
    const ps = [policy('a', '^q', { 'max-length': 1 }, 1), policy('b', '^q', { 'max-length': 2 }, 5), policy('c', '^q', { 'max-length': 3 }, 5)];
    assert.equal(matchPolicy(ps, { kind: 'queue', name: 'q1', queueType: 'classic' })?.name, 'c');
    assert.equal(matchPolicy(ps, { kind: 'queue', name: 'x', queueType: 'classic' }), null);
    const typed = [policy('ex', '.*', { 'alternate-exchange': 'ae' }, 0, 'exchanges'), policy('qq', '.*', { 'max-length': 1 }, 0, 'quorum_queues')];
    assert.equal(matchPolicy(typed, { kind: 'exchange', name: 'x' })?.name, 'ex');
    assert.equal(matchPolicy(typed, { kind: 'queue', name: 'x', queueType: 'classic' }), null);
    assert.equal(matchPolicy(typed, { kind: 'queue', name: 'x', queueType: 'quorum' })?.name, 'qq');
  });

  test('operator policy merge: the lower limit, operator-only keys added, policy keys kept', () => {
    const p = policy('p', '.*', { 'max-length': 10, 'message-ttl': 100, 'dead-letter-exchange': 'd' });
    const op = parsePolicy('/', 'op', { pattern: '.*', definition: { 'max-length': 4, 'message-ttl': 500, expires: 9 } }, true);
    assert.deepEqual(mergeDefinitions(p, op), { 'max-length': 4, 'message-ttl': 100, 'dead-letter-exchange': 'd', expires: 9 });
    assert.deepEqual(mergeDefinitions(null, op), op.definition);
    assert.deepEqual(mergeDefinitions(null, null), {});
  });

  test('queue arguments vs policy: min for limits, the argument for the rest; unknown keys ignored', () => {
    const args = { 'x-max-length': 5, 'x-overflow': 'reject-publish', 'x-message-ttl': 10 };
    assert.deepEqual(effectiveQueueArgs(args, { 'max-length': 3, overflow: 'drop-head', 'message-ttl': 50, 'dead-letter-exchange': 'd', 'ha-mode': 'all' }),
      { 'x-max-length': 3, 'x-overflow': 'reject-publish', 'x-message-ttl': 10, 'x-dead-letter-exchange': 'd' });
    assert.equal(effectiveQueueArgs(args, {}), args, 'no copy when nothing applies');
    assert.equal(effectiveAlternate({ 'alternate-exchange': 'own' }, { 'alternate-exchange': 'pol' }), 'own');
    assert.equal(effectiveAlternate({}, { 'alternate-exchange': 'pol' }), 'pol');
  });

  test('erlang rendering of values in reasons', () => {
    assert.equal(erlangTerm('x'), '<<"x">>');
    assert.equal(erlangTerm(1.5), '1.5');
    assert.equal(erlangTerm([1, 'a']), '[1,<<"a">>]');
  });

  test('definitions round trip: policies, operator policies (parameters) and vhost limits', () => {
    const b = new Broker();
    b.addVhost('/');
    importDefinitions(b, {
      policies: [{ vhost: '/', name: 'p', pattern: '^a', 'apply-to': 'queues', definition: { 'max-length': 1 }, priority: 2 }],
      parameters: [
        { vhost: 'v2', component: 'operator_policy', name: 'op', value: { pattern: '.*', definition: { expires: 1000 }, priority: 0, 'apply-to': 'all' } },
        { vhost: 'v2', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 3 } },
      ],
    });
    const out = exportDefinitions(b, { rabbitmq: 'test', product: 'Warren', productVersion: 'test' });
    assert.deepEqual(out.policies, [{ vhost: '/', name: 'p', pattern: '^a', 'apply-to': 'queues', definition: { 'max-length': 1 }, priority: 2 }]);
    assert.deepEqual(out.parameters, [
      { vhost: 'v2', component: 'operator_policy', name: 'op', value: { pattern: '.*', definition: { expires: 1000 }, priority: 0, 'apply-to': 'all' } },
      { vhost: 'v2', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 3 } },
    ]);
    assert.throws(() => importDefinitions(b, { policies: [{ vhost: '/', name: 'bad', pattern: 'x', 'apply-to': 'all', definition: { nope: 1 }, priority: 0 }] }),
      /are not recognised policy settings/);
  });
});

describe('policies in the definitions store', () => {
  test('recorded per vhost, read back before queues, and dropped with their vhost', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-policy-store-'));
    try {
      const silent = pino({ level: 'silent' });
      const store = new DefinitionsStore(dir, silent);
      store.load();
      const b = new Broker();
      const v = b.addVhost('/');
      b.addVhost('gone');
      b.setPolicy(v, 'policy', 'p', policy('p', '^a', { 'max-length': 2 }));
      b.setPolicy(b.vhost('gone')!, 'operator_policy', 'op', parsePolicy('gone', 'op', { pattern: '.*', definition: { expires: 5 } }, true));
      b.setVhostLimits(b.vhost('gone')!, { 'max-queues': 1 });
      for (const name of ['/', 'gone']) recordPolicies(store, b, name);
      b.deleteVhost('gone');
      recordPolicies(store, b, 'gone');
      store.close();

      const again = new DefinitionsStore(dir, silent);
      again.load();
      const b2 = new Broker();
      b2.addVhost('/');
      b2.addVhost('gone');
      restorePolicies(b2, again);
      assert.deepEqual([...b2.vhost('/')!.policies.keys()], ['p']);
      assert.equal(b2.vhost('/')!.policies.get('p')!.regex.test('abc'), true);
      assert.equal(b2.vhost('gone')!.operatorPolicies.size, 0);
      assert.deepEqual(b2.vhost('gone')!.limits, {});
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
