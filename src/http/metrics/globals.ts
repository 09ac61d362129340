// The node-wide series outside the core families: rabbitmq_global_* (rabbit_global_counters, by
// protocol and queue type), rabbitmq_alarms_*, the message-size histogram and the identity series.
// Warren speaks AMQP 0-9-1 only and runs every queue on one implementation, so the protocol label
// is always amqp091 and the queue_type label rabbit_classic_queue (quorum and stream rows, which
// RabbitMQ shows at zero, are left out).
import type { AuthTally } from '../../broker/counters.js';
import { MESSAGE_SIZE_BOUNDS, type MessageCounters } from '../../server/stats.js';
import type { MetricType } from './families.js';
import type { Labels, Scrape } from './scrape.js';

export interface GlobalSeries {
  name: string;
  type: MetricType;
  help: string;
  labels: Labels;
  value(s: Scrape): number;
}

const PROTOCOL = { protocol: 'amqp091' };
const QUEUE_TYPE = { protocol: 'amqp091', queue_type: 'rabbit_classic_queue' };

const proto = (name: string, type: MetricType, help: string, value: (t: MessageCounters) => number): GlobalSeries =>
  ({ name: `global_${name}`, type, help, labels: PROTOCOL, value: (s) => value(s.messageTotals()) });
const byType = (name: string, help: string, value: (t: MessageCounters) => number): GlobalSeries =>
  ({ name: `global_${name}`, type: 'counter', help, labels: QUEUE_TYPE, value: (s) => value(s.messageTotals()) });

