// Every group of management endpoints; each module registers its own paths.
import type { FastifyInstance } from 'fastify';
import type { ManagementContext } from '../context.js';
import { bindingRoutes } from './bindings.js';
import { connectionRoutes } from './connections.js';
import { definitionRoutes } from './definitions.js';
import { exchangeRoutes } from './exchanges.js';
import { healthRoutes } from './health.js';
import { messageRoutes } from './messages.js';
import { nodeRoutes } from './nodes.js';
import { overviewRoutes } from './overview.js';
import { parameterRoutes } from './parameters.js';
import { permissionRoutes } from './permissions.js';
import { policyRoutes } from './policies.js';
import { queueRoutes } from './queues.js';
import { userRoutes } from './users.js';
import { userLimitRoutes } from './user-limits.js';
import { vhostRoutes } from './vhosts.js';

export type RouteModule = (app: FastifyInstance, ctx: ManagementContext) => void;

const MODULES: RouteModule[] = [
  overviewRoutes, vhostRoutes, userRoutes, userLimitRoutes, permissionRoutes, parameterRoutes, policyRoutes, definitionRoutes, healthRoutes, nodeRoutes,
  exchangeRoutes, queueRoutes, messageRoutes, bindingRoutes, connectionRoutes,
];

export function registerRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  for (const m of MODULES) m(app, ctx);
}
