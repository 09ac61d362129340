// A small raw AMQP 0-9-1 client for tests that need to see or send exact bytes: wrong protocol
// headers, malformed frames, heartbeats, a consumer that stops reading its socket. It speaks
// through Warren's own codec (src/amqp) but checks nothing itself: every frame the server sends
// is recorded (with the time it arrived) and tests assert on them.
import { connect, type Socket } from 'node:net';
import { Reader, Writer } from '../../src/amqp/codec.js';
import type { FieldTable } from '../../src/amqp/field-table.js';
import { PROTOCOL_HEADER } from '../../src/amqp/frames.js';
import * as M from '../../src/amqp/methods.js';
import { decodeProperties, encodeProperties, type BasicProperties } from '../../src/amqp/properties.js';

export { PROTOCOL_HEADER };
export * as M from '../../src/amqp/methods.js';
export type { BasicProperties } from '../../src/amqp/properties.js';

export const FRAME_END = 0xce;

/** One frame as received. Method frames are decoded when the method is known. */
export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
  /** The frame-end octet that followed the payload. */
  end: number;
  /** Date.now() when it arrived. */
  at: number;
  /** Method frames: class id << 16 | method id. */
  methodId?: number;
  /** "connection.close" etc. */
  name?: string;
  /** Decoded arguments (undefined when the method is unknown or its arguments malformed). */
  args?: any;
}

/** A content-carrying method (deliver, get-ok, return) with its header and body, reassembled. */
export interface Delivery {
  channel: number;
  methodId: number;
  args: any;
  properties: BasicProperties;
  bodySize: number;
  body: Buffer;
  /** How many body frames carried it. */
  bodyFrames: number;
}

/** The server closed the connection (connection.close) while we waited for something else. */
export class ServerClosedError extends Error {
  constructor(readonly code: number, readonly text: string, readonly classId: number, readonly methodId: number) {
    super(`server sent connection.close ${code} ${text} (${classId}/${methodId})`);
  }
}

export interface HandshakeOptions {
  user?: string;
  password?: string;
  mechanism?: 'PLAIN' | 'AMQPLAIN' | string;
  /** SASL response as sent; default built from user and password for the mechanism. */
  response?: Buffer;
  /** Default: a product name and the capabilities RabbitMQ clients announce, incl. authentication_failure_close. */
  clientProperties?: FieldTable;
  /** tune-ok values; default: the values the server proposed. */
  channelMax?: number;
  frameMax?: number;
  heartbeat?: number;
  vhost?: string;
  /** Send connection.open and wait for open-ok (default true). */
  open?: boolean;
}

export const DEFAULT_CLIENT_PROPERTIES: FieldTable = {
  product: 'warren raw test client',
  capabilities: {
    publisher_confirms: true,
    exchange_exchange_bindings: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    'connection.blocked': true,
    authentication_failure_close: true,
  },
};

/** PLAIN response: \0user\0password */
export function plainResponse(user: string, password: string): Buffer {
  return Buffer.concat([Buffer.from([0]), Buffer.from(user), Buffer.from([0]), Buffer.from(password)]);
}

/** AMQPLAIN response: a field table without its 4-byte length, holding LOGIN and PASSWORD. */
export function amqplainResponse(user: string, password: string): Buffer {
  const w = new Writer(256);
  w.table({ LOGIN: user, PASSWORD: password });
  return Buffer.from(w.buf.subarray(4, w.pos));
}

// ------------------------------------------------------------ frame building

/** A complete frame with an arbitrary payload (and optionally a wrong end octet). */
export function frame(type: number, channel: number, payload: Buffer, end = FRAME_END): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b[7 + payload.length] = end;
  return b;
}

/** The payload of a method: encode(w, args) writes class, method and arguments. */
export function methodPayload<A>(encode: (w: Writer, a: A) => void, args?: A): Buffer {
  const w = new Writer(512);
  encode(w, args as A);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

export function methodFrame<A>(channel: number, encode: (w: Writer, a: A) => void, args?: A): Buffer {
  return frame(M.FRAME_METHOD, channel, methodPayload(encode, args));
}

/** A content header frame for class basic; bodySize may lie on purpose. */
export function headerFrame(channel: number, bodySize: number, props: BasicProperties = {}): Buffer {
  const w = new Writer(256);
  w.u16(M.CLASS_BASIC);
  w.u16(0);
  w.u64(bodySize);
  encodeProperties(w, props);
  return frame(M.FRAME_HEADER, channel, Buffer.from(w.buf.subarray(0, w.pos)));
}

/** Body frames of at most frameMax - 8 payload bytes each (none for an empty body). */
export function bodyFrames(channel: number, body: Buffer, frameMax: number): Buffer[] {
  const max = frameMax - 8;
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += max) out.push(frame(M.FRAME_BODY, channel, body.subarray(off, off + max)));
  return out;
}

