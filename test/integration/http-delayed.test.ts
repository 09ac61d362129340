// Warren's own management endpoints (see the brief on Warren-only endpoints): pending messages of
// a delayed exchange listed in due order a page at a time and cancelled one by one or by filter,
// messages_delayed / next_due_at on the exchange, a queue's waiting delayed retries, its unacked
// messages, and peek (ready messages without delivering them).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, eventually, openChannel, sleep } from '../helpers/amqp.js';
import { apiClient, type Api } from '../helpers/http.js';

describe('management API: delayed, unacked and peek', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  let api: Api;
  const h = new Harness(() => broker.url);

  before(async () => {
    broker = await startBroker();
    api = apiClient(broker.httpUrl);
  });
  afterEach(async () => { await h.closeConnections(); });
  after(async () => { await broker?.stop(); });

  it('lists pending delayed messages in due order, pages them, and cancels one or by filter', async () => {
    const { ch } = await h.channel();
    await ch.assertExchange('dx', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('dq', { durable: false });
    await ch.bindQueue('dq', 'dx', 'a');
    const t0 = Date.now();
    // Published out of due order; two routing keys.
    const delays = [50_000, 20_000, 40_000, 10_000, 30_000];
    delays.forEach((d, i) => ch.publish('dx', i % 2 === 0 ? 'a' : 'b', Buffer.from(`m${d}`), { headers: { 'x-delay': d }, contentType: 'text/plain' }));
    await eventually(async () => assert.equal((await api('GET', 'exchanges/%2F/dx')).body.messages_delayed, 5), 'all pending');
    const x = (await api('GET', 'exchanges/%2F/dx')).body;
    assert.ok(x.next_due_at >= t0 + 10_000 && x.next_due_at <= Date.now() + 10_000, `next_due_at ${x.next_due_at}`);
    let r = await api('GET', 'exchanges/%2F/dx/delayed?page=1&page_size=2');
    assert.equal(r.status, 200);
    assert.deepEqual({ ...r.body, items: undefined }, { filtered_count: 5, item_count: 2, items: undefined, page: 1, page_count: 3, page_size: 2, total_count: 5 });
    assert.deepEqual(r.body.items.map((m: any) => m.delay), [10_000, 20_000]);
    const first = r.body.items[0];
    assert.equal(typeof first.id, 'string');
    assert.equal(first.routing_key, 'b');
    assert.equal(first.payload, 'm10000');
    assert.equal(first.payload_encoding, 'string');
    assert.equal(first.payload_bytes, 6);
    assert.equal(first.properties.content_type, 'text/plain');
    assert.equal(first.properties.headers['x-delay'], 10_000);
    assert.equal(first.due_at - first.published_at, 10_000);
    assert.ok(first.published_at >= t0 - 50 && first.published_at <= Date.now());
    r = await api('GET', 'exchanges/%2F/dx/delayed?page=3&page_size=2');
    assert.deepEqual(r.body.items.map((m: any) => m.delay), [50_000]);
    assert.equal((await api('GET', 'exchanges/%2F/dx/delayed?page=4&page_size=2')).status, 400);

    assert.equal((await api('DELETE', `exchanges/%2F/dx/delayed/${first.id}`)).status, 204);
    assert.equal((await api('DELETE', `exchanges/%2F/dx/delayed/${first.id}`)).status, 404);
    assert.equal((await api('DELETE', 'exchanges/%2F/dx/delayed/not-a-number')).status, 404);
    r = await api('GET', 'exchanges/%2F/dx/delayed');
    assert.deepEqual(r.body.items.map((m: any) => m.delay), [20_000, 30_000, 40_000, 50_000]);
    // By routing key and due window: the 'a' messages are due in 30, 40 and 50 s; the first two go.
    r = await api('DELETE', `exchanges/%2F/dx/delayed?routing_key=a&due_before=${t0 + 45_000}`);
    assert.deepEqual(r.body, { cancelled: 2 });
    r = await api('GET', 'exchanges/%2F/dx/delayed');
    assert.deepEqual(r.body.items.map((m: any) => [m.delay, m.routing_key]), [[20_000, 'b'], [50_000, 'a']]);
    r = await api('DELETE', `exchanges/%2F/dx/delayed?due_after=${t0 + 45_000}`);
    assert.deepEqual(r.body, { cancelled: 1 });
    assert.deepEqual((await api('DELETE', 'exchanges/%2F/dx/delayed')).body, { cancelled: 1 });
    assert.equal((await api('GET', 'exchanges/%2F/dx')).body.messages_delayed, 0);
    assert.equal((await api('GET', 'exchanges/%2F/dx')).body.next_due_at, null);
    assert.equal((await api('GET', 'exchanges/%2F/amq.direct/delayed')).status, 400, 'not a delayed exchange');
    assert.equal((await api('GET', 'exchanges/%2F/missing/delayed')).status, 404);
  });

  it('a cancelled message is not delivered when its time comes; others are', async () => {
    const { ch } = await h.channel();
    await ch.assertExchange('dx2', 'x-delayed-message', { durable: false, arguments: { 'x-delayed-type': 'fanout' } });
    await ch.assertQueue('dq2', { durable: false });
    await ch.bindQueue('dq2', 'dx2', '');
    ch.publish('dx2', '', Buffer.from('keep'), { headers: { 'x-delay': 300 } });
    ch.publish('dx2', '', Buffer.from('drop'), { headers: { 'x-delay': 400 } });
    let items: any[] = [];
    await eventually(async () => {
      items = (await api('GET', 'exchanges/%2F/dx2/delayed')).body.items;
      assert.equal(items.length, 2);
    }, 'pending');
    assert.equal((await api('DELETE', `exchanges/%2F/dx2/delayed/${items.find((m) => m.payload === 'drop').id}`)).status, 204);
    await sleep(700);
    const got = (await api('POST', 'queues/%2F/dq2/get', { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' })).body;
    assert.deepEqual(got.map((m: any) => m.payload), ['keep']);
    const x = (await api('GET', 'exchanges/%2F/dx2')).body;
    assert.equal(x.message_stats.delayed_routed, 1, 'the cancelled one was never routed');
    assert.deepEqual([x.messages_delayed, x.next_due_at], [0, null]);
  });

  it('a queue\'s waiting delayed retries, its unacked messages, and peek without delivering', async () => {
    const conn = await h.connect();
    const ch = await openChannel(conn);
    await ch.assertQueue('rq', { durable: false, arguments: { 'x-delayed-retry-type': 'failed', 'x-delayed-retry-min': 60_000 } });
    for (const m of ['r1', 'r2', 'r3', 'r4']) ch.sendToQueue('rq', Buffer.from(m), { messageId: m });
    await eventually(async () => assert.equal((await api('GET', 'queues/%2F/rq')).body.messages, 4), 'published');
    // Peek: the head, untouched.
    let r = await api('POST', 'queues/%2F/rq/peek', { count: 2, encoding: 'auto' });
    assert.deepEqual(r.body.map((m: any) => [m.payload, m.redelivered, m.properties.message_id]), [['r1', false, 'r1'], ['r2', false, 'r2']]);
    assert.equal((await api('POST', 'queues/%2F/rq/peek', { count: 1, encoding: 'base64' })).body[0].payload, Buffer.from('r1').toString('base64'));
    assert.equal((await api('GET', 'queues/%2F/rq')).body.messages_ready, 4, 'peek takes nothing');
    // Two delivered and held unacked, one rejected into a delayed retry.
    await ch.prefetch(3);
    const held: any[] = [];
    await ch.consume('rq', (m) => { if (m) held.push(m); });
    await eventually(async () => assert.equal(held.length, 3), 'delivered');
    ch.nack(held[0], false, true);
    await eventually(async () => assert.equal((await api('GET', 'queues/%2F/rq')).body.messages_unacknowledged, 2), 'one back');
    r = await api('GET', 'queues/%2F/rq/unacked?page=1&page_size=10');
    assert.equal(r.body.total_count, 2);
    const u = r.body.items[0];
    assert.deepEqual([u.payload, u.delivery_tag, u.redelivered], ['r2', 2, false]);
    assert.equal(u.channel_details.number, 1);
    assert.match(u.channel_details.name, / \(1\)$/);
    assert.ok(u.channel_details.connection_name && u.channel_details.peer_port > 0 && u.channel_details.peer_host);
    r = await api('GET', 'queues/%2F/rq/delayed');
    assert.equal(r.body.total_count, 1);
    assert.equal(r.body.items[0].payload, 'r1');
    assert.equal(r.body.items[0].delay, 60_000);
    assert.ok(r.body.items[0].due_at > Date.now() + 50_000);
    // The unacked ones can still be peeked past: peek shows ready messages only.
    assert.deepEqual((await api('POST', 'queues/%2F/rq/peek', { count: 5 })).body.map((m: any) => m.payload), ['r4']);
    assert.equal((await api('GET', 'queues/%2F/missing/unacked')).status, 404);
  });
});
