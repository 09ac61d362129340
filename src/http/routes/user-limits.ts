// /api/user-limits: per-user max-connections and max-channels, one limit per PUT/DELETE as in
// RabbitMQ, with its validation reasons. For administrators only, like the users they belong to.
import type { FastifyInstance } from 'fastify';
import { requireTag } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import { sortedLimits, type User, userLimitProblem } from '../../broker/users.js';

type Params = { user: string; name: string };

const limitsJson = (u: User) => (Object.keys(u.limits).length === 0 ? [] : [{ user: u.name, value: sortedLimits(u.limits) }]);

export function userLimitRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const users = broker.users;
  const changed = () => broker.accessListener?.usersChanged();

  app.get('/api/user-limits', async (req) => {
    requireTag(req.auth, 'administrator');
    return [...users.users.values()].flatMap(limitsJson);
  });

  app.get<{ Params: Params }>('/api/user-limits/:user', async (req) => {
    requireTag(req.auth, 'administrator');
    const u = users.users.get(req.params.user);
    if (!u) throw notFound();
    return limitsJson(u);
  });

  app.put<{ Params: Params }>('/api/user-limits/:user/:name', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.value === undefined) throw badRequest('[{key_missing,value}]');
    const u = users.users.get(req.params.user);
    if (!u) throw new HttpError(400, 'bad_request', ['no_such_user', req.params.user] as unknown as string);
    const problem = userLimitProblem(req.params.name, body.value);
    if (problem !== null) throw badRequest(problem);
    users.setLimits(u.name, { ...u.limits, [req.params.name]: body.value as number });
    changed();
    return reply.status(204).send();
  });

  app.delete<{ Params: Params }>('/api/user-limits/:user/:name', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const u = users.users.get(req.params.user);
    if (!u) throw notFound();
    if (req.params.name in u.limits) {
      const { [req.params.name]: _gone, ...rest } = u.limits;
      users.setLimits(u.name, rest);
      changed();
    }
    return reply.status(204).send();
  });
}
