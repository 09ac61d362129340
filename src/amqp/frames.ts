// Frame-level reading and writing. The reader slices frames straight out of socket chunks and
// copies only a frame that spans chunks; the writer gathers outgoing frames into one buffer
// that the connection flushes once per turn of the event loop.
import { copyBytes, putU16, putU32, putU64 } from './bytes.js';
import { Writer } from './codec.js';
import {
  BASIC_DELIVER, BASIC_GET_OK, BASIC_RETURN, CLASS_BASIC, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD,
} from './methods.js';

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0 0 9 1
/** The AMQP 0-9 header, which RabbitMQ serves as 0-9-1. */
export const PROTOCOL_HEADER_0_9 = Buffer.from([0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 9]);
export const FRAME_OVERHEAD = 8; // type(1) channel(2) size(4) ... end(1)
const INITIAL_SIZE = 64 * 1024;
const SMALL_BATCH = 8 * 1024;

export interface FrameHandler {
  /** One complete frame: payload is buf[start, end). Called synchronously, do not keep buf. */
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void;
  /** A frame that cannot be valid (bad end octet, oversize): the connection must close. */
  onFrameError(message: string): void;
}

export class FrameReader {
  private rest: Buffer | null = null;
  /** Largest frame payload accepted: the negotiated frame_max (RabbitMQ tolerates the 8 bytes of
   * framing on top, for clients that count frame_max without them). */
  maxFrame = 131072;
  /** Set by the handler to stop parsing the rest of a chunk (e.g. the connection is closing). */
  stopped = false;
  /** Set by the handler to hold back further frames (blocked publisher) until resume(). */
  paused = false;

  constructor(private readonly handler: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const len = buf.length;
    let pos = 0;
    while (pos + 7 <= len && !this.stopped && !this.paused) {
      const size = buf.readUInt32BE(pos + 3);
      if (size > this.maxFrame) {
        this.handler.onFrameError(`frame size ${size} exceeds the negotiated frame_max ${this.maxFrame}`);
        return;
      }
      const end = pos + 7 + size;
      if (end >= len) break;
      if (buf[end] !== FRAME_END) {
        this.handler.onFrameError(`bad frame end marker 0x${buf[end].toString(16)}`);
        return;
      }
      this.handler.onFrame(buf[pos], buf.readUInt16BE(pos + 1), buf, pos + 7, end);
      pos = end + 1;
    }
    if (pos < len && !this.stopped) this.rest = Buffer.from(buf.subarray(pos));
  }

  /** Parses what was held back while paused. */
  resume(): void {
    this.paused = false;
    const rest = this.rest;
    if (rest === null) return;
    this.rest = null;
    this.push(rest);
  }
}

/** Output buffer with frame encoders. `encode` writes a method payload (class, method, args). */
export class FrameWriter extends Writer {
  method<A>(channel: number, encode: (w: Writer, a: A) => void, args: A): void {
    const start = this.beginFrame(FRAME_METHOD, channel);
    encode(this, args);
    this.endFrame(start);
  }

  heartbeat(): void {
    this.ensure(8);
    const b = this.buf;
    const p = this.pos;
    b[p] = FRAME_HEARTBEAT;
    putU16(b, p + 1, 0);
    putU32(b, p + 3, 0);
    b[p + 7] = FRAME_END;
    this.pos += 8;
  }

