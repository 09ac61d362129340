// Helpers for the durability suite: starting Warren itself (never an external broker), publishing
// with confirms at volume, draining queues, comparing long message sequences, and finding and
// damaging the store's files (queue segment logs, definitions journal, VERSION).
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { startBroker, type StartOptions, type TestBroker } from './broker.js';
import { sleep, withTimeout } from './amqp.js';

export type { TestBroker } from './broker.js';

/**
 * Starts Warren as a child process. These tests restart, kill and inspect the data directory of
 * the broker, which is impossible against an external one: that is a failure, not a skip.
 */
export async function startWarren(opts: StartOptions = {}): Promise<TestBroker> {
  // startBroker adds a process 'exit' hook per broker; these files start many brokers.
  if (process.getMaxListeners() < 100) process.setMaxListeners(100);
  const broker = await startBroker(opts);
  if (broker.external) {
    throw new Error('the durability tests need to start, kill -9 and inspect Warren itself; they cannot run against '
      + 'an external broker. Unset WARREN_TEST_URL to run them.');
  }
  return broker;
}

/** Crash: kill -9 and restart on the same port and data directory. */
export async function crashAndRestart(broker: TestBroker): Promise<void> {
  await broker.stop('SIGKILL');
  await broker.restart();
}

export type RestartKind = 'clean' | 'crash';

/** A clean restart (SIGTERM) or a crash (SIGKILL) followed by a start on the same data directory. */
export async function restartBroker(broker: TestBroker, kind: RestartKind): Promise<void> {
  if (kind === 'crash') await broker.stop('SIGKILL');
  await broker.restart();
}

/**
 * A connection that tolerates the broker going away: 'error' is always handled (amqplib throws
 * an unhandled 'error' otherwise). `closed` is set once the connection is gone.
 */
export interface Conn extends ChannelModel {
  closed?: boolean;
  /** The error the connection was closed with (e.g. a 541 internal error from the broker). */
  error?: Error;
}

export async function connect(url: string, socketOptions?: Record<string, unknown>): Promise<Conn> {
  const conn = await withTimeout(amqp.connect(url, socketOptions), `connect to ${url}`) as Conn;
  conn.on('error', (e: Error) => { conn.error ??= e; });
  conn.on('close', (e?: Error) => { conn.closed = true; if (e) conn.error ??= e; });
  return conn;
}

/** Throws if the connection is gone (so a wait for deliveries fails with the reason, not a timeout). */
export function assertOpen(conn: Conn): void {
  if (conn.closed) throw new Error(`the connection was closed: ${conn.error?.message ?? 'no error given'}`);
}

export async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

export async function confirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  return ch;
}

/** Closes connections, ignoring those the broker already dropped. */
export async function closeAll(...conns: (Conn | undefined)[]): Promise<void> {
  await Promise.all(conns.map(async (c) => {
    if (!c || c.closed) return;
    try { await withTimeout(c.close(), 'connection close', 2000); } catch { /* gone */ }
  }));
}

export interface Outgoing {
  body: string | Buffer;
  options?: Options.Publish;
}

/**
 * Publishes everything to `exchange`/`routingKey` on a confirm channel, honouring the socket's
 * backpressure, and waits until the broker confirmed all of it. Fails on any nack.
 */
export async function publishConfirmed(
  ch: ConfirmChannel, exchange: string, routingKey: string, messages: Outgoing[], timeoutMs = 60_000,
): Promise<void> {
  let nacked = 0;
  for (const m of messages) {
    const ok = ch.publish(exchange, routingKey, Buffer.isBuffer(m.body) ? m.body : Buffer.from(m.body), m.options,
      (err: unknown) => { if (err) nacked++; });
    if (!ok) await new Promise((r) => ch.once('drain', r));
  }
  await withTimeout(ch.waitForConfirms(), `confirms for ${messages.length} messages`, timeoutMs);
  assert.equal(nacked, 0, `${nacked} of ${messages.length} publishes were nacked`);
}

/** `n` persistent messages with bodies `${prefix}-0` ... */
export function persistent(prefix: string, n: number, from = 0): Outgoing[] {
  return Array.from({ length: n }, (_, i) => ({ body: `${prefix}-${from + i}`, options: { persistent: true } }));
}

/**
 * Takes every message off `queue` with a no-ack consumer, in order, until the queue is empty
 * (checked with a passive declare after the count it reported at the start has arrived).
 */
export async function drain(conn: ChannelModel, queue: string, timeoutMs = 30_000): Promise<ConsumeMessage[]> {
  const ch = await channel(conn);
  const out: ConsumeMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  let expected = (await ch.checkQueue(queue)).messageCount;
  const { consumerTag } = await ch.consume(queue, (m) => { if (m) out.push(m); }, { noAck: true });
  for (;;) {
    while (out.length < expected) {
      assertOpen(conn as Conn);
      if (Date.now() > deadline) throw new Error(`drain ${queue}: got ${out.length} of ${expected} messages in ${timeoutMs} ms`);
      await sleep(5);
    }
    await ch.cancel(consumerTag);
    const left = (await ch.checkQueue(queue)).messageCount;
    if (left === 0) break;
    expected = out.length + left;
    await ch.consume(queue, (m) => { if (m) out.push(m); }, { noAck: true, consumerTag });
  }
  await ch.close();
  return out;
}

