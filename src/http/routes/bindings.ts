// /api/bindings: every binding, per vhost, between an exchange and a queue (e/q) or two exchanges
// (e/e); created with POST (201 and a Location naming its properties key), shown and deleted by
// that key.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Binding, Destination } from '../../broker/exchange.js';
import type { VHost } from '../../broker/vhost.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { jsonToTable, tableToJson } from '../json-values.js';
import { bindingJson, defaultBindingJson, propertiesKey } from '../object-json.js';
import { listObjects, type Query, sendList } from '../paging.js';
import { findExchange } from './exchanges.js';
import { findQueue } from './queues.js';
import { bodyOf, listedVhosts, type Params, requirePermission, viaBroker, visibleVhost, writableVhost } from './object-access.js';

type Json = Record<string, unknown>;

/** Every binding of a vhost as RabbitMQ lists them: each queue's default binding, then the rest. */
function vhostBindings(v: VHost): Json[] {
  const out: Json[] = [];
  for (const q of v.queues.values()) out.push(defaultBindingJson(q));
  for (const b of v.allBindings()) out.push(bindingJson(b, v.name));
  return out;
}

export function bindingRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const vhosts = listedVhosts(ctx, req, (req.params as Params).vhost);
    return sendList(reply, await listObjects(vhosts.flatMap(vhostBindings), req.query as Query, { build: (b) => b, defaultSort: '' }));
  };
  app.get('/api/bindings', list);
  app.get('/api/bindings/:vhost', list);

  /** The two ends named in the path; `write` checks the user's vhost access for a change. */
  const ends = (req: FastifyRequest, kind: 'q' | 'e', write: boolean): { v: VHost; source: ReturnType<typeof findExchange>; dest: Destination } => {
    const p = req.params as Params;
    const v = write ? writableVhost(ctx, req, p.vhost) : visibleVhost(ctx, req, p.vhost);
    const source = findExchange(v, p.source);
    const dest = kind === 'q' ? findQueue(v, p.dest) : findExchange(v, p.dest);
    return { v, source, dest };
  };

  const between = (v: VHost, source: ReturnType<typeof findExchange>, dest: Destination): Binding[] =>
    [...source.bindings.values()].filter((b) => b.destination === dest);

  for (const kind of ['q', 'e'] as const) {
    const base = `/api/bindings/:vhost/e/:source/${kind}/:dest`;
    app.get(base, async (req) => {
      const { v, source, dest } = ends(req, kind, false);
      const out = between(v, source, dest).map((b) => bindingJson(b, v.name));
      // The default exchange's implicit binding shows too, as in RabbitMQ.
      if (kind === 'q' && source.name === '') out.unshift(defaultBindingJson(dest as ReturnType<typeof findQueue>));
      return out;
    });

    app.post(base, async (req, reply) => {
      const { v, source, dest } = ends(req, kind, true);
      const body = bodyOf(req);
      const rk = body.routing_key ?? '';
      if (typeof rk !== 'string') throw badRequest('routing_key must be a string');
      const args = jsonToTable(body.arguments, 'arguments');
      requirePermission(ctx, req, v.name, 'write', kind === 'q' ? 'queue' : 'exchange', dest.name);
      requirePermission(ctx, req, v.name, 'read', 'exchange', source.name);
      viaBroker(() => v.bind(source, dest, rk, args));
      const key = propertiesKey(rk, tableToJson(args));
      // Relative to the request path, as RabbitMQ sends it: ".../q/NAME" + "/KEY".
      return reply.status(201).header('location', `${encodeURIComponent(dest.name)}/${encodeURIComponent(key)}`).send();
    });

    const byKey = (req: FastifyRequest, write: boolean): { v: VHost; b: Binding } => {
      const { v, source, dest } = ends(req, kind, write);
      const props = (req.params as Params).props;
      const b = between(v, source, dest).find((x) => propertiesKey(x.routingKey, tableToJson(x.args)) === props);
      if (b === undefined) throw notFound();
      return { v, b };
    };
    app.get(`${base}/:props`, async (req) => {
      const { v, b } = byKey(req, false);
      return bindingJson(b, v.name);
    });
    app.delete(`${base}/:props`, async (req, reply) => {
      const { v, b } = byKey(req, true);
      requirePermission(ctx, req, v.name, 'write', kind === 'q' ? 'queue' : 'exchange', b.destination.name);
      requirePermission(ctx, req, v.name, 'read', 'exchange', b.source.name);
      viaBroker(() => v.unbind(b.source, b.destination, b.routingKey, b.args));
      return reply.status(204).send();
    });
  }
}
