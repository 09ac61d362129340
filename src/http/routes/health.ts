// Health checks as RabbitMQ 3.13 has them (/api/health/checks/...): 200 {"status":"ok"} or 503
// {"status":"failed","reason":...} with RabbitMQ's extra fields; and /api/aliveness-test/{vhost},
// which declares the aliveness-test queue, puts a message through it and gets it back.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireVhostAuthorised } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { listenersOf } from './nodes.js';
import { Message, writeRoute } from '../../broker/message.js';

const ALIVENESS_QUEUE = 'aliveness-test';
const DAY = 24 * 3600;
const UNIT_SECONDS: Record<string, number> = { days: DAY, weeks: 7 * DAY, months: 30 * DAY, years: 365 * DAY };

function failed(reply: FastifyReply, reason: string, extra: Record<string, unknown> = {}) {
  return reply.status(503).send({ status: 'failed', reason, ...extra });
}

/** A transient message for the aliveness test: no properties, body "test_message". */
function testMessage(): Message {
  const body = Buffer.from('test_message');
  const data = Buffer.alloc(2 + ALIVENESS_QUEUE.length + 2 + body.length);
  const routeEnd = writeRoute(data, 0, '', ALIVENESS_QUEUE);
  data.writeUInt16BE(0, routeEnd); // property flags: none
  body.copy(data, routeEnd + 2);
  return new Message('', ALIVENESS_QUEUE, data, routeEnd, routeEnd + 2, false, -1, -1, -1, -1);
}

export function healthRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const alarms = () => [...broker.alarms].map((resource) => ({ node: ctx.node, resource }));

  app.get('/api/health/checks/alarms', async (_req, reply) => {
    if (broker.alarms.size > 0) return failed(reply, 'There are alarms in effect in the cluster', { alarms: alarms() });
    return { status: 'ok' };
  });
  app.get('/api/health/checks/local-alarms', async (_req, reply) => {
    if (broker.alarms.size > 0) return failed(reply, 'There are alarms in effect on the node', { alarms: alarms() });
    return { status: 'ok' };
  });
  app.get<{ Params: { port: string } }>('/api/health/checks/port-listener/:port', async (req, reply) => {
    if (!/^\d+$/.test(req.params.port)) throw badRequest('Invalid port');
    const port = Number(req.params.port);
    const ports = listenersOf(ctx).map((l) => l.port);
    if (!ports.includes(port)) return failed(reply, 'No active listener', { missing: port, ports });
    return { status: 'ok', port };
  });
  app.get<{ Params: { protocol: string } }>('/api/health/checks/protocol-listener/:protocol', async (req, reply) => {
    const protocol = normalizeProtocol(req.params.protocol);
    const protocols = listenersOf(ctx).map((l) => l.protocol);
    if (!protocols.includes(protocol)) return failed(reply, 'No active listener', { missing: protocol, protocols });
    return { status: 'ok', protocol };
  });
  // Every vhost of a Warren node runs in the one process: a vhost cannot be down on its own.
  app.get('/api/health/checks/virtual-hosts', async () => ({ status: 'ok' }));
  app.get('/api/health/checks/node-is-quorum-critical', async () => ({ status: 'ok', reason: 'single node cluster' }));
  app.get('/api/health/checks/node-is-mirror-sync-critical', async () => ({ status: 'ok', reason: 'single node cluster' }));
  app.get<{ Params: { within: string; unit: string } }>('/api/health/checks/certificate-expiration/:within/:unit', async (req, reply) => {
    if (!/^-?\d+$/.test(req.params.within)) throw badRequest('Invalid expiration value.');
    if (UNIT_SECONDS[req.params.unit.toLowerCase()] === undefined) {
      throw badRequest('Time unit not recognised. Supported units: days, weeks, months, years.');
    }
    // amqps serves ssl_options' certificate; the HTTPS listeners theirs (often the same one).
    const horizon = Date.now() + Number(req.params.within) * UNIT_SECONDS[req.params.unit.toLowerCase()] * 1000;
    const certsOf = (protocol: string) => (protocol.includes('/ssl') ? ctx.tls?.amqps : protocol.startsWith('https') ? ctx.tls?.https : null);
    const expired = listenersOf(ctx).flatMap((l) => {
      const certs = certsOf(l.protocol);
      if (certs == null || !(certs.validTo < horizon)) return [];
      return [{
        node: l.node, protocol: l.protocol, interface: l.ip_address, port: l.port,
        certfile: certs.settings.certFile, cacertfile: certs.settings.caCertFile ?? '', expires: new Date(certs.validTo).toISOString(),
      }];
    });
    if (expired.length === 0) return { status: 'ok' };
    return failed(reply, 'Certificates expiring', { expired });
  });

  // The older node health check (deprecated in RabbitMQ, still served by 3.13): fails on alarms,
  // with the reason in RabbitMQ's Erlang-term wording.
  const nodeCheck = async (req: FastifyRequest, reply: FastifyReply) => {
    const node = (req.params as { node?: string }).node;
    if (node !== undefined && node !== ctx.node) throw notFound();
    if (broker.alarms.size > 0) {
      const terms = [...broker.alarms].map((r) => `{resource_limit,${r},'${ctx.node}'}`).join(',');
      return failed(reply, `resource alarm(s) in effect:[${terms}]`);
    }
    return { status: 'ok' };
  };
  app.get('/api/healthchecks/node', nodeCheck);
  app.get<{ Params: { node: string } }>('/api/healthchecks/node/:node', nodeCheck);

  app.get<{ Params: { vhost: string } }>('/api/aliveness-test/:vhost', async (req, reply) => {
    requireVhostAuthorised(broker, req.auth, req.params.vhost);
    const vhost = broker.vhost(req.params.vhost);
    if (!vhost) throw notFound();
    const { queue } = vhost.declareQueue({ name: ALIVENESS_QUEUE, durable: false, exclusive: false, autoDelete: false, arguments: {} }, false, {});
    queue.publish(testMessage());
    const entry = queue.get(true);
    if (entry === null) return failed(reply, 'aliveness-test queue is empty');
    queue.settleNoAck(entry);
    return { status: 'ok' };
  });
}

/** RabbitMQ's protocol aliases for the listener check. */
function normalizeProtocol(p: string): string {
  const lower = p.toLowerCase();
  if (['amqp091', 'amqp0.9.1', 'amqp0-9-1', 'amqp'].includes(lower)) return 'amqp';
  if (['http', 'management'].includes(lower)) return 'http';
  if (['prometheus', 'http/prometheus', 'http-prometheus'].includes(lower)) return 'http/prometheus';
  return lower;
}
