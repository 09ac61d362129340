// What the management API reads: the broker model, the AMQP server's connections, the
// configuration, and the counters the hot path keeps. It never touches the hot path itself.
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import type { ResourceMonitor } from '../broker/resource-monitor.js';
import type { Config } from '../config.js';
import type { ServerContext } from '../server/context.js';
import type { ListenerCertificates } from '../server/tls.js';

export interface Listener {
  node: string;
  /** RabbitMQ's names: amqp, amqp/ssl, http, https, http/prometheus, https/prometheus. */
  protocol: string;
  ip_address: string;
  port: number;
  socket_opts: object;
}

export interface ManagementContext {
  broker: Broker;
  amqp: ServerContext;
  config: Config;
  log: Logger;
  /** Warren's version. */
  version: string;
  /** The plain AMQP port actually listened on; null when off (amqps only). */
  amqpPort: number | null;
  /** Every listener as /api/overview and /api/nodes show it, with the ports actually bound. */
  listeners: Listener[];
  /** When the broker started (ms since the epoch). */
  startedAt: number;
  /** The node name shown as `node` everywhere (rabbit@host style). */
  node: string;
  /** The cluster's permanent id (rabbitmq_cluster_permanent_id), kept in the data directory. */
  permanentClusterId: string;
  /** The TLS listeners' certificates (expiry health check); absent without TLS. */
  tls?: ListenerCertificates;
  /** Memory and disk readings (Prometheus); absent where no monitor runs. */
  monitor?: ResourceMonitor;
}

/** The RabbitMQ version whose behaviour Warren matches (reported as rabbitmq_version). */
export const RABBITMQ_VERSION = '3.13.7';

/**
 * The cluster name: RabbitMQ keeps a set one as the global parameter cluster_name (so it persists
 * and travels in definitions); until one is set the node name stands in.
 */
export function clusterNameOf(ctx: ManagementContext): string {
  const v = ctx.broker.parameters.global.get('cluster_name');
  return typeof v === 'string' && v !== '' ? v : ctx.node;
}
