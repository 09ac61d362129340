// AMQP field tables with every value type RabbitMQ sends and accepts (its errata of 0-9-1:
// 's' is a signed 16-bit int, 'u' unsigned, 'I'/'i' signed/unsigned 32, 'l' signed 64).
// Decoding gives plain JS values; encoding picks a type from the JS value, or takes an
// explicit one from a `Typed` wrapper where the type matters to clients (x-death counts are 'l').
import type { Writer } from './codec.js';
import { AmqpSyntaxError } from './codec.js';

export type FieldValue =
  | boolean | number | bigint | string | Buffer | Date | null | undefined
  | Decimal | Typed | FieldValue[] | FieldTable;
export interface FieldTable { [key: string]: FieldValue }

export class Decimal {
  constructor(readonly scale: number, readonly value: number) {}
}

/** A value with its wire type forced, for encoding. */
export class Typed {
  constructor(readonly type: string, readonly value: FieldValue) {}
}

const EMPTY: FieldTable = Object.freeze({}) as FieldTable;

/** Decoded tables remember each key's wire type here (not enumerable, not serialised). */
const TYPES = Symbol('fieldTypes');

const TYPE_NAMES: Record<string, string> = {
  b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', I: 'signedint', i: 'unsignedint', l: 'long',
  f: 'float', d: 'double', D: 'decimal', S: 'longstr', t: 'bool', T: 'timestamp', F: 'table', A: 'array',
  V: 'void', x: 'binary',
};

/** RabbitMQ's name for the wire type a decoded table had for `key` ('long', 'longstr', ...). */
export function fieldTypeName(t: FieldTable, key: string): string | undefined {
  const types = (t as { [TYPES]?: Record<string, string> })[TYPES];
  const code = types?.[key];
  return code === undefined ? undefined : TYPE_NAMES[code];
}

export function decodeTableAt(buf: Buffer, pos: number, end: number): FieldTable {
  if (pos === end) return {};
  const t: FieldTable = {};
  const types: Record<string, string> = {};
  Object.defineProperty(t, TYPES, { value: types, enumerable: false });
  while (pos < end) {
    const klen = buf[pos];
    const kstart = pos + 1;
    pos = kstart + klen;
    if (pos >= end) throw new AmqpSyntaxError('field table truncated');
    const key = buf.toString('utf8', kstart, pos);
    types[key] = String.fromCharCode(buf[pos]);
    pos = decodeValue(buf, pos, end, t, key);
  }
  if (pos !== end) throw new AmqpSyntaxError('field table overruns its length');
  return t;
}

// Writes the decoded value into holder[key] and returns the position after it; taking a holder
// rather than returning a pair avoids an allocation per value.
function decodeValue(buf: Buffer, pos: number, end: number, holder: any, key: string | number): number {
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
    case 0x6c: { // l
      need(8);
      const v = buf.readBigInt64BE(pos);
      holder[key] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      return pos + 8;
    }
    case 0x66: need(4); holder[key] = buf.readFloatBE(pos); return pos + 4; // f
    case 0x64: need(8); holder[key] = buf.readDoubleBE(pos); return pos + 8; // d
    case 0x44: need(5); holder[key] = new Decimal(buf[pos], buf.readUInt32BE(pos + 1)); return pos + 5; // D
    case 0x53: { // S
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      holder[key] = buf.toString('utf8', pos + 4, pos + 4 + len);
      return pos + 4 + len;
    }
    case 0x78: { // x
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      holder[key] = Buffer.from(buf.subarray(pos + 4, pos + 4 + len));
      return pos + 4 + len;
    }
    case 0x54: { // T: seconds since the epoch
      need(8);
      holder[key] = Number(buf.readBigUInt64BE(pos));
      return pos + 8;
    }
    case 0x46: { // F
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      holder[key] = decodeTableAt(buf, pos + 4, pos + 4 + len);
      return pos + 4 + len;
    }
    case 0x41: { // A
      need(4);
      const len = buf.readUInt32BE(pos);
      need(4 + len);
      const arr: FieldValue[] = [];
      let p = pos + 4;
      const aend = p + len;
      while (p < aend) p = decodeValue(buf, p, aend, arr, arr.length);
      holder[key] = arr;
      return aend;
    }
    case 0x56: holder[key] = null; return pos; // V
    default:
      throw new AmqpSyntaxError(`unknown field table type '${String.fromCharCode(type)}'`);
  }
}

