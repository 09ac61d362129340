// The management HTTP API on port 15672: RabbitMQ's paths, JSON shapes, auth rules and error
// bodies, so rabbitmqadmin, Terraform's provider, Datadog and curl scripts work unmodified.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions, type FastifyHttpsOptions } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import type { TlsOptions } from 'node:tls';
import { authenticate, type AuthUser } from './auth.js';
import type { ManagementContext } from './context.js';
import { HttpError } from './errors.js';
import { answerMethod, trackRoutes } from './allowed-methods.js';
import { BODY_TOO_LARGE, clientErrorHandler, frameworkErrors, parseJsonBody, parseQuery } from './request-limits.js';
import { registerRoutes } from './routes/index.js';
import { uiRoutes } from './ui.js';
import { samplerOf } from './stats-sampler.js';
import { DefinitionsError } from '../broker/definitions.js';
import { DefinitionsWriteError } from '../store/definitions-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthUser;
  }
}

/** Paths RabbitMQ answers without credentials (the login page reads them before logging in). */
const PUBLIC_PATHS = new Set(['/api/auth']);

/** A Fastify app over HTTP, or over HTTPS when given TLS options; the routes never know which. */
export function createApp(options: FastifyServerOptions, https?: TlsOptions): FastifyInstance {
  if (https === undefined) return Fastify(options);
  // Fastify types an HTTPS app by its server class; the routes use only what both have.
  return Fastify({ ...(options as FastifyHttpsOptions<HttpsServer>), https }) as unknown as FastifyInstance;
}

export function buildManagementApp(ctx: ManagementContext, https?: TlsOptions): FastifyInstance {
  const app = createApp({
    logger: false,
    // rabbitmqadmin and browsers send trailing slashes on lists; vhost names can be long.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048, querystringParser: parseQuery },
    bodyLimit: ctx.config.managementMaxBodySize,
    frameworkErrors,
    clientErrorHandler,
  }, https);
  app.decorateRequest('auth', null as unknown as AuthUser);
  // Bodies are JSON whatever the content type says (curl -d sends form encoding); empty means {}.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(String(body)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  const loopbackOnly = new Set(ctx.config.loopbackUsers);
  app.addHook('onRequest', async (req: FastifyRequest) => {
    if (!req.url.startsWith('/api/') || PUBLIC_PATHS.has(req.url.split('?')[0])) return;
    req.auth = authenticate(ctx.broker, req, loopbackOnly, ctx.amqp.failedLogins);
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply: FastifyReply) => {
    if (err instanceof HttpError) {
      if (err.error === 'not_authorized') reply.header('www-authenticate', 'Basic realm="RabbitMQ Management"');
      return reply.status(err.status).send({ error: err.error, reason: err.reason });
    }
    // RabbitMQ refuses a body past its limit with 400 bad_request, not 413.
    if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(400).send({ error: 'bad_request', reason: BODY_TOO_LARGE });
    if (err instanceof DefinitionsError) return reply.status(400).send({ error: 'bad_request', reason: err.message });
    // Not a bug: the disk refused the change (the store logged it). Users and permissions are put
    // back as stored; other definitions stay changed in memory until a later write stores them.
    if (err instanceof DefinitionsWriteError) {
      return reply.status(500).send({ error: 'internal_error', reason: `${err.message}; the change was not stored: free space on the data directory's filesystem and retry` });
    }
    if (err.statusCode !== undefined && err.statusCode < 500) {
      return reply.status(err.statusCode).send({ error: 'bad_request', reason: err.message });
    }
    ctx.log.error({ err, url: req.url, method: req.method }, 'management API request failed; this is a bug in Warren, please report it');
    return reply.status(500).send({ error: 'internal_error', reason: err.message });
  });
  const allowed = trackRoutes(app);
  app.setNotFoundHandler((req, reply) => {
    if (answerMethod(allowed, req, reply)) return;
    reply.status(404).send({ error: 'Object Not Found', reason: 'Not Found' });
  });
  registerRoutes(app, ctx);
  uiRoutes(app);
  // Rates need a history from the start, not from the first request.
  const sampler = samplerOf(ctx);
  app.addHook('onClose', async () => sampler.stop());
  return app;
}

/** Listens (IPv4 and IPv6 on '::'); resolves with the app and the port listened on (for port 0). */
export async function listenApp(app: FastifyInstance, port: number, host: string): Promise<{ app: FastifyInstance; port: number }> {
  await app.listen({ port, host, ipv6Only: false });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr !== null ? addr.port : port };
}

/** Starts the API (over HTTPS when given TLS options); resolves with the port listened on. */
export async function startManagement(ctx: ManagementContext, port: number, host: string, https?: TlsOptions): Promise<{ app: FastifyInstance; port: number }> {
  return listenApp(buildManagementApp(ctx, https), port, host);
}