export const GLOBAL_COUNTERS: GlobalSeries[] = [
  proto('messages_received_total', 'counter', 'Total number of messages received from publishers', (t) => t.publish),
  proto('messages_received_confirm_total', 'counter', 'Total number of messages received from publishers expecting confirmations', (t) => t.receivedConfirm),
  proto('messages_routed_total', 'counter', 'Total number of messages routed to queues or streams', (t) => t.routed),
  proto('messages_unroutable_dropped_total', 'counter', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', (t) => t.dropUnroutable),
  proto('messages_unroutable_returned_total', 'counter', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', (t) => t.returnUnroutable),
  proto('messages_confirmed_total', 'counter', 'Total number of messages confirmed to publishers', (t) => t.confirm),
  { name: 'global_publishers', type: 'gauge', help: 'Current number of publishers', labels: PROTOCOL, value: (s) => s.publishers() },
  { name: 'global_consumers', type: 'gauge', help: 'Current number of consumers', labels: PROTOCOL, value: (s) => s.channels().reduce((n, r) => n + r.of.consumers.size, 0) },
  byType('messages_delivered_total', 'Total number of messages delivered to consumers', (t) => t.deliver + t.deliverNoAck + t.get + t.getNoAck),
  byType('messages_delivered_consume_manual_ack_total', 'Total number of messages delivered to consumers using basic.consume with manual acknowledgment', (t) => t.deliver),
  byType('messages_delivered_consume_auto_ack_total', 'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment', (t) => t.deliverNoAck),
  byType('messages_delivered_get_manual_ack_total', 'Total number of messages delivered to consumers using basic.get with manual acknowledgment', (t) => t.get),
  byType('messages_delivered_get_auto_ack_total', 'Total number of messages delivered to consumers using basic.get with automatic acknowledgment', (t) => t.getNoAck),
  byType('messages_get_empty_total', 'Total number of times basic.get operations fetched no message', (t) => t.getEmpty),
  byType('messages_redelivered_total', 'Total number of messages redelivered to consumers', (t) => t.redeliver),
  byType('messages_acknowledged_total', 'Total number of messages acknowledged by consumers', (t) => t.ack),
];

/** A login counter, read from a protocol's or a source's tally. */
export interface AuthSeries {
  name: string;
  help: string;
  value(t: AuthTally): number;
}

/** RabbitMQ's auth_attempt_metrics, a row per protocol (amqp091, http) once it had a login. */
export const AUTH_ATTEMPTS: AuthSeries[] = [
  { name: 'auth_attempts_total', help: 'Total number of authentication attempts', value: (t) => t.attempts },
  { name: 'auth_attempts_succeeded_total', help: 'Total number of successful authentication attempts', value: (t) => t.succeeded },
  { name: 'auth_attempts_failed_total', help: 'Total number of failed authentication attempts', value: (t) => t.failed },
];

/** RabbitMQ's auth_attempt_detailed_metrics, a row per remote address, user name and protocol. */
export const AUTH_ATTEMPTS_DETAILED: AuthSeries[] = [
  { name: 'auth_attempts_detailed_total', help: 'Total number of authentication attempts with source info', value: (t) => t.attempts },
  { name: 'auth_attempts_detailed_succeeded_total', help: 'Total number of successful authentication attempts with source info', value: (t) => t.succeeded },
  { name: 'auth_attempts_detailed_failed_total', help: 'Total number of failed authentication attempts with source info', value: (t) => t.failed },
];

const DLX = { queue_type: 'rabbit_classic_queue', dead_letter_strategy: 'at_most_once' };
const deadLettered = (reason: 'maxlen' | 'expired' | 'rejected' | 'delivery_limit', help: string): GlobalSeries =>
  ({ name: `global_messages_dead_lettered_${reason}_total`, type: 'counter', help, labels: DLX, value: (s) => s.ctx.broker.deadLettered[reason] });

/**
 * Messages sent to a dead-letter exchange (RabbitMQ's at_most_once strategy, the only one classic
 * queues have). RabbitMQ also counts messages that die without a dead-letter exchange
 * (strategy "disabled"); Warren does not, so those rows are left out.
 */
export const DEAD_LETTERED: GlobalSeries[] = [
  deadLettered('maxlen', 'Total number of messages dead-lettered due to overflow drop-head or reject-publish-dlx'),
  deadLettered('expired', 'Total number of messages dead-lettered due to message TTL exceeded'),
  deadLettered('rejected', 'Total number of messages dead-lettered due to basic.reject or basic.nack'),
  deadLettered('delivery_limit', 'Total number of messages dead-lettered due to delivery-limit exceeded'),
];

const alarm = (name: string, help: string, resource: string): GlobalSeries =>
  ({ name: `alarms_${name}`, type: 'untyped' as MetricType, help, labels: {}, value: (s) => (s.ctx.broker.alarms.has(resource) ? 1 : 0) });

/** RabbitMQ types these untyped; Warren's resource monitor raises 'memory' and 'disk' (no fd alarm yet). */
export const ALARMS: GlobalSeries[] = [
  alarm('file_descriptor_limit', 'is 1 if file descriptor limit alarm is in effect', 'file_descriptor_limit'),
  alarm('free_disk_space_watermark', 'is 1 if free disk space watermark alarm is in effect', 'disk'),
  alarm('memory_used_watermark', 'is 1 if VM memory watermark alarm is in effect', 'memory'),
];

/**
 * The bucket bounds as RabbitMQ's Erlang client prints them (le="100.0", le="1e+06"): Grafana's
 * dashboard matches these exact strings, so they are written out rather than left to number formatting.
 */
export const SIZE_BUCKET_LABELS: readonly string[] = ['100.0', '1000.0', '10000.0', '100000.0', '1e+06', '1e+07', '5e+07', '1e+08', '+Inf'];
if (SIZE_BUCKET_LABELS.length !== MESSAGE_SIZE_BOUNDS.length + 1) throw new Error('message size buckets and labels disagree');

/** rabbitmq_message_size_bytes as prom-client's registry expects a metric: name, help, type and get(). */
export function messageSizeHistogram(s: Scrape) {
  return {
    name: 'rabbitmq_message_size_bytes',
    help: 'Size of messages received from publishers',
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const sizes = s.ctx.amqp.messageSizes;
      const values = [];
      let cumulative = 0;
      for (let i = 0; i < SIZE_BUCKET_LABELS.length; i++) {
        cumulative += sizes.counts[i];
        values.push({ metricName: 'rabbitmq_message_size_bytes_bucket', labels: { ...PROTOCOL, le: SIZE_BUCKET_LABELS[i] }, value: cumulative });
      }
      values.push({ metricName: 'rabbitmq_message_size_bytes_sum', labels: PROTOCOL, value: sizes.sum });
      values.push({ metricName: 'rabbitmq_message_size_bytes_count', labels: PROTOCOL, value: cumulative });
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    },
  };
}
