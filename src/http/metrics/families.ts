// rabbitmq_prometheus's metric families, named as RabbitMQ 3.13 names them (the names
// /metrics/detailed?family= takes), each series with RabbitMQ's name, type and help text, and
// what it reads in Warren. Series RabbitMQ takes from Erlang internals Warren has no counterpart
// for (reductions, Erlang processes, GC, Mnesia, Raft, per-exchange-per-channel counts) are left
// out rather than filled with zeros; the README's Prometheus section lists them.
import type { Exchange } from '../../broker/exchange.js';
import type { Queue } from '../../broker/queue.js';
import type { Channel } from '../../server/channel.js';
import type { Connection } from '../../server/connection.js';
import type { Row, Scrape } from './scrape.js';

export type MetricType = 'gauge' | 'counter';

export interface Series<T> {
  name: string;
  type: MetricType;
  help: string;
  /** null: not known for this object (the sample is left out). */
  value(o: T): number | null;
}

export interface Family<T> {
  /** RabbitMQ's family (ETS table) name. */
  family: string;
  labelNames: string[];
  /** Per-object rows; node-wide families have a single row without labels. */
  rows(s: Scrape): Row<T>[];
  /** Visits every object without building rows (the aggregated endpoint sums this way). */
  each?(s: Scrape, visit: (o: T) => void): Promise<void>;
  /** Queue families honour /metrics/detailed's vhost filter. */
  byVhost?: boolean;
  series: Series<T>[];
}

const g = <T>(name: string, help: string, value: (o: T) => number | null): Series<T> => ({ name, type: 'gauge', help, value });
const c = <T>(name: string, help: string, value: (o: T) => number | null): Series<T> => ({ name, type: 'counter', help, value });

/** A node-wide family: one unlabelled row, the scrape itself. */
function node(family: string, series: Series<Scrape>[]): Family<Scrape> {
  return { family, labelNames: [], rows: (s) => [{ labels: {}, of: s }], series };
}

const churn = (s: Scrape) => s.ctx.broker.churn;

const connectionChurn = node('connection_churn_metrics', [
  c('connections_opened_total', 'Total number of connections opened', (s) => churn(s).connectionsOpened),
  c('connections_closed_total', 'Total number of connections closed or terminated', (s) => churn(s).connectionsClosed),
  c('channels_opened_total', 'Total number of channels opened', (s) => churn(s).channelsOpened),
  c('channels_closed_total', 'Total number of channels closed', (s) => churn(s).channelsClosed),
  c('queues_declared_total', 'Total number of queues declared', (s) => churn(s).queuesDeclared),
  c('queues_created_total', 'Total number of queues created', (s) => churn(s).queuesCreated),
  c('queues_deleted_total', 'Total number of queues deleted', (s) => churn(s).queuesDeleted),
]);

const nodeCoarse = node('node_coarse_metrics', [
  g('process_open_fds', 'Open file descriptors', (s) => s.node().openFds),
  g('process_open_tcp_sockets', 'Open TCP sockets', (s) => s.node().openSockets),
  g('process_resident_memory_bytes', 'Memory used in bytes', (s) => s.node().residentMemory),
  g('disk_space_available_bytes', 'Disk space available in bytes', (s) => s.node().diskFree),
]);

const nodeMetrics = node('node_metrics', [
  g('process_max_fds', 'Open file descriptors limit', (s) => s.node().maxFds),
  g('resident_memory_limit_bytes', 'Memory high watermark in bytes', (s) => s.node().memoryLimit),
  g('disk_space_available_limit_bytes', 'Free disk space low watermark in bytes', (s) => s.node().diskFreeLimit),
  g('erlang_uptime_seconds', 'Node uptime', (s) => s.node().uptimeSeconds),
]);

function queueFamily(family: string, series: Series<Queue>[]): Family<Queue> {
  return {
    family, labelNames: ['vhost', 'queue'], byVhost: true, series,
    rows: (s) => s.queues(),
    each: (s, visit) => s.eachQueue(visit),
  };
}

