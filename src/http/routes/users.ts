// /api/users: list, show, create/update (password, or password_hash with hashing_algorithm),
// delete, bulk delete, users without permissions. All for administrators only, as in RabbitMQ.
import type { FastifyInstance } from 'fastify';
import { requireTag } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import { listResponse, type Query } from '../paging.js';
import { tagsOf, userLimitsOf } from '../../broker/definitions.js';
import { HASHING_ALGORITHMS, sortedLimits, type User } from '../../broker/users.js';

export function userJson(u: User): Record<string, unknown> {
  return { name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: u.tags, limits: sortedLimits(u.limits) };
}


/**
 * The credentials of a PUT body: a clear `password` (hashed by the user store with the configured
 * algorithm), a `password_hash` (with `hashing_algorithm`, else the configured one, as RabbitMQ), or none (no password login).
 */
function credentialsOf(body: Record<string, unknown>, configured: string): { password: string | null; hash: string; algorithm: string } {
  if (body.password !== undefined && body.password_hash !== undefined) throw badRequest('both_password_and_password_hash_are_provided');
  if (body.password !== undefined && body.password !== null) return { password: String(body.password), hash: '', algorithm: configured };
  const algorithm = body.hashing_algorithm === undefined ? configured : String(body.hashing_algorithm);
  if (body.password_hash === undefined || body.password_hash === null || body.password_hash === '') return { password: null, hash: '', algorithm };
  const hash = String(body.password_hash);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(hash) || hash.length % 4 !== 0) throw new HttpError(400, 'bad_request', ['not_base64', hash] as unknown as string);
  if (!HASHING_ALGORITHMS.has(algorithm)) throw badRequest(`unknown hashing algorithm ${algorithm}`);
  return { password: null, hash, algorithm };
}

export function userRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const users = broker.users;

  app.get('/api/users', async (req) => {
    requireTag(req.auth, 'administrator');
    return listResponse([...users.users.values()].map(userJson), req.query as Query);
  });

  app.get('/api/users/without-permissions', async (req) => {
    requireTag(req.auth, 'administrator');
    const withPerms = new Set(users.listPermissions().map((p) => p.user));
    return listResponse([...users.users.values()].filter((u) => !withPerms.has(u.name)).map(userJson), req.query as Query);
  });

  app.post('/api/users/bulk-delete', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const names = (req.body as { users?: unknown }).users;
    if (!Array.isArray(names)) throw badRequest('[{key_missing,users}]');
    // In order, stopping at the first unknown name, as RabbitMQ does.
    for (const n of names) {
      if (!broker.deleteUser(String(n))) throw new HttpError(400, 'bad_request', ['no_such_user', String(n)] as unknown as string);
    }
    return reply.status(204).send();
  });

  app.get<{ Params: { user: string } }>('/api/users/:user', async (req) => {
    requireTag(req.auth, 'administrator');
    const u = users.users.get(req.params.user);
    if (!u) throw notFound();
    return userJson(u);
  });

  app.put<{ Params: { user: string } }>('/api/users/:user', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const body = (req.body ?? {}) as Record<string, unknown>;
    // RabbitMQ still takes the old boolean `administrator` in place of tags.
    const tags = body.tags !== undefined ? tagsOf(body.tags ?? '')
      : body.administrator !== undefined ? (String(body.administrator) === 'true' ? ['administrator'] : []) : null;
    if (tags === null) throw badRequest('tags_not_present');
    // Bad limits throw DefinitionsError, which the API answers with 400.
    const limits = userLimitsOf(body.limits);
    const { password, hash, algorithm } = credentialsOf(body, users.hashingAlgorithm);
    const existed = users.users.has(req.params.user);
    users.putUser(req.params.user, password, tags, hash, algorithm, limits);
    broker.accessListener?.usersChanged();
    return reply.status(existed ? 204 : 201).send();
  });

  app.delete<{ Params: { user: string } }>('/api/users/:user', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    if (!broker.deleteUser(req.params.user)) throw notFound();
    return reply.status(204).send();
  });
}
