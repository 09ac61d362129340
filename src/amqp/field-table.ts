// AMQP field tables with every value type RabbitMQ sends and accepts (its errata of 0-9-1:
// 's' is a signed 16-bit int, 'u' unsigned, 'I'/'i' signed/unsigned 32, 'l' signed 64).
// Decoding gives plain JS values; encoding picks a type from the JS value, or takes an
// explicit one from a `Typed` wrapper where the type matters to clients (x-death counts are 'l').
//
// Whatever decodes must encode back to the same bytes: decoded tables and arrays remember each
// value's wire type, 64-bit values that do not fit a double stay bigints, a longstr that is not
// UTF-8 stays a Buffer, and tables nested deeper than MAX_DECODE_DEPTH are kept as their bytes.
// Nesting is walked with an explicit stack, so a hostile 100,000-deep table cannot blow ours.
import { isUtf8 } from 'node:buffer';
import type { Writer } from './codec.js';
import { AmqpSyntaxError } from './codec.js';

export type FieldValue =
  | boolean | number | bigint | string | Buffer | Date | null | undefined
  | Decimal | Typed | RawField | FieldValue[] | FieldTable;
export interface FieldTable { [key: string]: FieldValue }

export class Decimal {
  constructor(readonly scale: number, readonly value: number) {}
}

/** A value with its wire type forced, for encoding. */
export class Typed {
  constructor(readonly type: string, readonly value: FieldValue) {}
}

/**
 * A table ('F') or array ('A') nested deeper than MAX_DECODE_DEPTH, kept as its wire bytes
 * (length prefix included) so it passes through unchanged without deep JS objects.
 */
export class RawField {
  constructor(readonly type: 'F' | 'A', readonly bytes: Buffer) {}

  toJSON(): unknown {
    return { $raw: this.type, data: this.bytes.toString('base64') };
  }
}

/** Tables and arrays deeper than this are kept as RawField (RabbitMQ accepts any depth). */
export const MAX_DECODE_DEPTH = 64;

const EMPTY: FieldTable = Object.freeze({}) as FieldTable;

/** Decoded tables and arrays remember each key's wire type here (not enumerable, not serialised). */
const TYPES = Symbol('fieldTypes');
type WithTypes = { [TYPES]?: Record<string | number, string> };

const TYPE_NAMES: Record<string, string> = {
  b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', I: 'signedint', i: 'unsignedint', l: 'long', L: 'long',
  f: 'float', d: 'double', D: 'decimal', S: 'longstr', t: 'bool', T: 'timestamp', F: 'table', A: 'array',
  V: 'void', x: 'binary',
};

/** RabbitMQ's name for the wire type a decoded table had for `key` ('long', 'longstr', ...). */
export function fieldTypeName(t: FieldTable, key: string): string | undefined {
  const code = (t as WithTypes)[TYPES]?.[key];
  return code === undefined ? undefined : TYPE_NAMES[code];
}

// ------------------------------------------------------------------ walking

/** Size of a fixed-size value of type `type`, -1 for length-prefixed ones, -2 for unknown. */
function fixedSize(type: number): number {
  switch (type) {
    case 0x74: case 0x62: case 0x42: return 1; // t b B
    case 0x73: case 0x75: return 2; // s u
    case 0x49: case 0x69: case 0x66: return 4; // I i f
    case 0x6c: case 0x4c: case 0x64: case 0x54: return 8; // l L d T
    case 0x44: return 5; // D
    case 0x56: return 0; // V
    case 0x53: case 0x78: case 0x46: case 0x41: return -1; // S x F A
  }
  return -2;
}

const truncated = () => new AmqpSyntaxError('field table truncated');

// Reused explicit stack for skipValue: where each open table/array ends, and whether it is a table.
const stackEnds: number[] = [];
const stackIsTable: boolean[] = [];

/**
 * Checks the value whose type octet is at buf[pos] (and everything nested in it) lies within
 * `end` and uses only known types; returns the position after it. Iterative: any depth.
 */
