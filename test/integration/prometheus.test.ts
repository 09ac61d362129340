// The Prometheus endpoint (port 15692): rabbitmq_prometheus's series names, types and labels,
// counters that move by exact amounts as amqplib publishes and consumes, per-object and detailed
// output with their filters, the exposition format itself (read strictly), 404s, and "off".
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, eventually, sleep } from '../helpers/amqp.js';
import { parseExposition, samplesOf, valueOf, type MetricFamily } from '../helpers/exposition.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/integration -> test/fixtures (JSON fixtures are not compiled)
const DASHBOARD = JSON.parse(readFileSync(join(here, '..', '..', '..', 'test', 'fixtures', 'grafana-rabbitmq-overview-metrics.json'), 'utf8')) as {
  series: string[];
  joinLabels: Record<string, string[]>;
  histogramBuckets: Record<string, string[]>;
};

const V2 = 'prometheus-v2';

/**
 * The label names each dashboard series carries, as RabbitMQ gives them: rabbit_global_counters
 * label by protocol (and queue type for deliveries), the size histogram by protocol, the rest none.
 */
function expectedLabels(name: string): string[] {
  if (/^rabbitmq_global_messages_(delivered|get_empty|redelivered|acknowledged)/.test(name)) return ['protocol', 'queue_type'];
  if (name.startsWith('rabbitmq_global_')) return ['protocol'];
  if (name === 'rabbitmq_message_size_bytes_bucket') return ['le', 'protocol'];
  if (name.startsWith('rabbitmq_message_size_bytes_')) return ['protocol'];
  return [];
}

