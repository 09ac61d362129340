// Dead-lettering: reasons 'rejected' and 'expired' (maxlen is in features-limits), the DLX of
// every exchange type including the default exchange, x-dead-letter-routing-key, the x-death
// header field by field (and its AMQP wire types), x-first-death-*, repeated dead-lettering,
// the delayed-retry pattern, automatic cycles, and a missing DLX.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, consume, drain, eventually, messageCount, publishConfirmed, sleep, texts,
  type Channel, type ChannelModel, type ConsumeMessage, type GetMessage,
} from '../helpers/amqp.js';
import { CloudClients } from '../helpers/cloudamqp.js';
import {
  assertDeathEntry, deathSummary, elementTypes, fieldTypes, isPre313RabbitMQ, recordFieldTypes, xDeath,
} from '../helpers/features.js';

describe('features: dead-lettering', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const cloud = new CloudClients(() => broker.url);

  before(async () => { broker = await startBroker(); recordFieldTypes(); });
  afterEach(async () => { await h.closeConnections(); await cloud.closeAll(); });
  after(async () => { await h.cleanup(); await broker?.stop(); });


  /** Waits until `q` holds `n` ready messages, then takes them all (auto-ack). */
  const collect = async (ch: Channel, q: string, n: number): Promise<GetMessage[]> => {
    await eventually(async () => assert.equal(await messageCount(ch, q), n), `${n} messages in ${q}`);
    return drain(ch, q);
  };

  /** basic.get without ack, asserting a message is there. */
  const getOne = async (ch: Channel, q: string): Promise<GetMessage> => {
    const m = await ch.get(q, { noAck: false });
    assert.ok(m, `a message in ${q}`);
    return m;
  };

  /**
   * The death headers besides x-death: x-first-death-* always; x-last-death-* since RabbitMQ
   * 3.13 (not asserted against an older reference RabbitMQ).
   */
  const assertDeathHeaders = (
    conn: ChannelModel,
    m: { properties: { headers?: Record<string, unknown> } },
    first: { reason: string; queue: string; exchange: string },
    last: { reason: string; queue: string; exchange: string },
    otherHeaders: Record<string, unknown> = {},
  ) => {
    const headers = { ...m.properties.headers };
    delete headers['x-death'];
    const expected: Record<string, unknown> = {
      ...otherHeaders,
      'x-first-death-reason': first.reason,
      'x-first-death-queue': first.queue,
      'x-first-death-exchange': first.exchange,
    };
    if (!isPre313RabbitMQ(conn)) {
      // RabbitMQ 3.13 also sets x-last-death-reason/queue/exchange (3.10 does not).
      Object.assign(expected, {
        'x-last-death-reason': last.reason,
        'x-last-death-queue': last.queue,
        'x-last-death-exchange': last.exchange,
      });
    }
    assert.deepEqual(headers, expected);
  };

  it("reject and nack with requeue=false dead-letter with reason 'rejected' and a complete x-death", async () => {
    const { conn, ch } = await h.confirmChannel();
    const work = h.x('dl-work');
    const dlx = h.x('dl-dlx');
    await ch.assertExchange(work, 'direct', { durable: false });
    await ch.assertExchange(dlx, 'direct', { durable: false });
    const q = await h.declareQueue(ch, 'dl-src', { 'x-dead-letter-exchange': dlx });
    const dlq = await h.declareQueue(ch, 'dl-dlq');
    await ch.bindQueue(q, work, 'task.k');
    await ch.bindQueue(dlq, dlx, 'task.k');
    const props = {
      headers: { app: 'v', n: 7 }, messageId: 'mid-1', correlationId: 'cid-1', contentType: 'text/plain',
      persistent: true, priority: 3, type: 't', appId: 'features',
    };
    const t0 = Date.now();
    await publishConfirmed(ch, work, 'task.k', ['by-reject', 'by-nack'], props);
    ch.reject(await getOne(ch, q), false);
    ch.nack(await getOne(ch, q), false, false);
    const got = await collect(ch, dlq, 2);
    const t1 = Date.now();
    assert.deepEqual(texts(got), ['by-reject', 'by-nack']);
    assert.equal(await messageCount(ch, q), 0);
    for (const m of got) {
      assert.equal(m.fields.exchange, dlx, 'delivered from the DLX');
      assert.equal(m.fields.routingKey, 'task.k', 'original routing key kept');
      assert.equal(m.fields.redelivered, false);
      assert.equal(m.properties.messageId, 'mid-1');
      assert.equal(m.properties.correlationId, 'cid-1');
      assert.equal(m.properties.contentType, 'text/plain');
      assert.equal(m.properties.deliveryMode, 2);
      assert.equal(m.properties.priority, 3);
      assert.equal(m.properties.type, 't');
      assert.equal(m.properties.appId, 'features');
      const deaths = xDeath(m);
      assert.equal(deaths.length, 1);
      assertDeathEntry(deaths[0], { count: 1, reason: 'rejected', queue: q, exchange: work, routingKeys: ['task.k'] }, t0, t1);
      assertDeathHeaders(conn, m, { reason: 'rejected', queue: q, exchange: work }, { reason: 'rejected', queue: q, exchange: work }, { app: 'v', n: 7 });
    }
  });

  it('encodes x-death with AMQP types: count long, time timestamp, routing-keys array of strings', async () => {
    const { ch } = await h.confirmChannel();
    const dlx = h.x('dl-types');
    await ch.assertExchange(dlx, 'fanout', { durable: false });
    const q = await h.declareQueue(ch, 'dl-types-src', { 'x-dead-letter-exchange': dlx });
    const dlq = await h.declareQueue(ch, 'dl-types-dlq');
    await ch.bindQueue(dlq, dlx, '');
    await publishConfirmed(ch, '', q, ['typed'], { expiration: '60000' });
    ch.reject(await getOne(ch, q), false);
    await eventually(async () => assert.equal(await messageCount(ch, dlq), 1), 'dead-lettered');

    const cch = await (await cloud.connect()).channel();
    const m = await cch.basicGet(dlq, { noAck: true });
    assert.ok(m);
    const headers = m.properties.headers!;
    const top = fieldTypes(headers);
    assert.equal(top['x-death'], 'A', 'x-death is a field array');
    assert.equal(top['x-first-death-reason'], 'S');
    assert.equal(top['x-first-death-queue'], 'S');
    assert.equal(top['x-first-death-exchange'], 'S');
    const deaths = headers['x-death'] as unknown[];
    assert.deepEqual(elementTypes(deaths), ['F'], 'one entry, a field table');
    const entry = deaths[0] as Record<string, unknown>;
    // RabbitMQ records original-expiration whenever the message had an expiration property,
    // whatever the reason (3.10: per_msg_ttl_header; 3.13: the ttl annotation), and removes it.
    assert.deepEqual(fieldTypes(entry), {
      count: 'l', reason: 'S', queue: 'S', time: 'T', exchange: 'S', 'routing-keys': 'A', 'original-expiration': 'S',
    }, 'x-death entry field types');
    assert.equal(entry.count, 1);
    assert.ok(entry.time instanceof Date);
    assert.ok(Math.abs((entry.time as Date).getTime() - Date.now()) < 10_000, 'time is now-ish');
    assert.deepEqual(entry['routing-keys'], [q]);
    assert.deepEqual(elementTypes(entry['routing-keys']), ['S']);
    assert.equal(entry['original-expiration'], '60000');
    assert.equal(m.properties.expiration, undefined, 'the expiration property is removed on dead-lettering');
  });

  it('x-dead-letter-routing-key replaces the routing key; without it the original one is used', async () => {
    const { ch } = await h.confirmChannel();
    const work = h.x('dl-rk-work');
    const dlx = h.x('dl-rk-dlx');
    await ch.assertExchange(work, 'direct', { durable: false });
    await ch.assertExchange(dlx, 'direct', { durable: false });
    const withKey = await h.declareQueue(ch, 'dl-rk-with', { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'dead' });
    const withoutKey = await h.declareQueue(ch, 'dl-rk-without', { 'x-dead-letter-exchange': dlx });
    const dlqDead = await h.declareQueue(ch, 'dl-rk-dead');
    const dlqOrig = await h.declareQueue(ch, 'dl-rk-orig');
    await ch.bindQueue(withKey, work, 'orig');
    await ch.bindQueue(withoutKey, work, 'orig');
    await ch.bindQueue(dlqDead, dlx, 'dead');
    await ch.bindQueue(dlqOrig, dlx, 'orig');
    await publishConfirmed(ch, work, 'orig', ['m']);
    ch.reject(await getOne(ch, withKey), false);
    ch.reject(await getOne(ch, withoutKey), false);
    const [dead] = await collect(ch, dlqDead, 1);
    const [orig] = await collect(ch, dlqOrig, 1);
    assert.equal(dead.fields.routingKey, 'dead');
    assert.deepEqual(deathSummary(dead), [{ queue: withKey, reason: 'rejected', count: 1 }]);
    assert.deepEqual(xDeath(dead)[0]['routing-keys'], ['orig'], 'x-death keeps the original routing keys');
    assert.equal(orig.fields.routingKey, 'orig');
    assert.deepEqual(deathSummary(orig), [{ queue: withoutKey, reason: 'rejected', count: 1 }]);
    await sleep(50);
    assert.equal(await messageCount(ch, dlqDead), 0, 'one copy each');
    assert.equal(await messageCount(ch, dlqOrig), 0, 'one copy each');
  });

  describe('a dead-letter exchange of each type', () => {
    const cases: { type: string; bind: string; dlrk?: string; bindArgs?: Record<string, unknown>; headers?: Record<string, unknown> }[] = [
      { type: 'direct', bind: 'dl-key', dlrk: 'dl-key' },
      { type: 'fanout', bind: 'ignored' },
      { type: 'topic', bind: 'dead.#', dlrk: 'dead.letter.x' },
      { type: 'headers', bind: '', bindArgs: { 'x-match': 'all', kind: 'dl' }, headers: { kind: 'dl' } },
    ];
    for (const c of cases) {
      it(`routes dead letters through a ${c.type} exchange`, async () => {
        const { ch } = await h.confirmChannel();
        const dlx = h.x(`dl-${c.type}`);
        await ch.assertExchange(dlx, c.type, { durable: false });
        const args: Record<string, unknown> = { 'x-dead-letter-exchange': dlx };
        if (c.dlrk) args['x-dead-letter-routing-key'] = c.dlrk;
        const q = await h.declareQueue(ch, `dl-${c.type}-src`, args);
        const dlq = await h.declareQueue(ch, `dl-${c.type}-dlq`);
        const other = await h.declareQueue(ch, `dl-${c.type}-other`);
        await ch.bindQueue(dlq, dlx, c.bind, c.bindArgs);
        // A binding that must not match.
        await ch.bindQueue(other, dlx, c.type === 'fanout' ? 'x' : 'nomatch', c.type === 'headers' ? { 'x-match': 'all', kind: 'other' } : undefined);
        await publishConfirmed(ch, '', q, [`via-${c.type}`], { headers: c.headers });
        ch.reject(await getOne(ch, q), false);
        const [m] = await collect(ch, dlq, 1);
        assert.equal(m.content.toString(), `via-${c.type}`);
        assert.equal(m.fields.exchange, dlx);
        assert.equal(m.fields.routingKey, c.dlrk ?? q);
        assert.deepEqual(deathSummary(m), [{ queue: q, reason: 'rejected', count: 1 }]);
        assert.equal(await messageCount(ch, other), c.type === 'fanout' ? 1 : 0);
      });
    }

    it("routes dead letters through the default exchange '' by x-dead-letter-routing-key", async () => {
      const { ch } = await h.confirmChannel();
      const dlq = await h.declareQueue(ch, 'dl-default-dlq');
      const q = await h.declareQueue(ch, 'dl-default-src', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq });
      await publishConfirmed(ch, '', q, ['via-default']);
      ch.nack(await getOne(ch, q), false, false);
      const [m] = await collect(ch, dlq, 1);
      assert.equal(m.content.toString(), 'via-default');
      assert.equal(m.fields.exchange, '');
      assert.equal(m.fields.routingKey, dlq);
      const d = xDeath(m)[0];
      assert.deepEqual([d.queue, d.reason, d.exchange, d['routing-keys']], [q, 'rejected', '', [q]]);
    });
  });

  it("x-message-ttl expiry dead-letters with reason 'expired' (no original-expiration)", async () => {
    const { conn, ch } = await h.confirmChannel();
    const dlq = await h.declareQueue(ch, 'dl-qttl-dlq');
    const q = await h.declareQueue(ch, 'dl-qttl-src', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq });
    const t0 = Date.now();
    await publishConfirmed(ch, '', q, ['expire-me'], { headers: { keep: 'me' } });
    const sub = await h.channel();
    const c = await consume(sub.ch, dlq, { noAck: true });
    const [m] = await c.take(1);
    const t1 = Date.now();
    assert.ok(t1 - t0 >= 45, `dead-lettered after ${t1 - t0} ms, TTL 50 ms`);
    assert.equal(m.content.toString(), 'expire-me');
    assert.equal(m.fields.routingKey, dlq);
    assert.equal(m.properties.expiration, undefined);
    const deaths = xDeath(m);
    assert.equal(deaths.length, 1);
    assertDeathEntry(deaths[0], { count: 1, reason: 'expired', queue: q, exchange: '', routingKeys: [q] }, t0, t1);
    assertDeathHeaders(conn, m, { reason: 'expired', queue: q, exchange: '' }, { reason: 'expired', queue: q, exchange: '' }, { keep: 'me' });
    assert.equal(await messageCount(ch, q), 0);
  });

  it("per-message TTL expiry records original-expiration and removes the expiration property", async () => {
    const { ch } = await h.confirmChannel();
    const dlx = h.x('dl-mttl');
    await ch.assertExchange(dlx, 'topic', { durable: false });
    const dlq = await h.declareQueue(ch, 'dl-mttl-dlq');
    await ch.bindQueue(dlq, dlx, '#');
    const q = await h.declareQueue(ch, 'dl-mttl-src', { 'x-dead-letter-exchange': dlx });
    const t0 = Date.now();
    await publishConfirmed(ch, '', q, ['short-lived'], { expiration: '60' });
    await eventually(async () => assert.equal(await messageCount(ch, dlq), 1), 'dead-lettered');
    // Without the expiration property it does not expire again in the DLQ.
    await sleep(150);
    const [m] = await drain(ch, dlq);
    const t1 = Date.now();
    assert.equal(m.content.toString(), 'short-lived');
    assert.equal(m.properties.expiration, undefined, 'expiration removed on dead-lettering');
    const deaths = xDeath(m);
    assert.equal(deaths.length, 1);
    assertDeathEntry(deaths[0], { count: 1, reason: 'expired', queue: q, exchange: '', routingKeys: [q], originalExpiration: '60' }, t0, t1);
  });

  it('repeated dead-lettering through the same queue increments its count and moves it first', async () => {
    const { conn, ch } = await h.confirmChannel();
    const work = h.x('dl-rep-work');
    const toA = h.x('dl-rep-to-a');
    const toB = h.x('dl-rep-to-b');
    for (const x of [work, toA, toB]) await ch.assertExchange(x, 'fanout', { durable: false });
    const a = await h.declareQueue(ch, 'dl-rep-a', { 'x-dead-letter-exchange': toB });
    const b = await h.declareQueue(ch, 'dl-rep-b', { 'x-dead-letter-exchange': toA });
    await ch.bindQueue(a, work, '');
    await ch.bindQueue(a, toA, '');
    await ch.bindQueue(b, toB, '');
    await publishConfirmed(ch, work, 'rk', ['ping-pong']);

    const bounce = async (from: string, to: string): Promise<GetMessage> => {
      ch.reject(await getOne(ch, from), false);
      await eventually(async () => assert.equal(await messageCount(ch, to), 1), `moved to ${to}`);
      return getOne(ch, to);
    };
    // a -> b
    let m = await bounce(a, b);
    assert.deepEqual(deathSummary(m), [{ queue: a, reason: 'rejected', count: 1 }]);
    ch.nack(m, false, true); // put back to continue with a fresh get
    // b -> a
    m = await bounce(b, a);
    assert.deepEqual(deathSummary(m), [
      { queue: b, reason: 'rejected', count: 1 },
      { queue: a, reason: 'rejected', count: 1 },
    ]);
    const [bEntry, aEntry] = xDeath(m);
    assert.deepEqual([bEntry.exchange, bEntry['routing-keys']], [toB, ['rk']]);
    assert.deepEqual([aEntry.exchange, aEntry['routing-keys']], [work, ['rk']]);
    ch.nack(m, false, true);
    // a -> b again: the entry for a is counted up and moved first.
    m = await bounce(a, b);
    assert.deepEqual(deathSummary(m), [
      { queue: a, reason: 'rejected', count: 2 },
      { queue: b, reason: 'rejected', count: 1 },
    ]);
    ch.nack(m, false, true);
    // b -> a again
    m = await bounce(b, a);
    assert.deepEqual(deathSummary(m), [
      { queue: b, reason: 'rejected', count: 2 },
      { queue: a, reason: 'rejected', count: 2 },
    ]);
    assert.equal(m.fields.exchange, toA);
    assert.equal(m.fields.routingKey, 'rk');
    // x-first-death-* stay with the first event; x-last-death-* (3.13) follow the latest.
    assertDeathHeaders(conn, m, { reason: 'rejected', queue: a, exchange: work }, { reason: 'rejected', queue: b, exchange: toB });
    ch.ack(m);
  });

  it('delayed retry: work queue and TTL retry queue, x-death counts 1, 2, 3 for the rejections', async () => {
    const { conn, ch } = await h.confirmChannel();
    const workX = h.x('retry-work');
    const retryX = h.x('retry-retry');
    await ch.assertExchange(workX, 'direct', { durable: false });
    await ch.assertExchange(retryX, 'fanout', { durable: false });
    const workQ = await h.declareQueue(ch, 'retry-work-q', { 'x-dead-letter-exchange': retryX });
    const retryQ = await h.declareQueue(ch, 'retry-retry-q', { 'x-message-ttl': 40, 'x-dead-letter-exchange': workX });
    await ch.bindQueue(workQ, workX, 'task');
    await ch.bindQueue(retryQ, retryX, '');

    const sub = await h.channel();
    const seen: ConsumeMessage[] = [];
    await sub.ch.consume(workQ, (m) => {
      if (!m) return;
      seen.push(m);
      if (seen.length <= 3) sub.ch.reject(m, false);
      else sub.ch.ack(m);
    });
    await publishConfirmed(ch, workX, 'task', ['job-1'], { headers: { attempt: 'x' } });
    await eventually(async () => assert.equal(seen.length, 4), '4 deliveries');
    assert.deepEqual(texts(seen), ['job-1', 'job-1', 'job-1', 'job-1']);
    assert.deepEqual(seen.map((m) => [m.fields.exchange, m.fields.routingKey]), Array(4).fill([workX, 'task']));
    assert.equal(seen[0].properties.headers?.['x-death'], undefined);
    for (let i = 1; i <= 3; i++) {
      assert.deepEqual(deathSummary(seen[i]), [
        { queue: retryQ, reason: 'expired', count: i },
        { queue: workQ, reason: 'rejected', count: i },
      ], `delivery ${i + 1}`);
      assertDeathHeaders(conn, seen[i], { reason: 'rejected', queue: workQ, exchange: workX },
        { reason: 'expired', queue: retryQ, exchange: retryX }, { attempt: 'x' });
    }
    const first = xDeath(seen[1]);
    assert.deepEqual([first[0].exchange, first[0]['routing-keys']], [retryX, ['task']]);
    assert.deepEqual([first[1].exchange, first[1]['routing-keys']], [workX, ['task']]);
    await sleep(100);
    assert.equal(seen.length, 4, 'acked: no more retries');
    assert.equal(await messageCount(ch, retryQ), 0);
  });

  it('an automatic dead-letter cycle (TTL both ways, no rejection) drops the message', async () => {
    const { ch } = await h.confirmChannel();
    const fan = h.x('cycle-fan');
    await ch.assertExchange(fan, 'fanout', { durable: false });
    const q1 = h.q('cycle-1');
    const q2 = h.q('cycle-2');
    const spy = await h.declareQueue(ch, 'cycle-spy');
    await ch.assertQueue(q1, { durable: false, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q2 } });
    await ch.assertQueue(q2, { durable: false, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': fan } });
    // q2 dead-letters to both q1 (closing the cycle) and spy (outside it).
    await ch.bindQueue(q1, fan, '');
    await ch.bindQueue(spy, fan, '');
    await publishConfirmed(ch, '', q1, ['round-and-round']);
    await eventually(async () => assert.equal(await messageCount(ch, spy), 1), 'the spy got its copy');
    await sleep(300); // ten TTL periods: a looping message would reach the spy again
    assert.deepEqual(
      [await messageCount(ch, spy), await messageCount(ch, q1), await messageCount(ch, q2)], [1, 0, 0],
      'spy, q1, q2: the copy for q1 was dropped as a cycle',
    );
    const [m] = await drain(ch, spy);
    assert.deepEqual(deathSummary(m), [
      { queue: q2, reason: 'expired', count: 1 },
      { queue: q1, reason: 'expired', count: 1 },
    ]);
  });

  it('a dead-letter exchange that does not exist drops the message silently', async () => {
    const { ch } = await h.confirmChannel();
    const missing = h.x('dl-missing');
    const q = await h.declareQueue(ch, 'dl-missing-src', { 'x-dead-letter-exchange': missing });
    const qTtl = await h.declareQueue(ch, 'dl-missing-ttl', { 'x-dead-letter-exchange': missing, 'x-message-ttl': 30 });
    await publishConfirmed(ch, '', q, ['rejected-into-nothing']);
    await publishConfirmed(ch, '', qTtl, ['expired-into-nothing']);
    ch.reject(await getOne(ch, q), false);
    await eventually(async () => assert.equal(await messageCount(ch, qTtl), 0), 'expired');
    // The channel is still usable and nothing came back.
    assert.equal(await messageCount(ch, q), 0);
    await publishConfirmed(ch, '', q, ['after']);
    assert.deepEqual(texts(await drain(ch, q)), ['after']);
  });
});
