// Permissions and topic permissions: /api/permissions[/{vhost}/{user}],
// /api/topic-permissions[/{vhost}/{user}[/{exchange}]], and the per-vhost and per-user lists.
// Administrators only, as in RabbitMQ.
import type { FastifyInstance } from 'fastify';
import { requireTag } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import { listResponse, sortedBy, type Query } from '../paging.js';

type Body = Record<string, unknown>;

/** RabbitMQ's with_decode: every key present, else 400 "[{key_missing,K}]". */
function required(body: Body, keys: string[]): string[] {
  for (const k of keys) if (body[k] === undefined) throw badRequest(`[{key_missing,${k}}]`);
  return keys.map((k) => String(body[k]));
}

/** A permission pattern must compile, else RabbitMQ's 400 invalid_regexp. */
function checkRegex(pattern: string): void {
  try {
    // V8 compiles lazily: a pattern too large to compile only fails on its first use.
    new RegExp(pattern).test('');
  } catch (err) {
    throw new HttpError(400, 'bad_request', ['invalid_regexp', pattern, (err as Error).message] as unknown as string);
  }
}

export function permissionRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const users = broker.users;
  const admin = (req: { auth: Parameters<typeof requireTag>[0] }) => requireTag(req.auth, 'administrator');
  /** vhost first in per-vhost lists, user first elsewhere: RabbitMQ's key order. */
  const vhostFirst = <T extends { vhost: string; user: string }>(p: T) => { const { vhost, user, ...rest } = p; return { vhost, user, ...rest }; };
  const userFirst = <T extends { vhost: string; user: string }>(p: T) => { const { vhost, user, ...rest } = p; return { user, vhost, ...rest }; };
  const exists = (vhost: string, user: string) => broker.vhosts.has(vhost) && users.users.has(user);

  /** The whole list, the vhost's and the user's, for permissions and for topic permissions alike. */
  const lists = <T extends { vhost: string; user: string }>(path: string, all: () => T[]) => {
    app.get(`/api/${path}`, async (req) => {
      admin(req);
      return listResponse(sortedBy(all().map(userFirst), 'vhost', 'user'), req.query as Query, '');
    });
    app.get<{ Params: { vhost: string } }>(`/api/vhosts/:vhost/${path}`, async (req) => {
      admin(req);
      if (!broker.vhosts.has(req.params.vhost)) throw notFound();
      return listResponse(all().filter((p) => p.vhost === req.params.vhost).map(vhostFirst), req.query as Query, '');
    });
    app.get<{ Params: { user: string } }>(`/api/users/:user/${path}`, async (req) => {
      admin(req);
      if (!users.users.has(req.params.user)) throw notFound();
      return listResponse(all().filter((p) => p.user === req.params.user).map(userFirst), req.query as Query, '');
    });
  };
  lists('permissions', () => users.listPermissions());
  lists('topic-permissions', () => users.listTopicPermissions());

  app.get<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', async (req) => {
    admin(req);
    const { vhost, user } = req.params;
    const p = exists(vhost, user) ? users.permission(user, vhost) : undefined;
    if (!p) throw notFound();
    return { user, vhost, configure: p.configure, write: p.write, read: p.read };
  });
  app.put<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', async (req, reply) => {
    admin(req);
    const { vhost, user } = req.params;
    if (!exists(vhost, user)) throw badRequest('vhost_or_user_not_found');
    const [configure, write, read] = required((req.body ?? {}) as Body, ['configure', 'write', 'read']);
    for (const re of [configure, write, read]) checkRegex(re);
    const existed = users.permission(user, vhost) !== undefined;
    users.setPermission(user, vhost, { configure, write, read });
    broker.accessListener?.usersChanged();
    return reply.status(existed ? 204 : 201).send();
  });
  app.delete<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', async (req, reply) => {
    admin(req);
    const { vhost, user } = req.params;
    if (!exists(vhost, user) || users.permission(user, vhost) === undefined) throw notFound();
    users.clearPermission(user, vhost);
    broker.accessListener?.usersChanged();
    return reply.status(204).send();
  });

  // ------------------------------------------------------------ topic permissions

  const topicOf = (vhost: string, user: string, exchange?: string) => (exists(vhost, user)
    ? users.listTopicPermissions().filter((p) => p.vhost === vhost && p.user === user && (exchange === undefined || p.exchange === exchange)).map(userFirst)
    : []);
  app.get<{ Params: { vhost: string; user: string; exchange?: string } }>('/api/topic-permissions/:vhost/:user/:exchange?', async (req) => {
    admin(req);
    const list = topicOf(req.params.vhost, req.params.user, req.params.exchange);
    if (list.length === 0) throw notFound();
    return list;
  });
  app.put<{ Params: { vhost: string; user: string } }>('/api/topic-permissions/:vhost/:user', async (req, reply) => {
    admin(req);
    const { vhost, user } = req.params;
    if (!exists(vhost, user)) throw badRequest('vhost_or_user_not_found');
    const [exchange, write, read] = required((req.body ?? {}) as Body, ['exchange', 'write', 'read']);
    for (const re of [write, read]) checkRegex(re.replaceAll('{username}', user).replaceAll('{vhost}', vhost));
    const existed = topicOf(vhost, user).length > 0;
    users.setTopicPermission(user, vhost, { exchange, write, read });
    broker.accessListener?.usersChanged();
    return reply.status(existed ? 204 : 201).send();
  });
  app.delete<{ Params: { vhost: string; user: string; exchange?: string } }>('/api/topic-permissions/:vhost/:user/:exchange?', async (req, reply) => {
    admin(req);
    const { vhost, user, exchange } = req.params;
    if (topicOf(vhost, user, exchange).length === 0) throw notFound();
    users.clearTopicPermissions(user, vhost, exchange);
    broker.accessListener?.usersChanged();
    return reply.status(204).send();
  });
}