const queueCoarse = queueFamily('queue_coarse_metrics', [
  g('queue_messages_ready', 'Messages ready to be delivered to consumers', (q) => q.messageCount),
  g('queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged', (q) => q.unackedCount),
  g('queue_messages', 'Sum of ready and unacknowledged messages - total queue depth', (q) => q.messageCount + q.unackedCount),
]);

const queueConsumersSeries = g<Queue>('queue_consumers', 'Consumers on a queue', (q) => q.consumerCount);
const queueConsumerCount = queueFamily('queue_consumer_count', [queueConsumersSeries]);

const queueMetrics = queueFamily('queue_metrics', [
  queueConsumersSeries,
  g('queue_messages_ram', 'Ready and unacknowledged messages stored in memory', (q) => q.messageCount - q.messages.pagedCount + q.unackedCount),
  g('queue_messages_ready_ram', 'Ready messages stored in memory', (q) => q.messageCount - q.messages.pagedCount),
  g('queue_messages_unacked_ram', 'Unacknowledged messages stored in memory', (q) => q.unackedCount),
  g('queue_messages_ready_bytes', 'Size in bytes of ready messages', (q) => q.messages.bytes),
  g('queue_messages_paged_out', 'Messages paged out to disk', (q) => q.messages.pagedCount),
]);

/** Channels still open (RabbitMQ drops a channel's rows when it closes, so aggregates cover open channels). */
const channelFamily = (family: string, series: Series<Channel>[]): Family<Channel> =>
  ({ family, labelNames: ['channel'], rows: (s) => s.channels(), series });

const channelMetrics = channelFamily('channel_metrics', [
  g('channel_consumers', 'Consumers on a channel', (ch) => ch.consumers.size),
  g('channel_messages_unacked', 'Delivered but not yet acknowledged messages', (ch) => ch.unacked.size),
  g('channel_messages_unconfirmed', 'Published but not yet confirmed messages', (ch) => ch.confirms?.unconfirmed ?? 0),
  g('channel_messages_uncommitted', 'Messages received in a transaction but not yet committed', (ch) => ch.tx?.publishes.length ?? 0),
  g('channel_acks_uncommitted', 'Message acknowledgements in a transaction not yet committed', (ch) => ch.tx?.acks.length ?? 0),
  g('consumer_prefetch', 'Limit of unacknowledged messages for each consumer', (ch) => ch.prefetchCount),
  g('channel_prefetch', 'Total limit of unacknowledged messages for all consumers on a channel', (ch) => ch.globalPrefetchCount),
]);