export const bodiesOf = (ms: { content: Buffer }[]): string[] => ms.map((m) => m.content.toString());

/**
 * Asserts two long sequences are equal, reporting lengths and the first difference with some
 * context rather than dumping tens of thousands of elements.
 */
export function assertSequence(actual: readonly string[], expected: readonly string[], what: string): void {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  if (i === actual.length && i === expected.length) return;
  const around = (a: readonly string[]) => JSON.stringify(a.slice(Math.max(0, i - 3), i + 4));
  assert.fail(`${what}: expected ${expected.length} messages, got ${actual.length}; first difference at index ${i}: `
    + `expected ${around(expected)}, got ${around(actual)}`);
}

// ------------------------------------------------------------------ the store's files

/** Directories of durable queue logs: `<dataDir>/queues/<32 hex chars>`. */
export function queueDirs(dataDir: string): string[] {
  const root = join(dataDir, 'queues');
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((n) => /^[0-9a-f]{32}$/.test(n)).map((n) => join(root, n))
    .filter((p) => statSync(p).isDirectory());
}

/** The log directory of the only durable queue in `dataDir` (fails if there is not exactly one). */
export function queueDir(dataDir: string): string {
  const dirs = queueDirs(dataDir);
  assert.equal(dirs.length, 1, `expected exactly one queue directory under ${dataDir}/queues, found: ${JSON.stringify(dirs)}`);
  return dirs[0];
}

/** Segment files of a queue directory, in order. */
export function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^\d{8}\.seg$/.test(n)).sort().map((n) => join(dir, n));
}

export function lastSegment(dir: string): string {
  const segs = segments(dir);
  assert.ok(segs.length > 0, `no segment files in ${dir}: ${JSON.stringify(readdirSync(dir))}`);
  return segs[segs.length - 1];
}

/** Total bytes of the files in a directory (recursively). */
export function dirSize(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirSize(p) : statSync(p).size;
  }
  return n;
}

/** Record layout: u32 payload length | u32 crc32(payload) | payload. Returns each record's offset and size. */
export function records(segmentFile: string): { offset: number; size: number }[] {
  const buf = readFileSync(segmentFile);
  const out: { offset: number; size: number }[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    if (off + 8 + len > buf.length) break;
    out.push({ offset: off, size: 8 + len });
    off += 8 + len;
  }
  return out;
}

export function appendGarbage(file: string, bytes: Buffer): void {
  appendFileSync(file, bytes);
}

/** Polls an async condition until it holds; returns the last value it computed. */
export async function pollUntil<T>(get: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last value: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

/**
 * Acks are written to the store asynchronously (in the next flush, not synced). Before a kill -9
 * the test must give the broker a moment to write them; a round trip alone does not guarantee it.
 */
export const ACK_WRITE_GRACE_MS = 300;

// ------------------------------------------------------------------ connection.blocked

/**
 * connection.blocked reasons received per amqplib connection. A broker with an alarm already on
 * sends connection.blocked right behind connection.open-ok, and amqplib handles that frame before
 * amqp.connect() resolves: a 'blocked' listener added afterwards never hears of it (only the
 * undocumented `connection.blocked` flag shows it). So the tests record every 'blocked' that
 * amqplib's internal Connection emits, from the moment it exists.
 */
const blockedReasons = new WeakMap<object, string[]>();
let hooked = false;

function hookBlocked(): void {
  if (hooked) return;
  hooked = true;
  const require = createRequire(import.meta.url);
  // The same module instance amqplib uses (the CommonJS cache is keyed by file name).
  const { Connection } = require(join(dirname(require.resolve('amqplib')), 'lib', 'connection.js')) as
    { Connection: { prototype: { emit(event: string, ...args: unknown[]): boolean } } };
  const emit = Connection.prototype.emit;
  Connection.prototype.emit = function (this: object, event: string, ...args: unknown[]): boolean {
    if (event === 'blocked') {
      const list = blockedReasons.get(this) ?? [];
      list.push(String(args[0]));
      blockedReasons.set(this, list);
    }
    return emit.call(this, event, ...args);
  };
}
hookBlocked();

/** The reasons of the connection.blocked methods this connection received so far. */
export function blockedNotifications(conn: ChannelModel): string[] {
  return blockedReasons.get((conn as unknown as { connection: object }).connection) ?? [];
}

/** Waits for a connection.blocked on `conn`; returns its reason. */
export async function waitBlocked(conn: ChannelModel, ms = 8000): Promise<string> {
  const got = await pollUntil(() => blockedNotifications(conn), (r) => r.length > 0, 'connection.blocked', ms);
  return got[0];
}
