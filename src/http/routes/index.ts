// Every group of management endpoints; each module registers its own paths.
import type { FastifyInstance } from 'fastify';
import type { ManagementContext } from '../context.js';
import { overviewRoutes } from './overview.js';
import { policyRoutes } from './policies.js';

export type RouteModule = (app: FastifyInstance, ctx: ManagementContext) => void;

const MODULES: RouteModule[] = [overviewRoutes, policyRoutes];

export function registerRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  for (const m of MODULES) m(app, ctx);
}
