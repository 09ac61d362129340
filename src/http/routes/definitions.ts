// GET/POST /api/definitions and /api/definitions/{vhost} (also the old name /api/all-configuration):
// RabbitMQ's definitions JSON, administrators only. POST imports, 204 on success, 400 with the
// reason when something in the file is refused.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireTag } from '../auth.js';
import { RABBITMQ_VERSION, type ManagementContext } from '../context.js';
import { badRequest } from '../errors.js';
import { AmqpError } from '../../broker/errors.js';
import { DefinitionsError, exportDefinitions, exportVhostDefinitions, importDefinitions, type Definitions } from '../../broker/definitions.js';

export function definitionRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  const broker = ctx.broker;

  const download = (req: FastifyRequest, reply: FastifyReply) => {
    const name = (req.query as Record<string, string | undefined>).download;
    if (name) reply.header('content-disposition', `attachment; filename=${name}`);
  };

  const getAll = async (req: FastifyRequest, reply: FastifyReply) => {
    requireTag(req.auth, 'administrator');
    download(req, reply);
    return exportDefinitions(broker, { rabbitmq: RABBITMQ_VERSION, product: 'Warren', productVersion: ctx.version });
  };
  app.get('/api/definitions', getAll);
  app.get('/api/all-configuration', getAll);

  app.get<{ Params: { vhost: string } }>('/api/definitions/:vhost', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    const v = broker.vhost(req.params.vhost);
    if (!v) throw badRequest('vhost_not_found');
    download(req, reply);
    return exportVhostDefinitions(broker, v, RABBITMQ_VERSION);
  });

  const load = (req: FastifyRequest, reply: FastifyReply, vhost: string | null) => {
    requireTag(req.auth, 'administrator');
    if (vhost !== null && !broker.vhosts.has(vhost)) throw badRequest('vhost_not_found');
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('not_json');
    try {
      importDefinitions(broker, body as Definitions, vhost);
    } catch (err) {
      if (err instanceof DefinitionsError || err instanceof AmqpError || err instanceof SyntaxError) throw badRequest(err.message);
      throw err;
    }
    return reply.status(204).send();
  };
  app.post('/api/definitions', async (req, reply) => load(req, reply, null));
  app.post('/api/all-configuration', async (req, reply) => load(req, reply, null));
  app.post<{ Params: { vhost: string } }>('/api/definitions/:vhost', async (req, reply) => load(req, reply, req.params.vhost));
}
