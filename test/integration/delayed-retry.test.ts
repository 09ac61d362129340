// Retrying later: the seed mailer's doubling retry done by a client over the delayed exchange,
// the same with queue arguments only (x-delayed-retry-* with Warren's multiplier, and
// x-delivery-limit on a classic queue), what each retry type delays, and retries that wait
// across a restart.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsumeMessage } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, type ConfirmChannel, expectChannelError, sleep, waitFor } from '../helpers/amqp.js';

/** Delivery times relative to the first, and the x-delivery-count each carried. */
interface Attempt { at: number; count: unknown; redelivered: boolean }

/** Asserts gaps between attempts close to `gaps` (never early, at most `slack` ms late). */
function assertGaps(attempts: Attempt[], gaps: number[], slack = 120): void {
  assert.equal(attempts.length, gaps.length + 1, `attempts: ${JSON.stringify(attempts)}`);
  for (let i = 0; i < gaps.length; i++) {
    const gap = attempts[i + 1].at - attempts[i].at;
    assert.ok(gap >= gaps[i] - 5 && gap <= gaps[i] + slack, `gap ${i + 1}: ${gap} ms, want ${gaps[i]} (all: ${attempts.map((a) => a.at)})`);
  }
}

describe('delayed retry', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  it('the seed\'s doubling retry with the delayed exchange: republish with x-delay doubled, reject the original, give up after 5 tries', async () => {
    const { ch } = await h.confirmChannel();
    const x = h.x('mail-retry');
    await ch.assertExchange(x, 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    const q = h.q('mail');
    await ch.assertQueue(q, { durable: true });
    await ch.bindQueue(q, x, 'mail');
    const failed: string[] = [];
    const attempts: Attempt[] = [];
    let t0 = 0;
    await ch.consume(q, (m: ConsumeMessage | null) => {
      if (m === null) return;
      const tries = Number(m.properties.headers?.['x-retries'] ?? 0);
      if (attempts.length === 0) t0 = Date.now();
      attempts.push({ at: Date.now() - t0, count: tries, redelivered: m.fields.redelivered });
      // The send fails every time: retry with the delay doubled, up to 5 tries in all.
      if (tries + 1 >= 5) failed.push(m.content.toString());
      else {
        ch.publish(x, 'mail', m.content, { persistent: true, headers: { 'x-retries': tries + 1, 'x-delay': 100 * 2 ** tries } });
      }
      ch.reject(m, false);
    });
    ch.publish(x, 'mail', Buffer.from('user@example.com'), { persistent: true, headers: { 'x-retries': 0 } });
    await (ch as ConfirmChannel).waitForConfirms();
    await waitFor(() => failed.length === 1, 'the give-up', 5000);
    assertGaps(attempts, [100, 200, 400, 800]);
    assert.deepEqual(attempts.map((a) => a.count), [0, 1, 2, 3, 4]);
    await sleep(300);
    assert.equal(attempts.length, 5, 'no sixth attempt');
  });

  it('the same with queue arguments only: x-delayed-retry-min/multiplier and x-delivery-limit, dead-lettered with reason delivery_limit', async () => {
    const { ch } = await h.confirmChannel();
    const dead = await h.declareQueue(ch, 'mail-dead');
    const q = h.q('mail-args');
    await ch.assertQueue(q, { durable: true, arguments: {
      'x-delayed-retry-type': 'failed', 'x-delayed-retry-min': 100, 'x-delayed-retry-multiplier': 2,
      'x-delivery-limit': 4, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead,
    } });
    const attempts: Attempt[] = [];
    let t0 = 0;
    await ch.consume(q, (m: ConsumeMessage | null) => {
      if (m === null) return;
      if (attempts.length === 0) t0 = Date.now();
      attempts.push({ at: Date.now() - t0, count: m.properties.headers?.['x-delivery-count'], redelivered: m.fields.redelivered });
      ch.nack(m, false, true);
    });
    ch.sendToQueue(q, Buffer.from('user@example.com'), { persistent: true });
    await (ch as ConfirmChannel).waitForConfirms();
    let d: false | ConsumeMessage = false;
    await waitFor(() => attempts.length === 5, 'five attempts', 5000);
    for (let i = 0; i < 50 && !d; i++) { d = await ch.get(dead, { noAck: true }) as false | ConsumeMessage; if (!d) await sleep(20); }
    assertGaps(attempts, [100, 200, 400, 800]);
    assert.deepEqual(attempts.map((a) => a.count), [undefined, 1, 2, 3, 4]);
    assert.ok(d, 'dead-lettered');
    const death = (d.properties.headers!['x-death'] as { reason: string; queue: string }[])[0];
    assert.deepEqual([death.reason, death.queue], ['delivery_limit', q]);
  });

  it('linear back-off capped by x-delayed-retry-max (RabbitMQ 4.3: min × delivery count)', async () => {
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'linear', { 'x-delayed-retry-type': 'all', 'x-delayed-retry-min': 100, 'x-delayed-retry-max': 250 });
    const attempts: Attempt[] = [];
    let t0 = 0;
    await ch.consume(q, (m: ConsumeMessage | null) => {
      if (m === null) return;
      if (attempts.length === 0) t0 = Date.now();
      attempts.push({ at: Date.now() - t0, count: m.properties.headers?.['x-delivery-count'], redelivered: m.fields.redelivered });
      if (attempts.length < 5) ch.reject(m, true);
      else ch.ack(m);
    });
    ch.sendToQueue(q, Buffer.from('x'));
    await waitFor(() => attempts.length === 5, 'five attempts', 5000);
    assertGaps(attempts, [100, 200, 250, 250]);
  });

  it('retry type "failed" delays rejects but not messages of a closed channel; "returned" the other way round', async () => {
    const { ch } = await h.channel();
    for (const type of ['failed', 'returned'] as const) {
      const q = await h.declareQueue(ch, `type-${type}`, { 'x-delayed-retry-type': type, 'x-delayed-retry-min': 400 });
      // A reject with requeue.
      ch.sendToQueue(q, Buffer.from('r'));
      const c1 = await h.connect();
      const ch1 = await c1.createChannel();
      const m1 = await (async () => { for (let i = 0; i < 50; i++) { const m = await ch1.get(q); if (m) return m; await sleep(10); } return false; })();
      assert.ok(m1);
      ch1.reject(m1, true);
      await sleep(100);
      const afterReject = await ch.get(q, { noAck: true });
      assert.equal(afterReject !== false, type === 'returned', `${type}: a rejected message is ${type === 'returned' ? 'back at once' : 'held back'}`);
      // A delivery left unacked when its channel closes.
      ch.sendToQueue(q, Buffer.from('c'));
      const ch2 = await c1.createChannel();
      const m2 = await (async () => { for (let i = 0; i < 50; i++) { const m = await ch2.get(q); if (m) return m; await sleep(10); } return false; })();
      assert.ok(m2 && m2.content.toString() === 'c');
      await ch2.close();
      await sleep(100);
      const afterClose = await ch.get(q, { noAck: true });
      assert.equal(afterClose !== false && afterClose.content.toString() === 'c', type === 'failed',
        `${type}: a message of a closed channel is ${type === 'failed' ? 'back at once' : 'held back'}`);
      await sleep(500);
      const later = [];
      for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true })) later.push(m.content.toString());
      assert.deepEqual(later, [type === 'failed' ? 'r' : 'c'], `${type}: the held-back message came back after the delay`);
      await c1.close();
    }
  });

  it('x-delivery-limit on a classic queue without retry: delivered at most limit + 1 times, then dropped without a DLX', async () => {
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'limit', { 'x-delivery-limit': 2 });
    ch.sendToQueue(q, Buffer.from('poison'));
    let deliveries = 0;
    for (let i = 0; i < 100; i++) {
      const m = await ch.get(q);
      if (!m) { if (deliveries >= 3) break; await sleep(10); continue; }
      deliveries++;
      ch.nack(m, false, true);
    }
    assert.equal(deliveries, 3);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
  });

  it('refuses bad retry arguments with 406', async () => {
    for (const [args, what] of [
      [{ 'x-delayed-retry-type': 'sometimes' }, "invalid arg 'x-delayed-retry-type'"],
      [{ 'x-delayed-retry-min': 0 }, "invalid arg 'x-delayed-retry-min'"],
      [{ 'x-delivery-limit': -1 }, "invalid arg 'x-delivery-limit'"],
      [{ 'x-delayed-retry-multiplier': 'two' }, "invalid arg 'x-delayed-retry-multiplier'"],
    ] as const) {
      const { ch } = await h.channel();
      await expectChannelError(ch, () => ch.assertQueue(h.q('bad-args'), { arguments: args }), 406, what);
    }
  });
});

