// A lean AMQP 0-9-1 client for load tests: thousands of connections in one process, each with
// one channel, light traffic and heartbeats. Unlike raw-amqp.ts it records nothing per frame
// (so memory stays flat over a long hold); it counts every error instead, and the caller decides
// how many are acceptable (for a load proof: none). Heartbeats of all connections share one
// timer (LoadPool), as the broker is what is measured, not the client.
import { connect, type Socket } from 'node:net';
import { Reader } from '../../src/amqp/codec.js';
import { PROTOCOL_HEADER } from '../../src/amqp/frames.js';
import * as M from '../../src/amqp/methods.js';
import { HEARTBEAT_FRAME, methodFrame, plainResponse, publishFrames, DEFAULT_CLIENT_PROPERTIES } from './raw-amqp.js';

/** Errors seen by every connection of a pool, by kind. */
export class LoadErrors {
  readonly counts = new Map<string, number>();
  /** The first few, verbatim, for the report. */
  readonly samples: string[] = [];

  add(kind: string, detail: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (this.samples.length < 10) this.samples.push(`${kind}: ${detail}`);
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

export interface LoadOptions {
  port: number;
  host?: string;
  user?: string;
  password?: string;
  vhost?: string;
  /** Heartbeat to negotiate, seconds (0 = off). */
  heartbeat?: number;
  /** Connect + handshake + channel.open must finish within this. */
  openTimeoutMs?: number;
}

/** A delivery as the load client sees it: the tag, the body's size and its first 16 bytes. */
export interface LoadDelivery {
  tag: number;
  size: number;
  head: Buffer;
}

/**
 * Connections sharing one heartbeat timer and one error tally. The tick runs at half the
 * smallest heartbeat: a connection that sent nothing since the last tick sends a heartbeat; one
 * that received nothing for two whole intervals counts as a missed-heartbeat error.
 */
export class LoadPool {
  readonly errors = new LoadErrors();
  readonly conns = new Set<LoadConnection>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly opts: LoadOptions) {}

  async open(): Promise<LoadConnection> {
    const c = new LoadConnection(this);
    try {
      await c.open();
    } catch (e) {
      c.destroy();
      throw e;
    }
    this.conns.add(c);
    this.startTicking();
    return c;
  }

  private startTicking(): void {
    const hb = this.opts.heartbeat ?? 0;
    if (this.timer !== null || hb === 0) return;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const c of this.conns) c.tick(now, hb * 1000);
    }, (hb * 1000) / 2);
    this.timer.unref();
  }

  /** Closes every open connection cleanly (connection.close, wait for close-ok), `parallel` at a time. */
  async closeAll(parallel = 500): Promise<void> {
    const list = [...this.conns];
    let next = 0;
    const worker = async () => {
      while (next < list.length) await list[next++].close();
    };
    await Promise.all(Array.from({ length: Math.min(parallel, list.length) }, worker));
    this.stop();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

const enum Phase { Connecting, Open, Closing, Closed }

export class LoadConnection {
  socket!: Socket;
  private phase = Phase.Connecting;
  private rest: Buffer | null = null;
  private readonly r = new Reader();
  /** One outstanding synchronous request at a time: its reply id and callbacks. */
  private waitId = 0;
  private waitResolve: ((args: any) => void) | null = null;
  private waitReject: ((e: Error) => void) | null = null;
  private lastSent = 0;
  private closeOk = false;
  private lastRecv = Date.now();
  // Content of the delivery being reassembled.
  private inTag = -1;
  private inSize = 0;
  private inGot = 0;
  private inHead: Buffer | null = null;
  frameMax = 131072;
  /** basic.deliver handler (channel 1). */
  onDelivery: ((d: LoadDelivery) => void) | null = null;
  /** Publisher confirms received (acks, nacks) and the highest delivery tag confirmed. */
  confirmed = 0;
  nacked = 0;
  published = 0;
  delivered = 0;
  blocked = false;
  /** Heartbeat frames received from the server. */
  heartbeats = 0;
  /** connection.blocked notifications received. */
  blockedCount = 0;

  constructor(readonly pool: LoadPool) {}

  async open(): Promise<void> {
    const o = this.pool.opts;
    const ms = o.openTimeoutMs ?? 30_000;
    const timer = setTimeout(() => this.fail('open timeout', `not open after ${ms} ms`), ms);
    try {
      await new Promise<void>((resolve, reject) => {
        this.socket = connect({ port: o.port, host: o.host ?? '127.0.0.1', noDelay: true });
        this.waitReject = reject;
        this.socket.once('connect', () => {
          this.waitReject = null;
          resolve();
        });
        this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
        // After close-ok the server may reset the socket rather than wait for our FIN (RabbitMQ does).
        this.socket.on('error', (e) => { if (!this.closeOk) this.fail('socket error', e.message); });
        this.socket.on('close', () => this.onClose());
      });
      this.write(PROTOCOL_HEADER);
      await this.expect(M.CONNECTION_START);
      this.send(M.encodeConnectionStartOk, {
        clientProperties: DEFAULT_CLIENT_PROPERTIES, mechanism: 'PLAIN',
        response: plainResponse(o.user ?? 'guest', o.password ?? 'guest'), locale: 'en_US',
      }, 0);
      const tune = await this.expect(M.CONNECTION_TUNE) as M.ConnectionTune;
      this.frameMax = tune.frameMax === 0 ? 131072 : tune.frameMax;
      this.send(M.encodeConnectionTuneOk, { channelMax: tune.channelMax, frameMax: this.frameMax, heartbeat: o.heartbeat ?? 0 }, 0);
      await this.call(M.encodeConnectionOpen, { virtualHost: o.vhost ?? '/', capabilities: '', insist: false }, M.CONNECTION_OPEN_OK, 0);
      await this.call(M.encodeChannelOpen, { outOfBand: '' }, M.CHANNEL_OPEN_OK);
      this.phase = Phase.Open;
    } finally {
      clearTimeout(timer);
    }
  }

  get isOpen(): boolean {
    return this.phase === Phase.Open;
  }

  // ---------------------------------------------------------------- requests

  write(data: Buffer): boolean {
    this.lastSent = Date.now();
    return this.socket.write(data);
  }

  send<A>(encode: (w: any, a: A) => void, args: A, channel = 1): boolean {
    return this.write(methodFrame(channel, encode, args));
  }

  private expect(id: number): Promise<any> {
    if (this.waitResolve !== null) throw new Error('load client: one request at a time');
    return new Promise((resolve, reject) => {
      this.waitId = id;
      this.waitResolve = resolve;
      this.waitReject = reject;
    });
  }

  call<A>(encode: (w: any, a: A) => void, args: A, replyId: number, channel = 1): Promise<any> {
    const p = this.expect(replyId);
    this.send(encode, args, channel);
    return p;
  }

  declareQueue(queue: string, args: Record<string, unknown> = {}): Promise<M.QueueDeclareOk> {
    return this.call(M.encodeQueueDeclare, {
      ticket: 0, queue, passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: args as any,
    }, M.QUEUE_DECLARE_OK);
  }

  deleteQueue(queue: string): Promise<M.QueueDeleteOk> {
    return this.call(M.encodeQueueDelete, { ticket: 0, queue, ifUnused: false, ifEmpty: false, nowait: false }, M.QUEUE_DELETE_OK);
  }

  qos(prefetchCount: number): Promise<void> {
    return this.call(M.encodeBasicQos, { prefetchSize: 0, prefetchCount, global: false }, M.BASIC_QOS_OK);
  }

  async consume(queue: string, noAck = false): Promise<void> {
    await this.call(M.encodeBasicConsume, {
      ticket: 0, queue, consumerTag: '', noLocal: false, noAck, exclusive: false, nowait: false, arguments: {},
    }, M.BASIC_CONSUME_OK);
  }

  confirmSelect(): Promise<void> {
    return this.call(M.encodeConfirmSelect, { nowait: false }, M.CONFIRM_SELECT_OK);
  }

  /** Publishes through the default exchange; returns what socket.write returned. */
  publish(queue: string, body: Buffer): boolean {
    this.published++;
    return this.write(publishFrames(1, '', queue, body, {}, this.frameMax));
  }

  ack(tag: number): void {
    if (this.phase === Phase.Open) this.send(M.encodeBasicAck, { deliveryTag: tag, multiple: false });
  }

  /** connection.close, then wait for close-ok and for the server to close the socket. */
  async close(ms = 10_000): Promise<void> {
    if (this.phase !== Phase.Open) return;
    this.phase = Phase.Closing;
    this.socket.resume();
    const closed = new Promise<void>((resolve) => {
      if (this.socket.destroyed) resolve();
      else this.socket.once('close', () => resolve());
    });
    const timer = setTimeout(() => {
      this.fail('close timeout', `no close-ok within ${ms} ms`);
      this.socket.destroy();
    }, ms);
    this.waitResolve = null;
    this.expect(M.CONNECTION_CLOSE_OK).then(() => {
      this.closeOk = true;
      this.socket.end();
    }, () => {});
    this.send(M.encodeConnectionClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, 0);
    await closed;
    clearTimeout(timer);
  }

  /** Drops the socket without the protocol's goodbye (not counted as an error). */
  destroy(): void {
    this.phase = Phase.Closed;
    this.socket?.destroy();
    this.pool.conns.delete(this);
  }

  // ------------------------------------------------------------------- input

  tick(now: number, intervalMs: number): void {
    if (this.phase !== Phase.Open) return;
    if (now - this.lastSent >= intervalMs / 2) this.write(HEARTBEAT_FRAME);
    // Not while we hold our own reads back: then the silence is ours.
    if (!this.socket.isPaused() && now - this.lastRecv > 2 * intervalMs) {
      this.fail('missed heartbeats', `nothing from the server for ${now - this.lastRecv} ms`);
      this.socket.destroy();
    }
  }

  private onData(chunk: Buffer): void {
    this.lastRecv = Date.now();
    let buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let pos = 0;
    const len = buf.length;
    while (pos + 8 <= len) {
      const size = buf.readUInt32BE(pos + 3);
      const end = pos + 7 + size;
      if (end >= len) break;
      this.onFrame(buf[pos], buf, pos + 7, end);
      pos = end + 1;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos));
    buf = chunk; // let the concatenated buffer go
  }

  private onFrame(type: number, buf: Buffer, start: number, end: number): void {
    if (type === M.FRAME_METHOD) {
      const r = this.r.reset(buf, start, end);
      const id = r.u32();
      this.onMethod(id, r);
    } else if (type === M.FRAME_HEADER) {
      this.inSize = buf.readUInt32BE(start + 8); // bodies here are far below 4 GiB
      this.inGot = 0;
      this.inHead = null;
      if (this.inSize === 0) this.delivered1();
    } else if (type === M.FRAME_BODY) {
      if (this.inHead === null) this.inHead = Buffer.from(buf.subarray(start, Math.min(end, start + 16)));
      this.inGot += end - start;
      if (this.inGot >= this.inSize) this.delivered1();
    } else if (type === M.FRAME_HEARTBEAT) {
      this.heartbeats++;
    }
  }

  private delivered1(): void {
    this.delivered++;
    const tag = this.inTag;
    this.inTag = -1;
    if (this.onDelivery !== null) this.onDelivery({ tag, size: this.inSize, head: this.inHead ?? Buffer.alloc(0) });
    else this.ack(tag);
  }

  private onMethod(id: number, r: Reader): void {
    switch (id) {
      case M.BASIC_DELIVER: {
        const d = M.decodeBasicDeliver(r);
        this.inTag = d.deliveryTag as number;
        return;
      }
      case M.BASIC_ACK: {
        const a = M.decodeBasicAck(r);
        this.confirmed = Math.max(this.confirmed, a.deliveryTag as number);
        return;
      }
      case M.BASIC_NACK: {
        const a = M.decodeBasicNack(r);
        this.nacked++;
        this.confirmed = Math.max(this.confirmed, a.deliveryTag as number);
        return;
      }
      case M.CONNECTION_BLOCKED:
        this.blocked = true;
        this.blockedCount++;
        return;
      case M.CONNECTION_UNBLOCKED:
        this.blocked = false;
        return;
      case M.CONNECTION_CLOSE: {
        const a = M.decodeConnectionClose(r);
        this.fail('connection.close from server', `${a.replyCode} ${a.replyText}`);
        this.phase = Phase.Closing; // the socket closing next is expected now
        this.write(methodFrame(0, M.encodeConnectionCloseOk, undefined));
        return;
      }
      case M.CHANNEL_CLOSE: {
        const a = M.decodeChannelClose(r);
        this.fail('channel.close from server', `${a.replyCode} ${a.replyText}`);
        this.write(methodFrame(1, M.encodeChannelCloseOk, undefined));
        return;
      }
    }
    if (id === this.waitId && this.waitResolve !== null) {
      const resolve = this.waitResolve;
      this.waitResolve = this.waitReject = null;
      this.waitId = 0;
      const decode = M.DECODERS[id];
      resolve(decode ? decode(r) : undefined);
    }
  }

  private onClose(): void {
    const was = this.phase;
    this.phase = Phase.Closed;
    this.pool.conns.delete(this);
    if (was === Phase.Open || was === Phase.Connecting) this.fail('unexpected close', 'the socket closed while the connection was open');
  }

  private fail(kind: string, detail: string): void {
    this.pool.errors.add(kind, detail);
    const reject = this.waitReject;
    this.waitResolve = this.waitReject = null;
    reject?.(new Error(`${kind}: ${detail}`));
  }
}
