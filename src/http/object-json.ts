// Queues, exchanges and bindings as the management API shows them, in RabbitMQ's field names.
// Built from the model and the sampler's tracks; nothing here walks messages, except unacked
// byte counts, summed once per request over the (prefetch-bounded) unacked deliveries.
import { createHash } from 'node:crypto';
import { decodeProperties } from '../amqp/properties.js';
import { READY } from '../broker/consumer.js';
import { Binding, Exchange } from '../broker/exchange.js';
import type { Queue } from '../broker/queue.js';
import type { ManagementContext } from './context.js';
import { idleSince, tableToJson } from './json-values.js';
import { type HistoryRequest, withDetails } from './rates.js';
import { EXCHANGE_STATS, QUEUE_LENGTHS, QUEUE_STATS, queueValue, type StatsSampler } from './stats-sampler.js';

type Json = Record<string, unknown>;

/** What one request's objects are built with. */
export interface BuildOptions {
  ctx: ManagementContext;
  sampler: StatsSampler;
  history: HistoryRequest;
  /** disable_stats=true: no message_stats and no *_details. */
  stats: boolean;
  /** Unacked body bytes per queue, summed on first need. */
  unackedBytes?: Map<Queue, number>;
}

function unackedBytesOf(o: BuildOptions, q: Queue): number {
  if (q.unackedCount === 0) return 0;
  if (o.unackedBytes === undefined) {
    const m = new Map<Queue, number>();
    for (const conn of o.ctx.amqp.connections) {
      for (const ch of conn.channels.values()) {
        for (const e of ch.unacked.values()) m.set(e.queue, (m.get(e.queue) ?? 0) + e.msg.bodySize);
      }
    }
    o.unackedBytes = m;
  }
  return o.unackedBytes.get(q) ?? 0;
}

/** Per-message memory beyond the body (entry, message object, buffer headers): an estimate. */
const ENTRY_OVERHEAD = 200;

export function queueJson(q: Queue, o: BuildOptions): Json {
  const { ctx, sampler } = o;
  const m = q.messages;
  const ready = q.messageCount;
  const unacked = q.unackedCount;
  const paged = m.pagedCount;
  const readyBytes = m.bytes;
  const pagedBytes = m.pagedBytesCount;
  const unackedBytes = unackedBytesOf(o, q);
  const track = sampler.queues.get(q);
  const consumers = q.consumers;
  let utilisation: number | null = null;
  if (consumers.length !== 0) {
    // A snapshot, not RabbitMQ's time average: the share of consumers able to take a message now.
    let ableNow = 0;
    for (const c of consumers) if (c.sink.readiness(c) === READY) ableNow++;
    utilisation = ready === 0 ? 1 : ableNow / consumers.length;
  }
  const head = m.headInMemory();
  let headTs: number | null = null;
  if (head !== undefined) {
    const ts = decodeProperties(head.msg.data, head.msg.routeEnd, head.msg.propsEnd).timestamp;
    if (ts !== undefined) headTs = Number(ts);
  }
  const sac = q.singleActive && consumers.length !== 0 ? consumers[0].tag : null;
  const exclusiveConsumer = consumers.find((c) => c.exclusive);
  const out: Json = {
    arguments: tableToJson(q.arguments),
    auto_delete: q.autoDelete,
    consumer_capacity: utilisation ?? 0,
    consumer_utilisation: utilisation ?? 0,
    consumers: consumers.length,
    durable: q.durable,
    exclusive: q.exclusive,
    exclusive_consumer_tag: exclusiveConsumer?.tag ?? null,
    head_message_timestamp: headTs,
    memory: 1024 + (readyBytes - pagedBytes) + (ready - paged) * ENTRY_OVERHEAD,
    message_bytes: readyBytes + unackedBytes,
    message_bytes_paged_out: pagedBytes,
    message_bytes_ram: readyBytes - pagedBytes + unackedBytes,
    message_bytes_ready: readyBytes,
    message_bytes_unacknowledged: unackedBytes,
    messages_paged_out: paged,
    messages_ram: ready - paged + unacked,
    messages_ready_ram: ready - paged,
    messages_unacknowledged_ram: unacked,
    messages_delayed: q.retryCount,
    name: q.name,
    node: ctx.node,
    operator_policy: q.operatorPolicy,
    policy: q.policy,
    effective_policy_definition: q.effectivePolicyDefinition,
    single_active_consumer_tag: sac,
    state: 'running',
    type: 'classic',
    vhost: q.vhost,
  };
  // Not sampled yet: a queue declared since the last tick has been idle since about now.
  if (consumers.length === 0) out.idle_since = idleSince(track?.changedAt ?? Date.now());
  const values: number[] = [];
  for (let i = 0; i < QUEUE_STATS.length; i++) values.push(queueValue(q, i));
  const lengths = [ready + unacked, ready, unacked];
  if (o.stats) {
    withDetails(out, QUEUE_LENGTHS, lengths, track, sampler.clock, o.history.lengths, QUEUE_STATS.length);
    const stats: Json = {};
    withDetails(stats, QUEUE_STATS, values, track, sampler.clock, o.history.msgRates);
    out.message_stats = stats;
  } else {
    for (let i = 0; i < QUEUE_LENGTHS.length; i++) out[QUEUE_LENGTHS[i]] = lengths[i];
  }
  return out;
}