/** Encodes a table; keys of a decoded table keep the wire type they arrived with. */
export function encodeTable(w: Writer, t: FieldTable | undefined): void {
  const lenAt = w.pos;
  w.u32(0);
  if (t && t !== EMPTY) {
    const types = (t as { [TYPES]?: Record<string, string> })[TYPES];
    for (const key of Object.keys(t)) {
      const v = t[key];
      if (v === undefined) continue;
      w.shortstr(key);
      const type = types?.[key];
      if (type !== undefined && !(v instanceof Typed) && fitsType(type, v)) encodeTyped(w, type, v);
      else encodeValue(w, v);
    }
  }
  w.buf.writeUInt32BE(w.pos - lenAt - 4, lenAt);
}

/** Whether a (possibly changed) value can still be written with its original wire type. */
function fitsType(type: string, v: FieldValue): boolean {
  switch (type) {
    case 't': return typeof v === 'boolean';
    case 'b': case 'B': case 's': case 'u': case 'I': case 'i':
      return typeof v === 'number' && Number.isInteger(v) && v >= INT_RANGE[type][0] && v <= INT_RANGE[type][1];
    case 'l': case 'T': return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
    case 'f': case 'd': return typeof v === 'number';
    case 'S': return typeof v === 'string';
    case 'x': return Buffer.isBuffer(v);
    case 'D': return v instanceof Decimal;
    case 'V': return v === null;
    case 'A': return Array.isArray(v);
    case 'F': return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
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
    case 'bigint': return encodeTyped(w, 'l', v);
    case 'number':
      if (Number.isInteger(v)) return encodeTyped(w, v >= -0x8000_0000 && v <= 0x7fff_ffff ? 'I' : 'l', v);
      return encodeTyped(w, 'd', v);
    case 'undefined': return encodeTyped(w, 'V', null);
    case 'object':
      if (v === null) return encodeTyped(w, 'V', null);
      if (Buffer.isBuffer(v)) return encodeTyped(w, 'x', v);
      if (Array.isArray(v)) return encodeTyped(w, 'A', v);
      if (v instanceof Date) return encodeTyped(w, 'T', Math.floor(v.getTime() / 1000));
      if (v instanceof Decimal) return encodeTyped(w, 'D', v);
      return encodeTyped(w, 'F', v);
  }
  throw new AmqpSyntaxError(`cannot encode field value of type ${typeof v}`);
}

function encodeTyped(w: Writer, type: string, v: any): void {
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
    case 'l': b.writeBigInt64BE(BigInt(v), w.pos); w.pos += 8; return;
    case 'T': b.writeBigUInt64BE(BigInt(v instanceof Date ? Math.floor(v.getTime() / 1000) : v), w.pos); w.pos += 8; return;
    case 'f': b.writeFloatBE(v, w.pos); w.pos += 4; return;
    case 'd': b.writeDoubleBE(v, w.pos); w.pos += 8; return;
    case 'D': b[w.pos] = v.scale; b.writeUInt32BE(v.value, w.pos + 1); w.pos += 5; return;
    case 'S': w.longstr(typeof v === 'string' ? v : Buffer.from(v)); return;
    case 'x': w.longstr(v); return;
    case 'V': return;
    case 'F': encodeTable(w, v); return;
    case 'A': {
      const lenAt = w.pos;
      w.u32(0);
      for (const item of v as FieldValue[]) encodeValue(w, item);
      w.buf.writeUInt32BE(w.pos - lenAt - 4, lenAt);
      return;
    }
  }
  throw new AmqpSyntaxError(`unknown field type '${type}'`);
}