describe('prometheus', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => {
    broker = await startBroker({
      definitions: {
        vhosts: [{ name: V2 }],
        permissions: [{ user: 'guest', vhost: V2, configure: '.*', write: '.*', read: '.*' }],
      },
    });
  });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const get = (path: string) => fetch(`${broker.metricsUrl}${path}`);
  const scrape = async (path = '/metrics'): Promise<Map<string, MetricFamily>> => {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    return parseExposition(await res.text());
  };

  it('serves every series Grafana\'s RabbitMQ-Overview dashboard queries, with its labels', async (t) => {
    if (broker.external) return t.skip('the reference RabbitMQ (3.10) predates the size histogram (4.1) and rabbitmq_endpoint (4.0)');
    const m = await scrape();
    assert.equal(DASHBOARD.series.length, 40);
    const missing: string[] = [];
    for (const name of DASHBOARD.series) {
      const samples = samplesOf(m, name);
      if (samples.length === 0) {
        missing.push(name);
        continue;
      }
      if (name === 'rabbitmq_identity_info' || name === 'rabbitmq_build_info') {
        const keys = Object.keys(samples[0].labels);
        for (const l of DASHBOARD.joinLabels[name]) assert.ok(keys.includes(l), `${name} lacks label ${l}: ${keys}`);
        continue;
      }
      for (const s of samples) assert.deepEqual(Object.keys(s.labels).sort(), expectedLabels(name), `labels of ${name}`);
    }
    assert.deepEqual(missing, [], 'series the dashboard needs');
    // The dashboard selects buckets by these exact le strings.
    const les = samplesOf(m, 'rabbitmq_message_size_bytes_bucket').map((s) => s.labels.le);
    assert.deepEqual(les, DASHBOARD.histogramBuckets.rabbitmq_message_size_bytes_bucket);
    assert.equal(m.get('rabbitmq_message_size_bytes')?.type, 'histogram');
    const identity = samplesOf(m, 'rabbitmq_identity_info')[0];
    assert.deepEqual(Object.keys(identity.labels).sort(), ['rabbitmq_cluster', 'rabbitmq_cluster_permanent_id', 'rabbitmq_endpoint', 'rabbitmq_node']);
    assert.equal(identity.labels.rabbitmq_endpoint, 'aggregated');
    assert.match(identity.labels.rabbitmq_cluster_permanent_id, /^rabbitmq-cluster-id-/);
    assert.equal(samplesOf(m, 'rabbitmq_build_info')[0].labels.rabbitmq_version, '3.13.7');
    // RabbitMQ's types for the series a dashboard rates.
    assert.equal(m.get('rabbitmq_global_messages_received_total')?.type, 'counter');
    assert.equal(m.get('rabbitmq_queues_declared_total')?.type, 'counter');
    assert.equal(m.get('rabbitmq_queue_messages_ready')?.type, 'gauge');
    assert.equal(m.get('rabbitmq_global_publishers')?.type, 'gauge');
    assert.equal(m.get('rabbitmq_alarms_memory_used_watermark')?.type, 'untyped');
    assert.equal(m.get('rabbitmq_global_messages_received_total')?.help, 'Total number of messages received from publishers');
  });

  it('is text/plain; version=0.0.4, and node readings are plausible', async () => {
    const res = await get('/metrics');
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4');
    const m = parseExposition(await res.text());
    assert.ok(valueOf(m, 'rabbitmq_process_resident_memory_bytes')! > 10_000_000);
    assert.ok(valueOf(m, 'rabbitmq_process_open_fds')! > 0);
    assert.ok(valueOf(m, 'rabbitmq_process_max_fds')! >= valueOf(m, 'rabbitmq_process_open_fds')!);
    assert.ok(valueOf(m, 'rabbitmq_disk_space_available_bytes')! > 0);
    assert.equal(valueOf(m, 'rabbitmq_disk_space_available_limit_bytes'), 50_000_000);
    assert.ok(valueOf(m, 'rabbitmq_erlang_uptime_seconds')! > 0);
    for (const a of ['file_descriptor_limit', 'free_disk_space_watermark', 'memory_used_watermark']) {
      assert.equal(valueOf(m, `rabbitmq_alarms_${a}`), 0, a);
    }
  });

  it('global counters, the size histogram and churn move by exact amounts', async () => {
    const before = await scrape();
    const conn = await h.connect();
    const confirmCh = await conn.createConfirmChannel();
    const ch = await conn.createChannel();
    const q = h.q('counts');
    const q2 = h.q('counts-auto');
    await ch.assertQueue(q, { durable: false });
    await ch.assertQueue(q2, { durable: false });
    await ch.assertQueue(q2, { durable: false }); // declared again, not created

    // Confirmed publishes: three routed (10, 500 and 20000 bytes), one returned, one dropped.
    for (const size of [10, 500, 20000]) confirmCh.publish('', q, Buffer.alloc(size));
    confirmCh.publish('amq.direct', 'nowhere', Buffer.from('r'), { mandatory: true });
    confirmCh.publish('amq.direct', 'nowhere', Buffer.from('d'));
    await confirmCh.waitForConfirms();

    assert.equal((await ch.get(q, { noAck: true }) || null)?.content.length, 10);
    const m1 = await ch.get(q, { noAck: false });
    assert.ok(m1);
    ch.nack(m1, false, true);
    const m2 = await ch.get(q, { noAck: false });
    assert.ok(m2 && m2.fields.redelivered);
    ch.ack(m2);
    let got!: () => void;
    const consumed = new Promise<void>((r) => { got = r; });
    const { consumerTag } = await ch.consume(q, (m) => { if (m) { ch.ack(m); got(); } });
    await consumed;
    await ch.cancel(consumerTag);
    assert.equal(await ch.get(q), false);

    // Two unconfirmed publishes consumed with automatic acks.
    ch.publish('', q2, Buffer.from('a'));
    ch.publish('', q2, Buffer.from('b'));
    let auto = 0;
    await ch.consume(q2, () => { auto++; }, { noAck: true });
    await eventually(async () => assert.equal(auto, 2), 'two auto-ack deliveries');
    await ch.deleteQueue(q2);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (valueOf(after, name, labels) ?? NaN) - (valueOf(before, name, labels) ?? NaN);
    const P = { protocol: 'amqp091' };
    const QT = { protocol: 'amqp091', queue_type: 'rabbit_classic_queue' };
    const expected: [string, Record<string, string>, number][] = [
      ['rabbitmq_global_messages_received_total', P, 7],
      ['rabbitmq_global_messages_received_confirm_total', P, 5],
      ['rabbitmq_global_messages_routed_total', P, 5],
      ['rabbitmq_global_messages_unroutable_returned_total', P, 1],
      ['rabbitmq_global_messages_unroutable_dropped_total', P, 1],
      ['rabbitmq_global_messages_confirmed_total', P, 5],
      ['rabbitmq_global_messages_delivered_total', QT, 6],
      ['rabbitmq_global_messages_delivered_get_auto_ack_total', QT, 1],
      ['rabbitmq_global_messages_delivered_get_manual_ack_total', QT, 2],
      ['rabbitmq_global_messages_delivered_consume_manual_ack_total', QT, 1],
      ['rabbitmq_global_messages_delivered_consume_auto_ack_total', QT, 2],
      ['rabbitmq_global_messages_get_empty_total', QT, 1],
      ['rabbitmq_global_messages_redelivered_total', QT, 1],
      ['rabbitmq_global_messages_acknowledged_total', QT, 2],
      ['rabbitmq_message_size_bytes_count', P, 7],
      ['rabbitmq_message_size_bytes_sum', P, 10 + 500 + 20000 + 4],
      ['rabbitmq_message_size_bytes_bucket', { ...P, le: '100.0' }, 5],
      ['rabbitmq_message_size_bytes_bucket', { ...P, le: '1000.0' }, 6],
      ['rabbitmq_message_size_bytes_bucket', { ...P, le: '10000.0' }, 6],
      ['rabbitmq_message_size_bytes_bucket', { ...P, le: '100000.0' }, 7],
      ['rabbitmq_message_size_bytes_bucket', { ...P, le: '+Inf' }, 7],
      ['rabbitmq_connections_opened_total', {}, 1],
      ['rabbitmq_channels_opened_total', {}, 2],
      ['rabbitmq_queues_declared_total', {}, 3],
      ['rabbitmq_queues_created_total', {}, 2],
      ['rabbitmq_queues_deleted_total', {}, 1],
      ['rabbitmq_connections', {}, 1],
      ['rabbitmq_channels', {}, 2],
      ['rabbitmq_queues', {}, 1],
    ].filter(([n]) => !broker.external
      // Against the reference RabbitMQ 3.10 (which matches every other delta here): no size
      // histogram before 4.1, and its queue count follows the 5 s statistics interval.
      || !(n === 'rabbitmq_queues' || (n as string).startsWith('rabbitmq_message_size_bytes'))) as [string, Record<string, string>, number][];
    const wrong = expected.filter(([n, l, d]) => delta(n, l) !== d).map(([n, l, d]) => `${n}${JSON.stringify(l)}: ${delta(n, l)} != ${d}`);
    assert.deepEqual(wrong, []);
    // Gauges now: the auto-ack consumer on q2 went with its queue; confirmCh published, so did ch.
    assert.equal(delta('rabbitmq_global_consumers', P), 0);
    assert.equal(delta('rabbitmq_global_publishers', P), 2);

    await conn.close();
    // The shared reference RabbitMQ has other clients coming and going: its after-close totals are not ours alone.
    if (broker.external) return;
    await eventually(async () => {
      const closed = await scrape();
      assert.equal((valueOf(closed, 'rabbitmq_connections_closed_total') ?? 0) - (valueOf(before, 'rabbitmq_connections_closed_total') ?? 0), 1);
      assert.equal((valueOf(closed, 'rabbitmq_channels_closed_total') ?? 0) - (valueOf(before, 'rabbitmq_channels_closed_total') ?? 0), 2);
      // Counters of closed channels are kept: the totals do not go back.
      assert.equal(valueOf(closed, 'rabbitmq_global_messages_received_total', P), valueOf(after, 'rabbitmq_global_messages_received_total', P));
      assert.equal(valueOf(closed, 'rabbitmq_global_publishers', P), valueOf(before, 'rabbitmq_global_publishers', P));
      assert.equal(valueOf(closed, 'rabbitmq_channels'), valueOf(before, 'rabbitmq_channels'));
    }, 'connection close counted');
  });

  it('counts logins and dead-lettered messages by reason', async () => {
    const before = await scrape();
    await assert.rejects(h.connectUrl(h.brokerUrl().replace('guest:guest@', 'guest:wrong@')));
    const { ch } = await h.channel();
    const dead = h.q('dead');
    const source = h.q('dies');
    await ch.assertQueue(dead, { durable: false });
    await ch.assertQueue(source, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.sendToQueue(source, Buffer.from('rejected'));
    ch.sendToQueue(source, Buffer.from('expired'), { expiration: '1' });
    const m = await ch.get(source, { noAck: false });
    assert.ok(m);
    ch.nack(m, false, false);
    await eventually(async () => {
      const q = await ch.checkQueue(dead);
      assert.equal(q.messageCount, 2);
    }, 'both messages dead-lettered');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels)! - valueOf(before, name, labels)!;
    const P = { protocol: 'amqp091' };
    assert.equal(delta('rabbitmq_auth_attempts_total', P), 2);
    assert.equal(delta('rabbitmq_auth_attempts_succeeded_total', P), 1);
    assert.equal(delta('rabbitmq_auth_attempts_failed_total', P), 1);
    const DL = { queue_type: 'rabbit_classic_queue', dead_letter_strategy: 'at_most_once' };
    assert.equal(delta('rabbitmq_global_messages_dead_lettered_rejected_total', DL), 1);
    assert.equal(delta('rabbitmq_global_messages_dead_lettered_expired_total', DL), 1);
    assert.equal(delta('rabbitmq_global_messages_dead_lettered_maxlen_total', DL), 0);
  });

  it('aggregated /metrics sums queues; /metrics/per-object labels each queue, channel, connection and exchange', async (t) => {
    if (broker.external) return t.skip('RabbitMQ refreshes per-object figures every statistics interval (5 s), and labels channels by pid');
    const { ch } = await h.channel();
    const q = h.q('per-object');
    await ch.assertQueue(q, { durable: false });
    const x = h.x('per-object');
    await ch.assertExchange(x, 'direct', { durable: false });
    await ch.bindQueue(q, x, 'k');
    for (let i = 0; i < 3; i++) ch.publish(x, 'k', Buffer.from(`m${i}`));
    await ch.prefetch(7);
    const held = await ch.get(q, { noAck: false });
    assert.ok(held);
    await sleep(50);

    const agg = await scrape('/metrics');
    for (const f of agg.values()) {
      for (const s of f.samples) assert.ok(!('queue' in s.labels) && !('channel' in s.labels), `aggregated sample with object labels: ${s.name}`);
    }
    assert.ok(valueOf(agg, 'rabbitmq_queue_messages_ready')! >= 2);

    const m = await scrape('/metrics/per-object');
    const Q = { vhost: '/', queue: q };
    assert.equal(valueOf(m, 'rabbitmq_queue_messages_ready', Q), 2);
    assert.equal(valueOf(m, 'rabbitmq_queue_messages_unacked', Q), 1);
    assert.equal(valueOf(m, 'rabbitmq_queue_messages', Q), 3);
    assert.equal(valueOf(m, 'rabbitmq_queue_consumers', Q), 0);
    assert.equal(valueOf(m, 'rabbitmq_queue_messages_ready_bytes', Q), 4);
    for (const name of ['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked', 'rabbitmq_queue_consumers']) {
      for (const s of samplesOf(m, name)) assert.deepEqual(Object.keys(s.labels).sort(), ['queue', 'vhost'], name);
    }
    // The one channel open: it published 3, holds 1 unacked, prefetch 7 for new consumers.
    const chans = samplesOf(m, 'rabbitmq_channel_messages_published_total');
    assert.equal(chans.length, 1);
    const channel = chans[0].labels.channel;
    assert.match(channel, /^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(1\)$/);
    assert.equal(chans[0].value, 3);
    assert.equal(valueOf(m, 'rabbitmq_channel_messages_unacked', { channel }), 1);
    assert.equal(valueOf(m, 'rabbitmq_consumer_prefetch', { channel }), 7);
    assert.equal(valueOf(m, 'rabbitmq_channel_get_ack_total', { channel }), 1);
    const conns = samplesOf(m, 'rabbitmq_connection_incoming_bytes_total');
    assert.equal(conns.length, 1);
    assert.ok(conns[0].value > 0);
    assert.equal(valueOf(m, 'rabbitmq_connection_channels', { channel: conns[0].labels.channel }), 1);
    assert.equal(valueOf(m, 'rabbitmq_exchange_messages_published_total', { vhost: '/', exchange: x }), 3);
    assert.equal(samplesOf(m, 'rabbitmq_identity_info')[0].labels.rabbitmq_endpoint, 'per-object');
    // Totals and node-wide series are there too.
    assert.ok(valueOf(m, 'rabbitmq_queues')! >= 1);
    assert.ok(valueOf(m, 'rabbitmq_global_messages_received_total', { protocol: 'amqp091' })! >= 3);
  });

  it('/metrics/detailed serves only the families asked for, queue families filtered by vhost', async (t) => {
    if (broker.external) return t.skip('needs the second vhost the test broker is started with');
    const { ch } = await h.channel();
    const q1 = h.q('detailed-default');
    await ch.assertQueue(q1, { durable: false });
    const x = h.x('detailed-x');
    await ch.assertExchange(x, 'topic', { durable: false });
    const conn2 = await h.connectUrl(h.brokerUrl('', V2));
    const ch2 = await conn2.createChannel();
    const q2 = `prometheus-detailed-${Date.now()}`;
    await ch2.assertQueue(q2, { durable: false, exclusive: true });
    ch2.sendToQueue(q2, Buffer.from('x'));
    await sleep(50);

    const only = await scrape(`/metrics/detailed?family=queue_coarse_metrics&vhost=${encodeURIComponent(V2)}`);
    const ready = samplesOf(only, 'rabbitmq_detailed_queue_messages_ready');
    assert.ok(ready.length >= 1);
    assert.ok(ready.every((s) => s.labels.vhost === V2), 'vhost filter');
    assert.equal(valueOf(only, 'rabbitmq_detailed_queue_messages_ready', { vhost: V2, queue: q2 }), 1);
    const names = [...only.keys()].sort();
    assert.deepEqual(names, ['rabbitmq_build_info', 'rabbitmq_detailed_queue_messages', 'rabbitmq_detailed_queue_messages_ready',
      'rabbitmq_detailed_queue_messages_unacked', 'rabbitmq_identity_info']);
    assert.equal(samplesOf(only, 'rabbitmq_identity_info')[0].labels.rabbitmq_endpoint, 'detailed');

    const both = await scrape('/metrics/detailed?family=queue_coarse_metrics');
    assert.equal(valueOf(both, 'rabbitmq_detailed_queue_messages_ready', { vhost: '/', queue: q1 }), 0);
    assert.equal(valueOf(both, 'rabbitmq_detailed_queue_messages_ready', { vhost: V2, queue: q2 }), 1);

    const cluster = await scrape(`/metrics/detailed?family=vhost_status&family=exchange_names&family=exchange_bindings&vhost=${encodeURIComponent(V2)}`);
    assert.deepEqual(samplesOf(cluster, 'rabbitmq_cluster_vhost_status').map((s) => s.labels.vhost).sort(), ['/', V2].sort());
    // Exchange families are not filtered by vhost (as RabbitMQ); the default exchange is not listed.
    assert.equal(valueOf(cluster, 'rabbitmq_cluster_exchange_name', { vhost: '/', exchange: x, type: 'topic' }), 1);
    assert.equal(valueOf(cluster, 'rabbitmq_cluster_exchange_bindings', { vhost: '/', exchange: x, type: 'topic' }), 0);
    assert.equal(valueOf(cluster, 'rabbitmq_cluster_exchange_name', { vhost: V2, exchange: 'amq.fanout', type: 'fanout' }), 1);
    assert.equal(samplesOf(cluster, 'rabbitmq_cluster_exchange_name').filter((s) => s.labels.exchange === '').length, 0);
    assert.equal(samplesOf(cluster, 'rabbitmq_detailed_queue_messages_ready').length, 0);

    const chans = await scrape('/metrics/detailed?family=channel_metrics&family=queue_metrics&family=queue_consumer_count');
    assert.ok(samplesOf(chans, 'rabbitmq_detailed_channel_consumers').length >= 2);
    assert.equal(valueOf(chans, 'rabbitmq_detailed_queue_consumers', { vhost: V2, queue: q2 }), 0);
    assert.equal(samplesOf(chans, 'rabbitmq_global_messages_received_total').length, 0);

    const none = await scrape('/metrics/detailed?family=no_such_family');
    assert.deepEqual([...none.keys()].sort(), ['rabbitmq_build_info', 'rabbitmq_identity_info']);
    const bare = await scrape('/metrics/detailed');
    assert.deepEqual([...bare.keys()].sort(), ['rabbitmq_build_info', 'rabbitmq_identity_info']);
  });

  it('rabbitmq_identity_info follows the cluster name set through the management API', async (t) => {
    if (broker.external) return t.skip('would rename the shared reference cluster');
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' };
    const name = `prometheus-cluster-${Date.now()}`;
    const res = await fetch(`${broker.httpUrl}/api/cluster-name`, { method: 'PUT', headers: auth, body: JSON.stringify({ name }) });
    assert.equal(res.status, 204);
    const m = await scrape();
    const identity = samplesOf(m, 'rabbitmq_identity_info')[0].labels;
    assert.equal(identity.rabbitmq_cluster, name);
    const id = identity.rabbitmq_cluster_permanent_id;
    // The permanent id does not follow the name.
    assert.equal(samplesOf(await scrape('/metrics/per-object'), 'rabbitmq_identity_info')[0].labels.rabbitmq_cluster_permanent_id, id);
  });

  it('answers 404 on other paths', async () => {
    for (const path of ['/', '/metrics/nope', '/api/overview', '/metrics/per-object/x']) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      await res.text();
    }
  });
});

