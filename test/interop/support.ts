// Shared plumbing for the interop wrappers: find the sources, check the Debian tools are
// installed, build the Go check programs (cached), run a check program and parse its
// `ok NAME` / `FAIL NAME: reason` lines.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

// compiled to dist/test/interop/support.js: three levels up is the repo root
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const INTEROP_DIR = join(REPO_ROOT, 'test', 'interop');

/** How long one client's whole run may take before it is killed. */
export const RUN_TIMEOUT_MS = 60_000;

/** The checks every client program (Go, pika) implements, by the names they report. */
export const CLIENT_CHECKS = [
  'connect_close', 'wrong_password', 'declare_queue', 'declare_exchange', 'roundtrip_properties',
  'routing_direct', 'routing_fanout', 'routing_topic', 'routing_headers', 'confirms',
  'mandatory_unroutable', 'redelivery_after_close', 'basic_get', 'nack_reject_requeue', 'qos_prefetch',
  'passive_declare_missing_404', 'redeclare_different_args_406', 'exclusive_other_connection_405',
  'consumer_cancel_notify', 'large_message', 'tx_commit_rollback', 'heartbeat',
] as const;

/**
 * A tool the test needs is not installed. Under CI (CI=true, where .ci/run installs every tool)
 * that is a failure; elsewhere the test is skipped with one line saying what to install, so that
 * `npm test` passes on a machine that has only Node.
 */
export class ToolMissing extends Error {}

function toolMissing(message: string): never {
  if (process.env.CI) assert.fail(message);
  throw new ToolMissing(message);
}

/** Runs `fn`; if it finds a tool missing (outside CI), skips the test saying so and returns undefined. */
export async function orSkip<T>(t: TestContext, fn: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    t.skip(`skipped: ${err.message}`);
    return undefined;
  }
}

/** The tool must run (`cmd args` exits 0), else it is missing; names the Debian package to install. */
export function requireTool(what: string, cmd: string, args: string[], debianPackage: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}: ${(r.stderr || r.stdout || '').trim()}`;
    toolMissing(`${what} is not available (${cmd} ${args.join(' ')}: ${why.split('\n')[0]}); ` +
      `install it with: apt-get install -y ${debianPackage}`);
  }
}

/** Like requireTool, for a command that only has to be on PATH. */
export function requireOnPath(cmd: string, debianPackage: string): void {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  if (!dirs.some((d) => existsSync(join(d, cmd)))) {
    toolMissing(`${cmd} is not on PATH; install it with: apt-get install -y ${debianPackage}`);
  }
}

export function requirePath(what: string, path: string, debianPackage: string): void {
  if (!existsSync(path)) toolMissing(`${what} not found at ${path}; install it with: apt-get install -y ${debianPackage}`);
}

export const GOPATH = '/usr/share/gocode';
export type GoLib = 'amqp091' | 'streadway';
const GO_LIBS: Record<GoLib, { importPath: string; debianPackage: string; tags: string[] }> = {
  amqp091: { importPath: 'github.com/rabbitmq/amqp091-go', debianPackage: 'golang-github-rabbitmq-amqp091-go-dev', tags: [] },
  streadway: { importPath: 'github.com/streadway/amqp', debianPackage: 'golang-github-streadway-amqp-dev', tags: ['streadway'] },
};

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH,
    GOFLAGS: '',
    CGO_ENABLED: '0',
    GOCACHE: join(tmpdir(), 'warren-interop-gocache'),
  };
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * Builds the Go check program for one library into a temp dir and returns its path. The
 * binary is cached across runs, keyed by the Go version, the library and the names, sizes
 * and mtimes of the sources.
 */
export async function buildGoChecks(lib: GoLib): Promise<string> {
  return buildGoProgram('go', lib, 'checks');
}

/** Builds the Go program in test/interop/`dir` against `lib` (cached like the checks); `name` keys its binary. */
export async function buildGoProgram(dir: string, lib: GoLib, name: string): Promise<string> {
  requireTool('Go', 'go', ['version'], 'golang-go');
  const spec = GO_LIBS[lib];
  requirePath(`Go package ${spec.importPath}`, join(GOPATH, 'src', spec.importPath), spec.debianPackage);
  const srcDir = join(INTEROP_DIR, dir);
  const version = spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.trim();
  const hash = createHash('sha256').update(version).update(lib);
  for (const name of readdirSync(srcDir).filter((n) => n.endsWith('.go')).sort()) {
    const st = statSync(join(srcDir, name));
    hash.update(`${name}:${st.size}:${st.mtimeMs}`);
  }
  const libSt = statSync(join(GOPATH, 'src', spec.importPath));
  hash.update(`lib:${libSt.mtimeMs}`);
  const binDir = join(tmpdir(), 'warren-interop-bin');
  mkdirSync(binDir, { recursive: true });
  const bin = join(binDir, `${lib}-${name}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(bin)) return bin;
  const tmpBin = `${bin}.${process.pid}.tmp`;
  const r = await run('go', ['build', ...(spec.tags.length ? ['-tags', spec.tags.join(',')] : []), '-o', tmpBin, '.'],
    { cwd: srcDir, env: goEnv(), timeoutMs: 180_000 });
  if (r.code !== 0) {
    rmSync(tmpBin, { force: true });
    assert.fail(`go build of the ${lib} ${name} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n${r.stderr}${r.stdout}` +
      `\n(needs the Debian packages golang-go and ${spec.debianPackage})`);
  }
  renameSync(tmpBin, bin); // atomic: concurrent runs never see a half-written binary
  for (const old of readdirSync(binDir)) { // binaries of older sources
    if (old.startsWith(`${lib}-${name}-`) && !old.endsWith('.tmp') && join(binDir, old) !== bin) {
      rmSync(join(binDir, old), { force: true });
    }
  }
  return bin;
}

export interface CheckRun {
  code: number | null;
  output: string;
  results: Map<string, string>; // name -> 'ok' or the failure reason
}

/** Runs a check program and parses its result lines. */
export async function runChecks(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CheckRun> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete merged[k]; // undefined unsets
  const r = await run(cmd, args, { cwd: REPO_ROOT, env: merged, timeoutMs: RUN_TIMEOUT_MS });
  const results = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const ok = /^ok (\S+)\s*$/.exec(line);
    const fail = /^FAIL (\S+?): (.*)$/.exec(line);
    if (ok) results.set(ok[1], 'ok');
    else if (fail) results.set(fail[1], fail[2]);
  }
  let output = r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : '');
  if (r.timedOut) output += `\n(killed after ${RUN_TIMEOUT_MS} ms)`;
  return { code: r.code, output, results };
}

/**
 * Asserts every expected check printed `ok` (so a check that silently did not run fails
 * too) and that the program exited 0.
 */
export function assertAllOk(run: CheckRun, expected: readonly string[]): void {
  const problems: string[] = [];
  for (const name of expected) {
    const r = run.results.get(name);
    if (r === undefined) problems.push(`${name}: did not run`);
    else if (r !== 'ok') problems.push(`${name}: ${r}`);
  }
  for (const [name] of run.results) {
    if (!expected.includes(name)) problems.push(`${name}: unexpected check (add it to the expected list)`);
  }
  if (run.code !== 0) problems.push(`exit code ${run.code}`);
  if (problems.length) {
    assert.fail(`${problems.length} problem(s):\n  ${problems.join('\n  ')}\n--- output ---\n${run.output}`);
  }
}

/** The `# ...` comment lines a check program printed, for test diagnostics. */
export function comments(run: CheckRun): string[] {
  return run.output.split('\n').filter((l) => l.startsWith('# '));
}
