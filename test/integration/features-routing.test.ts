// Routing features: sender-selected distribution (CC / BCC headers), alternate exchange chains
// with mandatory, and exchange-to-exchange bindings combining topic and fanout exchanges.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, drain, publishConfirmed, sleep, texts, type Channel, type ConfirmChannel,
} from '../helpers/amqp.js';
import { collectReturns } from '../helpers/features.js';

describe('features: CC/BCC, alternate exchanges, exchange-to-exchange bindings', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const exchange = async (ch: Channel, name: string, type: string, args: Record<string, unknown> = {}) => {
    const x = h.x(name);
    await ch.assertExchange(x, type, { durable: false, arguments: args });
    return x;
  };

  /** Queues bound to `x`, one per key (a fresh queue for each). */
  const boundQueues = async (ch: Channel, x: string, keys: string[]) => {
    const qs: Record<string, string> = {};
    for (const k of keys) {
      const q = h.q(`key-${k}`);
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, x, k);
      qs[k] = q;
    }
    return qs;
  };

  describe('sender-selected distribution', () => {
    it('CC and BCC headers route to extra routing keys, one copy per queue', async () => {
      const { ch } = await h.confirmChannel();
      const x = await exchange(ch, 'ssd', 'direct');
      const qs = await boundQueues(ch, x, ['a', 'b', 'c', 'd', 'e']);
      await publishConfirmed(ch, x, 'a', ['m1'], { headers: { CC: ['b', 'a'], BCC: ['c', 'b'] } });
      await publishConfirmed(ch, x, 'nothing', ['m2'], { headers: { CC: ['e'] } });
      const got: Record<string, string[]> = {};
      for (const [k, q] of Object.entries(qs)) got[k] = texts(await drain(ch, q));
      assert.deepEqual(got, { a: ['m1'], b: ['m1'], c: ['m1'], d: [], e: ['m2'] });
    });

    it('keeps the CC header and the original routing key on every copy', async () => {
      const { ch } = await h.confirmChannel();
      const x = await exchange(ch, 'ssd-cc', 'direct');
      const qs = await boundQueues(ch, x, ['main', 'copy']);
      await publishConfirmed(ch, x, 'main', ['m'], { headers: { CC: ['copy'], other: 'kept' } });
      for (const q of Object.values(qs)) {
        const [m] = await drain(ch, q);
        assert.equal(m.fields.routingKey, 'main');
        assert.deepEqual(m.properties.headers, { CC: ['copy'], other: 'kept' });
      }
    });

    it('removes the BCC header before delivery', async () => {
      const { ch } = await h.confirmChannel();
      const x = await exchange(ch, 'ssd-bcc', 'direct');
      const qs = await boundQueues(ch, x, ['to', 'hidden']);
      await publishConfirmed(ch, x, 'to', ['secret'], { headers: { BCC: ['hidden'], other: 'kept' } });
      for (const q of Object.values(qs)) {
        const [m] = await drain(ch, q);
        assert.equal(m.content.toString(), 'secret');
        assert.deepEqual(m.properties.headers, { other: 'kept' }, 'BCC must not be delivered');
      }
    });

    it('CC works with topic exchanges too', async () => {
      const { ch } = await h.confirmChannel();
      const x = await exchange(ch, 'ssd-topic', 'topic');
      const qs = await boundQueues(ch, x, ['logs.*', 'audit.#']);
      await publishConfirmed(ch, x, 'logs.app', ['m'], { headers: { CC: ['audit.app.x'] } });
      assert.deepEqual(texts(await drain(ch, qs['logs.*'])), ['m']);
      assert.deepEqual(texts(await drain(ch, qs['audit.#'])), ['m']);
    });
  });

  describe('alternate exchanges and mandatory', () => {
    const publishMandatory = async (ch: ConfirmChannel, x: string, key: string, body: string) => {
      ch.publish(x, key, Buffer.from(body), { mandatory: true });
      // basic.return (if any) arrives before the basic.ack.
      await ch.waitForConfirms();
    };

    it('a message routed by the alternate exchange is not returned', async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const ae = await exchange(ch, 'ae', 'fanout');
      const x = await exchange(ch, 'ae-main', 'direct', { 'alternate-exchange': ae });
      const main = await boundQueues(ch, x, ['known']);
      const [aeq] = Object.values(await boundQueues(ch, ae, ['']));
      await publishMandatory(ch, x, 'unknown', 'to-ae');
      await publishMandatory(ch, x, 'known', 'direct-hit');
      assert.equal(returned.length, 0);
      const [m] = await drain(ch, aeq);
      assert.equal(m.content.toString(), 'to-ae');
      assert.equal(m.fields.exchange, x, 'delivered as published to the original exchange');
      assert.equal(m.fields.routingKey, 'unknown');
      assert.equal((await drain(ch, aeq)).length, 0);
      assert.deepEqual(texts(await drain(ch, main.known)), ['direct-hit'], 'routable messages do not go to the AE');
    });

    it("follows a chain of alternate exchanges (the AE's own AE)", async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const last = await exchange(ch, 'ae-last', 'fanout');
      const middle = await exchange(ch, 'ae-middle', 'topic', { 'alternate-exchange': last });
      const first = await exchange(ch, 'ae-first', 'direct', { 'alternate-exchange': middle });
      const mid = await boundQueues(ch, middle, ['mid.#']);
      const [end] = Object.values(await boundQueues(ch, last, ['']));
      await publishMandatory(ch, first, 'mid.x', 'caught-by-middle');
      await publishMandatory(ch, first, 'other', 'caught-by-last');
      assert.equal(returned.length, 0);
      assert.deepEqual(texts(await drain(ch, mid['mid.#'])), ['caught-by-middle']);
      assert.deepEqual(texts(await drain(ch, end)), ['caught-by-last']);
    });

    it('returns a mandatory message with 312 NO_ROUTE when the alternate exchange cannot route it either', async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const ae = await exchange(ch, 'ae-empty', 'direct');
      const x = await exchange(ch, 'ae-main-2', 'direct', { 'alternate-exchange': ae });
      await boundQueues(ch, ae, ['elsewhere']);
      await publishMandatory(ch, x, 'nowhere', 'lost');
      assert.equal(returned.length, 1);
      const r = returned[0] as typeof returned[0] & { fields: { replyCode: number; replyText: string } };
      assert.equal(r.content.toString(), 'lost');
      assert.deepEqual([r.fields.replyCode, r.fields.replyText, r.fields.exchange, r.fields.routingKey],
        [312, 'NO_ROUTE', x, 'nowhere'], 'returned from the original exchange');
      // Without mandatory it is silently dropped.
      await publishConfirmed(ch, x, 'nowhere', ['dropped']);
      assert.equal(returned.length, 1);
    });

    it('an alternate exchange that does not exist is ignored (mandatory returns)', async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const x = await exchange(ch, 'ae-missing', 'direct', { 'alternate-exchange': h.x('never-declared') });
      await publishMandatory(ch, x, 'k', 'returned');
      assert.deepEqual(texts(returned), ['returned']);
    });

    it('alternate exchanges that point at each other stop instead of looping', async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const nameA = h.x('ae-loop-a');
      const nameB = h.x('ae-loop-b');
      await ch.assertExchange(nameA, 'direct', { durable: false, arguments: { 'alternate-exchange': nameB } });
      await ch.assertExchange(nameB, 'direct', { durable: false, arguments: { 'alternate-exchange': nameA } });
      const qs = await boundQueues(ch, nameB, ['b-key']);
      await publishMandatory(ch, nameA, 'b-key', 'routed-by-b');
      await publishMandatory(ch, nameA, 'none', 'returned');
      assert.deepEqual(texts(returned), ['returned']);
      assert.deepEqual(texts(await drain(ch, qs['b-key'])), ['routed-by-b']);
    });

    it('a message routed through an exchange binding to an exchange with no queues is returned', async () => {
      const { ch } = await h.confirmChannel();
      const returned = collectReturns(ch);
      const src = await exchange(ch, 'e2e-src-ret', 'topic');
      const dst = await exchange(ch, 'e2e-dst-ret', 'fanout');
      await ch.bindExchange(dst, src, '#');
      await publishMandatory(ch, src, 'a.b', 'dead-end');
      assert.deepEqual(texts(returned), ['dead-end']);
    });
  });

  describe('exchange-to-exchange bindings', () => {
    it('topic -> fanout and topic -> queue paths to the same queue deliver one copy', async () => {
      const { ch } = await h.confirmChannel();
      const topic = await exchange(ch, 'e2e-topic', 'topic');
      const fan = await exchange(ch, 'e2e-fan', 'fanout');
      const q = h.q('e2e-q');
      await ch.assertQueue(q, { durable: false });
      await ch.bindExchange(fan, topic, 'orders.*');
      await ch.bindQueue(q, fan, '');
      await ch.bindQueue(q, topic, 'orders.#');
      await publishConfirmed(ch, topic, 'orders.new', ['both-paths']);
      await publishConfirmed(ch, topic, 'orders.eu.new', ['topic-path-only']);
      await publishConfirmed(ch, topic, 'invoices.new', ['no-path']);
      await publishConfirmed(ch, fan, 'anything', ['fanout-direct']);
      const got = await drain(ch, q);
      assert.deepEqual(texts(got), ['both-paths', 'topic-path-only', 'fanout-direct']);
      assert.deepEqual(got.map((m) => [m.fields.exchange, m.fields.routingKey]),
        [[topic, 'orders.new'], [topic, 'orders.eu.new'], [fan, 'anything']], 'exchange as published to, key unchanged');
    });

    it('fanout -> two topic exchanges -> one queue: one copy, routing key preserved through the hops', async () => {
      const { ch } = await h.confirmChannel();
      const fan = await exchange(ch, 'e2e-fan-src', 'fanout');
      const t1 = await exchange(ch, 'e2e-t1', 'topic');
      const t2 = await exchange(ch, 'e2e-t2', 'topic');
      await ch.bindExchange(t1, fan, '');
      await ch.bindExchange(t2, fan, '');
      const q = h.q('e2e-two-topics');
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, t1, 'a.*');
      await ch.bindQueue(q, t2, '*.b');
      await ch.bindQueue(q, t2, '#');
      for (const key of ['a.b', 'a.c', 'z.b', 'z']) await publishConfirmed(ch, fan, key, [key]);
      assert.deepEqual(texts(await drain(ch, q)), ['a.b', 'a.c', 'z.b', 'z']);
    });

    it('a cycle of exchange bindings delivers one copy and terminates', async () => {
      const { ch } = await h.confirmChannel();
      const f1 = await exchange(ch, 'e2e-cycle-1', 'fanout');
      const f2 = await exchange(ch, 'e2e-cycle-2', 'fanout');
      const t3 = await exchange(ch, 'e2e-cycle-3', 'topic');
      await ch.bindExchange(f2, f1, '');
      await ch.bindExchange(t3, f2, '');
      await ch.bindExchange(f1, t3, '#');
      const q1 = h.q('e2e-cycle-q1');
      const q2 = h.q('e2e-cycle-q2');
      await ch.assertQueue(q1, { durable: false });
      await ch.assertQueue(q2, { durable: false });
      await ch.bindQueue(q1, f1, '');
      await ch.bindQueue(q1, t3, 'x.#');
      await ch.bindQueue(q2, f2, '');
      await publishConfirmed(ch, f2, 'x.y', ['loop']);
      await sleep(30);
      assert.deepEqual(texts(await drain(ch, q1)), ['loop']);
      assert.deepEqual(texts(await drain(ch, q2)), ['loop']);
    });

    it('unbinding an exchange removes only that path', async () => {
      const { ch } = await h.confirmChannel();
      const topic = await exchange(ch, 'e2e-unbind-t', 'topic');
      const fan = await exchange(ch, 'e2e-unbind-f', 'fanout');
      const q = h.q('e2e-unbind-q');
      await ch.assertQueue(q, { durable: false });
      await ch.bindExchange(fan, topic, 'a.#');
      await ch.bindExchange(fan, topic, 'b.#');
      await ch.bindQueue(q, fan, '');
      await ch.unbindExchange(fan, topic, 'a.#');
      await publishConfirmed(ch, topic, 'a.1', ['a']);
      await publishConfirmed(ch, topic, 'b.1', ['b']);
      assert.deepEqual(texts(await drain(ch, q)), ['b']);
    });
  });
});
