// Builds the prom-client Registry a scrape renders: gauges and counters whose collect() reads the
// scrape's objects when prom-client asks for them. A registry is made per request (a few dozen
// metric objects), so the family and vhost filters of /metrics/detailed and the per-object label
// sets never outlive the scrape that asked for them.
import { Counter, Gauge, Registry } from 'prom-client';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { clusterNameOf, RABBITMQ_VERSION } from '../context.js';
import { CLUSTER_FAMILIES, type Family, RAW_FAMILIES, type Series, TOTALS } from './families.js';
import { ALARMS, AUTH_ATTEMPTS, AUTH_ATTEMPTS_DETAILED, DEAD_LETTERED, GLOBAL_COUNTERS, type GlobalSeries, messageSizeHistogram } from './globals.js';
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

type Fill = (set: (labels: Labels, value: number) => void) => void | Promise<void>;

/** A prom-client gauge or counter whose collect() fills in the scrape's values (awaiting them if need be). */
function metric(reg: Registry, name: string, type: 'gauge' | 'counter', help: string, labelNames: string[], fill: Fill): void {
  if (type === 'gauge') {
    new Gauge({ name, help, labelNames, registers: [reg], async collect() {
      this.reset();
      await fill((labels, value) => this.set(labels, value));
    } });
  } else {
    new Counter({ name, help, labelNames, registers: [reg], async collect() {
      this.reset();
      await fill((labels, value) => this.inc(labels, value));
    } });
  }
}

/** Every series of a family summed over its objects in one pass (RabbitMQ's aggregated endpoint). */
async function familySums(s: Scrape, family: Family<unknown>): Promise<number[]> {
  const series = family.series as Series<unknown>[];
  const sums = new Array<number>(series.length).fill(0);
  const visit = (o: unknown) => {
    for (let i = 0; i < series.length; i++) sums[i] += series[i].value(o) ?? 0;
  };
  if (family.each) await family.each(s, visit);
  else for (const r of family.rows(s)) visit(r.of);
  return sums;
}

/**
 * A family through prom-client: node-wide families as one unlabelled sample each; object families
 * (aggregated endpoint only) as one unlabelled sum each. Per-object samples are streamed instead.
 */
function addFamily(reg: Registry, s: Scrape, prefix: string, family: Family<unknown>, skip: Set<string>): void {
  let sums: Promise<number[]> | null = null;
  (family.series as Series<unknown>[]).forEach((series, i) => {
    const name = prefix + series.name;
    if (skip.has(name)) return;
    skip.add(name);
    if (family.labelNames.length === 0) {
      // Left out entirely when the reading is unknown here (e.g. fds off Linux), not shown as 0.
      if (series.value(s) === null) return;
      metric(reg, name, series.type, series.help, [], (set) => set({}, series.value(s) ?? 0));
    } else {
      metric(reg, name, series.type, series.help, [], async (set) => set({}, (await (sums ??= familySums(s, family)))[i]));
    }
  });
}

function addGlobal(reg: Registry, s: Scrape, g: GlobalSeries): void {
  const name = `rabbitmq_${g.name}`;
  if (g.type === 'gauge' || g.type === 'counter') {
    metric(reg, name, g.type, g.help, Object.keys(g.labels), (set) => set(g.labels, g.value(s)));
  } else {
    reg.registerMetric(fixedMetric(name, g.help, 'untyped', () => [{ labels: g.labels, value: g.value(s) }]) as never);
  }
}

/** auth_attempt_metrics: a row per protocol that had a login, as RabbitMQ. */
function addAuthAttempts(reg: Registry, s: Scrape, prefix: string): void {
  for (const a of AUTH_ATTEMPTS) {
    metric(reg, prefix + a.name, 'counter', a.help, ['protocol'], (set) => {
      for (const [protocol, t] of s.ctx.broker.auth.byProtocol) if (t.attempts > 0) set({ protocol }, a.value(t));
    });
  }
}