export const HEARTBEAT_FRAME = frame(M.FRAME_HEARTBEAT, 0, Buffer.alloc(0));

/** basic.publish + header + body frames, as one buffer. */
export function publishFrames(
  channel: number, exchange: string, routingKey: string, body: Buffer,
  props: BasicProperties = {}, frameMax = 131072, mandatory = false,
): Buffer {
  return Buffer.concat([
    methodFrame(channel, M.encodeBasicPublish, { ticket: 0, exchange, routingKey, mandatory, immediate: false }),
    headerFrame(channel, body.length, props),
    ...bodyFrames(channel, body, frameMax),
  ]);
}

// ---------------------------------------------------------------- the client

export class RawClient {
  readonly socket: Socket;
  /** Frames received, in order (content frames of deliveries only when keepContentFrames). */
  readonly frames: Frame[] = [];
  /** Deliveries received, in order, when no onDelivery handler takes them. */
  readonly deliveries: Delivery[] = [];
  /** The first bytes received, raw (e.g. the protocol header a server answers a wrong one with). */
  head = Buffer.alloc(0);
  /** Bytes received in total. */
  bytesReceived = 0;
  closed = false;
  closedAt = 0;
  readonly openedAt = Date.now();
  readonly whenClosed: Promise<void>;
  /** Record the frames of deliveries in `frames` too (off for high-volume consumers). */
  keepContentFrames = true;
  /** Takes each reassembled delivery instead of `deliveries`. */
  onDelivery: ((d: Delivery) => void) | null = null;
  /** frame_max used when sending content; set from tune-ok by handshake(). */
  frameMax = 131072;
  /** Index in `frames` of the next frame `next()` returns. */
  cursor = 0;
  socketError: Error | null = null;

  private rest: Buffer | null = null;
  private headerSkipped = false;
  private waiters: (() => void)[] = [];
  private readonly pending = new Map<number, { methodId: number; args: any; properties?: BasicProperties; bodySize: number; parts: Buffer[]; got: number; frames: number }>();

