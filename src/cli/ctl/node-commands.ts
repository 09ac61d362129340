// status, ping and await_startup: about the node as a whole, from /api/overview.
import type { Command } from 'commander';
import { action, type Ctl } from './context.js';
import { CtlError, EXIT_TEMPFAIL, EXIT_UNAVAILABLE } from './errors.js';
import { ApiClient } from './http.js';
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

function printStatus(ctl: Ctl, o: Overview): void {
  const product = o.product_name === undefined || o.product_name === 'RabbitMQ' ? `RabbitMQ ${o.rabbitmq_version ?? ''}` : `${o.product_name} ${o.product_version ?? ''} (RabbitMQ ${o.rabbitmq_version ?? '?'} compatible)`;
  const lines: string[][] = [
    ['Product', product.trim()],
    ['Node', cell(o.node)],
    ['Cluster name', cell(o.cluster_name)],
    ['Runtime', cell(o.erlang_full_version)],
    ['Management API', ctl.api.target.url],
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
      if (ctl.out.json) ctl.out.printJson(o);
      else printStatus(ctl, o);
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
