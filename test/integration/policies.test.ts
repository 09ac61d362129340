// Policies and operator policies applied by the broker: each key takes effect on queues and
// exchanges that exist and on those declared later, the highest priority wins, operator policies
// cap limits, queue arguments and policies combine as in RabbitMQ, clearing a policy restores the
// queue's own behaviour, and everything survives a restart.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, bodies, drain, eventually, messageCount, publishConfirmed, sleep, texts, type Channel } from '../helpers/amqp.js';
import { deathSummary, publishOutcomes, queueExists } from '../helpers/features.js';
import { Policies } from '../helpers/policies.js';

/** Keys and apply-to values the 3.10 reference does not have (delivery-limit on classic queues, delayed retry, queue types). */
const warrenOnly = process.env.WARREN_TEST_URL ? 'not in the 3.10 reference' : false;

const exact = (name: string) => `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

describe('policies applied by the broker', { timeout: 90_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const pol = new Policies(() => broker.httpUrl);
  const made: string[] = [];
  const opMade: string[] = [];

  before(async () => { broker = await startBroker(); });
  afterEach(async () => {
    await h.closeConnections();
    for (const n of made.splice(0)) await pol.call('DELETE', `policies/%2F/${encodeURIComponent(n)}`);
    for (const n of opMade.splice(0)) await pol.call('DELETE', `operator-policies/%2F/${encodeURIComponent(n)}`);
  });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const setPolicy = async (name: string, pattern: string, definition: Record<string, unknown>, extra: { priority?: number; 'apply-to'?: string } = {}) => {
    made.push(name);
    await pol.set(name, { pattern, definition, ...extra });
  };
  const setOperatorPolicy = async (name: string, pattern: string, definition: Record<string, unknown>) => {
    opMade.push(name);
    await pol.set(name, { pattern, definition }, '/', 'operator-policies');
  };
  const count = (ch: Channel, q: string, n: number) =>
    eventually(async () => assert.equal(await messageCount(ch, q), n), `${n} messages in ${q}`);

  it('message-ttl: new messages in an existing queue and in a queue declared later expire; messages already queued keep theirs', async () => {
    const { ch } = await h.confirmChannel();
    const existing = await h.declareQueue(ch, 'ttl-existing');
    const empty = await h.declareQueue(ch, 'ttl-empty');
    await publishConfirmed(ch, '', existing, ['before']);
    const later = h.q('ttl-later');
    await setPolicy('ttl', `${exact(existing)}|${exact(empty)}|${exact(later)}`, { 'message-ttl': 100 });
    await ch.assertQueue(later, { durable: false });
    await publishConfirmed(ch, '', empty, ['a', 'b']);
    await publishConfirmed(ch, '', later, ['c']);
    await sleep(400);
    assert.equal(await messageCount(ch, empty), 0);
    assert.equal(await messageCount(ch, later), 0);
    // As RabbitMQ: a message's expiry is fixed when it arrives.
    assert.equal(await messageCount(ch, existing), 1);
  });

  it('max-length with dead-letter-exchange: lowering the limit drops the oldest already queued, dead-lettered as maxlen; new queues too', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'maxlen');
    const dlq = await h.declareQueue(ch, 'maxlen-dlq');
    await publishConfirmed(ch, '', q, bodies('m', 5));
    await setPolicy('maxlen', exact(q), { 'max-length': 2, 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq });
    await count(ch, q, 2);
    await count(ch, dlq, 3);
    const dead = await drain(ch, dlq);
    assert.deepEqual(texts(dead), ['m-0', 'm-1', 'm-2']);
    assert.deepEqual(deathSummary(dead[0]), [{ queue: q, reason: 'maxlen', count: 1 }]);
    await publishConfirmed(ch, '', q, ['m-5']);
    assert.deepEqual(texts(await drain(ch, q)), ['m-4', 'm-5']);
  });

  it('overflow reject-publish: publishes beyond max-length are nacked; clearing the policy accepts them again', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'reject');
    await setPolicy('reject', exact(q), { 'max-length': 1, overflow: 'reject-publish' });
    assert.deepEqual(await publishOutcomes(ch, '', q, ['a', 'b', 'c']), ['ack', 'nack', 'nack']);
    assert.equal(await messageCount(ch, q), 1);
    await pol.clear('reject');
    assert.deepEqual(await publishOutcomes(ch, '', q, ['d', 'e']), ['ack', 'ack']);
    assert.equal(await messageCount(ch, q), 3);
  });

  it('dead-letter-exchange from a policy takes rejected messages; the queue argument wins over it', async () => {
    const { ch } = await h.confirmChannel();
    const viaPolicy = await h.declareQueue(ch, 'dlx-policy');
    const viaArg = h.q('dlx-arg');
    const policyDlq = await h.declareQueue(ch, 'dlx-policy-dlq');
    const argDlq = await h.declareQueue(ch, 'dlx-arg-dlq');
    await ch.assertQueue(viaArg, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': argDlq } });
    await setPolicy('dlx', `${exact(viaPolicy)}|${exact(viaArg)}`, { 'dead-letter-exchange': '', 'dead-letter-routing-key': policyDlq });
    await publishConfirmed(ch, '', viaPolicy, ['p']);
    await publishConfirmed(ch, '', viaArg, ['a']);
    for (const q of [viaPolicy, viaArg]) {
      const m = await ch.get(q);
      assert.ok(m);
      ch.nack(m, false, false);
    }
    await count(ch, policyDlq, 1);
    await count(ch, argDlq, 1);
    assert.deepEqual(texts(await drain(ch, policyDlq)), ['p']);
    assert.deepEqual(texts(await drain(ch, argDlq)), ['a']);
  });

  it('alternate-exchange from a policy (apply-to exchanges) takes unroutable messages until cleared', async () => {
    const { ch } = await h.confirmChannel();
    const x = h.x('ae-src');
    const ae = h.x('ae');
    await ch.assertExchange(x, 'direct', { durable: false });
    await ch.assertExchange(ae, 'fanout', { durable: false });
    const caught = await h.declareQueue(ch, 'ae-caught');
    await ch.bindQueue(caught, ae, '');
    await setPolicy('ae', exact(x), { 'alternate-exchange': ae }, { 'apply-to': 'exchanges' });
    await publishConfirmed(ch, x, 'nowhere', ['lost-1']);
    await count(ch, caught, 1);
    await pol.clear('ae');
    made.splice(made.indexOf('ae'), 1);
    await publishConfirmed(ch, x, 'nowhere', ['lost-2']);
    await sleep(100);
    assert.deepEqual(texts(await drain(ch, caught)), ['lost-1']);
  });

  it('queues and exchanges declared after the policy get it: max-length with DLX, expires, alternate-exchange', async () => {
    const { ch } = await h.confirmChannel();
    const q = h.q('later-q');
    const gone = h.q('later-expires');
    const x = h.x('later-x');
    const ae = h.x('later-ae');
    const dlq = await h.declareQueue(ch, 'later-dlq');
    await setPolicy('later-q', exact(q), { 'max-length': 1, 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq });
    await setPolicy('later-expires', exact(gone), { expires: 150 });
    await setPolicy('later-x', exact(x), { 'alternate-exchange': ae });
    await ch.assertQueue(q, { durable: false });
    await ch.assertQueue(gone, { durable: false });
    await ch.assertExchange(ae, 'fanout', { durable: false });
    await ch.assertExchange(x, 'direct', { durable: false });
    await ch.bindQueue(q, ae, '');
    await publishConfirmed(ch, x, 'unbound', ['a', 'b']);
    assert.deepEqual(texts(await drain(ch, q)), ['b']);
    assert.deepEqual(texts(await drain(ch, dlq)), ['a']);
    await eventually(async () => assert.equal(await queueExists(ch, gone), false), 'queue expired');
  });

  it('a policy applying to queues only leaves exchanges alone, and exchanges-only leaves queues alone', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'applyto');
    await setPolicy('applyto', exact(q), { 'max-length': 1 }, { 'apply-to': 'exchanges' });
    await publishConfirmed(ch, '', q, ['a', 'b']);
    assert.equal(await messageCount(ch, q), 2);
    await setPolicy('applyto', exact(q), { 'max-length': 1 }, { 'apply-to': 'queues' });
    await count(ch, q, 1);
  });

  it('apply-to quorum_queues skips classic queues; classic_queues applies to them', { skip: warrenOnly }, async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'qtype');
    await setPolicy('qtype', exact(q), { 'max-length': 1 }, { 'apply-to': 'quorum_queues' });
    await publishConfirmed(ch, '', q, ['a', 'b']);
    assert.equal(await messageCount(ch, q), 2);
    await setPolicy('qtype', exact(q), { 'max-length': 1 }, { 'apply-to': 'classic_queues' });
    await count(ch, q, 1);
  });

  it('delivery-limit: a message returned more often than the limit is dead-lettered as delivery_limit', { skip: warrenOnly }, async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'dlimit');
    const dlq = await h.declareQueue(ch, 'dlimit-dlq');
    await setPolicy('dlimit', exact(q), { 'delivery-limit': 1, 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq });
    await publishConfirmed(ch, '', q, ['x']);
    for (let i = 0; i < 2; i++) {
      const m = await ch.get(q);
      assert.ok(m, `delivery ${i + 1}`);
      ch.nack(m, false, true);
      await sleep(50);
    }
    await count(ch, dlq, 1);
    assert.equal(await messageCount(ch, q), 0);
    const [dead] = await drain(ch, dlq);
    assert.equal(deathSummary(dead)[0].reason, 'delivery_limit');
  });

  it('expires: an unused existing queue is deleted once a policy gives it an expiry', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'expires');
    await setPolicy('expires', exact(q), { expires: 200 });
    await eventually(async () => assert.equal(await queueExists(ch, q), false), 'queue expired');
  });

  it('the highest priority wins; on equal priority the name sorting last (as RabbitMQ)', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'prio');
    await setPolicy('prio-low', exact(q), { 'max-length': 1 }, { priority: 0 });
    await setPolicy('prio-high', exact(q), { 'max-length': 3 }, { priority: 5 });
    await publishConfirmed(ch, '', q, bodies('m', 5));
    assert.equal(await messageCount(ch, q), 3);
    const tie = await h.declareQueue(ch, 'tie');
    await setPolicy('tie-a', exact(tie), { 'max-length': 4 });
    await setPolicy('tie-b', exact(tie), { 'max-length': 2 });
    await publishConfirmed(ch, '', tie, bodies('t', 5));
    assert.equal(await messageCount(ch, tie), 2);
  });

  it('an operator policy caps limits: the lower of policy and operator policy applies', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'op');
    await setPolicy('op-pol', exact(q), { 'max-length': 4 });
    await setOperatorPolicy('op-cap', exact(q), { 'max-length': 2 });
    await publishConfirmed(ch, '', q, bodies('m', 5));
    assert.equal(await messageCount(ch, q), 2);
    await setOperatorPolicy('op-cap', exact(q), { 'max-length': 10 });
    await publishConfirmed(ch, '', q, bodies('n', 5));
    assert.equal(await messageCount(ch, q), 4);
    // Without a policy, the operator policy alone applies; and it caps a queue's own argument too.
    const own = await h.declareQueue(ch, 'op-own', { 'x-max-length': 8 });
    await setOperatorPolicy('op-own', exact(own), { 'max-length': 3 });
    await publishConfirmed(ch, '', own, bodies('o', 6));
    assert.equal(await messageCount(ch, own), 3);
  });

  it('queue arguments and policies: the lower limit wins; for overflow the argument wins', async () => {
    const { ch } = await h.confirmChannel();
    const lowArg = await h.declareQueue(ch, 'low-arg', { 'x-max-length': 2 });
    const highArg = await h.declareQueue(ch, 'high-arg', { 'x-max-length': 6 });
    const argOverflow = await h.declareQueue(ch, 'arg-overflow', { 'x-overflow': 'reject-publish' });
    await setPolicy('args', `${exact(lowArg)}|${exact(highArg)}|${exact(argOverflow)}`, { 'max-length': 3, overflow: 'drop-head' });
    await publishConfirmed(ch, '', lowArg, bodies('a', 5));
    await publishConfirmed(ch, '', highArg, bodies('b', 5));
    assert.equal(await messageCount(ch, lowArg), 2);
    assert.equal(await messageCount(ch, highArg), 3);
    assert.deepEqual(await publishOutcomes(ch, '', argOverflow, ['1', '2', '3', '4']), ['ack', 'ack', 'ack', 'nack']);
  });

  it('clearing a policy restores the queue\'s own behaviour', async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'restore', { 'x-max-length': 4 });
    await setPolicy('restore', exact(q), { 'max-length': 1 });
    await publishConfirmed(ch, '', q, bodies('m', 3));
    assert.equal(await messageCount(ch, q), 1);
    await pol.clear('restore');
    made.splice(made.indexOf('restore'), 1);
    await publishConfirmed(ch, '', q, bodies('n', 5));
    assert.equal(await messageCount(ch, q), 4);
  });

  it('delayed retry from a policy: a nacked message waits, then comes back', { skip: warrenOnly }, async () => {
    const { ch } = await h.confirmChannel();
    const q = await h.declareQueue(ch, 'retry');
    await setPolicy('retry', exact(q), { 'delayed-retry-type': 'all', 'delayed-retry-min': 300 });
    await publishConfirmed(ch, '', q, ['again']);
    const m = await ch.get(q);
    assert.ok(m);
    ch.nack(m, false, true);
    await sleep(100);
    assert.equal(await messageCount(ch, q), 0, 'held back while it waits');
    await count(ch, q, 1);
  });
});

describe('policies survive a restart', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const pol = new Policies(() => broker.httpUrl);
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  it('policies, operator policies and vhost limits are kept and applied to recovered queues', { skip: process.env.WARREN_TEST_URL ? 'needs a restart' : false }, async () => {
    let { ch } = await h.confirmChannel();
    await ch.assertQueue('kept', { durable: true });
    await pol.set('keep', { pattern: '^kept$', definition: { 'max-length': 3 }, priority: 2 });
    await pol.set('cap', { pattern: '^kept$', definition: { 'max-length': 2 } }, '/', 'operator-policies');
    await pol.setLimit('/', 'max-queues', 50);
    await publishConfirmed(ch, '', 'kept', bodies('m', 5), { persistent: true });
    assert.equal(await messageCount(ch, 'kept'), 2);
    await h.closeConnections();
    await broker.restart();
    ({ ch } = await h.confirmChannel());
    const p = await pol.call('GET', 'policies/%2F/keep');
    assert.deepEqual(p.body, { vhost: '/', name: 'keep', pattern: '^kept$', 'apply-to': 'all', definition: { 'max-length': 3 }, priority: 2 });
    assert.equal((await pol.call('GET', 'operator-policies/%2F/cap')).body.definition['max-length'], 2);
    assert.deepEqual((await pol.call('GET', 'vhost-limits/%2F')).body, [{ vhost: '/', value: { 'max-queues': 50 } }]);
    await publishConfirmed(ch, '', 'kept', bodies('n', 3), { persistent: true });
    assert.deepEqual(texts(await drain(ch, 'kept')), ['n-1', 'n-2']);
    await pol.clear('cap', '/', 'operator-policies');
    await publishConfirmed(ch, '', 'kept', bodies('o', 4));
    assert.equal(await messageCount(ch, 'kept'), 3);
    await ch.deleteQueue('kept');
  });
});