export function skipValue(buf: Buffer, pos: number, end: number): number {
  let depth = -1;
  for (;;) {
    if (pos >= end) throw truncated();
    const type = buf[pos++];
    const size = fixedSize(type);
    if (size === -2) throw new AmqpSyntaxError(`unknown field table type '${String.fromCharCode(type)}'`);
    if (size >= 0) {
      pos += size;
      if (pos > end) throw truncated();
    } else {
      if (pos + 4 > end) throw truncated();
      const len = buf.readUInt32BE(pos);
      pos += 4;
      if (pos + len > end) throw truncated();
      if (type === 0x46 || type === 0x41) {
        depth++;
        stackEnds[depth] = end;
        stackIsTable[depth] = type === 0x46;
        end = pos + len;
      } else {
        pos += len;
      }
    }
    // Close every container that is complete, then step to the next value of the innermost open one.
    for (;;) {
      if (depth < 0) return pos;
      if (pos < end) break;
      if (pos > end) throw truncated();
      end = stackEnds[depth];
      depth--;
    }
    if (stackIsTable[depth]) {
      pos += 1 + buf[pos]; // key shortstr; the type octet after it is checked at the loop's top
    }
  }
}

/** Checks a table's contents buf[start, end) without decoding it (publish-time validation). */
export function validateTable(buf: Buffer, start: number, end: number): void {
  let pos = start;
  while (pos < end) {
    pos += 1 + buf[pos];
    pos = skipValue(buf, pos, end);
  }
  if (pos !== end) throw truncated();
}

/** Where the value (type octet) of the entry named `key` starts in the table contents buf[start, end), or -1. */
export function findEntry(buf: Buffer, start: number, end: number, key: Buffer): number {
  let pos = start;
  const n = key.length;
  while (pos < end) {
    const klen = buf[pos];
    const vstart = pos + 1 + klen;
    if (vstart >= end) throw truncated();
    if (klen === n && buf.compare(key, 0, n, pos + 1, vstart) === 0) return vstart;
    pos = skipValue(buf, vstart, end);
  }
  return -1;
}

/** One entry of an encoded table: buf[at, valueStart) is its key shortstr, [valueStart, end) its value. */
export interface RawEntry {
  key: string;
  at: number;
  valueStart: number;
  end: number;
}

/** The entries of the table contents buf[start, end), for copying a table without re-encoding it. */
export function tableEntries(buf: Buffer, start: number, end: number): RawEntry[] {
  const out: RawEntry[] = [];
  let pos = start;
  while (pos < end) {
    const at = pos;
    pos = at + 1 + buf[at];
    if (pos >= end) throw truncated();
    const valueEnd = skipValue(buf, pos, end);
    out.push({ key: buf.toString('utf8', at + 1, pos), at, valueStart: pos, end: valueEnd });
    pos = valueEnd;
  }
  return out;
}

// ----------------------------------------------------------------- decoding

export function decodeTableAt(buf: Buffer, pos: number, end: number): FieldTable {
  return decodeTable(buf, pos, end, 0);
}

function decodeTable(buf: Buffer, pos: number, end: number, depth: number): FieldTable {
  if (pos === end) return {};
  const t: FieldTable = {};
  const types: Record<string, string> = {};
  Object.defineProperty(t, TYPES, { value: types, enumerable: false });
  while (pos < end) {
    const klen = buf[pos];
    const kstart = pos + 1;
    pos = kstart + klen;
    if (pos >= end) throw truncated();
    const key = buf.toString('utf8', kstart, pos);
    types[key] = String.fromCharCode(buf[pos]);
    pos = decodeValue(buf, pos, end, t, key, depth);
  }
  if (pos !== end) throw new AmqpSyntaxError('field table overruns its length');
  return t;
}

