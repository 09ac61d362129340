// Every group of management endpoints; each module registers its own paths.
import type { FastifyInstance } from 'fastify';
import type { ManagementContext } from '../context.js';
import { bindingRoutes } from './bindings.js';
import { connectionRoutes } from './connections.js';
import { exchangeRoutes } from './exchanges.js';
import { messageRoutes } from './messages.js';
import { overviewRoutes } from './overview.js';
import { queueRoutes } from './queues.js';

export type RouteModule = (app: FastifyInstance, ctx: ManagementContext) => void;

const MODULES: RouteModule[] = [overviewRoutes, exchangeRoutes, queueRoutes, messageRoutes, bindingRoutes, connectionRoutes];

export function registerRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  for (const m of MODULES) m(app, ctx);
}
