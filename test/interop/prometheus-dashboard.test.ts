// A real Prometheus (Debian's) scrapes Warren once a second while amqplib publishes and
// consumes; then every panel query of Grafana's RabbitMQ-Overview dashboard (from the fixture,
// with Grafana's variables filled in as Grafana would) must return data, and the template
// variables must resolve to Warren's cluster and endpoint. Prometheus's own promtool checks the
// exposition of the three endpoints.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, eventually, sleep } from '../helpers/amqp.js';
import { REPO_ROOT, orSkip, requireTool } from './support.js';

const DASHBOARD = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'grafana-rabbitmq-overview-metrics.json'), 'utf8')) as {
  panels: { title: string; expr: string }[];
};

interface QueryResult {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('Grafana RabbitMQ-Overview against a real Prometheus', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let dir = '';
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  after(async () => {
    prom?.kill('SIGKILL');
    await h.cleanup();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const query = async (expr: string): Promise<QueryResult> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await res.json() as QueryResult;
    assert.equal(res.status, 200, `${expr}: ${JSON.stringify(body)}`);
    return body;
  };

  it('promtool accepts the exposition of every endpoint', async (t) => {
    if (!await orSkip(t, () => { requireTool('promtool', 'promtool', ['--version'], 'prometheus'); return true; })) return;
    for (const path of ['/metrics', '/metrics/per-object', '/metrics/detailed?family=queue_coarse_metrics&family=exchange_names&family=channel_metrics']) {
      const text = await (await fetch(`${broker.metricsUrl}${path}`)).text();
      // promtool parses and lints (naming rules); Warren's series pass both.
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `${path}: ${r.stdout}${r.stderr}`);
    }
  });

  it('every panel query returns data', async (t) => {
    if (!await orSkip(t, () => { requireTool('Prometheus', 'prometheus', ['--version'], 'prometheus'); return true; })) return;
    dir = mkdtempSync(join(tmpdir(), 'warren-prom-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const target = new URL(broker.metricsUrl).host;
    writeFileSync(join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rabbitmq\n    static_configs:\n      - targets: ['${target}']\n`);
    let out = '';
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (d) => { out += d; });
    prom.stderr!.on('data', (d) => { out += d; });

    // Traffic for the rates: confirmed publishes, a returned one, gets and a consumer.
    const conn = await h.connect();
    const ch = await conn.createConfirmChannel();
    const q = h.q('dashboard');
    await ch.assertQueue(q, { durable: false });
    const traffic = setInterval(() => {
      for (let i = 0; i < 5; i++) ch.publish('', q, Buffer.alloc(50 + i * 300));
      ch.publish('amq.direct', 'nowhere', Buffer.from('x'), { mandatory: true });
    }, 100);
    const ch2 = await conn.createChannel();
    await ch2.consume(q, (m) => { if (m) ch2.ack(m); });
    try {
      await eventually(async () => {
        const r = await query('up{job="rabbitmq"}');
        assert.equal(r.data.result[0]?.value[1], '1', out);
      }, 'Prometheus scraping Warren', 20_000);
      await sleep(6000); // several scrapes, so rate() and increase() have two samples or more
    } finally {
      clearInterval(traffic);
    }

    const identity = (await query('rabbitmq_identity_info')).data.result;
    assert.equal(identity.length, 1);
    const cluster = identity[0].metric.rabbitmq_cluster;
    assert.equal(identity[0].metric.rabbitmq_endpoint, 'aggregated');
    // What Grafana substitutes: the variables' values (namespace has none: an empty matcher).
    const fill = (expr: string) => expr
      .replaceAll('$__rate_interval', '30s').replaceAll('$__range', '1m')
      .replaceAll('$rabbitmq_cluster', cluster).replaceAll('$namespace', '').replaceAll('$endpoint', 'aggregated');

    const empty: string[] = [];
    for (const p of DASHBOARD.panels) {
      const r = await query(fill(p.expr));
      assert.equal(r.status, 'success', p.expr);
      if (r.data.result.length === 0) empty.push(`${p.title}: ${p.expr.slice(0, 120)}`);
    }
    assert.deepEqual(empty, [], 'panels with no data');
    // A few panels by value: messages flowed, so the rate panels are above zero.
    const rate = async (expr: string) => Number((await query(fill(expr))).data.result[0]?.value[1]);
    assert.ok(await rate('sum(rate(rabbitmq_global_messages_received_total[$__rate_interval]))') > 0);
    assert.ok(await rate('sum(rate(rabbitmq_global_messages_unroutable_returned_total[$__rate_interval]))') > 0);
    assert.ok(await rate('sum(increase(rabbitmq_message_size_bytes_bucket{le="1000.0"}[$__range]))') > 0);
    assert.equal(await rate('count(rabbitmq_identity_info{rabbitmq_cluster="$rabbitmq_cluster", namespace="$namespace", rabbitmq_endpoint="$endpoint"})'), 1);
  });
});
