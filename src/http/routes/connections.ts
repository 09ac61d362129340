// /api/connections, /api/channels, /api/consumers. Users without the monitoring tag see only
// their own connections and channels (RabbitMQ's rule); consumers follow vhost visibility.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Channel } from '../../server/channel.js';
import type { Connection } from '../../server/connection.js';
import { seesVhost } from '../auth.js';
import { channelName, channelOf, channelJson, connectionJson, connectionName, consumerJson } from '../connection-json.js';
import type { ManagementContext } from '../context.js';
import { notFound } from '../errors.js';
import { listObjects, type Query, sendList } from '../paging.js';
import { buildOptions, type Params, visibleVhost } from './object-access.js';

export function connectionRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  /** Whether the user may see (and close) connection `c`. */
  const sees = (req: FastifyRequest, c: Connection) =>
    req.auth.tags.has('monitoring') || c.userName === req.auth.user.name;

  const connections = (req: FastifyRequest): Connection[] => {
    const vhost = (req.params as Params).vhost;
    if (vhost !== undefined) visibleVhost(ctx, req, vhost);
    return [...ctx.amqp.connections].filter((c) => (vhost === undefined || c.vhost?.name === vhost) && sees(req, c));
  };

  const findConnection = (req: FastifyRequest, name: string): Connection => {
    for (const c of ctx.amqp.connections) if (connectionName(c) === name && sees(req, c)) return c;
    throw notFound();
  };

  const listConnections = async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as Query;
    const o = buildOptions(ctx, q);
    return sendList(reply, await listObjects(connections(req), q, {
      build: (c) => connectionJson(c, o),
      keys: { name: connectionName, vhost: (c) => c.vhost?.name ?? '', user: (c) => c.userName, connected_at: (c) => c.connectedAt },
    }));
  };
  app.get('/api/connections', listConnections);
  app.get('/api/vhosts/:vhost/connections', listConnections);

  app.get('/api/connections/:name', async (req) => connectionJson(findConnection(req, (req.params as Params).name), buildOptions(ctx, req.query as Query)));

  app.delete('/api/connections/:name', async (req, reply) => {
    const c = findConnection(req, (req.params as Params).name);
    const given = req.headers['x-reason'];
    const reason = typeof given === 'string' && given !== '' ? given : 'Closed via management plugin';
    c.forceClose(reason);
    return reply.status(204).send();
  });

  const listChannels = (pick: (req: FastifyRequest) => Connection[]) => async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as Query;
    const o = buildOptions(ctx, q);
    const items: Channel[] = [];
    for (const c of pick(req)) for (const ch of c.channels.values()) items.push(ch);
    return sendList(reply, await listObjects(items, q, {
      build: (ch) => channelJson(ch, o),
      keys: { name: channelName, vhost: (ch) => ch.conn.vhost?.name ?? '', number: (ch) => ch.id },
    }));
  };
  app.get('/api/channels', listChannels(connections));
  app.get('/api/vhosts/:vhost/channels', listChannels(connections));
  app.get('/api/connections/:name/channels', listChannels((req) => [findConnection(req, (req.params as Params).name)]));

  app.get('/api/channels/:name', async (req) => {
    const name = (req.params as Params).name;
    for (const c of ctx.amqp.connections) {
      if (!sees(req, c)) continue;
      for (const ch of c.channels.values()) if (channelName(ch) === name) {
        const out = channelJson(ch, buildOptions(ctx, req.query as Query));
        out.consumer_details = [...ch.consumers.values()].map((k) => consumerJson(ctx, k, ch));
        out.deliveries = [];
        out.publishes = [];
        return out;
      }
    }
    throw notFound();
  });

  const listConsumers = async (req: FastifyRequest, reply: FastifyReply) => {
    const vhost = (req.params as Params).vhost;
    if (vhost !== undefined) visibleVhost(ctx, req, vhost);
    const out = [];
    for (const c of ctx.amqp.connections) {
      const v = c.vhost?.name ?? '';
      if (vhost !== undefined ? v !== vhost : !seesVhost(ctx.broker, req.auth, v)) continue;
      for (const ch of c.channels.values()) {
        for (const k of ch.consumers.values()) if (channelOf(k) === ch) out.push(consumerJson(ctx, k, ch));
      }
    }
    return out;
  };
  app.get('/api/consumers', listConsumers);
  app.get('/api/consumers/:vhost', listConsumers);
}