  /** Content header and body frames. props/body are byte ranges of `data`. */
  content(channel: number, frameMax: number, data: Buffer, propsStart: number, propsEnd: number, bodyEnd: number): void {
    const bodySize = bodyEnd - propsEnd;
    const start = this.beginFrame(FRAME_HEADER, channel);
    this.ensure(12 + propsEnd - propsStart);
    const b = this.buf;
    let p = this.pos;
    putU16(b, p, CLASS_BASIC);
    putU16(b, p + 2, 0);
    putU64(b, p + 4, bodySize);
    p += 12;
    copyBytes(data, propsStart, propsEnd, b, p);
    this.pos = p + propsEnd - propsStart;
    this.endFrame(start);
    const maxPayload = frameMax - FRAME_OVERHEAD;
    for (let off = propsEnd; off < bodyEnd; off += maxPayload) {
      const chunkEnd = Math.min(bodyEnd, off + maxPayload);
      const n = chunkEnd - off;
      this.ensure(n + FRAME_OVERHEAD);
      const bb = this.buf;
      const q = this.pos;
      bb[q] = FRAME_BODY;
      putU16(bb, q + 1, channel);
      putU32(bb, q + 3, n);
      copyBytes(data, off, chunkEnd, bb, q + 7);
      bb[q + 7 + n] = FRAME_END;
      this.pos = q + 8 + n;
    }
  }

  // Methods that carry a message. `data` is laid out as [exchange shortstr][routing-key shortstr]
  // [properties][body], with the properties at [routeEnd, propsEnd): a delivery copies ranges.

  /** basic.deliver: consumer tag (a ready shortstr), delivery tag, redelivered, then the message. */
  deliver(channel: number, frameMax: number, tagBytes: Buffer, deliveryTag: number, redelivered: boolean,
    data: Buffer, routeEnd: number, propsEnd: number): void {
    const start = this.beginFrame(FRAME_METHOD, channel);
    this.ensure(4 + tagBytes.length + 9 + routeEnd + 1);
    const b = this.buf;
    let p = this.pos;
    putU32(b, p, BASIC_DELIVER);
    p += 4;
    p += copyBytes(tagBytes, 0, tagBytes.length, b, p);
    putU64(b, p, deliveryTag);
    b[p + 8] = redelivered ? 1 : 0;
    p += 9;
    this.pos = p + copyBytes(data, 0, routeEnd, b, p);
    this.endFrame(start);
    this.content(channel, frameMax, data, routeEnd, propsEnd, data.length);
  }

  /** basic.get-ok: delivery tag, redelivered, exchange and routing key, messages left, then the message. */
  getOk(channel: number, frameMax: number, deliveryTag: number, redelivered: boolean, messageCount: number,
    data: Buffer, routeEnd: number, propsEnd: number): void {
    const start = this.beginFrame(FRAME_METHOD, channel);
    this.u32(BASIC_GET_OK);
    this.u64(deliveryTag);
    this.u8(redelivered ? 1 : 0);
    this.bytes(data, 0, routeEnd);
    this.u32(messageCount);
    this.endFrame(start);
    this.content(channel, frameMax, data, routeEnd, propsEnd, data.length);
  }

  /** basic.return: reply code and text, exchange and routing key as published, then the message. */
  basicReturn(channel: number, frameMax: number, code: number, text: string,
    data: Buffer, routeEnd: number, propsEnd: number): void {
    const start = this.beginFrame(FRAME_METHOD, channel);
    this.u32(BASIC_RETURN);
    this.u16(code);
    this.shortstr(text);
    this.bytes(data, 0, routeEnd);
    this.endFrame(start);
    this.content(channel, frameMax, data, routeEnd, propsEnd, data.length);
  }

  /** Starts a frame; returns where it starts, to patch its size in endFrame. */
  beginFrame(type: number, channel: number): number {
    this.ensure(7);
    const start = this.pos;
    this.buf[start] = type;
    putU16(this.buf, start + 1, channel);
    this.pos += 7;
    return start;
  }

  endFrame(start: number): void {
    putU32(this.buf, start + 3, this.pos - start - 7);
    this.u8(FRAME_END);
  }

  /**
   * Hands the pending bytes over for socket.write, which keeps a reference until they are sent.
   * Small batches are copied so the buffer can be reused; large ones are handed over whole.
   */
  take(): Buffer {
    let out: Buffer;
    if (this.pos <= SMALL_BATCH) {
      out = Buffer.from(this.buf.subarray(0, this.pos));
    } else {
      out = this.buf.subarray(0, this.pos);
      this.buf = Buffer.allocUnsafe(INITIAL_SIZE);
    }
    this.pos = 0;
    return out;
  }
}
