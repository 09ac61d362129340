// /api/overview, /api/whoami, /api/cluster-name.
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { requireTag } from '../auth.js';
import { clusterNameOf, RABBITMQ_VERSION, type ManagementContext } from '../context.js';
import type { Query } from '../paging.js';
import { historyRequest, withDetails } from '../rates.js';
import { CHURN, MESSAGE_STATS, QUEUE_LENGTHS, samplerOf } from '../stats-sampler.js';

export function overviewRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const params = ctx.broker.parameters;
  const clusterName = () => clusterNameOf(ctx);

  app.get('/api/whoami', async (req) => ({
    name: req.auth.user.name,
    tags: req.auth.user.tags,
  }));

  app.get('/api/cluster-name', async () => ({ name: clusterName() }));
  app.put('/api/cluster-name', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const name = (req.body as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') {
      params.global.set('cluster_name', name);
      ctx.broker.accessListener?.parametersChanged();
    }
    return reply.status(204).send();
  });

  app.get('/api/overview', async (req) => {
    const vhosts = [...ctx.broker.vhosts.values()];
    let queues = 0;
    let exchanges = 0;
    let consumers = 0;
    let ready = 0;
    let unacked = 0;
    for (const v of vhosts) {
      queues += v.queues.size;
      exchanges += v.exchanges.size;
      for (const q of v.queues.values()) {
        consumers += q.consumerCount;
        ready += q.messageCount;
        unacked += q.unackedCount;
      }
    }
    let channels = 0;
    for (const c of ctx.amqp.connections) channels += c.channels.size;
    return {
      management_version: RABBITMQ_VERSION,
      rabbitmq_version: RABBITMQ_VERSION,
      product_name: 'Warren',
      product_version: ctx.version,
      erlang_version: 'none (Warren runs on Node.js)',
      erlang_full_version: `Node.js ${process.version}`,
      cluster_name: clusterName(),
      node: ctx.node,
      rates_mode: 'basic',
      disable_stats: false,
      enable_queue_totals: true,
      statistics_db_event_queue: 0,
      exchange_types: ['direct', 'fanout', 'headers', 'topic', 'x-delayed-message'].map((name) => ({ name, description: '', enabled: true })),
      listeners: ctx.listeners,
      contexts: [{ node: ctx.node, description: 'RabbitMQ Management', path: '/', port: String(ctx.config.managementPort ?? '') }],
      object_totals: { connections: ctx.amqp.connections.size, channels, exchanges, queues, consumers },
      ...rates(ctx, req.query as Query, [ready + unacked, ready, unacked]),
      sample_retention_policies: { global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] },
      default_queue_type: 'classic',
      host: hostname(),
    };
  });
}

/** queue_totals, message_stats and churn_rates with their details, from the sampler. */
function rates(ctx: ManagementContext, q: Query, lengths: number[]): Record<string, unknown> {
  const s = samplerOf(ctx);
  const h = historyRequest(q);
  const queueTotals: Record<string, unknown> = {};
  withDetails(queueTotals, QUEUE_LENGTHS, lengths, s.overall, s.clock, h.lengths, MESSAGE_STATS.length);
  // Counters as of the last tick: they include closed channels, so they never go backwards.
  const messageStats: Record<string, unknown> = {};
  withDetails(messageStats, MESSAGE_STATS, s.overall.current, s.overall, s.clock, h.msgRates);
  const churn: Record<string, unknown> = {};
  withDetails(churn, CHURN, s.churn.current, s.churn, s.clock, h.msgRates);
  return { queue_totals: queueTotals, message_stats: messageStats, churn_rates: churn };
}
