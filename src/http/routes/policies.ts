// /api/policies, /api/operator-policies and /api/vhost-limits, with RabbitMQ's rules: any
// management user lists what their vhosts hold; policymakers (with access to the vhost, or
// administrators) read and change policies; administrators alone change operator policies and
// vhost limits. Setting or clearing one applies it to the vhost's queues and exchanges at once.
import type { FastifyInstance } from 'fastify';
import type { PolicyKind } from '../../broker/broker.js';
import { policyJson } from '../../broker/policies.js';
import { parsePolicy, PolicyInvalid, vhostLimitProblem } from '../../broker/policy-validation.js';
import type { VHost } from '../../broker/vhost.js';
import { type AuthUser, requireTag, seesVhost, VHOST_REFUSAL } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notAuthorised, HttpError, notFound } from '../errors.js';
import { listResponse, type Query } from '../paging.js';

type Params = { vhost?: string; name?: string };
type Body = Record<string, unknown>;

/** RabbitMQ's policy endpoint HTML-escapes its reasons (operator policies and limits do not). */
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function policyRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const isAdmin = (auth: AuthUser) => auth.tags.has('administrator');
  const hasAccess = (auth: AuthUser, vhost: string) => isAdmin(auth) || broker.users.hasVhostAccess(auth.user.name, vhost);
  const vhostOf = (name: string): VHost => {
    const v = broker.vhost(name);
    if (v === undefined) throw notFound();
    return v;
  };
  /** PUT into a vhost that does not exist: RabbitMQ's accept_content answer. */
  const vhostToChange = (name: string): VHost => {
    const v = broker.vhost(name);
    if (v === undefined) throw new HttpError(404, 'not_found', 'vhost_not_found');
    return v;
  };

  for (const [path, kind] of [['policies', 'policy'], ['operator-policies', 'operator_policy']] as [string, PolicyKind][]) {
    const operator = kind === 'operator_policy';
    const policiesOf = (v: VHost) => (operator ? v.operatorPolicies : v.policies);
    const list = (vhosts: VHost[], q: Query) =>
      // RabbitMQ lists policies by priority unless told otherwise.
      listResponse(vhosts.flatMap((v) => [...policiesOf(v).values()].map((p) => ({ ...policyJson(p) }))), q, 'priority');
    /** Policymaker with access to the vhost (policies), or administrator (operator policies). */
    const mayChange = (auth: AuthUser, vhost: string) => {
      if (operator) requireTag(auth, 'administrator');
      else if (!auth.tags.has('policymaker') || !hasAccess(auth, vhost)) throw notAuthorised('User not authorised to access object');
    };

    app.get(`/api/${path}`, async (req) =>
      list([...broker.vhosts.values()].filter((v) => hasAccess(req.auth, v.name)), req.query as Query));

    app.get<{ Params: Params }>(`/api/${path}/:vhost`, async (req) => {
      const v = vhostOf(req.params.vhost!);
      if (!hasAccess(req.auth, v.name)) throw notAuthorised(VHOST_REFUSAL);
      return list([v], req.query as Query);
    });

    app.get<{ Params: Params }>(`/api/${path}/:vhost/:name`, async (req) => {
      mayChange(req.auth, req.params.vhost!);
      const p = policiesOf(vhostOf(req.params.vhost!)).get(req.params.name!);
      if (p === undefined) throw notFound();
      return policyJson(p);
    });

    app.put<{ Params: Params }>(`/api/${path}/:vhost/:name`, async (req, reply) => {
      mayChange(req.auth, req.params.vhost!);
      const v = vhostToChange(req.params.vhost!);
      const name = req.params.name!;
      let policy;
      try {
        policy = parsePolicy(v.name, name, (req.body ?? {}) as Body, operator);
      } catch (err) {
        if (err instanceof PolicyInvalid) throw badRequest(operator ? err.message : escapeHtml(err.message));
        throw err;
      }
      const existed = policiesOf(v).has(name);
      broker.setPolicy(v, kind, name, policy);
      return reply.status(existed ? 204 : 201).send();
    });

    app.delete<{ Params: Params }>(`/api/${path}/:vhost/:name`, async (req, reply) => {
      mayChange(req.auth, req.params.vhost!);
      const v = vhostOf(req.params.vhost!);
      if (!policiesOf(v).has(req.params.name!)) throw notFound();
      broker.setPolicy(v, kind, req.params.name!, null);
      return reply.status(204).send();
    });
  }

  const limitsJson = (v: VHost) => (Object.keys(v.limits).length === 0 ? [] : [{ vhost: v.name, value: v.limits }]);

  app.get('/api/vhost-limits', async (req) =>
    [...broker.vhosts.values()].filter((v) => seesVhost(broker, req.auth, v.name)).flatMap(limitsJson));

  app.get<{ Params: Params }>('/api/vhost-limits/:vhost', async (req) => {
    const v = vhostOf(req.params.vhost!);
    if (!seesVhost(broker, req.auth, v.name)) throw notAuthorised(VHOST_REFUSAL);
    return limitsJson(v);
  });

  app.put<{ Params: Params }>('/api/vhost-limits/:vhost/:name', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const v = vhostToChange(req.params.vhost!);
    const body = (req.body ?? {}) as Body;
    if (body.value === undefined) throw badRequest('[{key_missing,value}]');
    const problem = vhostLimitProblem(req.params.name!, body.value);
    if (problem !== null) throw badRequest(problem);
    broker.setVhostLimits(v, { ...v.limits, [req.params.name!]: body.value as number });
    return reply.status(204).send();
  });

  app.delete<{ Params: Params }>('/api/vhost-limits/:vhost/:name', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const v = vhostOf(req.params.vhost!);
    if (req.params.name! in v.limits) {
      const { [req.params.name!]: _gone, ...rest } = v.limits;
      broker.setVhostLimits(v, rest);
    }
    return reply.status(204).send();
  });
}