// RabbitMQ labels these by channel and exchange (or queue); Warren counts per channel only, so
// the samples carry the channel label alone.
const channelExchange = channelFamily('channel_exchange_metrics', [
  c('channel_messages_published_total', 'Total number of messages published into an exchange on a channel', (ch) => ch.stats.publish),
  c('channel_messages_confirmed_total', 'Total number of messages published into an exchange and confirmed on the channel', (ch) => ch.stats.confirm),
  c('channel_messages_unroutable_returned_total', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', (ch) => ch.stats.returnUnroutable),
  c('channel_messages_unroutable_dropped_total', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', (ch) => ch.stats.dropUnroutable),
]);

const channelQueue = channelFamily('channel_queue_metrics', [
  c('channel_get_ack_total', 'Total number of messages fetched with basic.get in manual acknowledgement mode', (ch) => ch.stats.get),
  c('channel_get_total', 'Total number of messages fetched with basic.get in automatic acknowledgement mode', (ch) => ch.stats.getNoAck),
  c('channel_messages_delivered_ack_total', 'Total number of messages delivered to consumers in manual acknowledgement mode', (ch) => ch.stats.deliver),
  c('channel_messages_delivered_total', 'Total number of messages delivered to consumers in automatic acknowledgement mode', (ch) => ch.stats.deliverNoAck),
  c('channel_messages_redelivered_total', 'Total number of messages redelivered to consumers', (ch) => ch.stats.redeliver),
  c('channel_messages_acked_total', 'Total number of messages acknowledged by consumers', (ch) => ch.stats.ack),
  c('channel_get_empty_total', 'Total number of times basic.get operations fetched no message', (ch) => ch.stats.getEmpty),
]);

const connectionFamily = (family: string, series: Series<Connection>[]): Family<Connection> =>
  ({ family, labelNames: ['channel'], rows: (s) => s.connections(), series });

const connectionCoarse = connectionFamily('connection_coarse_metrics', [
  c('connection_incoming_bytes_total', 'Total number of bytes received on a connection', (cn) => cn.recvOct),
  c('connection_outgoing_bytes_total', 'Total number of bytes sent on a connection', (cn) => cn.sendOct),
]);

const connectionMetrics = connectionFamily('connection_metrics', [
  g('connection_channels', 'Channels on a connection', (cn) => cn.channels.size),
]);

// RabbitMQ 4.x families (exchange_metrics, queue_delivery_metrics) for what Warren counts per object.
const exchangeMetrics: Family<Exchange> = {
  family: 'exchange_metrics', labelNames: ['vhost', 'exchange'], rows: (s) => s.exchanges(),
  series: [c('exchange_messages_published_total', 'Total number of messages published into an exchange', (x) => x.publishInCount)],
};

const queueDelivery = queueFamily('queue_delivery_metrics', [
  c('queue_messages_redelivered_total', 'Total number of messages redelivered from a queue to consumers', (q) => q.redeliverCount),
  c('queue_messages_acked_total', 'Total number of messages acknowledged by consumers on a queue', (q) => q.ackCount),
]);

/** Families of /metrics and /metrics/per-object (and /metrics/detailed with the rabbitmq_detailed_ prefix). */
export const RAW_FAMILIES: Family<never>[] = [
  connectionChurn, nodeCoarse, nodeMetrics, queueCoarse, queueConsumerCount, queueMetrics, channelMetrics,
  channelExchange, channelQueue, connectionCoarse, connectionMetrics, exchangeMetrics, queueDelivery,
] as Family<unknown>[] as Family<never>[];

/** Exchanges RabbitMQ lists in the cluster families: not internal, not the default exchange. */
function listedExchanges(s: Scrape): Row<Exchange>[] {
  return s.exchanges().filter((r) => r.of.name !== '' && !r.of.internal)
    .map((r) => ({ labels: { ...r.labels, type: r.of.type }, of: r.of }));
}

/** Families only /metrics/detailed serves, with the rabbitmq_cluster_ prefix. */
export const CLUSTER_FAMILIES: Family<never>[] = [
  {
    family: 'vhost_status', labelNames: ['vhost'],
    rows: (s) => [...s.ctx.broker.vhosts.keys()].map((v) => ({ labels: { vhost: v }, of: v })),
    series: [g('vhost_status', 'Whether a given vhost is running', () => 1)],
  } as Family<string>,
  {
    family: 'exchange_bindings', labelNames: ['vhost', 'exchange', 'type'], rows: listedExchanges,
    series: [g('exchange_bindings', 'Number of bindings for an exchange. This value is cluster-wide.', (x) => x.bindings.size)],
  } as Family<Exchange>,
  {
    family: 'exchange_names', labelNames: ['vhost', 'exchange', 'type'], rows: listedExchanges,
    series: [g('exchange_name', 'Enumerates exchanges without any additional info. This value is cluster-wide. A cheaper alternative to `exchange_bindings`', () => 1)],
  } as Family<Exchange>,
] as Family<unknown>[] as Family<never>[];

/** Object counts of /metrics and /metrics/per-object. */
export const TOTALS: Series<Scrape>[] = [
  g('connections', 'Connections currently open', (s) => s.ctx.amqp.connections.size),
  g('channels', 'Channels currently open', (s) => s.channels().length),
  g('consumers', 'Consumers currently connected', (s) => s.channels().reduce((n, r) => n + r.of.consumers.size, 0)),
  g('queues', 'Queues available', (s) => [...s.ctx.broker.vhosts.values()].reduce((n, v) => n + v.queues.size, 0)),
];