/** Decodes one value (type octet at buf[pos]) and returns it. */
export function decodeValueAt(buf: Buffer, pos: number, end: number): FieldValue {
  const holder: FieldValue[] = [];
  decodeValue(buf, pos, end, holder, 0, 0);
  return holder[0];
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// Writes the decoded value into holder[key] and returns the position after it; taking a holder
// rather than returning a pair avoids an allocation per value.
function decodeValue(buf: Buffer, pos: number, end: number, holder: any, key: string | number, depth: number): number {
  const type = buf[pos++];
  const need = (n: number) => {
    if (pos + n > end) throw new AmqpSyntaxError('field value truncated');
  };
  switch (type) {
    case 0x74: need(1); holder[key] = buf[pos] !== 0; return pos + 1; // t
    case 0x62: need(1); holder[key] = buf.readInt8(pos); return pos + 1; // b
    case 0x42: need(1); holder[key] = buf[pos]; return pos + 1; // B
    case 0x73: need(2); holder[key] = buf.readInt16BE(pos); return pos + 2; // s
    case 0x75: need(2); holder[key] = buf.readUInt16BE(pos); return pos + 2; // u
    case 0x49: need(4); holder[key] = buf.readInt32BE(pos); return pos + 4; // I
    case 0x69: need(4); holder[key] = buf.readUInt32BE(pos); return pos + 4; // i
    case 0x6c: case 0x4c: { // l, and L which RabbitMQ reads as the same signed 64-bit
      need(8);
      const v = buf.readBigInt64BE(pos);
      holder[key] = v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
      return pos + 8;
    }
    case 0x66: need(4); holder[key] = buf.readFloatBE(pos); return pos + 4; // f
    case 0x64: need(8); holder[key] = buf.readDoubleBE(pos); return pos + 8; // d
    case 0x44: need(5); holder[key] = new Decimal(buf[pos], buf.readUInt32BE(pos + 1)); return pos + 5; // D
    case 0x53: { // S: text when it is UTF-8, else the bytes (still written back as 'S')
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      const s = pos + 4;
      holder[key] = isUtf8(buf.subarray(s, s + len)) ? buf.toString('utf8', s, s + len) : Buffer.from(buf.subarray(s, s + len));
      return s + len;
    }
    case 0x78: { // x
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      holder[key] = Buffer.from(buf.subarray(pos + 4, pos + 4 + len));
      return pos + 4 + len;
    }
    case 0x54: { // T: seconds since the epoch, unsigned 64-bit
      need(8);
      const v = buf.readBigUInt64BE(pos);
      holder[key] = v <= MAX_SAFE ? Number(v) : v;
      return pos + 8;
    }
    case 0x46: case 0x41: { // F, A
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      const vend = pos + 4 + len;
      if (depth >= MAX_DECODE_DEPTH) {
        if (skipValue(buf, pos - 1, vend) !== vend) throw truncated();
        holder[key] = new RawField(type === 0x46 ? 'F' : 'A', Buffer.from(buf.subarray(pos, vend)));
        return vend;
      }
      holder[key] = type === 0x46 ? decodeTable(buf, pos + 4, vend, depth + 1) : decodeArray(buf, pos + 4, vend, depth + 1);
      return vend;
    }
    case 0x56: holder[key] = null; return pos; // V
    default:
      throw new AmqpSyntaxError(`unknown field table type '${String.fromCharCode(type)}'`);
  }
}

function decodeArray(buf: Buffer, pos: number, end: number, depth: number): FieldValue[] {
  const arr: FieldValue[] = [];
  const types: Record<number, string> = {};
  Object.defineProperty(arr, TYPES, { value: types, enumerable: false });
  while (pos < end) {
    types[arr.length] = String.fromCharCode(buf[pos]);
    pos = decodeValue(buf, pos, end, arr, arr.length, depth);
  }
  return arr;
}

// ----------------------------------------------------------------- encoding

/** Encodes a table; keys of a decoded table keep the wire type they arrived with. */
export function encodeTable(w: Writer, t: FieldTable | undefined): void {
  const lenAt = w.pos;
  w.u32(0);
  if (t && t !== EMPTY) {
    const types = (t as WithTypes)[TYPES];
    for (const key of Object.keys(t)) {
      const v = t[key];
      if (v === undefined) continue;
      w.shortstr(key);
      encodeEntry(w, types?.[key], v);
    }
  }
  w.buf.writeUInt32BE(w.pos - lenAt - 4, lenAt);
}

function encodeArray(w: Writer, a: FieldValue[]): void {
  const lenAt = w.pos;
  w.u32(0);
  const types = (a as WithTypes)[TYPES];
  for (let i = 0; i < a.length; i++) encodeEntry(w, types?.[i], a[i]);
  w.buf.writeUInt32BE(w.pos - lenAt - 4, lenAt);
}

/** Encodes one value with the type it was decoded with, if it still fits, else by its JS type. */
export function encodeEntry(w: Writer, type: string | undefined, v: FieldValue): void {
  if (type !== undefined && !(v instanceof Typed) && fitsType(type, v)) encodeTyped(w, type, v);
  else encodeValue(w, v);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** 2^63 as a double: integers at or above it do not fit 'l'. */
const TWO_63 = 2 ** 63;

/** Whether a (possibly changed) value can still be written with its original wire type. */
function fitsType(type: string, v: FieldValue): boolean {
  switch (type) {
    case 't': return typeof v === 'boolean';
    case 'b': case 'B': case 's': case 'u': case 'I': case 'i':
      return typeof v === 'number' && Number.isInteger(v) && v >= INT_RANGE[type][0] && v <= INT_RANGE[type][1];
    case 'l': case 'L': return typeof v === 'bigint' ? v >= INT64_MIN && v <= INT64_MAX
      : typeof v === 'number' && Number.isInteger(v) && v >= -TWO_63 && v < TWO_63;
    case 'T': return typeof v === 'bigint' ? v >= 0n && v <= UINT64_MAX
      : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64;
    case 'f': case 'd': return typeof v === 'number';
    case 'S': return typeof v === 'string' || Buffer.isBuffer(v);
    case 'x': return Buffer.isBuffer(v);
    case 'D': return v instanceof Decimal;
    case 'V': return v === null;
    case 'A': return Array.isArray(v) || (v instanceof RawField && v.type === 'A');
    case 'F': return v instanceof RawField ? v.type === 'F'
      : v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date)
        && !(v instanceof Decimal);
  }
  return false;
}

const INT_RANGE: Record<string, [number, number]> = {
  b: [-128, 127], B: [0, 255], s: [-32768, 32767], u: [0, 65535], I: [-0x8000_0000, 0x7fff_ffff], i: [0, 0xffff_ffff],
};

function encodeValue(w: Writer, v: FieldValue): void {
  if (v instanceof Typed) return encodeTyped(w, v.type, v.value);
  switch (typeof v) {
    case 'boolean': return encodeTyped(w, 't', v);
    case 'string': return encodeTyped(w, 'S', v);
    case 'bigint':
      if (v >= INT64_MIN && v <= INT64_MAX) return encodeTyped(w, 'l', v);
      return encodeTyped(w, 'd', Number(v));
    case 'number':
      if (Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff) return encodeTyped(w, 'I', v);
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) return encodeTyped(w, 'l', v);
      return encodeTyped(w, 'd', v);
    case 'undefined': return encodeTyped(w, 'V', null);
    case 'object':
      if (v === null) return encodeTyped(w, 'V', null);
      if (Buffer.isBuffer(v)) return encodeTyped(w, 'x', v);
      if (Array.isArray(v)) return encodeTyped(w, 'A', v);
      if (v instanceof Date) return encodeTyped(w, 'T', Math.floor(v.getTime() / 1000));
      if (v instanceof Decimal) return encodeTyped(w, 'D', v);
      if (v instanceof RawField) return encodeTyped(w, v.type, v);
      return encodeTyped(w, 'F', v);
  }
  throw new AmqpSyntaxError(`cannot encode field value of type ${typeof v}`);
}

