// Primitive AMQP 0-9-1 readers and writers shared by the generated method codec, field tables
// and content properties. Big-endian, as the wire format is.
import { isUtf8 } from 'node:buffer';
import { copyBytes } from './bytes.js';
import { decodeTableAt, encodeTable, type FieldTable } from './field-table.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A frame or field that cannot be parsed: the connection must be closed with `code`. `exact`:
 * the message is the whole reply detail (RabbitMQ's own wording), not a detail of "cannot decode".
 */
export class AmqpSyntaxError extends Error {
  constructor(message: string, readonly code = 502, readonly exact = false) {
    super(message);
  }
}

/** A cursor over one frame payload. One instance is reused per connection. */
export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new AmqpSyntaxError('frame payload too short');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** 64-bit unsigned as a number: delivery tags and sizes stay far below 2^53. */
  u64(): number {
    this.need(8);
    const v = this.buf.readUInt32BE(this.pos) * 0x1_0000_0000 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  /** 64-bit unsigned, exact: a number when it fits a double exactly, else a bigint. */
  u64Exact(): number | bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v <= MAX_SAFE ? Number(v) : v;
  }

  /** Method shortstrs must be UTF-8, as RabbitMQ checks (basic.publish is parsed elsewhere, unchecked as there). */
  shortstr(): string {
    const len = this.u8();
    this.need(len);
    if (len === 0) return '';
    const buf = this.buf;
    const start = this.pos;
    const end = start + len;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isUtf8(buf.subarray(start, end))) throw new AmqpSyntaxError('Malformed UTF-8 in shortstr', 501, true);
    this.pos = end;
    return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
  }

  /** Long strings in methods are opaque bytes (SASL responses, secrets): a copy. */
  longstr(): Buffer {
    const len = this.u32();
    this.need(len);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return b;
  }

  table(): FieldTable {
    const len = this.u32();
    this.need(len);
    const t = decodeTableAt(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return t;
  }
}

const INITIAL = 64 * 1024;

/** A growable output buffer. `pos` is the write position; bytes before it are pending output. */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size = INITIAL) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  u64(v: number | bigint): void {
    this.ensure(8);
    if (typeof v === 'bigint') {
      this.buf.writeBigUInt64BE(v, this.pos);
      this.pos += 8;
      return;
    }
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
  }

  shortstr(s: string): void {
    this.ensure(1 + s.length * 3);
    const n = s.length === 0 ? 0 : this.buf.write(s, this.pos + 1, 'utf8');
    if (n > 255) throw new AmqpSyntaxError(`short string longer than 255 bytes: ${s.slice(0, 40)}...`);
    this.buf[this.pos] = n;
    this.pos += 1 + n;
  }

  longstr(v: Buffer | string): void {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.u32(b.length);
    this.bytes(b);
  }

  bytes(b: Buffer, start = 0, end = b.length): void {
    this.ensure(end - start);
    this.pos += copyBytes(b, start, end, this.buf, this.pos);
  }

  table(t: FieldTable | undefined): void {
    encodeTable(this, t);
  }
}
