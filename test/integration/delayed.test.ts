// The delayed-message exchange (x-delayed-message) with amqplib: declaration rules, delays kept,
// due order whatever the publish order, x-delay header forms and their negation, confirms,
// mandatory, alternate exchanges at due time, every routing kind, exchange-to-exchange
// bindings, delete, and restarts (clean and kill -9) with messages pending.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsumeMessage, GetMessage } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, type Channel, type ConfirmChannel, expectChannelError, expectConnectionError, sleep, waitFor,
} from '../helpers/amqp.js';

const DELAYED = 'x-delayed-message';

/** Arrivals on a queue: body, ms since `t0`, the x-delay header as delivered. */
interface Arrival { body: string; at: number; delay: unknown; exchange: string }

async function collect(ch: Channel, queue: string, t0: () => number): Promise<Arrival[]> {
  const got: Arrival[] = [];
  await ch.consume(queue, (m: ConsumeMessage | null) => {
    if (m === null) return;
    got.push({ body: m.content.toString(), at: Date.now() - t0(), delay: m.properties.headers?.['x-delay'], exchange: m.fields.exchange });
  }, { noAck: true });
  return got;
}

/** basic.get (no-ack) until a message comes, for up to a second; false if none did. */
async function getSoon(ch: Channel, queue: string): Promise<false | GetMessage> {
  for (let i = 0; i < 50; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m) return m;
    await sleep(20);
  }
  return false;
}

