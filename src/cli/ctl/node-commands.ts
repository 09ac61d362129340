// status, ping and await_startup: about the node as a whole, from /api/overview.
import type { Command } from 'commander';
import { action, type Ctl } from './context.js';
import { CtlError, EXIT_TEMPFAIL, EXIT_UNAVAILABLE } from './errors.js';
import { ApiClient, ApiError, enc } from './http.js';
import { alignedTable, cell } from './output.js';

interface Overview {
  product_name?: string;
  product_version?: string;
  rabbitmq_version?: string;
  erlang_full_version?: string;
  node?: string;
  cluster_name?: string;
  listeners?: { protocol: string; ip_address: string; port: number }[];
  object_totals?: Record<string, number>;
  queue_totals?: Record<string, unknown>;
}

/** What /api/nodes/{node} adds: uptime, memory and disk against their alarm thresholds. */
interface NodeInfo {
  uptime?: number;
  mem_used?: number;
  mem_limit?: number;
  mem_alarm?: boolean;
  disk_free?: number;
  disk_free_limit?: number;
  disk_free_alarm?: boolean;
}

const mib = (n: number | undefined) => (typeof n === 'number' ? `${(n / 1048576).toFixed(1)} MiB` : '?');

function nodeLines(n: NodeInfo): string[][] {
  const lines: string[][] = [];
  if (typeof n.uptime === 'number') lines.push(['Uptime', `${Math.floor(n.uptime / 1000)} s`]);
  if (n.mem_used !== undefined) lines.push(['Memory used', `${mib(n.mem_used)} (alarm at ${mib(n.mem_limit)})${n.mem_alarm ? ', MEMORY ALARM' : ''}`]);
  if (n.disk_free !== undefined) lines.push(['Disk free', `${mib(n.disk_free)} (alarm below ${mib(n.disk_free_limit)})${n.disk_free_alarm ? ', DISK ALARM' : ''}`]);
  return lines;
}

function printStatus(ctl: Ctl, o: Overview, n: NodeInfo): void {
  const product = o.product_name === undefined || o.product_name === 'RabbitMQ' ? `RabbitMQ ${o.rabbitmq_version ?? ''}` : `${o.product_name} ${o.product_version ?? ''} (RabbitMQ ${o.rabbitmq_version ?? '?'} compatible)`;
  const lines: string[][] = [
    ['Product', product.trim()],
    ['Node', cell(o.node)],
    ['Cluster name', cell(o.cluster_name)],
    ['Runtime', cell(o.erlang_full_version)],
    ['Management API', ctl.api.target.url],
    ...nodeLines(n),
  ];
  for (const l of o.listeners ?? []) lines.push(['Listener', `${l.protocol} on ${l.ip_address}:${l.port}`]);
  for (const [k, v] of Object.entries(o.object_totals ?? {})) lines.push([k[0].toUpperCase() + k.slice(1), String(v)]);
  const q = o.queue_totals ?? {};
  for (const k of ['messages', 'messages_ready', 'messages_unacknowledged']) if (q[k] !== undefined) lines.push([k.replace('_', ' ').replace(/^m/, 'M'), cell(q[k])]);
  ctl.out.text(alignedTable(['', ''], lines.map(([k, v]) => [`${k}:`, v])));
}

async function awaitStartup(ctl: Ctl): Promise<Overview> {
  // The whole --timeout is the wait; each attempt is short so a half-started node is retried.
  const deadline = Date.now() + ctl.api.target.timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    const attempt = new ApiClient({ ...ctl.api.target, timeoutMs: Math.max(1, Math.min(left, 5000)) });
    try {
      return await attempt.get<Overview>('/overview');
    } catch (err) {
      const retry = err instanceof CtlError && (err.exitCode === EXIT_UNAVAILABLE || err.exitCode === EXIT_TEMPFAIL);
      if (!retry) throw err;
      if (Date.now() + 200 >= deadline) {
        throw new CtlError(`Warren did not start within ${ctl.api.target.timeoutMs / 1000} s: ${err.message}`, EXIT_TEMPFAIL);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function registerNodeCommands(program: Command): void {
  program.command('status')
    .description('shows the node: product and version, listeners, object and message totals')
    .action(action(async (ctl) => {
      const o = await ctl.api.get<Overview>('/overview');
      ctl.out.info(`Status of node ${o.node ?? ctl.api.target.url} ...`);
      // Node details need the monitoring tag; without them status still shows the overview.
      const n = o.node === undefined ? undefined : await ctl.api.find<NodeInfo>(`/nodes/${enc(o.node)}`).catch((err: unknown) => {
        if (err instanceof ApiError) return undefined;
        throw err;
      });
      if (ctl.out.json) ctl.out.printJson({ ...o, node_details: n ?? null });
      else printStatus(ctl, o, n ?? {});
    }));

  program.command('ping')
    .description('checks that the management API answers and accepts the credentials')
    .action(action(async (ctl) => {
      ctl.out.info(`Will ping the management API at ${ctl.api.target.url} ...`);
      const o = await ctl.api.get<Overview>('/overview');
      if (ctl.out.json) ctl.out.printJson({ result: 'ok', node: o.node });
      else ctl.out.text(`Ping succeeded${o.node === undefined ? '' : ` (node ${o.node})`}`);
    }));

  program.command('await_startup')
    .description('waits until the management API answers (up to --timeout seconds, default 60)')
    .action(action(async (ctl) => {
      ctl.out.info(`Waiting for Warren's management API at ${ctl.api.target.url} to answer ...`);
      await awaitStartup(ctl);
    }));
}