export function exchangeJson(x: Exchange, o: BuildOptions): Json {
  const out: Json = {
    arguments: tableToJson(x.arguments),
    auto_delete: x.autoDelete,
    durable: x.durable,
    internal: x.internal,
    name: x.name,
    type: x.type,
    vhost: x.vhost,
  };
  // RabbitMQ shows an exchange's policy only when one applies.
  if (x.policy !== null) out.policy = x.policy;
  if (o.stats) {
    const stats: Json = {};
    withDetails(stats, EXCHANGE_STATS, [x.publishInCount, x.publishOutCount], o.sampler.exchanges.get(x), o.sampler.clock, o.history.msgRates);
    out.message_stats = stats;
  }
  if (x.delays !== null) {
    out.messages_delayed = x.delays.count;
    out.next_due_at = x.delays.nextDue;
    // Warren's own: pending messages that fell due and were routed on.
    if (o.stats) withDetails(out.message_stats as Json, ['delayed_routed'], [x.delays.routedCount], o.sampler.exchanges.get(x), o.sampler.clock, o.history.msgRates, EXCHANGE_STATS.length);
  }
  return out;
}

/** RabbitMQ's properties_key: the escaped routing key, and "~" and a hash of the arguments when it has any. */
export function propertiesKey(routingKey: string, args: Record<string, unknown>): string {
  const key = quotePlus(routingKey);
  if (Object.keys(args).length === 0) return routingKey === '' ? '~' : key;
  // RabbitMQ hashes Erlang terms (phash2); Warren hashes the arguments' JSON with sorted keys.
  // Same shape, different digits: clients take the key from listings, never compute it.
  const digest = createHash('sha1').update(stableJson(args)).digest().subarray(0, 4);
  return `${key}~${digest.toString('base64url')}`;
}

/** RabbitMQ's escaping of routing keys in properties keys: letters, digits and "-_." kept, space "+", the rest %XX. */
export function quotePlus(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9._-]/.test(c)) out += c;
    else if (b === 0x20) out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Json;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
}

export function bindingJson(b: Binding, vhost: string): Json {
  const args = tableToJson(b.args);
  return {
    source: b.source.name,
    vhost,
    destination: b.destination.name,
    destination_type: b.destination instanceof Exchange ? 'exchange' : 'queue',
    routing_key: b.routingKey,
    arguments: args,
    properties_key: propertiesKey(b.routingKey, args),
  };
}

/** RabbitMQ lists each queue's implicit binding from the default exchange first. */
export function defaultBindingJson(q: Queue): Json {
  return { source: '', vhost: q.vhost, destination: q.name, destination_type: 'queue', routing_key: q.name, arguments: {}, properties_key: q.name === '' ? '~' : quotePlus(q.name) };
}
