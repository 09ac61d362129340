// Shared utilities for the integration tests: connections that are closed after each test,
// unique names that are deleted after each file, waiting on events with timeouts, collecting
// deliveries, and asserting on channel/connection errors the way users match on them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage, Message, Options } from 'amqplib';

export type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage, Message } from 'amqplib';

/** Default time to wait for anything the broker should do promptly. */
export const TIMEOUT = 5000;

/** Error as amqplib reports a channel or connection close: `code` is the AMQP reply code. */
export interface AmqpError extends Error {
  code?: number;
  classId?: number;
  methodId?: number;
}

export function suffix(): string {
  return randomBytes(6).toString('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects if `p` does not settle within `ms`. */
export async function withTimeout<T>(p: Promise<T>, what: string, ms = TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the arguments of the next `event` on `emitter`. */
export function nextEvent(emitter: EventEmitter, event: string, ms = TIMEOUT): Promise<any[]> {
  return withTimeout(new Promise<any[]>((resolve) => emitter.once(event, (...args: any[]) => resolve(args))), `'${event}' event`, ms);
}

/** Polls `cond` until it is true. */
export async function waitFor(cond: () => boolean, what: string, ms = TIMEOUT): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Retries an async assertion until it passes (for effects the broker applies asynchronously). */
export async function eventually(check: () => Promise<void>, what: string, ms = TIMEOUT): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${ms} ms: ${(e as Error).message}`);
      await sleep(10);
    }
  }
}

export const text = (m: Message): string => m.content.toString();
export const texts = (ms: Message[]): string[] => ms.map(text);

/** Tracks the close of a channel or connection, remembering the error it closed with. */
export interface Tracked {
  closed: boolean;
  error?: AmqpError;
  /** Resolves (with the close error, if any) once closed. */
  whenClosed: Promise<AmqpError | undefined>;
}
const tracking = new WeakMap<object, Tracked>();

function track(emitter: EventEmitter): Tracked {
  let resolveClosed!: (e: AmqpError | undefined) => void;
  const t: Tracked = { closed: false, whenClosed: new Promise((r) => { resolveClosed = r; }) };
  // An 'error' listener is required: amqplib throws from its socket handler otherwise.
  emitter.on('error', (e: AmqpError) => { t.error ??= e; });
  emitter.on('close', (e?: AmqpError) => {
    if (e && !t.error) t.error = e;
    t.closed = true;
    resolveClosed(t.error);
  });
  tracking.set(emitter, t);
  return t;
}

export function tracked(emitter: Channel | ChannelModel): Tracked {
  const t = tracking.get(emitter);
  if (!t) throw new Error('not opened through the test helpers');
  return t;
}

/** Waits until the channel or connection is closed and returns the error it was closed with. */
export function closedWith(emitter: Channel | ChannelModel, ms = TIMEOUT): Promise<AmqpError | undefined> {
  return withTimeout(tracked(emitter).whenClosed, 'close', ms);
}

export async function openChannel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  track(ch);
  return ch;
}

export async function openConfirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  track(ch);
  return ch;
}

/**
 * Per-file state: opens connections (closed by `closeConnections`, call it in afterEach),
 * hands out unique queue/exchange names (deleted by `cleanup`, call it in after).
 */
export class Harness {
  private conns: ChannelModel[] = [];
  private queues = new Set<string>();
  private exchanges = new Set<string>();
  private readonly tag = suffix();

  constructor(private readonly url: () => string) {}

  /** The broker URL with an optional query (e.g. 'heartbeat=5') or vhost path. */
  brokerUrl(query = '', vhost = ''): string {
    return `${this.url()}${vhost ? `/${encodeURIComponent(vhost)}` : ''}${query ? `?${query}` : ''}`;
  }

  async connect(query = '', socketOptions?: Record<string, unknown>): Promise<ChannelModel> {
    return this.connectUrl(this.brokerUrl(query), socketOptions);
  }

  /** Connects to an explicit URL (other vhost, credentials), closed after the test like the rest. */
  async connectUrl(url: string, socketOptions?: Record<string, unknown>): Promise<ChannelModel> {
    const conn = await withTimeout(amqp.connect(url, socketOptions), `connect to ${url}`);
    track(conn);
    this.conns.push(conn);
    return conn;
  }

  /** A new connection and a channel on it. */
  async channel(): Promise<{ conn: ChannelModel; ch: Channel }> {
    const conn = await this.connect();
    return { conn, ch: await openChannel(conn) };
  }

  async confirmChannel(): Promise<{ conn: ChannelModel; ch: ConfirmChannel }> {
    const conn = await this.connect();
    return { conn, ch: await openConfirmChannel(conn) };
  }

  /** A unique queue name that is deleted after the file. */
  q(name: string): string {
    const n = `warren-it.${name}.${this.tag}.${suffix()}`;
    this.queues.add(n);
    return n;
  }

  /** Declares a fresh non-durable queue with these x-arguments; returns its name. */
  async declareQueue(ch: Channel, name: string, args: Record<string, unknown> = {}): Promise<string> {
    const q = this.q(name);
    await ch.assertQueue(q, { durable: false, arguments: args });
    return q;
  }

  /** A unique exchange name that is deleted after the file. */
  x(name: string): string {
    const n = `warren-it.${name}.${this.tag}.${suffix()}`;
    this.exchanges.add(n);
    return n;
  }

  /** Remembers a queue named elsewhere (e.g. a short name) for deletion after the file. */
  own(queue: string): string {
    this.queues.add(queue);
    return queue;
  }

  async closeConnections(): Promise<void> {
    const conns = this.conns;
    this.conns = [];
    await Promise.all(conns.map(async (c) => {
      if (tracked(c).closed) return;
      try { await withTimeout(c.close(), 'connection close'); } catch { /* already closing */ }
    }));
  }

  async cleanup(): Promise<void> {
    await this.closeConnections();
    if (this.queues.size === 0 && this.exchanges.size === 0) return;
    let conn: ChannelModel;
    try {
      conn = await withTimeout(amqp.connect(this.url()), 'cleanup connection');
    } catch {
      return; // the broker is gone (a failed test already says why): nothing left to clean
    }
    track(conn);
    try {
      // Deleting something that does not exist is not an error in RabbitMQ, but a failure
      // closes the channel: use a fresh channel whenever that happens.
      let ch = await openChannel(conn);
      const del = async (f: (c: Channel) => Promise<unknown>) => {
        try { await f(ch); } catch { ch = await openChannel(conn); }
      };
      for (const q of this.queues) await del((c) => c.deleteQueue(q));
      for (const x of this.exchanges) await del((c) => c.deleteExchange(x));
    } finally {
      await conn.close().catch(() => {});
    }
  }
}

/**
 * Runs `action` and asserts that it fails with a channel error `code` whose message contains
 * `text` (e.g. "PRECONDITION_FAILED - inequivalent arg 'durable'"), and that the channel is
 * closed with the same error.
 */
export async function expectChannelError(
  ch: Channel,
  action: () => Promise<unknown>,
  code: number,
  text: string | RegExp,
): Promise<AmqpError> {
  let err: AmqpError | undefined;
  await assert.rejects(withTimeout(action(), 'the failing operation'), (e: AmqpError) => {
    err = e;
    return true;
  });
  assertAmqpError(err, code, text);
  const closeErr = await closedWith(ch);
  assertAmqpError(closeErr, code, text);
  return err!;
}

/**
 * Runs `action` (which may or may not reject, e.g. a publish is fire-and-forget) and asserts
 * that the connection is then closed by the server with `code` and a message containing `text`.
 */
export async function expectConnectionError(
  conn: ChannelModel,
  action: () => unknown,
  code: number,
  text: string | RegExp,
): Promise<AmqpError> {
  try {
    await action();
  } catch {
    /* the operation itself may be rejected by the connection closing */
  }
  const err = await closedWith(conn);
  assertAmqpError(err, code, text);
  return err!;
}

export function assertAmqpError(err: AmqpError | undefined, code: number, text: string | RegExp): void {
  assert.ok(err, `expected an error with code ${code}`);
  assert.equal(err.code, code, `expected reply code ${code}, got ${err.code}: ${err.message}`);
  if (typeof text === 'string') assert.ok(err.message.includes(text), `expected "${text}" in: ${err.message}`);
  else assert.match(err.message, text);
}

/** Deliveries to one consumer, recorded in order. `cancelled` is set on a broker-sent basic.cancel. */
export class Consumer {
  readonly messages: ConsumeMessage[] = [];
  cancelled = false;
  consumerTag = '';
  /** When true, each delivery is acked (basic.ack) as soon as it is recorded. */
  ackOnReceipt = false;
  private waiters: (() => void)[] = [];

  constructor(readonly ch: Channel, readonly queue: string) {}

  handle = (m: ConsumeMessage | null): void => {
    if (m === null) this.cancelled = true;
    else {
      this.messages.push(m);
      if (this.ackOnReceipt) this.ch.ack(m);
    }
    for (const w of this.waiters.splice(0)) w();
  };

  /** Waits until at least `n` messages have arrived; returns the first `n`. */
  async take(n: number, ms = TIMEOUT): Promise<ConsumeMessage[]> {
    await this.until(() => this.messages.length >= n, `${n} messages on ${this.queue} (have ${this.messages.length})`, ms);
    return this.messages.slice(0, n);
  }

  async waitCancelled(ms = TIMEOUT): Promise<void> {
    await this.until(() => this.cancelled, `basic.cancel from the broker for ${this.queue}`, ms);
  }

  private async until(cond: () => boolean, what: string, ms: number): Promise<void> {
    if (cond()) return;
    await withTimeout(new Promise<void>((resolve) => {
      const check = () => (cond() ? resolve() : this.waiters.push(check));
      this.waiters.push(check);
    }), what, ms).catch((e: Error) => {
      throw new Error(`${e.message}; got: ${JSON.stringify(texts(this.messages))}`);
    });
  }

  /** Asks the broker to stop this consumer. */
  async cancel(): Promise<void> {
    await this.ch.cancel(this.consumerTag);
  }
}

export async function consume(
  ch: Channel,
  queue: string,
  options?: Options.Consume,
  ackOnReceipt = false,
): Promise<Consumer> {
  const c = new Consumer(ch, queue);
  c.ackOnReceipt = ackOnReceipt;
  const ok = await ch.consume(queue, c.handle, options);
  c.consumerTag = ok.consumerTag;
  return c;
}

/** Takes every ready message off `queue` with basic.get (auto-ack), in order. */
export async function drain(ch: Channel, queue: string, limit = 10000): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (let i = 0; i < limit; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
  throw new Error(`more than ${limit} messages in ${queue}`);
}

/** Publishes each body and waits until the broker has confirmed all of them (so they are routed). */
export async function publishConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  bodies: string[],
  options?: Options.Publish,
): Promise<void> {
  for (const b of bodies) ch.publish(exchange, routingKey, Buffer.from(b), options);
  await withTimeout(ch.waitForConfirms(), 'publisher confirms');
}

/** Number of ready messages in a queue (passive declare). */
export async function messageCount(ch: Channel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

/** `n` bodies named `${prefix}-0` ... */
export function bodies(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}
