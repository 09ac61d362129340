// Runtime parameters (/api/parameters[/{component}[/{vhost}[/{name}]]]) for administrators and
// policymakers in their vhosts, and global parameters (/api/global-parameters[/{name}]) for
// policymakers, as RabbitMQ authorises them. Stored durably; exported in definitions.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requirePolicymakerIn } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notAuthorised, HttpError, notFound } from '../errors.js';
import { listResponse, sortedBy, type Query } from '../paging.js';
import { KNOWN_COMPONENTS, type RuntimeParameter } from '../../broker/parameters.js';

type Params = { component?: string; vhost?: string; name?: string };

export function parameterRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;
  const params = broker.parameters;
  const json = (p: RuntimeParameter) => ({ value: p.value, vhost: p.vhost, component: p.component, name: p.name });
  const changed = () => broker.accessListener?.parametersChanged();

  const list = async (req: FastifyRequest) => {
    const { component, vhost } = req.params as Params;
    requirePolicymakerIn(broker, req.auth, vhost ?? null);
    if (vhost !== undefined && !broker.vhosts.has(vhost)) throw notFound();
    const admin = req.auth.tags.has('administrator');
    const items = params.list().filter((p) => (component === undefined || p.component === component)
      && (vhost === undefined || p.vhost === vhost)
      // A policymaker's lists hold only the vhosts it has permissions in (RabbitMQ's filter_vhost).
      && (admin || broker.users.hasVhostAccess(req.auth.user.name, p.vhost)));
    return listResponse(sortedBy(items.map(json), 'vhost', 'name'), req.query as Query, '');
  };
  app.get('/api/parameters', list);
  app.get('/api/parameters/:component', list);
  app.get('/api/parameters/:component/:vhost', list);

  app.get<{ Params: Required<Params> }>('/api/parameters/:component/:vhost/:name', async (req) => {
    const { component, vhost, name } = req.params;
    requirePolicymakerIn(broker, req.auth, vhost);
    const p = params.get(component, vhost, name);
    if (!p) throw notFound();
    return json(p);
  });
  app.put<{ Params: Required<Params> }>('/api/parameters/:component/:vhost/:name', async (req, reply) => {
    const { component, vhost, name } = req.params;
    requirePolicymakerIn(broker, req.auth, vhost);
    if (!broker.vhosts.has(vhost)) throw new HttpError(404, 'not_found', 'vhost_not_found');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.value === undefined) throw badRequest('[{key_missing,value}]');
    if (!KNOWN_COMPONENTS.has(component)) throw badRequest(`Validation failed\n\ncomponent ${component} not found\n`);
    const created = params.set({ component, vhost, name, value: body.value });
    ctx.log.warn({ component, vhost, name }, `runtime parameter stored; Warren has no ${component} support, so it has no effect`);
    changed();
    return reply.status(created ? 201 : 204).send();
  });
  app.delete<{ Params: Required<Params> }>('/api/parameters/:component/:vhost/:name', async (req, reply) => {
    const { component, vhost, name } = req.params;
    requirePolicymakerIn(broker, req.auth, vhost);
    if (!params.delete(component, vhost, name)) throw notFound();
    changed();
    return reply.status(204).send();
  });

  // ------------------------------------------------------------ global parameters

  const policymaker = (auth: Parameters<typeof requirePolicymakerIn>[1]) => {
    if (!auth.tags.has('policymaker')) throw notAuthorised('User not authorised to access object');
  };
  app.get('/api/global-parameters', async (req) => {
    policymaker(req.auth);
    return listResponse([...params.global].map(([name, value]) => ({ name, value })), req.query as Query);
  });
  app.get<{ Params: { name: string } }>('/api/global-parameters/:name', async (req) => {
    policymaker(req.auth);
    if (!params.global.has(req.params.name)) throw notFound();
    return { name: req.params.name, value: params.global.get(req.params.name) };
  });
  app.put<{ Params: { name: string } }>('/api/global-parameters/:name', async (req, reply) => {
    policymaker(req.auth);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.value === undefined) throw badRequest('[{key_missing,value}]');
    const existed = params.global.has(req.params.name);
    params.global.set(req.params.name, body.value);
    changed();
    return reply.status(existed ? 204 : 201).send();
  });
  app.delete<{ Params: { name: string } }>('/api/global-parameters/:name', async (req, reply) => {
    policymaker(req.auth);
    if (!params.global.delete(req.params.name)) throw notFound();
    changed();
    return reply.status(204).send();
  });
}