function encodeTyped(w: Writer, type: string, v: any): void {
  if (v instanceof RawField) {
    w.u8(type.charCodeAt(0));
    w.bytes(v.bytes);
    return;
  }
  w.u8(type.charCodeAt(0));
  w.ensure(9);
  const b = w.buf;
  switch (type) {
    case 't': b[w.pos++] = v ? 1 : 0; return;
    case 'b': b.writeInt8(v, w.pos); w.pos += 1; return;
    case 'B': b.writeUInt8(v, w.pos); w.pos += 1; return;
    case 's': b.writeInt16BE(v, w.pos); w.pos += 2; return;
    case 'u': b.writeUInt16BE(v, w.pos); w.pos += 2; return;
    case 'I': b.writeInt32BE(v, w.pos); w.pos += 4; return;
    case 'i': b.writeUInt32BE(v, w.pos); w.pos += 4; return;
    case 'l': case 'L': b.writeBigInt64BE(BigInt(v), w.pos); w.pos += 8; return;
    case 'T': b.writeBigUInt64BE(BigInt(v instanceof Date ? Math.floor(v.getTime() / 1000) : v), w.pos); w.pos += 8; return;
    case 'f': b.writeFloatBE(v, w.pos); w.pos += 4; return;
    case 'd': b.writeDoubleBE(v, w.pos); w.pos += 8; return;
    case 'D': b[w.pos] = v.scale; b.writeUInt32BE(v.value, w.pos + 1); w.pos += 5; return;
    case 'S': w.longstr(typeof v === 'string' ? v : Buffer.from(v)); return;
    case 'x': w.longstr(v); return;
    case 'V': return;
    case 'F': encodeTable(w, v); return;
    case 'A': encodeArray(w, v as FieldValue[]); return;
  }
  throw new AmqpSyntaxError(`unknown field type '${type}'`);
}