describe('delayed-message exchange', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(async () => { await h.closeConnections(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });

  /** A delayed exchange of `kind` with a queue bound by `key` (or header args); returns both names. */
  const setup = async (ch: Channel, kind = 'direct', key = 'k', xargs: Record<string, unknown> = {}, bindArgs: Record<string, unknown> = {}) => {
    const x = h.x(`delayed-${kind}`);
    await ch.assertExchange(x, DELAYED, { durable: true, arguments: { 'x-delayed-type': kind, ...xargs } });
    const q = h.q(`delayed-${kind}`);
    await ch.assertQueue(q, { durable: true });
    await ch.bindQueue(q, x, key, bindArgs);
    return { x, q };
  };

  it('refuses a missing or unknown x-delayed-type as the plugin does', async () => {
    const { ch } = await h.channel();
    await expectChannelError(ch, () => ch.assertExchange(h.x('no-type'), DELAYED, {}), 406,
      "Invalid argument, 'x-delayed-type' must be an existing exchange type");
    const { ch: ch2 } = await h.channel();
    await expectChannelError(ch2, () => ch2.assertExchange(h.x('self'), DELAYED, { arguments: { 'x-delayed-type': DELAYED } }), 406,
      "'x-delayed-message' can't be used for 'x-delayed-type'");
    const { conn, ch: ch3 } = await h.channel();
    await expectConnectionError(conn, () => ch3.assertExchange(h.x('bogus'), DELAYED, { arguments: { 'x-delayed-type': 'bogus' } }), 503,
      "unknown exchange type 'bogus'");
  });

  it('checks x-delayed-type on redeclare (406 inequivalent arg)', async () => {
    const { ch } = await h.channel();
    const x = h.x('redeclare');
    await ch.assertExchange(x, DELAYED, { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertExchange(x, DELAYED, { arguments: { 'x-delayed-type': 'direct' } });
    await expectChannelError(ch, () => ch.assertExchange(x, DELAYED, { arguments: { 'x-delayed-type': 'topic' } }), 406,
      "inequivalent arg 'x-delayed-type'");
  });

  it('delivers in due order whatever the publish order, on time, with x-delay negated', async () => {
    const { ch } = await h.confirmChannel();
    const { x, q } = await setup(ch);
    let t0 = 0;
    const got = await collect(ch, q, () => t0);
    t0 = Date.now();
    for (const d of [800, 200, 600, 400, 100]) ch.publish(x, 'k', Buffer.from(String(d)), { headers: { 'x-delay': d }, persistent: true });
    await (ch as ConfirmChannel).waitForConfirms();
    const confirmedAt = Date.now() - t0;
    assert.ok(confirmedAt < 100, `confirmed after ${confirmedAt} ms, not held until due`);
    await waitFor(() => got.length === 5, 'five deliveries', 3000);
    assert.deepEqual(got.map((a) => a.body), ['100', '200', '400', '600', '800']);
    for (const a of got) {
      const d = Number(a.body);
      assert.ok(a.at >= d - 5 && a.at < d + 150, `message delayed ${d} ms arrived after ${a.at} ms`);
      assert.equal(a.delay, -d, 'x-delay negated');
      assert.equal(a.exchange, x);
    }
  });

  it('ties go in publish order', async () => {
    const { ch } = await h.confirmChannel();
    const { x, q } = await setup(ch);
    const got = await collect(ch, q, () => 0);
    // Same delay, published within the same millisecond or two: publish order decides.
    for (let i = 0; i < 50; i++) ch.publish(x, 'k', Buffer.from(String(i)), { headers: { 'x-delay': 300 } });
    await (ch as ConfirmChannel).waitForConfirms();
    await waitFor(() => got.length === 50, 'fifty deliveries', 3000);
    assert.deepEqual(got.map((a) => Number(a.body)), Array.from({ length: 50 }, (_, i) => i));
  });

  it('takes x-delay as any integer width or a numeric string; zero, negative, missing or junk route at once', async () => {
    const { ch } = await h.confirmChannel();
    const { x, q } = await setup(ch);
    let t0 = 0;
    const got = await collect(ch, q, () => t0);
    t0 = Date.now();
    const forms: [string, unknown][] = [
      ['string', '300'], ['int8', { '!': 'int8', value: 120 }], ['int64', { '!': 'int64', value: 250 }],
      ['zero', 0], ['negative', -500], ['junk', 'soon'], ['float', 150.7],
    ];
    for (const [name, v] of forms) ch.publish(x, 'k', Buffer.from(name), { headers: { 'x-delay': v } });
    ch.publish(x, 'k', Buffer.from('missing'));
    await (ch as ConfirmChannel).waitForConfirms();
    await waitFor(() => got.length === 8, 'eight deliveries', 3000);
    const at = Object.fromEntries(got.map((a) => [a.body, a.at]));
    for (const now of ['zero', 'negative', 'junk', 'missing']) assert.ok(at[now] < 80, `${now} routed at once (${at[now]} ms)`);
    assert.ok(at.int8 >= 115 && at.float >= 145 && at.int64 >= 245 && at.string >= 295, JSON.stringify(at));
    assert.deepEqual(got.filter((a) => ['string', 'int8', 'int64', 'float'].includes(a.body)).map((a) => a.body),
      ['int8', 'float', 'int64', 'string']);
    assert.equal(got.find((a) => a.body === 'string')!.delay, -300);
  });

  it('mandatory: unroutable now gets basic.return at once and is not stored; routable is held and not returned', async () => {
    const { ch } = await h.confirmChannel();
    const x = h.x('mandatory');
    await ch.assertExchange(x, DELAYED, { arguments: { 'x-delayed-type': 'direct' } });
    const returned: string[] = [];
    ch.on('return', (m: ConsumeMessage) => returned.push(m.content.toString()));
    ch.publish(x, 'nobody', Buffer.from('lost'), { headers: { 'x-delay': 200 }, mandatory: true });
    await (ch as ConfirmChannel).waitForConfirms();
    await waitFor(() => returned.length === 1, 'basic.return', 1000);
    // Bound afterwards: the returned message must not turn up.
    const q = h.q('mandatory');
    await ch.assertQueue(q);
    await ch.bindQueue(q, x, 'nobody');
    ch.publish(x, 'nobody', Buffer.from('kept'), { headers: { 'x-delay': 200 }, mandatory: true });
    await (ch as ConfirmChannel).waitForConfirms();
    await sleep(500);
    assert.deepEqual(returned, ['lost']);
    const m = await ch.get(q, { noAck: true });
    assert.ok(m && m.content.toString() === 'kept');
    assert.equal(await ch.get(q, { noAck: true }), false);
  });

  it('routes with the bindings in force when due: unbound by then goes to the alternate exchange, or is dropped', async () => {
    const { ch } = await h.confirmChannel();
    const ae = h.x('ae');
    await ch.assertExchange(ae, 'fanout');
    const aeq = h.q('ae');
    await ch.assertQueue(aeq);
    await ch.bindQueue(aeq, ae, '');
    const { x, q } = await setup(ch, 'direct', 'k', { 'alternate-exchange': ae });
    ch.publish(x, 'k', Buffer.from('to-ae'), { headers: { 'x-delay': 300 } });
    await (ch as ConfirmChannel).waitForConfirms();
    await ch.unbindQueue(q, x, 'k');
    const { x: x2, q: q2 } = await setup(ch);
    ch.publish(x2, 'k', Buffer.from('dropped'), { headers: { 'x-delay': 300 } });
    await (ch as ConfirmChannel).waitForConfirms();
    await ch.unbindQueue(q2, x2, 'k');
    await sleep(600);
    const m = await ch.get(aeq, { noAck: true });
    assert.ok(m && m.content.toString() === 'to-ae', 'the alternate exchange got it');
    assert.equal(await ch.get(q, { noAck: true }), false);
    assert.equal(await ch.get(q2, { noAck: true }), false);
  });

  for (const [kind, key, publishKey, bindArgs, headers] of [
    ['fanout', '', 'anything', {}, {}],
    ['topic', 'a.*.c', 'a.b.c', {}, {}],
    ['headers', '', '', { 'x-match': 'all', color: 'red' }, { color: 'red' }],
  ] as const) {
    it(`routes as its x-delayed-type: ${kind}`, async () => {
      const { ch } = await h.confirmChannel();
      const { x, q } = await setup(ch, kind, key, {}, bindArgs);
      const t0 = Date.now();
      ch.publish(x, publishKey, Buffer.from(kind), { headers: { ...headers, 'x-delay': 200 } });
      if (kind !== 'fanout') ch.publish(x, 'other.key', Buffer.from('miss'), { headers: { color: 'blue', 'x-delay': 100 } });
      await (ch as ConfirmChannel).waitForConfirms();
      assert.equal(await ch.get(q, { noAck: true }), false, 'nothing before it is due');
      const m = await getSoon(ch, q);
      assert.ok(m && m.content.toString() === kind, `${kind} message`);
      assert.ok(Date.now() - t0 >= 195);
      assert.equal(await ch.get(q, { noAck: true }), false, 'the other message matched nothing');
    });
  }

  it('through exchange-to-exchange bindings, both into and out of a delayed exchange', async () => {
    const { ch } = await h.confirmChannel();
    const front = h.x('front');
    await ch.assertExchange(front, 'direct');
    const { x, q } = await setup(ch);
    await ch.bindExchange(x, front, 'k');
    const t0 = Date.now();
    ch.publish(front, 'k', Buffer.from('via-front'), { headers: { 'x-delay': 250 } });
    await (ch as ConfirmChannel).waitForConfirms();
    assert.equal(await ch.get(q, { noAck: true }), false, 'not yet');
    const m = await getSoon(ch, q);
    assert.ok(m && m.content.toString() === 'via-front');
    assert.ok(Date.now() - t0 >= 245);
    // Out: the delayed exchange feeds a second delayed exchange, which must not delay again.
    const x2 = h.x('second');
    await ch.assertExchange(x2, DELAYED, { arguments: { 'x-delayed-type': 'fanout' } });
    const q2 = h.q('second');
    await ch.assertQueue(q2);
    await ch.bindQueue(q2, x2, '');
    await ch.bindExchange(x2, x, 'k');
    const t1 = Date.now();
    ch.publish(x, 'k', Buffer.from('twice'), { headers: { 'x-delay': 250 } });
    await (ch as ConfirmChannel).waitForConfirms();
    const m2 = await getSoon(ch, q2);
    assert.ok(m2, 'reached the second delayed exchange');
    const took = Date.now() - t1;
    assert.ok(took >= 245 && took < 450, `delayed once, not twice (${took} ms)`);
  });

  it('deleting the exchange discards its pending messages and their files', async (t) => {
    const { ch } = await h.confirmChannel();
    const { x, q } = await setup(ch);
    for (let i = 0; i < 100; i++) ch.publish(x, 'k', Buffer.alloc(1000), { headers: { 'x-delay': 300 + i }, persistent: true });
    await (ch as ConfirmChannel).waitForConfirms();
    // The exchange's own directory (named by a hash of vhost and name, as the store does).
    const dir = join(broker.dataDir, 'delayed', createHash('sha256').update('/').update('\0').update(x).digest('hex').slice(0, 32));
    if (!broker.external) assert.ok(existsSync(dir) && readdirSync(dir).length > 0, 'pending messages on disk');
    await ch.deleteExchange(x);
    await sleep(600);
    assert.equal(await ch.get(q, { noAck: true }), false);
    if (broker.external) return t.skip('the data directory is not ours to look at');
    assert.equal(existsSync(dir), false, 'nothing left on disk');
  });
});

describe('delayed-message exchange across restarts', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  for (const kind of ['clean', 'crash'] as const) {
    it(`${kind} restart: persistent messages of a durable delayed exchange come on time and in order; transient ones are gone`, async (t) => {
      if (broker.external) return t.skip('needs a broker the test can restart');
      const h = new Harness(() => broker.url);
      const { ch } = await h.confirmChannel();
      const x = `restart-${kind}`;
      await ch.assertExchange(x, DELAYED, { durable: true, arguments: { 'x-delayed-type': 'direct' } });
      await ch.assertQueue(x, { durable: true });
      await ch.bindQueue(x, x, 'k');
      const t0 = Date.now();
      // Due while the broker is down (overdue at start), and after it is back.
      for (const [d, persistent] of [[2500, true], [300, true], [2600, false], [1200, true], [2000, true], [400, false]] as const) {
        ch.publish(x, 'k', Buffer.from(`${d}`), { headers: { 'x-delay': d }, persistent });
      }
      await (ch as ConfirmChannel).waitForConfirms();
      await h.closeConnections();
      if (kind === 'crash') await broker.stop('SIGKILL');
      else await broker.stop();
      await sleep(Math.max(0, 800 - (Date.now() - t0)));
      await broker.restart();
      // When the broker was back, ms after t0: a slow restart on a busy machine makes more overdue.
      const back = Date.now() - t0;
      const { ch: c2 } = await h.channel();
      const got = await collect(c2, x, () => t0);
      await waitFor(() => got.length >= 4, 'four deliveries', 5000);
      await sleep(300);
      assert.deepEqual(got.map((a) => a.body), ['300', '1200', '2000', '2500'], 'persistent only, in due order');
      for (const a of got) assert.ok(a.at >= Number(a.body) - 5, `${a.body} not early (${a.at} ms)`);
      // Those that fell due while down came right after the start; the others on time.
      for (const a of got) assert.ok(a.at < Math.max(Number(a.body), back) + 650, `${a.body} late: ${JSON.stringify(got)}, back at ${back} ms`);
      await h.cleanup();
    });
  }
});
