// The global options every command shares (where the API is, who we are, which vhost, how to
// print), resolved from flags, then environment variables, then defaults, into one Ctl object
// handed to each command's action.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { usageError } from './errors.js';
import { ApiClient } from './http.js';
import { Output, type Formatter } from './output.js';

export const DEFAULT_URL = 'http://127.0.0.1:15672';

export const ENV_HELP = `
Environment variables (flags win over them):
  WARRENCTL_URL       management API base URL, e.g. http://admin:secret@broker:15672
  WARRENCTL_HOST      management API host (default 127.0.0.1)
  WARRENCTL_PORT      management API port (default 15672)
  WARRENCTL_USER      user name (default guest)
  WARRENCTL_PASSWORD  password (default guest)
  WARRENCTL_VHOST     virtual host for vhost-scoped commands (default /)
  WARRENCTL_CACERT    CA certificate file (PEM) for an https:// management API

Exit codes (as rabbitmqctl): 0 ok, 64 usage error, 65 bad input or no such object (API 400/404),
69 management API unreachable, 70 refused or failed by the broker (API 401/403/409/5xx), 75 timeout.`;

export interface Ctl {
  api: ApiClient;
  out: Output;
  vhost: string;
  /** The command's own options (commander's opts()). */
  opts: Record<string, unknown>;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option('--url <url>', 'management API base URL (default http://127.0.0.1:15672)')
    .option('-H, --host <host>', 'management API host (default 127.0.0.1)')
    .option('-P, --port <port>', 'management API port (default 15672)')
    .option('-n, --node <node>', 'rabbitmqctl style: rabbit@HOST means --host HOST')
    .option('-u, --username <name>', 'user name (default guest)')
    .option('--password <password>', 'password (default guest)')
    .option('-p, --vhost <vhost>', 'virtual host for vhost-scoped commands (default /)')
    .option('-t, --timeout <seconds>', 'per-request timeout in seconds (default 60)')
    .option('--cacert <file>', 'CA certificate (PEM) to trust for an https:// management API')
    .option('--insecure', 'https: do not verify the management API\'s certificate')
    .addOption(new Option('--formatter <formatter>', 'output format').choices(['table', 'pretty_table', 'json']))
    .option('-q, --quiet', 'no informational lines')
    .option('-s, --silent', 'no informational lines and no table header row')
    .option('--no-table-headers', 'no table header row');
}

type Opts = Record<string, string | boolean | undefined>;
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Base URL and credentials: flags, then the URL's user:password, then the environment, then guest/guest. */
export function resolveTarget(o: Opts, env: NodeJS.ProcessEnv): { url: string; user: string; password: string } {
  const urlText = str(o.url) ?? str(env.WARRENCTL_URL);
  let url: URL;
  try {
    url = new URL(urlText ?? DEFAULT_URL);
  } catch {
    throw usageError(`invalid --url / WARRENCTL_URL: ${urlText}`);
  }
  const nodeHost = str(o.node)?.replace(/^[^@]*@/, '');
  const host = str(o.host) ?? nodeHost ?? (urlText === undefined ? str(env.WARRENCTL_HOST) : undefined);
  const port = str(o.port) ?? (urlText === undefined ? str(env.WARRENCTL_PORT) : undefined);
  if (host !== undefined) url.hostname = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  if (port !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw usageError(`invalid port: ${port}`);
    url.port = port;
  }
  const user = str(o.username) ?? (url.username ? decodeURIComponent(url.username) : undefined) ?? str(env.WARRENCTL_USER) ?? 'guest';
  const password = str(o.password) ?? (url.password ? decodeURIComponent(url.password) : undefined) ?? str(env.WARRENCTL_PASSWORD) ?? 'guest';
  url.username = '';
  url.password = '';
  return { url: url.toString().replace(/\/+$/, ''), user, password };
}

export function makeCtl(cmd: Command, env: NodeJS.ProcessEnv = process.env): Ctl {
  const o = cmd.optsWithGlobals<Opts>();
  const target = resolveTarget(o, env);
  const timeoutText = str(o.timeout) ?? '60';
  const timeout = Number(timeoutText);
  if (!(timeout > 0)) throw usageError(`invalid --timeout: ${timeoutText} (seconds, more than 0)`);
  const formatter: Formatter = o.formatter === 'json' ? 'json' : 'table';
  const silent = o.silent === true;
  const caFile = str(o.cacert) ?? str(env.WARRENCTL_CACERT);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw usageError(`cannot read --cacert ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return {
    api: new ApiClient({ ...target, timeoutMs: Math.round(timeout * 1000), ca, insecure: o.insecure === true }),
    out: new Output({ formatter, quiet: silent || o.quiet === true, noHeaders: silent || o.tableHeaders === false }),
    vhost: str(o.vhost) ?? str(env.WARRENCTL_VHOST) ?? '/',
    opts: cmd.opts(),
  };
}

/**
 * Wraps a command's action: builds the Ctl from the options and passes the positional arguments
 * (commander hands them first, then the options object and the command).
 */
export function action(fn: (ctl: Ctl, ...args: never[]) => Promise<void>): (...a: unknown[]) => Promise<void> {
  return async (...a: unknown[]) => {
    const cmd = a[a.length - 1] as Command;
    await fn(makeCtl(cmd), ...(a.slice(0, -2) as never[]));
  };
}