describe('delayed retries across restarts', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  for (const kind of ['clean', 'crash'] as const) {
    it(`${kind} restart: a persistent message waiting for its retry comes back after its time`, async (t) => {
      if (broker.external) return t.skip('needs a broker the test can restart');
      const h = new Harness(() => broker.url);
      const { ch } = await h.confirmChannel();
      const q = `retry-restart-${kind}`;
      await ch.assertQueue(q, { durable: true, arguments: { 'x-delayed-retry-type': 'all', 'x-delayed-retry-min': 1500 } });
      ch.sendToQueue(q, Buffer.from('wait'), { persistent: true });
      await (ch as ConfirmChannel).waitForConfirms();
      const m = await ch.get(q);
      assert.ok(m);
      const t0 = Date.now();
      ch.nack(m, false, true);
      await sleep(300); // the retry copy is on disk
      await h.closeConnections();
      if (kind === 'crash') await broker.stop('SIGKILL');
      else await broker.stop();
      await broker.restart();
      const { ch: c2 } = await h.channel();
      // A restart slower than the retry delay (a busy machine) leaves nothing to check here; the
      // time check below still proves it did not come early.
      const count = (await c2.checkQueue(q)).messageCount;
      if (Date.now() - t0 < 1450) assert.equal(count, 0, 'not back before its time');
      let back: false | { content: Buffer; properties: { headers?: Record<string, unknown> } } = false;
      for (let i = 0; i < 200 && !back; i++) { back = await c2.get(q, { noAck: true }); if (!back) await sleep(20); }
      assert.ok(back && back.content.toString() === 'wait', 'came back');
      assert.ok(Date.now() - t0 >= 1495, `after ${Date.now() - t0} ms`);
      assert.equal(back.properties.headers?.['x-delivery-count'], 1);
      await sleep(200);
      assert.equal(await c2.get(q, { noAck: true }), false, 'exactly once');
      await c2.deleteQueue(q);
      await h.cleanup();
    });
  }
});
