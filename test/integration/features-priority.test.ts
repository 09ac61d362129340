// Priority queues (x-max-priority), single active consumer (x-single-active-consumer) and
// consumer priorities (x-priority on basic.consume).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, bodies, consume, drain, expectChannelError, messageCount, openChannel, publishConfirmed, sleep, texts,
  type ConfirmChannel, type GetMessage,
} from '../helpers/amqp.js';

describe('features: priorities and single active consumer', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });


  /** Publishes [body, priority?] pairs in order and waits for the confirms. */
  const publishPrioritised = async (ch: ConfirmChannel, q: string, msgs: [string, number?][]) => {
    for (const [body, priority] of msgs) {
      ch.sendToQueue(q, Buffer.from(body), priority === undefined ? {} : { priority });
    }
    await ch.waitForConfirms();
  };

  describe('priority queues (x-max-priority)', () => {
    it('delivers higher priorities first, FIFO within a priority, no priority counting as 0', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'prio', { 'x-max-priority': 10 });
      await publishPrioritised(ch, q, [
        ['p1-a', 1], ['p5-a', 5], ['none-a'], ['p5-b', 5], ['p10-a', 10], ['p0-a', 0], ['p1-b', 1], ['none-b'], ['p10-b', 10],
      ]);
      assert.equal(await messageCount(ch, q), 9);
      const expected = ['p10-a', 'p10-b', 'p5-a', 'p5-b', 'p1-a', 'p1-b', 'none-a', 'p0-a', 'none-b'];
      // Through a consumer with prefetch 1 (acking one at a time) ...
      const sub = await h.channel();
      await sub.ch.prefetch(1);
      const c = await consume(sub.ch, q, {}, true);
      const got = await c.take(9);
      assert.deepEqual(texts(got), expected);
      assert.deepEqual(got.map((m) => m.properties.priority), [10, 10, 5, 5, 1, 1, undefined, 0, undefined]);
      await c.cancel();
      // ... and through basic.get.
      await publishPrioritised(ch, q, [['g-low', 2], ['g-high', 9], ['g-none']]);
      assert.deepEqual(texts(await drain(ch, q)), ['g-high', 'g-low', 'g-none']);
    });

    it('treats priorities above the maximum as the maximum (and delivers the property unchanged)', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'prio-cap', { 'x-max-priority': 5 });
      await publishPrioritised(ch, q, [['a-5', 5], ['b-9', 9], ['c-255', 255], ['d-5', 5], ['e-4', 4], ['f-200', 200]]);
      const got = await drain(ch, q);
      assert.deepEqual(texts(got), ['a-5', 'b-9', 'c-255', 'd-5', 'f-200', 'e-4']);
      assert.deepEqual(got.map((m) => m.properties.priority), [5, 9, 255, 5, 200, 4]);
    });

    it('a queue without x-max-priority ignores priorities (FIFO)', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'prio-none');
      await publishPrioritised(ch, q, [['a', 1], ['b', 9], ['c'], ['d', 5]]);
      assert.deepEqual(texts(await drain(ch, q)), ['a', 'b', 'c', 'd']);
    });

    it('requeued messages go back to their priority, ahead of newer messages of that priority', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'prio-requeue', { 'x-max-priority': 10 });
      await publishPrioritised(ch, q, [['a-5', 5], ['b-5', 5], ['c-1', 1], ['d-1', 1]]);
      const held: GetMessage[] = [];
      for (let i = 0; i < 3; i++) {
        const m = await ch.get(q, { noAck: false });
        assert.ok(m);
        held.push(m);
      }
      assert.deepEqual(texts(held), ['a-5', 'b-5', 'c-1']);
      await publishPrioritised(ch, q, [['e-5', 5], ['f-1', 1], ['g-7', 7]]);
      ch.nackAll(true);
      const got = await drain(ch, q);
      assert.deepEqual(texts(got), ['g-7', 'a-5', 'b-5', 'e-5', 'c-1', 'd-1', 'f-1']);
      assert.deepEqual(got.map((m) => m.fields.redelivered), [false, true, true, false, true, false, false]);
    });

    it('a requeued message alone goes back to the head of its priority', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'prio-requeue-one', { 'x-max-priority': 3 });
      await publishPrioritised(ch, q, [['x-3', 3], ['y-3', 3], ['z-0']]);
      const first = await ch.get(q, { noAck: false });
      assert.ok(first);
      ch.reject(first, true);
      assert.deepEqual(texts(await drain(ch, q)), ['x-3', 'y-3', 'z-0']);
    });
  });

  describe('single active consumer', () => {
    it('delivers only to the first consumer; on cancel the next one in registration order takes over', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'sac', { 'x-single-active-consumer': true });
      const conn = await h.connect();
      const chans = [await openChannel(conn), await openChannel(conn), await openChannel(conn)];
      const cs = [];
      for (const c of chans) cs.push(await consume(c, q, { noAck: true }));
      assert.equal((await ch.checkQueue(q)).consumerCount, 3, 'all three are registered');
      await publishConfirmed(ch, '', q, bodies('one', 4));
      assert.deepEqual(texts(await cs[0].take(4)), bodies('one', 4));
      await cs[0].cancel();
      await publishConfirmed(ch, '', q, bodies('two', 3));
      assert.deepEqual(texts(await cs[1].take(3)), bodies('two', 3));
      await cs[1].cancel();
      await publishConfirmed(ch, '', q, bodies('three', 2));
      assert.deepEqual(texts(await cs[2].take(2)), bodies('three', 2));
      await sleep(50);
      assert.deepEqual(cs.map((c) => c.messages.length), [4, 3, 2], 'nobody else got anything');
    });

    // Regression (differential testing): Warren granted it.
    it('refuses an exclusive consumer on a single-active-consumer queue (403)', async () => {
      const { conn, ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'sac-exclusive', { 'x-single-active-consumer': true });
      const c = await openChannel(conn);
      await expectChannelError(c, () => c.consume(q, () => {}, { exclusive: true }), 403,
        `ACCESS_REFUSED - queue '${q}' in vhost '/' in exclusive use`);
    });

    it('when the active consumer goes away its unacked messages go to the next consumer, in order', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'sac-close', { 'x-single-active-consumer': true });
      const first = await h.channel();
      const second = await h.channel();
      const c1 = await consume(first.ch, q);
      const c2 = await consume(second.ch, q);
      await publishConfirmed(ch, '', q, bodies('m', 3));
      await c1.take(3);
      first.ch.ack(c1.messages[0]);
      await first.ch.checkQueue(q); // a round trip on that channel: the ack has been processed
      await first.conn.close();
      const got = await c2.take(2);
      assert.deepEqual(texts(got), ['m-1', 'm-2']);
      assert.deepEqual(got.map((m) => m.fields.redelivered), [true, true]);
      await publishConfirmed(ch, '', q, ['m-3']);
      assert.deepEqual(texts(await c2.take(3)), ['m-1', 'm-2', 'm-3']);
    });

    // Regression: consumers of equal x-priority took turns, so the active one changed.
    it('stays with one active consumer when the consumers have equal x-priority', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'sac-prio', { 'x-single-active-consumer': true });
      const conn = await h.connect();
      const a = await consume(await openChannel(conn), q, { noAck: true, arguments: { 'x-priority': 5 } });
      const b = await consume(await openChannel(conn), q, { noAck: true, arguments: { 'x-priority': 5 } });
      await publishConfirmed(ch, '', q, bodies('p', 6));
      assert.deepEqual(texts(await a.take(6)), bodies('p', 6));
      await sleep(50);
      assert.equal(b.messages.length, 0, 'the second consumer got messages while the first was active');
    });

    it('a consumer registered later waits even while the active one is blocked by prefetch', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'sac-prefetch', { 'x-single-active-consumer': true });
      const first = await h.channel();
      const second = await h.channel();
      await first.ch.prefetch(1);
      const c1 = await consume(first.ch, q);
      const c2 = await consume(second.ch, q);
      await publishConfirmed(ch, '', q, bodies('m', 3));
      await c1.take(1);
      await sleep(50);
      assert.equal(c2.messages.length, 0, 'the waiting consumer gets nothing');
      assert.equal(await messageCount(ch, q), 2);
      first.ch.ack(c1.messages[0]);
      assert.deepEqual(texts(await c1.take(2)), ['m-0', 'm-1']);
    });
  });

  describe('consumer priorities (x-priority)', () => {
    it('the higher-priority consumer gets messages while it has credit, then the lower one', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'cprio');
      const lo = await h.channel();
      const hi = await h.channel();
      await lo.ch.prefetch(3);
      await hi.ch.prefetch(3);
      // The low-priority consumer registers first: round-robin would start with it.
      const cLo = await consume(lo.ch, q);
      const cHi = await consume(hi.ch, q, { priority: 10 });
      await publishConfirmed(ch, '', q, bodies('m', 8));
      assert.deepEqual(texts(await cHi.take(3)), ['m-0', 'm-1', 'm-2']);
      assert.deepEqual(texts(await cLo.take(3)), ['m-3', 'm-4', 'm-5']);
      assert.equal(await messageCount(ch, q), 2, 'both are out of credit');
      hi.ch.ackAll();
      assert.deepEqual(texts(await cHi.take(5)), ['m-0', 'm-1', 'm-2', 'm-6', 'm-7']);
      await sleep(50);
      assert.equal(cLo.messages.length, 3);
    });

    it('with credit to spare everything goes to the highest priority; equal priorities share', async () => {
      const { ch } = await h.confirmChannel();
      const q = await h.declareQueue(ch, 'cprio-all');
      const conn = await h.connect();
      const [c0, c5a, c5b, cNeg] = [await openChannel(conn), await openChannel(conn), await openChannel(conn), await openChannel(conn)];
      const low = await consume(c0, q, { noAck: true });
      const top = await consume(c5a, q, { noAck: true, priority: 5 });
      const negative = await consume(cNeg, q, { noAck: true, priority: -3 });
      await publishConfirmed(ch, '', q, bodies('a', 6));
      assert.deepEqual(texts(await top.take(6)), bodies('a', 6));
      const top2 = await consume(c5b, q, { noAck: true, priority: 5 });
      await publishConfirmed(ch, '', q, bodies('b', 6));
      // Round-robin between the two priority-5 consumers; nothing for the lower ones.
      await top.take(9);
      await top2.take(3);
      assert.deepEqual([...texts(top.messages.slice(6)), ...texts(top2.messages)].sort(), bodies('b', 6));
      assert.deepEqual([low.messages.length, negative.messages.length], [0, 0]);
      await top.cancel();
      await top2.cancel();
      await publishConfirmed(ch, '', q, bodies('c', 3));
      assert.deepEqual(texts(await low.take(3)), bodies('c', 3), 'priority 0 beats -3');
      await low.cancel();
      await publishConfirmed(ch, '', q, bodies('d', 2));
      assert.deepEqual(texts(await negative.take(2)), bodies('d', 2));
    });
  });
});
