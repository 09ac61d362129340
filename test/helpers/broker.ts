// Starts a real Warren as a child process for a test file, on a free port with its own
// data directory. With WARREN_TEST_URL set (e.g. amqp://guest:guest@127.0.0.1:5673/ for the
// reference RabbitMQ), tests run against that broker instead, to check the tests themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/helpers -> dist/src/cli/warren.js
export const WARREN_BIN = join(here, '..', '..', 'src', 'cli', 'warren.js');

export interface StartOptions {
  /** Extra CLI arguments. */
  args?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Reuse a data directory (e.g. to test restarts); default a fresh temp dir. */
  dataDir?: string;
  /** A RabbitMQ-style definitions object (users, vhosts, permissions, ...) loaded at boot. */
  definitions?: unknown;
  /** More ports to wait for before the broker counts as started (TLS listeners). */
  readyPorts?: number[];
}

export interface TestBroker {
  /** amqp://guest:guest@127.0.0.1:PORT (no trailing vhost) */
  url: string;
  host: string;
  port: number;
  /** The management API, http://127.0.0.1:PORT (no trailing slash). */
  httpUrl: string;
  /** The Prometheus endpoint's base, http://127.0.0.1:PORT. */
  metricsUrl: string;
  dataDir: string;
  /** True when running against an external broker (WARREN_TEST_URL). */
  external: boolean;
  child?: ChildProcess;
  /** Output the broker printed so far (for debugging failed tests). */
  output(): string;
  /** Stops the broker (SIGTERM by default, SIGKILL to simulate a crash). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
}

// Ports for test brokers come from below the kernel's ephemeral range (32768-60999 on Linux):
// a port the OS hands out for listen(0) is also handed to outgoing connections, and a broker
// being restarted leaves its port free for a moment, so an ephemeral port could be taken by
// another test's client (or by another test file's freePort) in between. Random picks from
// 20,000 low ports, never the same twice in a process, make that practically impossible.
const LOW_PORT = 12000;
const LOW_PORT_SPAN = 20000;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW_PORT + Math.floor(Math.random() * LOW_PORT_SPAN);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${LOW_PORT} and ${LOW_PORT + LOW_PORT_SPAN}`);
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`broker did not listen on ${port} within ${timeoutMs} ms`);
}

/**
 * Warren logs "this is a bug in Warren" for every internal error it contains and for uncaught
 * exceptions. Any such line fails the test that is running: the error is thrown in this process,
 * where node:test reports it against the current test.
 */
export const BUG_MARKER = 'this is a bug in Warren';
function bugWatcher(): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes(BUG_MARKER)) setImmediate(() => { throw new Error(`the broker logged an internal error: ${line}`); });
    }
  };
}

export async function startBroker(opts: StartOptions = {}): Promise<TestBroker> {
  const externalUrl = process.env.WARREN_TEST_URL;
  if (externalUrl) {
    const u = new URL(externalUrl);
    const port = Number(u.port || 5672);
    // The reference RabbitMQ's management and Prometheus ports (../shared/tools/rabbitmq-reference.sh).
    const httpUrl = (process.env.WARREN_TEST_MGMT_URL ?? `http://${u.hostname}:15673`).replace(/\/+$/, '');
    const metricsUrl = process.env.WARREN_TEST_METRICS_URL ?? `http://${u.hostname}:15693`;
    return {
      url: `amqp://${u.username || 'guest'}:${u.password || 'guest'}@${u.hostname}:${port}`,
      host: u.hostname, port, httpUrl, metricsUrl, dataDir: '', external: true,
      output: () => '',
      stop: async () => {},
      restart: async () => { throw new Error('restart is not possible on an external broker'); },
    };
  }
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'warren-test-'));
  const ownsDir = opts.dataDir === undefined;
  const port = await freePort();
  const httpPort = await freePort();
  const metricsPort = await freePort();
  let out = '';
  let child: ChildProcess;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--data-dir', dataDir,
    '--management-port', String(httpPort), '--prometheus-port', String(metricsPort), ...(opts.args ?? [])];
  if (opts.definitions) {
    const file = join(dataDir, '..', `defs-${port}.json`);
    writeFileSync(file, JSON.stringify(opts.definitions));
    args.push('--definitions', file);
  }
  const launch = async () => {
    child = spawn(process.execPath, [WARREN_BIN, ...args], {
      env: { ...process.env, WARREN_LOG_LEVEL: process.env.WARREN_LOG_LEVEL ?? 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watchOut = bugWatcher();
    const watchErr = bugWatcher();
    child.stdout!.on('data', (d) => { out += d; watchOut(String(d)); });
    child.stderr!.on('data', (d) => { out += d; watchErr(String(d)); });
    // A test that sets --port itself (e.g. "off", amqps only) waits for its readyPorts instead.
    if (!(opts.args ?? []).includes('--port')) await waitForPort(port, child).catch((e) => { throw new Error(`${e.message}\n${out}`); });
    for (const p of opts.readyPorts ?? []) await waitForPort(p, child).catch((e) => { throw new Error(`${e.message}\n${out}`); });
    // The management API and the Prometheus endpoint start right after AMQP (unless a test turned them off).
    if (!(opts.args ?? []).includes('--management-port')) {
      await waitForPort(httpPort, child).catch((e) => { throw new Error(`${e.message}\n${out}`); });
    }
    if (!(opts.args ?? []).includes('--prometheus-port')) {
      await waitForPort(metricsPort, child).catch((e) => { throw new Error(`${e.message}\n${out}`); });
    }
  };
  await launch();
  const broker: TestBroker = {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    host: '127.0.0.1', port, httpUrl: `http://127.0.0.1:${httpPort}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, dataDir, external: false,
    get child() { return child; },
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
    async restart() {
      await broker.stop();
      await launch();
    },
  };
  process.once('exit', () => {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
    if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
  });
  return broker;
}
