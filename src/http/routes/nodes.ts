// /api/nodes and /api/nodes/{name} (monitoring), /api/extensions, /api/auth, /api/rebalance/queues.
// Warren is one node; its figures are the Node.js process's own: RSS against the memory high
// watermark, free space on the data directory's disk, open file descriptors from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { requireTag } from '../auth.js';
import type { Listener, ManagementContext } from '../context.js';
import { notFound } from '../errors.js';
import { listResponse, type Query } from '../paging.js';

/** Open file descriptors and their limit, from /proc (Linux); null where the platform has no /proc. */
function fileDescriptors(): { used: number; total: number } | null {
  try {
    const used = readdirSync('/proc/self/fd').length;
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    const total = m === null || m[1] === 'unlimited' ? 1048576 : Number(m[1]);
    return { used, total };
  } catch {
    return null;
  }
}

export function listenersOf(ctx: ManagementContext): readonly Listener[] {
  return ctx.listeners;
}

async function nodeJson(ctx: ManagementContext): Promise<Record<string, unknown>> {
  const broker = ctx.broker;
  const fds = fileDescriptors();
  let diskFree = 0;
  try {
    const s = await statfs(ctx.config.dataDir);
    diskFree = s.bavail * s.bsize;
  } catch {
    // data directory unreadable: report 0 free, as RabbitMQ reports what it could measure
  }
  const memUsed = process.memoryUsage.rss();
  const sockets = ctx.amqp.connections.size;
  const details = { rate: 0.0 };
  return {
    name: ctx.node,
    type: 'disc',
    running: true,
    being_drained: false,
    partitions: [],
    os_pid: String(process.pid),
    uptime: Date.now() - ctx.startedAt,
    // The operating system's one-minute run queue: Node runs one event loop, not Erlang schedulers.
    run_queue: Math.round(loadavg()[0]),
    processors: availableParallelism(),
    rates_mode: 'basic',
    mem_used: memUsed, mem_used_details: details,
    mem_limit: ctx.config.memoryHighWatermark,
    mem_alarm: broker.alarms.has('memory'),
    mem_calculation_strategy: 'rss',
    disk_free: diskFree, disk_free_details: details,
    disk_free_limit: ctx.config.diskFreeLimit,
    disk_free_alarm: broker.alarms.has('disk'),
    fd_used: fds?.used ?? 0, fd_used_details: details,
    fd_total: fds?.total ?? 0,
    sockets_used: sockets, sockets_used_details: details,
    sockets_total: fds === null ? 0 : Math.floor(fds.total * 0.9),
    // Erlang processes have no counterpart; libuv's active handles and requests are the nearest.
    proc_used: process.getActiveResourcesInfo().length, proc_used_details: details,
    proc_total: 1048576,
    exchange_types: ['direct', 'fanout', 'headers', 'topic', 'x-delayed-message'].map((name) => ({ name, description: '', enabled: true })),
    auth_mechanisms: [
      { name: 'PLAIN', description: 'SASL PLAIN authentication mechanism' },
      { name: 'AMQPLAIN', description: 'QPid AMQPLAIN mechanism' },
      { name: 'EXTERNAL', description: 'SSL authentication (SASL EXTERNAL)' },
    ].map((m) => ({ ...m, enabled: ctx.config.authMechanisms.includes(m.name) })),
    applications: [{ name: 'warren', description: 'Warren, an AMQP 0-9-1 broker on Node.js', version: ctx.version }],
    contexts: ctx.config.managementPort === null ? [] : [{
      description: 'RabbitMQ Management', path: '/', ip: ctx.config.managementBind ?? ctx.config.bind, port: String(ctx.config.managementPort),
    }],
    listeners: listenersOf(ctx),
    enabled_plugins: ['rabbitmq_management', 'rabbitmq_prometheus'],
    log_files: ['<stdout>'],
    db_dir: ctx.config.dataDir,
    config_files: [],
    net_ticktime: 60,
    cluster_links: [],
    metrics_gc_queue_length: {},
  };
}

export function nodeRoutes(app: FastifyInstance, ctx: ManagementContext): void {
  app.get('/api/nodes', async (req) => {
    requireTag(req.auth, 'monitoring');
    return listResponse([await nodeJson(ctx)], req.query as Query);
  });
  app.get<{ Params: { node: string } }>('/api/nodes/:node', async (req) => {
    requireTag(req.auth, 'monitoring');
    if (req.params.node !== ctx.node) throw notFound();
    return nodeJson(ctx);
  });

  // The management UI's plugin extensions: Warren's UI has none.
  app.get('/api/extensions', async () => []);

  // Answered without credentials, as RabbitMQ does (the login page reads it): no OAuth 2 here.
  app.get('/api/auth', async () => ({ oauth_enabled: false }));

  // RabbitMQ moves queue leaders between cluster nodes; on one node there is nothing to move.
  app.post('/api/rebalance/queues', async (req, reply) => {
    requireTag(req.auth, 'administrator');
    ctx.log.info({ user: req.auth.user.name }, 'queue rebalance requested; a single node has nothing to rebalance');
    return reply.status(204).send();
  });
}
