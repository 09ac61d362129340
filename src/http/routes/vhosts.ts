// /api/vhosts: list (what the user may see), show, create/update (description, tags,
// default_queue_type), delete. Vhost objects carry queue totals and message_stats totals.
import type { FastifyInstance } from 'fastify';
import { requireTag, visibleVhosts } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { listResponse, type Query } from '../paging.js';
import { samplerOf } from '../stats-sampler.js';
import { messageStatsJson, vhostCounters, vhostQueueTotals } from '../vhost-stats.js';
import { tagsOf } from '../../broker/definitions.js';
import type { VHost } from '../../broker/vhost.js';
import type { MessageCounters } from '../../server/stats.js';

/** The queue types RabbitMQ knows; Warren runs every queue as a classic queue. */
const QUEUE_TYPES = new Set(['classic', 'quorum', 'stream']);

export function vhostJson(ctx: ManagementContext, v: VHost, counters: MessageCounters): Record<string, unknown> {
  const m = v.metadata;
  const metadata: Record<string, unknown> = { description: m.description, tags: m.tags };
  if (m.defaultQueueType !== null) metadata.default_queue_type = m.defaultQueueType;
  const sampler = samplerOf(ctx);
  const rateOf = (field: string) => sampler.vhostRate(v.name, field);
  return {
    name: v.name,
    description: m.description,
    tags: m.tags,
    default_queue_type: m.defaultQueueType ?? 'undefined',
    metadata,
    tracing: false,
    cluster_state: { [ctx.node]: 'running' },
    ...vhostQueueTotals(ctx, v.name, rateOf),
    message_stats: messageStatsJson(counters, rateOf),
  };
}

export function vhostRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;

  app.get('/api/vhosts', async (req) => {
    const names = visibleVhosts(broker, req.auth);
    const counters = vhostCounters(ctx, names);
    return listResponse(names.map((n) => vhostJson(ctx, broker.vhost(n)!, counters.get(n)!)), req.query as Query);
  });

  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (req) => {
    requireTag(req.auth, 'administrator');
    const v = broker.vhost(req.params.vhost);
    if (!v) throw notFound();
    return vhostJson(ctx, v, vhostCounters(ctx, [v.name]).get(v.name)!);
  });

  app.put<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.tracing === true || body.tracing === 'true') {
      throw badRequest('Warren does not implement message tracing (the firehose); tracing cannot be enabled');
    }
    // "defaultqueuetype" was RabbitMQ 3.11.0's name for it, still accepted.
    const dqt = (body.default_queue_type ?? body.defaultqueuetype) as unknown;
    if (dqt !== undefined && dqt !== null && (typeof dqt !== 'string' || !QUEUE_TYPES.has(dqt))) {
      throw badRequest(`unknown queue type ${JSON.stringify(dqt)}; known: classic, quorum, stream`);
    }
    const name = req.params.vhost;
    const existed = broker.vhosts.has(name);
    const v = broker.addVhost(name);
    const tags = body.tags === null || body.tags === undefined ? [] : tagsOf(body.tags);
    v.metadata = {
      description: typeof body.description === 'string' ? body.description : '',
      tags,
      defaultQueueType: typeof dqt === 'string' ? dqt : existed ? v.metadata.defaultQueueType : null,
    };
    if (!existed) {
      // As RabbitMQ: the user creating a vhost gets full permissions in it.
      broker.users.setPermission(req.auth.user.name, name, { configure: '.*', write: '.*', read: '.*' });
      broker.accessListener?.usersChanged();
    }
    broker.accessListener?.vhostsChanged();
    return reply.status(existed ? 204 : 201).send();
  });

  // RabbitMQ restarts a vhost that failed on a node; a Warren vhost cannot fail apart from the
  // process, so there is nothing to restart: 204 for a known vhost and node, as RabbitMQ answers.
  app.post<{ Params: { vhost: string; node: string } }>('/api/vhosts/:vhost/start/:node', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    if (!broker.vhosts.has(req.params.vhost) || req.params.node !== ctx.node) throw notFound();
    return reply.status(204).send();
  });

  app.delete<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    if (!broker.deleteVhost(req.params.vhost)) throw notFound();
    return reply.status(204).send();
  });
}
