// /api/exchanges: list, show, declare, delete, publish, and an exchange's bindings.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { propertiesToBuffer } from '../../amqp/properties.js';
import type { Exchange } from '../../broker/exchange.js';
import { buildMessage } from '../../broker/message.js';
import { ccKeys, mayHaveCc, withoutBcc } from '../../broker/sender-selected.js';
import type { VHost } from '../../broker/vhost.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { jsonToTable } from '../json-values.js';
import { payloadFromJson, propertiesFromJson } from '../message-json.js';
import { bindingJson, exchangeJson } from '../object-json.js';
import { listObjects, type Query, sendList } from '../paging.js';
import { bodyOf, boolField, buildOptions, listedVhosts, type Params, requirePermission, viaBroker, visibleVhost, writableVhost } from './object-access.js';

/** "amq.default" in a path is the default exchange, whose name is "". */
export const exchangeName = (n: string) => (n === 'amq.default' ? '' : n);

export function findExchange(v: VHost, name: string): Exchange {
  const x = v.exchanges.get(exchangeName(name));
  if (x === undefined) throw notFound();
  return x;
}

export function exchangeRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as Params;
    const q = req.query as Query;
    const items = listedVhosts(ctx, req, p.vhost).flatMap((v) => [...v.exchanges.values()]);
    const o = buildOptions(ctx, q);
    return sendList(reply, await listObjects(items, q, {
      build: (x) => exchangeJson(x, o),
      keys: { name: (x) => x.name, vhost: (x) => x.vhost, type: (x) => x.type, durable: (x) => x.durable },
    }));
  };
  app.get('/api/exchanges', list);
  app.get('/api/exchanges/:vhost', list);

  app.get('/api/exchanges/:vhost/:name', async (req) => {
    const p = req.params as Params;
    const x = findExchange(visibleVhost(ctx, req, p.vhost), p.name);
    return exchangeJson(x, buildOptions(ctx, req.query as Query));
  });

  app.put('/api/exchanges/:vhost/:name', async (req, reply) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const body = bodyOf(req);
    const name = exchangeName(p.name);
    requirePermission(ctx, req, v.name, 'configure', 'exchange', name);
    const type = body.type === undefined ? 'direct' : body.type;
    if (typeof type !== 'string') throw badRequest('type must be a string');
    const existed = v.exchanges.has(name);
    viaBroker(() => v.declareExchange({
      name, type,
      durable: boolField(body, 'durable', false),
      autoDelete: boolField(body, 'auto_delete', false),
      internal: boolField(body, 'internal', false),
      arguments: jsonToTable(body.arguments, 'arguments'),
    }, false));
    return reply.status(existed ? 204 : 201).send();
  });

  app.delete('/api/exchanges/:vhost/:name', async (req, reply) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const x = findExchange(v, p.name);
    requirePermission(ctx, req, v.name, 'configure', 'exchange', x.name);
    const ifUnused = (req.query as Query)['if-unused'] === 'true';
    viaBroker(() => v.deleteExchange(x.name, ifUnused));
    return reply.status(204).send();
  });

  app.post('/api/exchanges/:vhost/:name/publish', async (req) => {
    const p = req.params as Params;
    const v = writableVhost(ctx, req, p.vhost);
    const x = findExchange(v, p.name);
    const body = bodyOf(req);
    const missing = ['properties', 'routing_key', 'payload', 'payload_encoding'].filter((k) => body[k] === undefined);
    if (missing.length !== 0) throw badRequest(`[${missing.map((k) => `{key_missing,${k}}`).join(',')}]`);
    if (typeof body.routing_key !== 'string') throw badRequest('routing_key must be a string');
    if (Buffer.byteLength(body.routing_key) > 255) throw badRequest('routing_key is longer than 255 bytes');
    requirePermission(ctx, req, v.name, 'write', 'exchange', x.name);
    if (x.internal) throw badRequest(`ACCESS_REFUSED - cannot publish to internal exchange '${x.name}' in vhost '${v.name}'`);
    const props = propertiesFromJson(body.properties);
    const published = buildMessage(x.name, body.routing_key, propertiesToBuffer(props), payloadFromJson(body.payload, body.payload_encoding));
    return { routed: routeMessage(v, x, published) };
  });

  const bindings = (side: 'source' | 'destination') => async (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as Params;
    const v = visibleVhost(ctx, req, p.vhost);
    const x = findExchange(v, p.name);
    const list = side === 'source' ? [...x.bindings.values()] : v.bindingsOf(x);
    return list.map((b) => bindingJson(b, v.name));
  };
  app.get('/api/exchanges/:vhost/:name/bindings/source', bindings('source'));
  app.get('/api/exchanges/:vhost/:name/bindings/destination', bindings('destination'));
}

/** Routes a message built by the API as a publish on a channel would; whether anything took it. */
function routeMessage(v: VHost, x: Exchange, published: ReturnType<typeof buildMessage>): boolean {
  const extra = mayHaveCc(published) ? ccKeys(published) : null;
  const msg = extra === null ? published : withoutBcc(published);
  const queues = v.route(x, msg, msg.routingKey, extra).slice();
  const delayed = v.delayedHits.length !== 0;
  if (delayed) v.scheduleDelayed(msg);
  let routed = delayed;
  for (const q of queues) {
    q.publish(msg);
    routed = true;
  }
  return routed;
}
