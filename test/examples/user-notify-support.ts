// Plumbing for the user-notify example's tests: a real SMTP server (smtp-server) that fails
// chosen addresses a chosen number of times, the example's service and worker as child
// processes with their pino logs parsed, and the MariaDB the tests use when there is one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../helpers/broker.js';
import { ToolMissing } from '../interop/support.js';
import assert from 'node:assert/strict';

// dist/test/examples -> examples/user-notify/dist/src (the root build runs the example's own build)
export const EXAMPLE_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'user-notify', 'dist', 'src');

/**
 * Against an external broker (WARREN_TEST_URL, the reference RabbitMQ) the suites skip: the
 * example needs the delayed-message exchange (a plugin the reference does not have), broker
 * mode is Warren's own, and the outage test restarts the broker.
 */
export const EXTERNAL_SKIP = process.env.WARREN_TEST_URL
  ? 'skipped: the user-notify example needs Warren (delayed exchange, delayed retry, restarts), not WARREN_TEST_URL' : false;

/** A fresh SQLite database file for one test. */
export function sqliteUrl(): string {
  return `sqlite:${join(mkdtempSync(join(tmpdir(), 'user-notify-db-')), 'user-notify.sqlite')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns something truthy; fails with `what` after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface Mail {
  to: string;
  userId: number;
  at: number;
}

/** What to do with an address's attempts: fail the first `fail` (451), or hold the first one open. */
export type Plan = { fail: number } | 'hang-once';

/** A real SMTP server on a free port. */
export class MailServer {
  readonly mails: Mail[] = [];
  /** Every attempt (DATA received) per address, with its time. */
  readonly attempts = new Map<string, number[]>();
  /** Addresses whose held attempt is waiting (hang-once). */
  readonly hanging = new Set<string>();
  private readonly plans = new Map<string, Plan>();
  private server!: SMTPServer;
  port = 0;

  plan(address: string, plan: Plan): void {
    this.plans.set(address, plan);
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((r) => r.address).join(',');
          const at = Date.now();
          const tries = this.attempts.get(to) ?? [];
          tries.push(at);
          this.attempts.set(to, tries);
          const plan = this.plans.get(to);
          if (plan === 'hang-once' && tries.length === 1) {
            this.hanging.add(to); // never answered: the client dies holding it
            return;
          }
          if (plan && plan !== 'hang-once' && tries.length <= plan.fail) {
            const err = Object.assign(new Error(`try again later (${tries.length}/${plan.fail})`), { responseCode: 451 });
            callback(err);
            return;
          }
          const raw = Buffer.concat(chunks).toString('utf8');
          const m = /^X-User-Id:\s*(\d+)/im.exec(raw);
          this.mails.push({ to, userId: m ? Number(m[1]) : NaN, at });
          callback(null);
        });
      },
    });
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', () => r()));
  }

  mailsTo(address: string): Mail[] {
    return this.mails.filter((m) => m.to === address);
  }

  /** Gaps between consecutive attempts for an address, in ms. */
  gaps(address: string): number[] {
    const t = this.attempts.get(address) ?? [];
    return t.slice(1).map((v, i) => v - t[i]);
  }

  /** Stops listening; connections of killed clients may linger, so this waits at most 1 s for them. */
  async stop(): Promise<void> {
    await Promise.race([new Promise<void>((r) => this.server.close(() => r())), sleep(1000)]);
  }
}

export type LogLine = Record<string, unknown> & { msg?: string; pid?: number; userId?: number };

/** The example's service (main.js) or a worker (worker.js) as a child process. */
export class ExampleProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  private partial = '';
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(readonly role: 'main' | 'worker', env: Record<string, string>) {
    this.child = spawn(process.execPath, [join(EXAMPLE_DIST, `${role}.js`)], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) {
        try { this.logs.push(JSON.parse(p) as LogLine); } catch { this.logs.push({ msg: p }); }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  find(msg: string, userId?: number): LogLine | undefined {
    return this.logs.find((l) => l.msg === msg && (userId === undefined || l.userId === userId));
  }

  waitLog(msg: string, userId?: number, ms = 10_000): Promise<LogLine> {
    return until(`log "${msg}"${userId ? ` for user ${userId}` : ''} from ${this.role}:\n${this.dump()}`,
      () => this.find(msg, userId), ms);
  }

  dump(): string {
    return this.logs.map((l) => JSON.stringify(l)).join('\n') + (this.stderr ? `\n--- stderr ---\n${this.stderr}` : '');
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** A service and its workers, sharing one set of settings. */
export class Deployment {
  readonly processes: ExampleProcess[] = [];
  readonly baseUrl: string;

  private constructor(readonly env: Record<string, string>, port: number) {
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  /** Starts the service (HTTP + one consumer) and `workers` more consumers, ready to serve. */
  static async start(settings: Record<string, string>, workers = 0): Promise<Deployment> {
    const port = await freePort();
    const env = {
      PORT: String(port), HOST: '127.0.0.1',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'user-notify-')),
      NAME_PREFIX: `user-notify-${Math.random().toString(36).slice(2, 8)}`,
      ...settings,
    };
    const d = new Deployment(env, port);
    const main = d.spawn('main');
    const started = Array.from({ length: workers }, () => d.spawn('worker').waitLog('consumer started', undefined, 20_000));
    try {
      await main.waitLog('consumer started', undefined, 20_000);
      await until(`service listening:\n${main.dump()}`, () => main.logs.some((l) => String(l.msg).startsWith('Server listening')));
      await Promise.all(started);
    } catch (err) {
      // a start-up that failed (no database, say) must not leave processes that keep the test file alive
      await Promise.allSettled(started);
      await d.stop();
      throw err;
    }
    return d;
  }

  spawn(role: 'main' | 'worker'): ExampleProcess {
    const p = new ExampleProcess(role, this.env);
    this.processes.push(p);
    return p;
  }

  /** The first log line with this message (and user) from any process. */
  find(msg: string, userId?: number): LogLine | undefined {
    for (const p of this.processes) {
      const l = p.find(msg, userId);
      if (l) return l;
    }
    return undefined;
  }

  /** Every log line with this message (and user) from all processes, in time order. */
  all(msg: string, userId?: number): LogLine[] {
    return this.processes.flatMap((p) => p.logs.filter((l) => l.msg === msg && (userId === undefined || l.userId === userId)))
      .sort((a, b) => Number(a.time) - Number(b.time));
  }

  waitLog(msg: string, userId?: number, ms = 10_000): Promise<LogLine> {
    return until(`log "${msg}" for user ${userId}:\n${this.dump()}`, () => this.find(msg, userId), ms);
  }

  dump(): string {
    return this.processes.map((p) => `=== ${p.role} ${p.pid}\n${p.dump()}`).join('\n');
  }

  async register(email: string, name = 'Test User'): Promise<number> {
    const res = await fetch(`${this.baseUrl}/users`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, name }),
    });
    const body = await res.json() as { id: number };
    assert.equal(res.status, 201, `POST /users ${email}: ${JSON.stringify(body)}`);
    assert.ok(Number.isInteger(body.id) && body.id > 0);
    return body.id;
  }

  async user(id: number): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.baseUrl}/users/${id}`);
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill('SIGKILL')));
  }
}

/**
 * The MariaDB/MySQL database for the tests: WARREN_TEST_MYSQL_URL (.ci/run sets it). Missing
 * under CI is a failure; elsewhere the caller skips with this one line.
 */
export function mysqlUrl(): string {
  const url = process.env.WARREN_TEST_MYSQL_URL;
  if (url) return url;
  if (process.env.CI) assert.fail(MYSQL_MISSING);
  throw new ToolMissing(MYSQL_MISSING);
}

export const MYSQL_MISSING = 'MariaDB is not configured: apt-get install -y mariadb-server, start it (service mariadb start), ' +
  'create a database and user, and set WARREN_TEST_MYSQL_URL=mysql://USER:PASS@127.0.0.1/DB (as .ci/run does)';