describe('prometheus off, and alarms', { timeout: 60_000 }, () => {
  it('--prometheus-port off: nothing listens, the management API still runs', async (t) => {
    if (process.env.WARREN_TEST_URL) return t.skip('starts brokers of its own');
    const b = await startBroker({ args: ['--prometheus-port', 'off'] });
    try {
      await assert.rejects(fetch(`${b.metricsUrl}/metrics`));
      const res = await fetch(`${b.httpUrl}/api/overview`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      assert.equal(res.status, 200);
      const overview = await res.json() as { listeners: { protocol: string }[] };
      assert.ok(!overview.listeners.some((l) => l.protocol === 'http/prometheus'));
    } finally {
      await b.stop();
    }
  });

  it('a memory alarm shows in rabbitmq_alarms_memory_used_watermark and the limit is the watermark', async (t) => {
    if (process.env.WARREN_TEST_URL) return t.skip('starts brokers of its own');
    const b = await startBroker({ args: ['--memory-high-watermark', '1MB'] });
    try {
      await eventually(async () => {
        const m = parseExposition(await (await fetch(`${b.metricsUrl}/metrics`)).text());
        assert.equal(valueOf(m, 'rabbitmq_alarms_memory_used_watermark'), 1);
        assert.equal(valueOf(m, 'rabbitmq_alarms_free_disk_space_watermark'), 0);
        assert.equal(valueOf(m, 'rabbitmq_resident_memory_limit_bytes'), 1_000_000);
      }, 'memory alarm in metrics');
    } finally {
      await b.stop();
    }
  });
});
