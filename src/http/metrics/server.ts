// The Prometheus endpoint on port 15692, as rabbitmq_prometheus serves it: /metrics (aggregated
// totals), /metrics/per-object (a sample per queue, channel, connection, exchange) and
// /metrics/detailed?family=...&vhost=... (only the families asked for). No authentication, as
// RabbitMQ's default. Anything else is 404.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TlsOptions } from 'node:tls';
import type { ManagementContext } from '../context.js';
import { createApp, listenApp } from '../server.js';
import { Readable } from 'node:stream';
import { streamFamilies } from './object-stream.js';
import { buildScrape, DETAILED_FAMILIES, type Endpoint } from './registry.js';
import { Scrape } from './scrape.js';

/** RabbitMQ's content type for the text exposition format (prom-client's adds a charset). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4';

type Query = Record<string, string | string[] | undefined>;

/** A query parameter given once or repeated (family=a&family=b). */
function all(q: Query, key: string): string[] {
  const v = q[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The registry's text, then (per-object, detailed) the object families streamed in slices. */
async function render(reply: FastifyReply, scrape: Scrape, endpoint: Endpoint, families?: ReadonlySet<string>): Promise<string | Readable> {
  const { registry, objects, seen } = buildScrape(scrape, endpoint, families);
  reply.header('content-type', METRICS_CONTENT_TYPE);
  if (objects.every((o) => o.families.length === 0)) return registry.metrics();
  const head = await registry.metrics();
  return Readable.from((async function* () {
    yield head;
    for (const o of objects) yield* streamFamilies(scrape, o.prefix, o.families, seen);
  })(), { objectMode: false });
}

export function buildMetricsApp(ctx: ManagementContext, https?: TlsOptions): FastifyInstance {
  const app = createApp({ logger: false, routerOptions: { ignoreTrailingSlash: true } }, https);
  app.get('/metrics', async (_req, reply) => render(reply, new Scrape(ctx), 'aggregated'));
  app.get('/metrics/per-object', async (_req, reply) => render(reply, new Scrape(ctx), 'per-object'));
  app.get('/metrics/detailed', async (req, reply) => {
    const q = req.query as Query;
    const families = new Set(all(q, 'family').filter((f) => DETAILED_FAMILIES.has(f)));
    const vhosts = all(q, 'vhost');
    return render(reply, new Scrape(ctx, vhosts.length === 0 ? null : new Set(vhosts)), 'detailed', families);
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.status(404).type('text/plain').send('Not Found');
  });
  app.setErrorHandler((err: Error, req, reply) => {
    ctx.log.error({ err, url: req.url }, 'metrics scrape failed; this is a bug in Warren, please report it');
    reply.status(500).type('text/plain').send('Internal Server Error');
  });
  return app;
}

/** Starts the endpoint (over HTTPS when given TLS options); resolves with the port listened on. */
export async function startMetrics(ctx: ManagementContext, port: number, host: string, https?: TlsOptions): Promise<{ app: FastifyInstance; port: number }> {
  return listenApp(buildMetricsApp(ctx, https), port, host);
}
