// The HTTP service: register users, look them up with their ledger row, health.
import Fastify from 'fastify';
import type { Logger } from 'pino';
import { BrokerUnavailable, Unroutable, type Broker } from './broker.js';
import type { Db } from './db.js';

const registerSchema = {
  body: {
    type: 'object',
    required: ['email', 'name'],
    additionalProperties: false,
    properties: {
      email: { type: 'string', format: 'email', maxLength: 320 },
      name: { type: 'string', minLength: 1, maxLength: 200 },
    },
  },
} as const;

const idSchema = {
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'integer', minimum: 1 } },
  },
} as const;

export function buildHttp(db: Db, broker: Broker, log: Logger) {
  // removeAdditional off: an unknown field is refused (400), not silently dropped
  const app = Fastify({ loggerInstance: log, ajv: { customOptions: { removeAdditional: false } } });

  // errors as {"error", "reason"}; validation failures are 400 with the validator's reason
  app.setErrorHandler((err: { validation?: unknown; statusCode?: number; message: string }, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'bad_request', reason: err.message });
    if (err instanceof BrokerUnavailable) return reply.code(503).send({ error: 'broker_unavailable', reason: err.message });
    if (err instanceof Unroutable) return reply.code(503).send({ error: 'unroutable', reason: err.message });
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (code === 500) log.error({ err: err.message }, 'request failed');
    return reply.code(code).send({ error: code === 500 ? 'internal_error' : 'bad_request', reason: err.message });
  });

  app.post<{ Body: { email: string; name: string } }>('/users', { schema: registerSchema }, async (req, reply) => {
    if (!broker.connected) throw new BrokerUnavailable('not connected to the broker'); // don't store what we can't queue
    const id = await db.createUser(req.body.email, req.body.name);
    try {
      await broker.publish(id, 0); // resolves only once the broker confirmed it
    } catch (err) {
      await db.deleteUser(id).catch(() => undefined);
      log.error({ userId: id, err: (err as Error).message }, 'registration not queued');
      throw err;
    }
    log.info({ userId: id }, 'user registered');
    return reply.code(201).send({ id });
  });

  app.get<{ Params: { id: number } }>('/users/:id', { schema: idSchema }, async (req, reply) => {
    const user = await db.getUser(req.params.id);
    if (!user) return reply.code(404).send({ error: 'not_found', reason: `no user ${req.params.id}` });
    const notify = (await db.getLedger(user.id)) ?? null;
    return { ...user, notify };
  });

  app.get('/health', async (_req, reply) => {
    const [brokerOk, dbOk] = await Promise.all([
      broker.check().then(() => true, () => false),
      db.ping().then(() => true, () => false),
    ]);
    const body = { status: brokerOk && dbOk ? 'ok' : 'unavailable', broker: brokerOk ? 'ok' : 'down', database: dbOk ? 'ok' : 'down' };
    return reply.code(brokerOk && dbOk ? 200 : 503).send(body);
  });

  return app;
}
