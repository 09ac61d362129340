// Reading messages through the API: RabbitMQ's POST /api/queues/{vhost}/{name}/get, and Warren's
// own peek (no delivery), unacked list, and the pending delayed messages of a delayed exchange or
// of a queue's delayed retries (read from disk a page at a time), with cancel.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PendingDelayed } from '../../broker/delayed.js';
import type { Message } from '../../broker/message.js';
import type { Queue, QueueEntry } from '../../broker/queue.js';
import { decodeProperties } from '../../amqp/properties.js';
import { channelName, connectionName } from '../connection-json.js';
import type { ManagementContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import { payloadToJson, propertiesToJson, readEncoding } from '../message-json.js';
import { pageFrom, type Query } from '../paging.js';
import { findExchange } from './exchanges.js';
import { findQueue } from './queues.js';
import { bodyOf, HTTP_CONNECTION, type Params, requirePermission, viaBroker, visibleVhost, writableVhost } from './object-access.js';

type Json = Record<string, unknown>;
const ACKMODES = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'];
/** Payload bytes shown for a pending delayed or unacked message. */
const PREVIEW = 1000;

/** One message as /get shows it. */
function messageItem(msg: Message, redelivered: boolean, messageCount: number, enc: 'auto' | 'base64', truncate: number | null): Json {
  return {
    payload_bytes: msg.bodySize,
    redelivered,
    exchange: msg.exchange,
    routing_key: msg.routingKey,
    message_count: messageCount,
    properties: propertiesToJson(decodeProperties(msg.data, msg.routeEnd, msg.propsEnd)),
    ...payloadToJson(msg.body, enc, truncate),
  };
}

function countOf(body: Json): number {
  const n = Number(body.count ?? 1);
  if (!Number.isInteger(n) || n < 0) throw badRequest('count must be a non-negative integer');
  return n;
}

export function messageRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const queueFor = (req: FastifyRequest, write: boolean): Queue => {
    const p = req.params as Params;
    const v = write ? writableVhost(ctx, req, p.vhost) : visibleVhost(ctx, req, p.vhost);
    return findQueue(v, p.name);
  };

  app.post('/api/queues/:vhost/:name/get', async (req) => {
    const q = queueFor(req, true);
    const body = bodyOf(req);
    if (body.ackmode === undefined) throw badRequest('[{key_missing,ackmode}]');
    if (!ACKMODES.includes(String(body.ackmode))) throw badRequest(`unknown ackmode ${String(body.ackmode)}`);
    const { encoding, truncate } = readEncoding(body);
    const count = countOf(body);
    requirePermission(ctx, req, q.vhost, 'read', 'queue', q.name);
    const v = ctx.broker.vhosts.get(q.vhost)!;
    viaBroker(() => v.checkExclusive(q, HTTP_CONNECTION));
    const taken: QueueEntry[] = [];
    const out: Json[] = [];
    for (let i = 0; i < count; i++) {
      const e = q.get(false);
      if (e === null) break;
      out.push(messageItem(e.msg, e.deliveries > 0, q.messageCount, encoding, truncate));
      e.deliveries++;
      taken.push(e);
    }
    // Settled as a channel would: requeued ones come back in order, marked redelivered.
    const mode = String(body.ackmode);
    if (mode === 'ack_requeue_false') for (const e of taken) q.ack(e);
    else if (mode === 'reject_requeue_false') for (const e of taken) q.discard(e);
    else q.requeue(taken, mode === 'ack_requeue_true' ? 'returned' : 'failed');
    return out;
  });

  app.post('/api/queues/:vhost/:name/peek', async (req) => {
    const q = queueFor(req, false);
    const body = bodyOf(req);
    const { encoding, truncate } = readEncoding(body);
    const count = countOf(body);
    requirePermission(ctx, req, q.vhost, 'read', 'queue', q.name);
    // Only what is in memory (the head window); nothing is delivered or marked.
    return q.messages.firstInMemory(count).map((e) => messageItem(e.msg, e.deliveries > 0, q.messageCount, encoding, truncate));
  });

  app.get('/api/queues/:vhost/:name/unacked', async (req) => {
    const q = queueFor(req, false);
    const all: Json[] = [];
    if (q.unackedCount !== 0) {
      for (const conn of ctx.amqp.connections) {
        for (const ch of conn.channels.values()) {
          for (const e of ch.unacked.values()) {
            if (e.queue !== q) continue;
            const i = conn.remote.lastIndexOf(':');
            all.push({
              ...messageItem(e.msg, e.deliveries > 1, q.messageCount, 'auto', PREVIEW),
              delivery_tag: e.deliveryTag,
              channel_details: {
                name: channelName(ch), number: ch.id, connection_name: connectionName(conn),
                peer_host: conn.remote.slice(0, i), peer_port: Number(conn.remote.slice(i + 1)),
              },
            });
          }
        }
      }
    }
    return pageFrom(req.query as Query, all.length, (offset, limit) => all.slice(offset, offset + limit));
  });

  app.get('/api/queues/:vhost/:name/delayed', async (req) => {
    const q = queueFor(req, false);
    const retry = q.retry;
    if (retry === null) return pageFrom(req.query as Query, 0, () => []);
    return pageFrom(req.query as Query, retry.count, (offset, limit) => retry.list(offset, limit).map((d) => {
      const n = d.headers?.['x-delivery-count'];
      const delay = q.limits.retryDelay(typeof n === 'number' && n > 0 ? n : 1);
      return delayedItem(d, delay);
    }));
  });

  const delayedExchange = (req: FastifyRequest, write: boolean) => {
    const p = req.params as Params;
    const v = write ? writableVhost(ctx, req, p.vhost) : visibleVhost(ctx, req, p.vhost);
    const x = findExchange(v, p.name);
    if (x.delays === null) throw new HttpError(400, 'bad_request', `exchange '${x.name}' in vhost '${v.name}' is not of type x-delayed-message`);
    if (write) requirePermission(ctx, req, v.name, 'configure', 'exchange', x.name);
    return x.delays;
  };

  app.get('/api/exchanges/:vhost/:name/delayed', async (req) => {
    const d = delayedExchange(req, false);
    return pageFrom(req.query as Query, d.count, (offset, limit) => d.list(offset, limit).map((m) => {
      const x = m.headers?.['x-delay'];
      return delayedItem(m, typeof x === 'number' ? x : Number(x ?? 0));
    }));
  });

  app.delete('/api/exchanges/:vhost/:name/delayed/:id', async (req, reply) => {
    const d = delayedExchange(req, true);
    const id = Number((req.params as Params).id);
    if (!Number.isSafeInteger(id) || d.cancel({ id }) === 0) throw notFound();
    return reply.status(204).send();
  });

  app.delete('/api/exchanges/:vhost/:name/delayed', async (req) => {
    const d = delayedExchange(req, true);
    const q = req.query as Query;
    const time = (k: string): number | undefined => {
      if (q[k] === undefined || q[k] === '') return undefined;
      const t = Number(q[k]);
      if (!Number.isFinite(t)) throw badRequest(`${k} must be a time in ms since the epoch`);
      return t;
    };
    const cancelled = d.cancel({
      routingKey: q.routing_key === undefined ? undefined : q.routing_key,
      dueBefore: time('due_before'),
      dueAfter: time('due_after'),
    });
    return { cancelled };
  });
}

function delayedItem(d: PendingDelayed, delay: number): Json {
  const payload = payloadToJson(d.message.body, 'auto', PREVIEW);
  return {
    id: String(d.id),
    due_at: d.due,
    delay,
    routing_key: d.routingKey,
    properties: propertiesToJson(decodeProperties(d.message.data, d.message.routeEnd, d.message.propsEnd)),
    ...payload,
    published_at: d.due - delay,
  };
}
