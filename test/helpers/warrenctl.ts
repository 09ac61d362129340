// Running the built warrenctl as a child process, and the brokers it is tested against: a Warren
// of its own, or (WARRENCTL_TEST_REFERENCE=1) the reference RabbitMQ (management 15673, AMQP
// 5673) with a vhost of the test's own deleted afterwards.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker, type TestBroker } from './broker.js';
import { suffix, sleep } from './amqp.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/helpers -> dist/src/cli/warrenctl.js
export const WARRENCTL_BIN = join(here, '..', '..', 'src', 'cli', 'warrenctl.js');

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs warrenctl with `args`; WARRENCTL_* from the test's environment are not inherited. */
export function runCtl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CtlResult> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('WARRENCTL_')) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WARRENCTL_BIN, ...args], { env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

export const REFERENCE_HTTP = 'http://127.0.0.1:15673';
export const REFERENCE_AMQP = 'amqp://guest:guest@127.0.0.1:5673';

/** Why the reference RabbitMQ cannot be used, or undefined when it answers. */
export async function referenceUnavailable(): Promise<string | undefined> {
  try {
    const res = await fetch(`${REFERENCE_HTTP}/api/overview`, { headers: auth('guest', 'guest'), signal: AbortSignal.timeout(3000) });
    return res.ok ? undefined : `the reference RabbitMQ at ${REFERENCE_HTTP} answered ${res.status}`;
  } catch (err) {
    return `the reference RabbitMQ at ${REFERENCE_HTTP} is not reachable (${(err as Error).message}); start it with ../shared/tools/rabbitmq-reference.sh start`;
  }
}

export const auth = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

export interface Target {
  name: 'Warren' | 'reference RabbitMQ';
  httpUrl: string;
  amqpUrl: string;
  /** A vhost of this test's own, guest having every permission in it. */
  vhost: string;
  /** warrenctl's connection arguments for this target. */
  args: string[];
  /** The management API as guest: status and parsed JSON body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

function apiFor(httpUrl: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${httpUrl}/api${path}`, {
      method,
      headers: { ...auth('guest', 'guest'), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  };
}

/** A Warren started for the test, with `vhost` defined at boot (so no vhost endpoint is needed). */
export async function warrenTarget(vhostBase: string, definitions: Record<string, unknown[]> = {}): Promise<Target & { broker: TestBroker }> {
  const vhost = `${vhostBase}-${suffix()}`;
  const broker = await startBroker({
    definitions: {
      users: [{ name: 'guest', password: 'guest', tags: 'administrator' }],
      vhosts: [{ name: '/' }, { name: vhost }],
      permissions: ['/', vhost].map((v) => ({ user: 'guest', vhost: v, configure: '.*', write: '.*', read: '.*' })),
      ...definitions,
    },
  });
  return {
    name: 'Warren', broker, httpUrl: broker.httpUrl, amqpUrl: broker.url, vhost,
    args: ['--url', broker.httpUrl], api: apiFor(broker.httpUrl),
    close: () => broker.stop(),
  };
}

/** The reference RabbitMQ with a fresh vhost; close() deletes it and the users named in `users`. */
export async function referenceTarget(vhostBase: string, users: string[] = []): Promise<Target> {
  const vhost = `${vhostBase}-${suffix()}`;
  const api = apiFor(REFERENCE_HTTP);
  await api('PUT', `/vhosts/${encodeURIComponent(vhost)}`, {});
  await api('PUT', `/permissions/${encodeURIComponent(vhost)}/guest`, { configure: '.*', write: '.*', read: '.*' });
  return {
    name: 'reference RabbitMQ', httpUrl: REFERENCE_HTTP, amqpUrl: REFERENCE_AMQP, vhost,
    args: ['--url', REFERENCE_HTTP], api,
    close: async () => {
      await api('DELETE', `/vhosts/${encodeURIComponent(vhost)}`);
      for (const u of users) await api('DELETE', `/users/${encodeURIComponent(u)}`);
    },
  };
}

/**
 * Runs warrenctl until `accept` likes the result (RabbitMQ's management statistics lag the
 * broker by up to its 5 s collection interval); returns the last result either way.
 */
export async function ctlUntil(args: string[], accept: (r: CtlResult) => boolean, ms = 12_000): Promise<CtlResult> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await runCtl(args);
    if (accept(r) || Date.now() > deadline) return r;
    await sleep(300);
  }
}

/** The data lines of a table (after the header), each split into its cells. */
export function tableRows(stdout: string): string[][] {
  return stdout.trimEnd().split('\n').map((l) => l.split(/ {2,}/));
}
