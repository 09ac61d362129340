// /api/queues: list, show, declare, delete, purge, and a queue's bindings.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Queue } from '../../broker/queue.js';
import type { VHost } from '../../broker/vhost.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { jsonToTable } from '../json-values.js';
import { bindingJson, defaultBindingJson, queueJson } from '../object-json.js';
import { listObjects, type Query, sendList } from '../paging.js';
import { channelOf, consumerJson } from '../connection-json.js';
import { QUEUE_LENGTHS, QUEUE_STATS, type StatsSampler } from '../stats-sampler.js';
import { bodyOf, boolField, buildOptions, HTTP_CONNECTION, listedVhosts, type Params, requirePermission, viaBroker, visibleVhost, writableVhost } from './object-access.js';

export function findQueue(v: VHost, name: string): Queue {
  const q = v.queues.get(name);
  if (q === undefined) throw notFound();
  return q;
}

/** Fields a queue list is often sorted or filtered on, read from the model without building JSON. */
const QUEUE_KEYS: Record<string, (q: Queue) => unknown> = {
  name: (q) => q.name,
  vhost: (q) => q.vhost,
  messages: (q) => q.messageCount + q.unackedCount,
  messages_ready: (q) => q.messageCount,
  messages_unacknowledged: (q) => q.unackedCount,
  consumers: (q) => q.consumerCount,
  durable: (q) => q.durable,
  auto_delete: (q) => q.autoDelete,
  exclusive: (q) => q.exclusive,
  type: () => 'classic',
  message_bytes_ready: (q) => q.messages.bytes,
  'message_stats.publish': (q) => q.publishCount,
  'message_stats.deliver_get': (q) => q.deliverCount,
  'message_stats.ack': (q) => q.ackCount,
};

/** Sorting by a rate reads the sampler's track, not the built JSON. */
function rateKeys(s: StatsSampler): Record<string, (q: Queue) => unknown> {
  const out: Record<string, (q: Queue) => unknown> = {};
  const rate = (i: number) => (q: Queue) => s.queues.get(q)?.rate(i, s.clock) ?? 0;
  QUEUE_STATS.forEach((n, i) => { out[`message_stats.${n}_details.rate`] = rate(i); });
  QUEUE_LENGTHS.forEach((n, i) => { out[`${n}_details.rate`] = rate(QUEUE_STATS.length + i); });
  return out;
}

export function queueRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as Params;
    const q = req.query as Query;
    const items: Queue[] = [];
    for (const v of listedVhosts(ctx, req, p.vhost)) for (const queue of v.queues.values()) items.push(queue);
    const o = buildOptions(ctx, q);
    return sendList(reply, await listObjects(items, q, { build: (queue) => queueJson(queue, o), keys: { ...QUEUE_KEYS, ...rateKeys(o.sampler) } }));
  };
  app.get('/api/queues', list);
  app.get('/api/queues/:vhost', list);

  app.get('/api/queues/:vhost/:name', async (req) => {
    const p = req.params as Params;
    const q = findQueue(visibleVhost(ctx, req, p.vhost), p.name);
    const out = queueJson(q, buildOptions(ctx, req.query as Query));
    const details = [];
    for (const c of q.consumers) {
      const ch = channelOf(c);
      if (ch !== undefined) details.push(consumerJson(ctx, c, ch));
    }
    out.consumer_details = details;
    out.deliveries = [];
    out.incoming = [];
    return out;
  });

  app.put('/api/queues/:vhost/:name', async (req, reply) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const body = bodyOf(req);
    requirePermission(ctx, req, v.name, 'configure', 'queue', p.name);
    if (body.exclusive === true) throw badRequest('exclusive queues cannot be declared through the management API');
    const existed = v.queues.has(p.name);
    viaBroker(() => v.declareQueue({
      name: p.name,
      durable: boolField(body, 'durable', false),
      exclusive: false,
      autoDelete: boolField(body, 'auto_delete', false),
      arguments: jsonToTable(body.arguments, 'arguments'),
    }, false, HTTP_CONNECTION));
    return reply.status(existed ? 204 : 201).send();
  });

  app.delete('/api/queues/:vhost/:name', async (req, reply) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const q = findQueue(v, p.name);
    requirePermission(ctx, req, v.name, 'configure', 'queue', q.name);
    const query = req.query as Query;
    viaBroker(() => {
      // The owner of an exclusive queue is a connection; the API may delete it like RabbitMQ's does.
      if (query['if-unused'] === 'true' && q.consumerCount > 0) v.deleteQueue(q.name, true, false, q.owner ?? HTTP_CONNECTION);
      if (query['if-empty'] === 'true' && q.messageCount > 0) v.deleteQueue(q.name, false, true, q.owner ?? HTTP_CONNECTION);
      v.removeQueue(q);
    });
    return reply.status(204).send();
  });

  app.delete('/api/queues/:vhost/:name/contents', async (req, reply) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const q = findQueue(v, p.name);
    requirePermission(ctx, req, v.name, 'read', 'queue', q.name);
    q.purge();
    return reply.status(204).send();
  });

  app.get('/api/queues/:vhost/:name/bindings', async (req) => {
    const p = req.params as Params;
    const v = visibleVhost(ctx, req, p.vhost);
    const q = findQueue(v, p.name);
    return [defaultBindingJson(q), ...v.bindingsOf(q).map((b) => bindingJson(b, v.name))];
  });
}
