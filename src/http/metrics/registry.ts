// Builds the prom-client Registry a scrape renders: gauges and counters whose collect() reads the
// scrape's objects when prom-client asks for them. A registry is made per request (a few dozen
// metric objects), so the family and vhost filters of /metrics/detailed and the per-object label
// sets never outlive the scrape that asked for them.
import { Counter, Gauge, Registry } from 'prom-client';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RABBITMQ_VERSION } from '../context.js';
import { CLUSTER_FAMILIES, type Family, RAW_FAMILIES, type Series, TOTALS } from './families.js';
import { ALARMS, GLOBAL_COUNTERS, type GlobalSeries, messageSizeHistogram } from './globals.js';
import type { Labels, Scrape } from './scrape.js';

export type Endpoint = 'aggregated' | 'per-object' | 'detailed';

const PROM_CLIENT_VERSION: string = (() => {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve('prom-client/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

interface Sample {
  labels: Labels;
  value: number;
}

/** A metric prom-client's registry renders as it is: for untyped series and fixed label strings. */
function fixedMetric(name: string, help: string, type: string, samples: () => Sample[]) {
  return { name, help, type, aggregator: 'sum', get: () => ({ name, help, type, aggregator: 'sum', values: samples() }) };
}

function metric(reg: Registry, name: string, type: 'gauge' | 'counter', help: string, labelNames: string[],
  fill: (set: (labels: Labels, value: number) => void) => void): void {
  if (type === 'gauge') {
    new Gauge({ name, help, labelNames, registers: [reg], collect() {
      this.reset();
      fill((labels, value) => this.set(labels, value));
    } });
  } else {
    new Counter({ name, help, labelNames, registers: [reg], collect() {
      this.reset();
      fill((labels, value) => this.inc(labels, value));
    } });
  }
}

/** One family's series: a sample per object, or (aggregated) one unlabelled sum as RabbitMQ's default endpoint gives. */
function addFamily(reg: Registry, s: Scrape, prefix: string, family: Family<unknown>, perObject: boolean, skip: Set<string>): void {
  const nodeWide = family.labelNames.length === 0;
  for (const series of family.series as Series<unknown>[]) {
    const name = prefix + series.name;
    if (skip.has(name)) continue;
    skip.add(name);
    if (nodeWide) {
      // Left out entirely when the reading is unknown here (e.g. fds off Linux), not shown as 0.
      if (series.value(s) === null) continue;
      metric(reg, name, series.type, series.help, [], (set) => set({}, series.value(s) ?? 0));
    } else if (perObject) {
      metric(reg, name, series.type, series.help, family.labelNames, (set) => {
        for (const r of family.rows(s)) {
          const v = series.value(r.of);
          if (v !== null) set(r.labels, v);
        }
      });
    } else {
      metric(reg, name, series.type, series.help, [], (set) => {
        let sum = 0;
        if (family.sum) sum = family.sum(s, series.value);
        else for (const r of family.rows(s)) sum += series.value(r.of) ?? 0;
        set({}, sum);
      });
    }
  }
}

function addGlobal(reg: Registry, s: Scrape, g: GlobalSeries): void {
  const name = `rabbitmq_${g.name}`;
  if (g.type === 'gauge' || g.type === 'counter') {
    metric(reg, name, g.type, g.help, Object.keys(g.labels), (set) => set(g.labels, g.value(s)));
  } else {
    reg.registerMetric(fixedMetric(name, g.help, 'untyped', () => [{ labels: g.labels, value: g.value(s) }]) as never);
  }
}

function addIdentity(reg: Registry, s: Scrape, endpoint: Endpoint): void {
  const { ctx } = s;
  reg.registerMetric(fixedMetric('rabbitmq_build_info', 'RabbitMQ & Erlang/OTP version info', 'untyped', () => [{
    labels: {
      product_name: 'Warren', product_version: ctx.version, rabbitmq_version: RABBITMQ_VERSION,
      prometheus_plugin_version: ctx.version, prometheus_client_version: PROM_CLIENT_VERSION,
      erlang_version: 'none (Warren runs on Node.js)',
    },
    value: 1,
  }]) as never);
  reg.registerMetric(fixedMetric('rabbitmq_identity_info', 'RabbitMQ node & cluster identity info', 'untyped', () => [{
    labels: {
      rabbitmq_node: ctx.node, rabbitmq_cluster: ctx.cluster.name, rabbitmq_cluster_permanent_id: ctx.cluster.permanentId,
      // RabbitMQ 4.x's label, which the current Overview dashboard selects on.
      rabbitmq_endpoint: endpoint,
    },
    value: 1,
  }]) as never);
}

/** RabbitMQ's family names a detailed request may ask for. */
export const DETAILED_FAMILIES: ReadonlySet<string> = new Set([...RAW_FAMILIES, ...CLUSTER_FAMILIES].map((f) => f.family));

/**
 * /metrics (aggregated) and /metrics/per-object: every raw family, the object totals, the global
 * counters, alarms and the size histogram. /metrics/detailed: only the families asked for, per
 * object, prefixed rabbitmq_detailed_ (rabbitmq_cluster_ for the cluster families).
 */
export function buildRegistry(s: Scrape, endpoint: Endpoint, families: ReadonlySet<string> = new Set()): Registry {
  const reg = new Registry();
  const seen = new Set<string>();
  if (endpoint === 'detailed') {
    for (const f of RAW_FAMILIES as Family<unknown>[]) {
      if (!families.has(f.family)) continue;
      // queue_consumer_count is a subset of queue_metrics; RabbitMQ serves one of them.
      if (f.family === 'queue_consumer_count' && families.has('queue_metrics')) continue;
      addFamily(reg, s, 'rabbitmq_detailed_', f, true, seen);
    }
    for (const f of CLUSTER_FAMILIES as Family<unknown>[]) if (families.has(f.family)) addFamily(reg, s, 'rabbitmq_cluster_', f, true, seen);
  } else {
    for (const a of ALARMS) addGlobal(reg, s, a);
    for (const f of RAW_FAMILIES as Family<unknown>[]) {
      if (f.family === 'queue_consumer_count') continue; // queue_metrics has queue_consumers
      addFamily(reg, s, 'rabbitmq_', f, endpoint === 'per-object', seen);
    }
    for (const t of TOTALS) metric(reg, `rabbitmq_${t.name}`, 'gauge', t.help, [], (set) => set({}, t.value(s) ?? 0));
    for (const g of GLOBAL_COUNTERS) addGlobal(reg, s, g);
    reg.registerMetric(messageSizeHistogram(s) as never);
  }
  addIdentity(reg, s, endpoint);
  return reg;
}