  private constructor(socket: Socket) {
    this.socket = socket;
    let resolveClosed!: () => void;
    this.whenClosed = new Promise((r) => { resolveClosed = r; });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => { this.socketError = e; });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      resolveClosed();
      this.notify();
    });
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string, ms = 5000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress, noDelay: true });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`raw connect to ${host}:${port} timed out`)); }, ms);
      socket.once('error', (e) => { clearTimeout(timer); reject(e); });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawClient(socket));
      });
    });
  }

  /** Connects and completes the handshake (PLAIN guest/guest and vhost '/' unless told otherwise). */
  static async open(port: number, host = '127.0.0.1', opts: HandshakeOptions = {}): Promise<RawClient> {
    const c = await RawClient.connect(port, host);
    try {
      await c.handshake(opts);
    } catch (e) {
      c.destroy();
      throw e;
    }
    return c;
  }

  // ------------------------------------------------------------------ input

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (this.head.length < 64) this.head = Buffer.concat([this.head, chunk.subarray(0, 64 - this.head.length)]);
    let buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let pos = 0;
    if (!this.headerSkipped) {
      // A server answering with a protocol header sends "AMQP...." instead of frames.
      if (buf.length < 8 && buf[0] === 0x41) { this.rest = buf; return; }
      this.headerSkipped = true;
      if (buf[0] === 0x41) pos = 8;
    }
    const len = buf.length;
    let any = false;
    while (pos + 8 <= len) {
      const size = buf.readUInt32BE(pos + 3);
      if (pos + 8 + size > len) break;
      this.onFrame({
        type: buf[pos], channel: buf.readUInt16BE(pos + 1), payload: buf.subarray(pos + 7, pos + 7 + size),
        end: buf[pos + 7 + size], at: Date.now(),
      });
      any = true;
      pos += 8 + size;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos));
    if (any) this.notify();
  }

  private onFrame(f: Frame): void {
    let content = false;
    if (f.type === M.FRAME_METHOD && f.payload.length >= 4) {
      const id = f.payload.readUInt32BE(0);
      f.methodId = id;
      f.name = M.METHOD_NAMES[id] ?? `unknown ${id >>> 16}/${id & 0xffff}`;
      const decode = M.DECODERS[id];
      if (decode) {
        try {
          f.args = decode(new Reader().reset(f.payload, 4, f.payload.length));
        } catch { /* left undefined */ }
      }
      if (M.CONTENT_METHODS.has(id)) {
        content = true;
        this.pending.set(f.channel, { methodId: id, args: f.args, bodySize: 0, parts: [], got: 0, frames: 0 });
      }
    } else if (f.type === M.FRAME_HEADER || f.type === M.FRAME_BODY) {
      const p = this.pending.get(f.channel);
      if (p !== undefined) {
        content = true;
        if (f.type === M.FRAME_HEADER) {
          p.bodySize = f.payload.readUInt32BE(4) * 0x1_0000_0000 + f.payload.readUInt32BE(8);
          p.properties = decodeProperties(f.payload, 12, f.payload.length);
        } else {
          p.parts.push(f.payload);
          p.got += f.payload.length;
          p.frames++;
        }
        if (p.properties !== undefined && p.got >= p.bodySize) {
          this.pending.delete(f.channel);
          const d: Delivery = {
            channel: f.channel, methodId: p.methodId, args: p.args, properties: p.properties,
            bodySize: p.bodySize, body: p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts), bodyFrames: p.frames,
          };
          if (this.onDelivery) this.onDelivery(d);
          else this.deliveries.push(d);
        }
      }
    }
    if (!content || this.keepContentFrames) this.frames.push(f);
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves once cond() holds (checked on every frame and on close). */
  waitUntil(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; received: ${this.describeFrames()}`));
      }, ms);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** A short list of what arrived, for failure messages. */
  describeFrames(from = 0): string {
    const shown = this.frames.slice(from).filter((f) => f.type !== M.FRAME_HEARTBEAT).slice(0, 12).map((f) => {
      if (f.name === 'connection.close' || f.name === 'channel.close') return `${f.name}(${f.args?.replyCode} ${f.args?.replyText})`;
      return f.name ?? `frame type ${f.type} ch ${f.channel}`;
    });
    const hb = this.frames.filter((f) => f.type === M.FRAME_HEARTBEAT).length;
    return `[${shown.join(', ')}]${hb ? ` + ${hb} heartbeats` : ''}${this.closed ? ' then socket closed' : ''}`;
  }

  /**
   * The next frame after the cursor that is not a heartbeat (nor, with skipContent, part of a
   * delivery: basic.deliver/return and content frames); rejects if the socket closes first.
   */
  async next(ms = 5000, skipContent = false): Promise<Frame> {
    const skip = (f: Frame) => f.type === M.FRAME_HEARTBEAT || (skipContent && (
      f.type === M.FRAME_HEADER || f.type === M.FRAME_BODY || f.methodId === M.BASIC_DELIVER || f.methodId === M.BASIC_RETURN));
    const find = () => {
      while (this.cursor < this.frames.length && skip(this.frames[this.cursor])) this.cursor++;
      return this.cursor < this.frames.length;
    };
    await this.waitUntil(() => find() || this.closed, 'the next frame', ms);
    if (!find()) throw new Error(`socket closed before another frame arrived; received: ${this.describeFrames()}`);
    return this.frames[this.cursor++];
  }

  /** Waits for method `id` as the next frame (deliveries aside); a connection.close instead throws ServerClosedError. */
  async expect(id: number, channel?: number, ms = 5000): Promise<any> {
    // Deliveries may arrive at any time: they are not the reply we wait for.
    const f = await this.next(ms, id !== M.BASIC_DELIVER && id !== M.BASIC_RETURN);
    if (f.methodId === id && (channel === undefined || f.channel === channel)) return f.args;
    if (f.methodId === M.CONNECTION_CLOSE && f.args) {
      throw new ServerClosedError(f.args.replyCode, f.args.replyText, f.args.classId, f.args.methodId);
    }
    throw new Error(`expected ${M.METHOD_NAMES[id]} on channel ${channel ?? 'any'}, got ${f.name ?? `frame type ${f.type}`} on channel ${f.channel}`);
  }

  /** Waits until the server sends connection.close (skipping anything before it). */
  async expectConnectionClose(ms = 5000): Promise<M.ConnectionClose & { frame: Frame }> {
    let found: Frame | undefined;
    await this.waitUntil(() => {
      found = this.frames.find((f) => f.methodId === M.CONNECTION_CLOSE);
      return found !== undefined || this.closed;
    }, 'connection.close from the server', ms);
    if (!found) throw new Error(`socket closed without connection.close; received: ${this.describeFrames()}`);
    return { ...(found.args as M.ConnectionClose), frame: found };
  }

  /** The connection.close frame received so far, if any. */
  get connectionClose(): M.ConnectionClose | undefined {
    return this.frames.find((f) => f.methodId === M.CONNECTION_CLOSE)?.args;
  }

  /** Answers the server's connection.close with close-ok (the server then closes the socket). */
  sendCloseOk(): void {
    if (!this.closed) this.send(0, M.encodeConnectionCloseOk);
  }

  async expectSocketClosed(ms = 5000): Promise<void> {
    await this.waitUntil(() => this.closed, 'the server to close the socket', ms);
  }

  // ----------------------------------------------------------------- output

  write(data: Buffer | string): boolean {
    return this.socket.write(data);
  }

  send<A>(channel: number, encode: (w: Writer, a: A) => void, args?: A): boolean {
    return this.write(methodFrame(channel, encode, args));
  }

  /** Sends a method and waits for its reply. */
  async call<A>(channel: number, encode: (w: Writer, a: A) => void, args: A, replyId: number, ms = 5000): Promise<any> {
    this.send(channel, encode, args);
    return this.expect(replyId, channel, ms);
  }

  publish(channel: number, exchange: string, routingKey: string, body: Buffer | string, props: BasicProperties = {}, mandatory = false): boolean {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    return this.write(publishFrames(channel, exchange, routingKey, b, props, this.frameMax, mandatory));
  }

  // ------------------------------------------------------------- protocol

  async handshake(o: HandshakeOptions = {}): Promise<{ start: M.ConnectionStart; tune: M.ConnectionTune }> {
    this.write(PROTOCOL_HEADER);
    const start: M.ConnectionStart = await this.expect(M.CONNECTION_START, 0);
    const user = o.user ?? 'guest';
    const password = o.password ?? 'guest';
    const mechanism = o.mechanism ?? 'PLAIN';
    const response = o.response ?? (mechanism === 'AMQPLAIN' ? amqplainResponse(user, password) : plainResponse(user, password));
    this.send(0, M.encodeConnectionStartOk, {
      clientProperties: o.clientProperties ?? DEFAULT_CLIENT_PROPERTIES, mechanism, response, locale: 'en_US',
    });
    const tune: M.ConnectionTune = await this.expect(M.CONNECTION_TUNE, 0);
    const frameMax = o.frameMax ?? tune.frameMax;
    this.send(0, M.encodeConnectionTuneOk, {
      channelMax: o.channelMax ?? tune.channelMax, frameMax, heartbeat: o.heartbeat ?? tune.heartbeat,
    });
    this.frameMax = frameMax === 0 ? 131072 : frameMax;
    if (o.open !== false) {
      this.send(0, M.encodeConnectionOpen, { virtualHost: o.vhost ?? '/', capabilities: '', insist: false });
      await this.expect(M.CONNECTION_OPEN_OK, 0);
    }
    return { start, tune };
  }

  async openChannel(channel: number): Promise<void> {
    await this.call(channel, M.encodeChannelOpen, { outOfBand: '' }, M.CHANNEL_OPEN_OK);
  }

  async declareQueue(channel: number, queue: string, opts: Partial<M.QueueDeclare> = {}): Promise<M.QueueDeclareOk> {
    return this.call(channel, M.encodeQueueDeclare, {
      ticket: 0, queue, passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: {}, ...opts,
    }, M.QUEUE_DECLARE_OK);
  }

  async consume(channel: number, queue: string, opts: Partial<M.BasicConsume> = {}): Promise<string> {
    const ok = await this.call(channel, M.encodeBasicConsume, {
      ticket: 0, queue, consumerTag: '', noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {}, ...opts,
    }, M.BASIC_CONSUME_OK);
    return ok.consumerTag;
  }

  async qos(channel: number, prefetchCount: number, global = false): Promise<void> {
    await this.call(channel, M.encodeBasicQos, { prefetchSize: 0, prefetchCount, global }, M.BASIC_QOS_OK);
  }

  /** Closes the connection cleanly if it is still open, then the socket. */
  async close(ms = 2000): Promise<void> {
    if (this.closed) return;
    if (!this.connectionClose) {
      this.send(0, M.encodeConnectionClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
      await this.waitUntil(() => this.closed || this.frames.some((f) => f.methodId === M.CONNECTION_CLOSE_OK || f.methodId === M.CONNECTION_CLOSE), 'close-ok', ms).catch(() => {});
    }
    this.destroy();
  }

  destroy(): void {
    this.socket.resume();
    this.socket.destroy();
  }
}

