// What the object endpoints share: finding a vhost and an object the user may see (RabbitMQ's 404
// and 401 bodies), the request's build options, and turning broker errors into HTTP ones.
import type { FastifyRequest } from 'fastify';
import { AmqpError } from '../../broker/errors.js';
import type { VHost } from '../../broker/vhost.js';
import type { Access } from '../../broker/users.js';
import { notAuthorised } from '../errors.js';
import { requireVhostAccess, seesVhost, VHOST_REFUSAL } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import type { BuildOptions } from '../object-json.js';
import type { Query } from '../paging.js';
import { historyRequest } from '../rates.js';
import { samplerOf } from '../stats-sampler.js';

export type Params = Record<string, string>;

/** RabbitMQ's answer when the broker refuses an operation (403 ACCESS_REFUSED on AMQP). */
const accessRefused = () => new HttpError(401, 'not_authorised', 'Access refused.');

/** The vhost named in the path: 404 when it does not exist, 401 when the user may not see it. */
export function visibleVhost(ctx: ManagementContext, req: FastifyRequest, name: string): VHost {
  const v = ctx.broker.vhosts.get(name);
  if (v === undefined) throw notFound();
  if (!seesVhost(ctx.broker, req.auth, name)) throw notAuthorised(VHOST_REFUSAL);
  return v;
}

/** The vhost for a change: the user needs permissions there (monitoring alone is read-only). */
export function writableVhost(ctx: ManagementContext, req: FastifyRequest, name: string): VHost {
  const v = ctx.broker.vhosts.get(name);
  if (v === undefined) throw notFound();
  requireVhostAccess(ctx.broker, req.auth, name);
  return v;
}

/** The vhosts whose objects the user sees in a list (all of them, or the one in the path). */
export function listedVhosts(ctx: ManagementContext, req: FastifyRequest, name: string | undefined): VHost[] {
  if (name !== undefined) return [visibleVhost(ctx, req, name)];
  return [...ctx.broker.vhosts.values()].filter((v) => seesVhost(ctx.broker, req.auth, v.name));
}

/** Resource permission, as an AMQP client of that user would need it (HTTP changes go through the same rules). */
export function requirePermission(ctx: ManagementContext, req: FastifyRequest, vhost: string, access: Access, kind: 'queue' | 'exchange', name: string): void {
  const resource = kind === 'exchange' && name === '' ? 'amq.default' : name;
  if (!ctx.broker.allowed(req.auth.user.name, vhost, access, resource)) {
    throw accessRefused();
  }
}

export function buildOptions(ctx: ManagementContext, q: Query): BuildOptions {
  return { ctx, sampler: samplerOf(ctx), history: historyRequest(q), stats: q.disable_stats !== 'true' };
}

/** Runs a broker operation; its AMQP errors become RabbitMQ's HTTP answers (403 -> 401, 404 -> 404, others 400). */
export function viaBroker<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AmqpError) {
      const detail = err.message.replace(/^[A-Z_]+ - /, '');
      if (err.code === 404) throw notFound(detail);
      if (err.code === 403) throw accessRefused();
      throw badRequest(detail);
    }
    throw err;
  }
}

/** A boolean body field: absent gives `dflt`; anything but a boolean is RabbitMQ's not_boolean 400. */
export function boolField(body: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new HttpError(400, 'bad_request', `not_boolean: ${key}=${JSON.stringify(v)}`);
}

export function bodyOf(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('not_json');
  return b as Record<string, unknown>;
}

/** A management-side stand-in for a connection, for exclusive-queue checks (it owns nothing). */
export const HTTP_CONNECTION = Object.freeze({ http: true });