/** auth_attempt_detailed_metrics: a row per remote address, user name and protocol. */
function addAuthAttemptsDetailed(reg: Registry, s: Scrape, prefix: string): void {
  for (const a of AUTH_ATTEMPTS_DETAILED) {
    metric(reg, prefix + a.name, 'counter', a.help, ['remote_address', 'username', 'protocol'], (set) => {
      for (const src of s.ctx.broker.auth.bySource.values()) {
        set({ remote_address: src.remoteAddress, username: src.username, protocol: src.protocol }, a.value(src));
      }
    });
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
      rabbitmq_node: ctx.node, rabbitmq_cluster: clusterNameOf(ctx), rabbitmq_cluster_permanent_id: ctx.permanentClusterId,
      // RabbitMQ 4.x's label, which the current Overview dashboard selects on.
      rabbitmq_endpoint: endpoint,
    },
    value: 1,
  }]) as never);
}

const AUTH_FAMILY = 'auth_attempt_metrics';
const AUTH_DETAILED_FAMILY = 'auth_attempt_detailed_metrics';

/** RabbitMQ's family names a detailed request may ask for. */
export const DETAILED_FAMILIES: ReadonlySet<string> = new Set([...[...RAW_FAMILIES, ...CLUSTER_FAMILIES].map((f) => f.family),
  AUTH_FAMILY, AUTH_DETAILED_FAMILY]);

export interface Scraped {
  /** Node-wide series, totals, globals, identity (and, aggregated, the object families' sums). */
  registry: Registry;
  /** Families to stream a sample per object for, after the registry's text. */
  objects: { prefix: string; families: Family<unknown>[] }[];
  /** Series names already served, so a name is declared once. */
  seen: Set<string>;
}

const objectFamily = (f: Family<unknown>) => f.labelNames.length !== 0;

/**
 * /metrics (aggregated) and /metrics/per-object: every raw family, the object totals, the global
 * counters, alarms and the size histogram. /metrics/detailed: only the families asked for, per
 * object, prefixed rabbitmq_detailed_ (rabbitmq_cluster_ for the cluster families).
 */
export function buildScrape(s: Scrape, endpoint: Endpoint, families: ReadonlySet<string> = new Set()): Scraped {
  const registry = new Registry();
  const seen = new Set<string>();
  const objects: Scraped['objects'] = [];
  if (endpoint === 'detailed') {
    const raw = (RAW_FAMILIES as Family<unknown>[]).filter((f) => families.has(f.family)
      // queue_consumer_count is a subset of queue_metrics; RabbitMQ serves one of them.
      && !(f.family === 'queue_consumer_count' && families.has('queue_metrics')));
    for (const f of raw) if (!objectFamily(f)) addFamily(registry, s, 'rabbitmq_detailed_', f, seen);
    if (families.has(AUTH_FAMILY)) addAuthAttempts(registry, s, 'rabbitmq_detailed_');
    if (families.has(AUTH_DETAILED_FAMILY)) addAuthAttemptsDetailed(registry, s, 'rabbitmq_detailed_');
    objects.push({ prefix: 'rabbitmq_detailed_', families: raw.filter(objectFamily) });
    objects.push({ prefix: 'rabbitmq_cluster_', families: (CLUSTER_FAMILIES as Family<unknown>[]).filter((f) => families.has(f.family)) });
  } else {
    for (const a of ALARMS) addGlobal(registry, s, a);
    // queue_metrics has queue_consumers, so queue_consumer_count is not served here.
    const raw = (RAW_FAMILIES as Family<unknown>[]).filter((f) => f.family !== 'queue_consumer_count');
    for (const f of raw) if (endpoint === 'aggregated' || !objectFamily(f)) addFamily(registry, s, 'rabbitmq_', f, seen);
    if (endpoint === 'per-object') objects.push({ prefix: 'rabbitmq_', families: raw.filter(objectFamily) });
    for (const t of TOTALS) metric(registry, `rabbitmq_${t.name}`, 'gauge', t.help, [], (set) => set({}, t.value(s) ?? 0));
    addAuthAttempts(registry, s, 'rabbitmq_');
    // Per source only per object: summed, they are auth_attempt_metrics again (RabbitMQ leaves them out too).
    if (endpoint === 'per-object') addAuthAttemptsDetailed(registry, s, 'rabbitmq_');
    for (const g of [...GLOBAL_COUNTERS, ...DEAD_LETTERED]) addGlobal(registry, s, g);
    registry.registerMetric(messageSizeHistogram(s) as never);
  }
  addIdentity(registry, s, endpoint);
  return { registry, objects, seen };
}
