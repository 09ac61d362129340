// A grammar of AMQP 0-9-1 for the protocol fuzz test (test/integration/fuzz.test.ts): methods of
// every class built from the spec JSON the codec is generated from, content headers with all 14
// basic properties, field tables with every type tag (valid, edgy, or malformed on purpose),
// tables nested thousands deep, and whole valid sessions to mutate (flip, truncate, duplicate,
// reorder, re-length, re-channel). Everything is written byte by byte here rather than through
// src/amqp, so that the test does not share the encoder it is testing and can write what that
// encoder refuses to (a 2^64-1 timestamp, a shortstr length that runs past its frame, ...).
// All randomness comes from a Gen over the project's seeded PRNG (test/helpers/random.ts).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// ------------------------------------------------------------------ randomness

export class Gen {
  constructor(readonly next: () => number) {}

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** One of the choices, with relative weights. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let x = this.next() * total;
    for (const [w, v] of choices) {
      if ((x -= w) < 0) return v;
    }
    return choices[choices.length - 1][1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  ascii(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  u32(): number {
    return this.int(0x1_0000_0000);
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

// --------------------------------------------------------------- byte output

/** A growable byte buffer for hand-built (possibly malformed) protocol data. */
export class Bytes {
  buf = Buffer.allocUnsafe(256);
  pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this { this.ensure(1); this.buf[this.pos++] = v & 0xff; return this; }
  u16(v: number): this { this.ensure(2); this.buf.writeUInt16BE(v & 0xffff, this.pos); this.pos += 2; return this; }
  u32(v: number): this { this.ensure(4); this.buf.writeUInt32BE(v >>> 0, this.pos); this.pos += 4; return this; }
  u64(v: bigint | number): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v)), this.pos);
    this.pos += 8;
    return this;
  }
  i8(v: number): this { this.ensure(1); this.buf.writeInt8(v, this.pos); this.pos += 1; return this; }
  i16(v: number): this { this.ensure(2); this.buf.writeInt16BE(v, this.pos); this.pos += 2; return this; }
  i32(v: number): this { this.ensure(4); this.buf.writeInt32BE(v, this.pos); this.pos += 4; return this; }
  i64(v: bigint): this { this.ensure(8); this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.pos); this.pos += 8; return this; }
  f32(v: number): this { this.ensure(4); this.buf.writeFloatBE(v, this.pos); this.pos += 4; return this; }
  f64(v: number): this { this.ensure(8); this.buf.writeDoubleBE(v, this.pos); this.pos += 8; return this; }
  raw(b: Buffer | string): this {
    const x = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    this.ensure(x.length);
    x.copy(this.buf, this.pos);
    this.pos += x.length;
    return this;
  }
  /** A shortstr: the length octet is the real length (cut to 255 bytes). */
  shortstr(s: Buffer | string): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    const n = Math.min(255, b.length);
    this.u8(n);
    return this.raw(b.subarray(0, n));
  }
  longstr(s: Buffer | string): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.u32(b.length);
    return this.raw(b);
  }
  out(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

// ------------------------------------------------------------------- frames

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;
export const FRAME_MAX = 131072;
export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

export function frame(type: number, channel: number, payload: Buffer, end = FRAME_END, size = payload.length): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b[0] = type;
  b.writeUInt16BE(channel & 0xffff, 1);
  b.writeUInt32BE(size >>> 0, 3);
  payload.copy(b, 7);
  b[7 + payload.length] = end;
  return b;
}

export const heartbeat = (channel = 0, payload: Buffer = Buffer.alloc(0)) => frame(FRAME_HEARTBEAT, channel, payload);

/** A content header for class basic: class, weight, body size, then the property bytes. */
export function headerFrame(channel: number, bodySize: bigint | number, props: Buffer, classId = 60, weight = 0): Buffer {
  const b = new Bytes().u16(classId).u16(weight).u64(bodySize).raw(props);
  return frame(FRAME_HEADER, channel, b.out());
}

export function bodyFrames(channel: number, body: Buffer, frameMax = FRAME_MAX): Buffer[] {
  const max = frameMax - 8;
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += max) out.push(frame(FRAME_BODY, channel, body.subarray(off, off + max)));
  return out;
}

/** Splits a byte stream into its frames where it parses as frames (for frame-level mutations). */
export function splitFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  if (data.subarray(0, 4).toString('latin1') === 'AMQP') {
    out.push(data.subarray(0, 8));
    pos = 8;
  }
  while (pos + 8 <= data.length) {
    const size = data.readUInt32BE(pos + 3);
    if (pos + 8 + size > data.length) break;
    out.push(data.subarray(pos, pos + 8 + size));
    pos += 8 + size;
  }
  if (pos < data.length) out.push(data.subarray(pos));
  return out;
}

// ------------------------------------------------------- the spec's methods

export type ArgType = 'bit' | 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'table' | 'timestamp';

export interface MethodSpec {
  classId: number;
  methodId: number;
  /** "queue.declare" */
  name: string;
  args: { name: string; type: ArgType }[];
  content: boolean;
  synchronous: boolean;
}

interface SpecJson {
  domains: [string, string][];
  classes: { id: number; name: string; methods: { id: number; name: string; content?: boolean; synchronous?: boolean; arguments: { name: string; type?: string; domain?: string }[] }[] }[];
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/helpers -> spec/ at the repository root
export const SPEC_PATH = join(here, '..', '..', '..', 'spec', 'amqp-rabbitmq-0.9.1.json');

function loadSpec(): MethodSpec[] {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as SpecJson;
  const domains = new Map(spec.domains);
  const out: MethodSpec[] = [];
  for (const c of spec.classes) {
    for (const m of c.methods) {
      out.push({
        classId: c.id,
        methodId: m.id,
        name: `${c.name}.${m.name}`,
        args: m.arguments.map((a) => {
          let t = a.type ?? a.domain!;
          while (domains.has(t) && domains.get(t) !== t) t = domains.get(t)!;
          return { name: a.name, type: t as ArgType };
        }),
        content: m.content === true,
        synchronous: m.synchronous === true,
      });
    }
  }
  return out;
}

export const METHODS: readonly MethodSpec[] = loadSpec();
export const METHOD_BY_NAME: ReadonlyMap<string, MethodSpec> = new Map(METHODS.map((m) => [m.name, m]));

/** A method argument: numbers/bigints for integers, booleans for bits, Buffers (contents) for strings, encoded tables. */
export type ArgValue = number | bigint | boolean | string | Buffer | EncodedTable;

/** A field table already encoded, 4-byte length included. */
export class EncodedTable {
  constructor(readonly bytes: Buffer) {}
}

/** Encodes a method payload (class id, method id, arguments with bits packed as the spec says). */
export function methodPayload(name: string, values: Record<string, ArgValue> = {}): Buffer {
  const m = METHOD_BY_NAME.get(name);
  if (!m) throw new Error(`no method ${name} in the spec`);
  const b = new Bytes().u16(m.classId).u16(m.methodId);
  let bits = -1;
  let bitCount = 0;
  const flushBits = () => {
    if (bits >= 0) b.u8(bits);
    bits = -1;
    bitCount = 0;
  };
  for (const a of m.args) {
    const v = values[a.name];
    if (a.type === 'bit') {
      if (bits < 0 || bitCount === 8) { flushBits(); bits = 0; }
      if (v) bits |= 1 << bitCount;
      bitCount++;
      continue;
    }
    flushBits();
    switch (a.type) {
      case 'octet': b.u8(Number(v ?? 0)); break;
      case 'short': b.u16(Number(v ?? 0)); break;
      case 'long': b.u32(Number(v ?? 0)); break;
      case 'longlong': case 'timestamp': b.u64(typeof v === 'bigint' ? v : BigInt(Number(v ?? 0))); break;
      case 'shortstr': b.shortstr((v as Buffer | string | undefined) ?? ''); break;
      case 'longstr': b.longstr((v as Buffer | string | undefined) ?? ''); break;
      case 'table': b.raw(v instanceof EncodedTable ? v.bytes : table([])); break;
    }
  }
  flushBits();
  return b.out();
}

export function methodFrame(channel: number, name: string, values: Record<string, ArgValue> = {}): Buffer {
  return frame(FRAME_METHOD, channel, methodPayload(name, values));
}

// ------------------------------------------------------------ field values

/**
 * A field value as written on the wire: tag plus value. 'raw' is written as is (tag included),
 * for malformed values and for structures built without recursion (deep nesting).
 */
export type FV =
  | { t: 't' | 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'f' | 'd'; v: number }
  | { t: 'l' | 'T'; v: bigint }
  | { t: 'D'; scale: number; v: number }
  | { t: 'S' | 'x'; v: Buffer }
  | { t: 'A'; v: FV[] }
  | { t: 'F'; v: Entry[] }
  | { t: 'V' }
  | { t: 'raw'; v: Buffer };
export type Entry = [key: Buffer | string, value: FV];

/** Shorthands for writing tables by hand. */
export const F = {
  bool: (v: boolean): FV => ({ t: 't', v: v ? 1 : 0 }),
  str: (v: string | Buffer): FV => ({ t: 'S', v: typeof v === 'string' ? Buffer.from(v) : v }),
  int: (v: number): FV => ({ t: 'I', v }),
  long: (v: bigint | number): FV => ({ t: 'l', v: BigInt(v) }),
  ts: (v: bigint | number): FV => ({ t: 'T', v: BigInt(v) }),
  table: (entries: Entry[]): FV => ({ t: 'F', v: entries }),
  array: (items: FV[]): FV => ({ t: 'A', v: items }),
  raw: (bytes: Buffer): FV => ({ t: 'raw', v: bytes }),
};

export function writeValue(b: Bytes, fv: FV): void {
  if (fv.t === 'raw') { b.raw(fv.v); return; }
  b.u8(fv.t.charCodeAt(0));
  switch (fv.t) {
    case 't': case 'B': b.u8(fv.v); return;
    case 'b': b.i8(fv.v); return;
    case 's': b.i16(fv.v); return;
    case 'u': b.u16(fv.v); return;
    case 'I': b.i32(fv.v); return;
    case 'i': b.u32(fv.v); return;
    case 'f': b.f32(fv.v); return;
    case 'd': b.f64(fv.v); return;
    case 'l': b.i64(fv.v); return;
    case 'T': b.u64(fv.v); return;
    case 'D': b.u8(fv.scale).u32(fv.v); return;
    case 'S': case 'x': b.longstr(fv.v); return;
    case 'V': return;
    case 'A': {
      const inner = new Bytes();
      for (const item of fv.v) writeValue(inner, item);
      b.longstr(inner.out());
      return;
    }
    case 'F': b.raw(table(fv.v)); return;
  }
}

/** An encoded field table (4-byte length first). */
export function table(entries: Entry[]): Buffer {
  const inner = new Bytes();
  for (const [k, v] of entries) {
    inner.shortstr(k);
    writeValue(inner, v);
  }
  return new Bytes().longstr(inner.out()).out();
}

export const encTable = (entries: Entry[]) => new EncodedTable(table(entries));

/** The type tags generated. RabbitMQ also reads 'L' (a signed 64-bit, as 'l'; the corpus covers it). */
export const VALID_TAGS = 'tbBsuIilfdDSATFVx';
/** Type octets RabbitMQ does not know (some are tags of other AMQP dialects: 'U', 'c', 'e'). */
export const UNKNOWN_TAGS = [0x00, 0x55 /* U */, 0x63 /* c */, 0x65 /* e */, 0x5a /* Z */, 0x7f, 0xff, 0x20];

/** Strings that are not valid UTF-8: a lone continuation byte, an overlong NUL, a UTF-16 surrogate, 0xff. */
export const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0x80]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff]),
  Buffer.from([0x61, 0xfe, 0x62]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
];

export interface TableOptions {
  /** Nesting budget for F and A values. */
  depth: number;
  /** Largest number of entries per table or array. */
  width: number;
  /** Leave out keys with meaning to the broker (x-death, CC, BCC, x-match...), for tables that must pass through unchanged. */
  plainKeys?: boolean;
  /**
   * Also values RabbitMQ does not take back unchanged: NaN and infinities in 'f' and 'd' (its
   * parser cannot take them: its channel crashes, 541) and booleans other than 0 and 1 (it
   * re-encodes them as 1 when it rewrites a table, e.g. dead-lettering).
   */
  exotic?: boolean;
}

const MEANINGFUL_KEYS = ['x-death', 'CC', 'BCC', 'x-match', 'x-first-death-reason', 'x-first-death-queue', 'x-last-death-exchange',
  'x-delay', 'x-received-from', 'x-priority', 'x-message-ttl', 'x-dead-letter-exchange'];

/** A string of a random kind: empty, plain, multibyte UTF-8, 255 bytes, invalid UTF-8, NULs. */
export function genString(g: Gen, maxLen = 255): Buffer {
  return g.weighted<() => Buffer>([
    [4, () => Buffer.alloc(0)],
    [30, () => Buffer.from(g.ascii(g.between(1, 12)))],
    [4, () => Buffer.from(`ünïcødé-${g.ascii(3)}-✓-😀`)],
    [4, () => Buffer.alloc(Math.min(255, maxLen), 0x61 + g.int(26))],
    [6, () => Buffer.concat([Buffer.from(g.ascii(g.int(4))), g.pick(INVALID_UTF8), Buffer.from(g.ascii(g.int(4)))])],
    [2, () => Buffer.from([0, 0x61, 0])],
    [3, () => g.bytes(g.between(1, Math.min(40, maxLen)))],
  ])();
}

export function genKey(g: Gen, opts: TableOptions): Buffer {
  if (!opts.plainKeys && g.chance(0.08)) return Buffer.from(g.pick(MEANINGFUL_KEYS));
  const s = genString(g);
  if (opts.plainKeys && /^(x-|CC$|BCC$)/.test(s.toString('latin1'))) return Buffer.from(`k${s.toString('latin1')}`);
  return s;
}

/** A well-formed field value of a random type, with edge values. */
export function genValue(g: Gen, opts: TableOptions): FV {
  const tags = opts.depth > 0 ? VALID_TAGS : VALID_TAGS.replace(/[AF]/g, '');
  const t = tags[g.int(tags.length)];
  switch (t) {
    case 't': return { t, v: g.pick([0, 1, 1, ...opts.exotic ? [2, 255] : []]) };
    case 'b': return { t, v: g.pick([-128, 127, 0, -1, g.between(-128, 127)]) };
    case 'B': return { t, v: g.pick([0, 255, g.int(256)]) };
    case 's': return { t, v: g.pick([-32768, 32767, 0, g.between(-32768, 32767)]) };
    case 'u': return { t, v: g.pick([0, 65535, g.int(65536)]) };
    case 'I': return { t, v: g.pick([-0x8000_0000, 0x7fff_ffff, 0, g.u32() | 0]) };
    case 'i': return { t, v: g.pick([0, 0xffff_ffff, g.u32()]) };
    case 'l': return { t, v: g.pick([-(2n ** 63n), 2n ** 63n - 1n, 0n, 2n ** 53n + 1n, -1n, BigInt.asIntN(64, g.u64())]) };
    case 'f': return { t, v: g.pick([...opts.exotic ? [NaN, Infinity, -Infinity] : [], -0, 1.5, 3.4e38, 1e-45, -2.5]) };
    case 'd': return { t, v: g.pick([...opts.exotic ? [NaN, -Infinity, Infinity] : [], 1e308, 5e-324, -0, 0.1, 2 ** 53 + 2]) };
    case 'D': return { t, scale: g.pick([0, 2, 255, g.int(256)]), v: g.pick([0, 0xffff_ffff, g.u32()]) };
    case 'S': return { t, v: g.chance(0.05) ? Buffer.alloc(g.between(256, 2000), 0x73) : genString(g) };
    case 'x': return { t, v: g.chance(0.5) ? g.bytes(g.int(64)) : Buffer.alloc(0) };
    case 'T': return { t, v: g.pick([0n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 1_700_000_000n, g.u64()]) };
    case 'V': return { t };
    case 'A': return { t, v: Array.from({ length: g.int(opts.width + 1) }, () => genValue(g, { ...opts, depth: opts.depth - 1 })) };
    default: return { t: 'F', v: genEntries(g, { ...opts, depth: opts.depth - 1 }) };
  }
}

export function genEntries(g: Gen, opts: TableOptions): Entry[] {
  const n = g.int(opts.width + 1);
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) out.push([genKey(g, opts), genValue(g, opts)]);
  // Sometimes the same key twice: the wire allows it.
  if (n > 0 && g.chance(0.05)) out.push([out[0][0], genValue(g, opts)]);
  return out;
}

/** What went wrong in a malformed table, for the case description. */
export type Malformation = 'unknown-tag' | 'string-overrun' | 'table-overrun' | 'table-underrun' | 'array-overrun' | 'key-overrun'
  | 'truncated-value' | 'outer-overrun';

/**
 * A field table (4-byte length first) with exactly one malformation somewhere inside it, at a
 * random depth: an unknown type tag, or a length (string, table, array, key, or the table's own)
 * that runs past the end of what contains it.
 */
export function genMalformedTable(g: Gen, opts: TableOptions, kind?: Malformation): { bytes: Buffer; kind: Malformation } {
  const k: Malformation = kind ?? g.pick(['unknown-tag', 'unknown-tag', 'string-overrun', 'table-overrun', 'table-underrun',
    'array-overrun', 'key-overrun', 'truncated-value', 'outer-overrun'] as const);
  const bad = new Bytes();
  switch (k) {
    case 'unknown-tag': bad.shortstr(genKey(g, opts)).u8(g.pick(UNKNOWN_TAGS)).raw(g.bytes(g.int(6))); break;
    case 'string-overrun': bad.shortstr('s').u8(0x53).u32(g.pick([1000, 0x7fff_ffff, 0xffff_ffff, 9])).raw('abc'); break;
    case 'table-overrun': bad.shortstr('t').u8(0x46).u32(g.pick([100, 0xffff_fff0])).raw(table([['a', F.int(1)]]).subarray(4)); break;
    case 'table-underrun': bad.shortstr('t').u8(0x46).u32(3).raw(table([['abc', F.int(1)]]).subarray(4)); break;
    case 'array-overrun': bad.shortstr('a').u8(0x41).u32(g.pick([50, 0xffff_ffff])).raw('I\x00\x00\x00\x01'); break;
    case 'key-overrun': bad.u8(200).raw('short-key'); break;
    case 'truncated-value': bad.shortstr('i').u8(g.pick([0x49, 0x6c, 0x64, 0x54, 0x44])).raw('\x01'); break;
    case 'outer-overrun': break;
  }
  // Bury it at a random depth inside valid nesting, after some valid entries.
  let inner: Buffer = Buffer.concat([tableContents(genEntries(g, { ...opts, width: 2, depth: 1 })), bad.out()]);
  const levels = k === 'outer-overrun' ? 0 : g.int(Math.max(1, opts.depth));
  for (let i = 0; i < levels; i++) {
    if (g.chance(0.5)) inner = new Bytes().shortstr(`n${i}`).u8(0x46).longstr(inner).out();
    else inner = new Bytes().shortstr(`n${i}`).u8(0x41).longstr(new Bytes().u8(0x46).longstr(inner).out()).out();
  }
  const outerLen = k === 'outer-overrun' ? inner.length + g.pick([1, 7, 1000]) : inner.length;
  return { bytes: new Bytes().u32(outerLen).raw(inner).out(), kind: k };
}

function tableContents(entries: Entry[]): Buffer {
  return table(entries).subarray(4);
}

/**
 * A field table whose single key holds tables and/or arrays nested `depth` deep (built from the
 * inside out, without recursion, so depth 10,000 costs nothing here).
 */
export function deepTable(depth: number, shape: 'table' | 'array' | 'mixed', innermost: FV = F.str('bottom'), key = 'deep'): Buffer {
  // Each level: for a table, key "k" + 'F' + u32 len + contents; for an array, 'A' + u32 len + items.
  const inner = new Bytes();
  writeValue(inner, innermost);
  let size = inner.pos;
  const kinds: ('F' | 'A')[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < depth; i++) {
    const kind = shape === 'table' ? 'F' : shape === 'array' ? 'A' : (i % 2 === 0 ? 'F' : 'A');
    // Contents of this level's value = what the level below wrote.
    kinds.push(kind);
    sizes.push(size);
    size = kind === 'F' ? 1 + 4 + 2 + size : 1 + 4 + size; // tag + len + (key "k" in a table) + inner
  }
  // Write from the outside in: kinds/sizes were collected from the inside out.
  const b = new Bytes();
  const keyBytes = Buffer.from(key);
  b.u32(1 + keyBytes.length + size).shortstr(keyBytes);
  for (let i = depth - 1; i >= 0; i--) {
    const kind = kinds[i];
    if (kind === 'F') b.u8(0x46).u32(2 + sizes[i]).shortstr('k');
    else b.u8(0x41).u32(sizes[i]);
  }
  b.raw(inner.out());
  return b.out();
}

// --------------------------------------------------------------- properties

/** The 14 basic properties, in flag order (bit 15 first). */
export const PROPERTY_NAMES = ['content-type', 'content-encoding', 'headers', 'delivery-mode', 'priority', 'correlation-id',
  'reply-to', 'expiration', 'message-id', 'timestamp', 'type', 'user-id', 'app-id', 'cluster-id'] as const;
export type PropertyName = typeof PROPERTY_NAMES[number];
const PROPERTY_TYPES: Record<PropertyName, 'shortstr' | 'table' | 'octet' | 'timestamp'> = {
  'content-type': 'shortstr', 'content-encoding': 'shortstr', headers: 'table', 'delivery-mode': 'octet', priority: 'octet',
  'correlation-id': 'shortstr', 'reply-to': 'shortstr', expiration: 'shortstr', 'message-id': 'shortstr', timestamp: 'timestamp',
  type: 'shortstr', 'user-id': 'shortstr', 'app-id': 'shortstr', 'cluster-id': 'shortstr',
};

/** Property values: Buffers for shortstrs (contents) and tables (encoded), numbers, bigints. */
export type Props = Partial<Record<PropertyName, Buffer | number | bigint | string>>;

/** Encodes properties as flags + list; `extraFlags` ORs bits into the flag word (reserved bits, continuation). */
export function encodeProps(p: Props, extraFlags = 0, continuation: number[] = []): Buffer {
  let flags = extraFlags;
  PROPERTY_NAMES.forEach((name, i) => { if (p[name] !== undefined) flags |= 1 << (15 - i); });
  const b = new Bytes().u16(flags);
  for (const c of continuation) b.u16(c);
  for (const name of PROPERTY_NAMES) {
    const v = p[name];
    if (v === undefined) continue;
    switch (PROPERTY_TYPES[name]) {
      case 'shortstr': b.shortstr(v as Buffer | string); break;
      case 'table': b.raw(v as Buffer); break;
      case 'octet': b.u8(Number(v)); break;
      case 'timestamp': b.u64(v as bigint | number); break;
    }
  }
  return b.out();
}

/** Splits property bytes (flags + list) into each property's raw bytes; null if they do not parse. */
export function splitProps(buf: Buffer): Map<PropertyName, Buffer> | null {
  if (buf.length < 2) return null;
  const flags = buf.readUInt16BE(0);
  let pos = 2;
  let last = flags;
  while (last & 1) {
    if (pos + 2 > buf.length) return null;
    last = buf.readUInt16BE(pos);
    pos += 2;
  }
  const out = new Map<PropertyName, Buffer>();
  for (let i = 0; i < 14; i++) {
    if (!(flags & (1 << (15 - i)))) continue;
    const name = PROPERTY_NAMES[i];
    const start = pos;
    switch (PROPERTY_TYPES[name]) {
      case 'shortstr': if (pos >= buf.length) return null; pos += 1 + buf[pos]; break;
      case 'table': if (pos + 4 > buf.length) return null; pos += 4 + buf.readUInt32BE(pos); break;
      case 'octet': pos += 1; break;
      case 'timestamp': pos += 8; break;
    }
    if (pos > buf.length) return null;
    out.set(name, buf.subarray(start, pos));
  }
  return out;
}

/** Top-level entries of an encoded table (4-byte length first) as [key bytes, tag+value bytes]; null if malformed. */
export function splitTable(buf: Buffer): [Buffer, Buffer][] | null {
  if (buf.length < 4) return null;
  const end = 4 + buf.readUInt32BE(0);
  if (end > buf.length) return null;
  const out: [Buffer, Buffer][] = [];
  let pos = 4;
  while (pos < end) {
    const klen = buf[pos];
    const key = buf.subarray(pos + 1, pos + 1 + klen);
    pos += 1 + klen;
    if (pos >= end) return null;
    const vstart = pos;
    const skip = valueSize(buf, pos, end);
    if (skip < 0) return null;
    pos += skip;
    out.push([key, buf.subarray(vstart, pos)]);
  }
  return pos === end ? out : null;
}

/** Bytes taken by the value (tag included) at pos, or -1 if malformed. Arrays and tables are not descended into. */
function valueSize(buf: Buffer, pos: number, end: number): number {
  const fixed: Record<string, number> = { t: 1, b: 1, B: 1, s: 2, u: 2, I: 4, i: 4, l: 8, L: 8, f: 4, d: 8, D: 5, T: 8, V: 0 };
  const tag = String.fromCharCode(buf[pos]);
  let n: number;
  if (tag in fixed) n = 1 + fixed[tag];
  else if ('SxAF'.includes(tag)) {
    if (pos + 5 > end) return -1;
    n = 5 + buf.readUInt32BE(pos + 1);
  } else return -1;
  return pos + n > end ? -1 : n;
}

export interface PropsOptions {
  /** Only values a broker must accept and pass through unchanged (no expiration, no user-id
   *  but the publisher's, no direct reply-to, no headers with meaning to the broker). */
  valid: boolean;
  /** Nesting budget for the headers table. */
  depth?: number;
  /** Chance of each property being present. */
  density?: number;
}

/** Random properties; in `valid` mode ones the broker must accept and deliver unchanged. */
export function genProps(g: Gen, o: PropsOptions): { props: Props; bytes: Buffer; notes: string[] } {
  const density = o.density ?? g.pick([0.3, 0.7, 1]);
  const notes: string[] = [];
  const p: Props = {};
  const has = () => g.chance(density);
  if (has()) p['content-type'] = genString(g);
  if (has()) p['content-encoding'] = genString(g);
  if (has()) {
    p.headers = table(genEntries(g, { depth: o.depth ?? g.pick([0, 1, 3, 6]), width: g.pick([1, 3, 8]), plainKeys: o.valid, exotic: !o.valid && g.chance(0.3) }));
    if (!o.valid && g.chance(0.25)) {
      const m = genMalformedTable(g, { depth: 3, width: 3 });
      p.headers = m.bytes;
      notes.push(`malformed headers (${m.kind})`);
    }
  }
  if (has()) p['delivery-mode'] = o.valid ? g.pick([1, 2]) : g.pick([0, 1, 2, 3, 255]);
  if (has()) p.priority = g.pick([0, 1, 9, 10, 255]);
  if (has()) p['correlation-id'] = genString(g);
  if (has()) p['reply-to'] = !o.valid && g.chance(0.2) ? Buffer.from('amq.rabbitmq.reply-to') : genString(g);
  if (!o.valid && has()) p.expiration = Buffer.from(g.pick(['', '0', '100', '-1', 'abc', '99999999999999999999', '1.5', ' 1', '4294967296']));
  if (has()) p['message-id'] = genString(g);
  if (has() || g.chance(0.2)) {
    p.timestamp = g.pick([0n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 1_700_000_000n, g.u64()]);
    if (p.timestamp === 2n ** 64n - 1n) notes.push('timestamp 2^64-1');
  }
  if (has()) p.type = genString(g);
  if (has()) p['user-id'] = o.valid || g.chance(0.5) ? Buffer.from('guest') : genString(g);
  if (has()) p['app-id'] = genString(g);
  if (has()) p['cluster-id'] = genString(g);
  let extra = 0;
  const continuation: number[] = [];
  if (!o.valid && g.chance(0.1)) {
    extra = g.pick([1, 2, 3]); // reserved bit 1, continuation bit 0
    if (extra & 1) continuation.push(g.pick([0, 2, 0x8000]));
    notes.push(`flag word extra bits ${extra}`);
  }
  return { props: p, bytes: encodeProps(p, extra, continuation), notes };
}

// ----------------------------------------------------------- random methods

/** Names one fuzz case uses: prefixed by the case, so concurrent cases do not meet. */
export class NamePool {
  readonly queues: Buffer[];
  readonly exchanges: Buffer[];
  constructor(readonly prefix: string) {
    this.queues = [0, 1, 2].map((i) => Buffer.from(`${prefix}q${i}`));
    this.exchanges = [0, 1].map((i) => Buffer.from(`${prefix}x${i}`));
    this.queues.push(Buffer.concat([Buffer.from(`${prefix}bad-`), Buffer.from([0xff, 0xfe])]));
    this.exchanges.push(Buffer.concat([Buffer.from(`${prefix}bad-`), Buffer.from([0xc0, 0x80])]));
  }

  queue(g: Gen): Buffer {
    return g.weighted<() => Buffer>([
      [10, () => g.pick(this.queues)], [1, () => Buffer.alloc(0)], [1, () => Buffer.from('amq.rabbitmq.reply-to')],
      [1, () => Buffer.from('amq.gen-fuzz')], [1, () => Buffer.from(`${this.prefix}${'q'.repeat(255)}`.slice(0, 255))],
    ])();
  }

  exchange(g: Gen): Buffer {
    return g.weighted<() => Buffer>([
      [8, () => g.pick(this.exchanges)], [2, () => Buffer.alloc(0)],
      [2, () => Buffer.from(g.pick(['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match', 'amq.rabbitmq.trace']))],
      [1, () => Buffer.from(`${this.prefix}nope`)],
    ])();
  }

  /** Every name this pool can produce that a cleanup should delete. */
  all(): { queues: Buffer[]; exchanges: Buffer[] } {
    return { queues: [...this.queues, Buffer.from(`${this.prefix}${'q'.repeat(255)}`.slice(0, 255))], exchanges: [...this.exchanges] };
  }
}

const QUEUE_ARGS: [string, (g: Gen) => FV][] = [
  ['x-message-ttl', (g) => g.pick<FV>([F.int(0), F.int(200), { t: 'l', v: 2n ** 62n }, F.str('100'), F.int(-1)])],
  ['x-expires', (g) => g.pick<FV>([F.int(60000), F.int(1), F.int(0), F.str('x')])],
  ['x-max-length', (g) => g.pick<FV>([F.int(0), F.int(2), F.int(-5), { t: 'l', v: 2n ** 63n - 1n }])],
  ['x-max-length-bytes', (g) => g.pick<FV>([F.int(0), F.int(10), { t: 'd', v: 1.5 }])],
  ['x-overflow', (g) => g.pick<FV>([F.str('drop-head'), F.str('reject-publish'), F.str('reject-publish-dlx'), F.str('nope')])],
  ['x-dead-letter-exchange', (g) => g.pick<FV>([F.str(''), F.str('amq.fanout'), F.str('nope'), F.int(1), F.str(Buffer.from([0xff]))])],
  ['x-dead-letter-routing-key', (g) => g.pick<FV>([F.str('k'), F.str(''), F.int(3)])],
  ['x-max-priority', (g) => g.pick<FV>([F.int(10), F.int(255), F.int(256), F.int(0), F.int(-1), { t: 'b', v: 5 }])],
  ['x-queue-type', (g) => g.pick<FV>([F.str('classic'), F.str('quorum'), F.str('stream'), F.str('weird')])],
  ['x-single-active-consumer', (g) => g.pick<FV>([F.bool(true), F.int(1), F.str('true')])],
  ['x-queue-mode', (g) => g.pick<FV>([F.str('lazy'), F.str('default'), F.str('x')])],
  ['alternate-exchange', (g) => g.pick<FV>([F.str('amq.fanout'), F.str('nope'), F.int(7)])],
  ['x-match', (g) => g.pick<FV>([F.str('all'), F.str('any'), F.str('all-with-x'), F.str('any-with-x'), F.str('some'), F.int(1)])],
  ['x-priority', (g) => g.pick<FV>([F.int(5), F.int(-5), F.str('high'), { t: 'l', v: 2n ** 40n }])],
  ['x-cancel-on-ha-failover', (g) => g.pick<FV>([F.bool(true), F.str('yes')])],
];

/** An `arguments` table: broker-meaningful x-arguments with odd values, random entries, or a malformed table. */
export function genArguments(g: Gen): { bytes: EncodedTable; note?: string } {
  const r = g.int(100);
  if (r < 8) {
    const m = genMalformedTable(g, { depth: 2, width: 2 });
    return { bytes: new EncodedTable(m.bytes), note: `malformed arguments (${m.kind})` };
  }
  if (r < 10) {
    const depth = g.pick([100, 1000, 3000]);
    return { bytes: new EncodedTable(deepTable(depth, g.pick(['table', 'array', 'mixed'] as const))), note: `arguments nested ${depth} deep` };
  }
  if (r < 40) return { bytes: encTable([]) };
  const entries: Entry[] = [];
  const n = g.between(1, 3);
  for (let i = 0; i < n; i++) {
    const [k, v] = g.pick(QUEUE_ARGS);
    entries.push([k, v(g)]);
  }
  if (g.chance(0.3)) entries.push(...genEntries(g, { depth: 2, width: 3, exotic: g.chance(0.2) }));
  return { bytes: encTable(entries) };
}

/** Random values for a spec method's arguments, with names from the pool. */
export function genArgs(g: Gen, m: MethodSpec, pool: NamePool, notes: string[]): Record<string, ArgValue> {
  const v: Record<string, ArgValue> = {};
  for (const a of m.args) {
    switch (a.type) {
      case 'bit': v[a.name] = g.chance(a.name === 'nowait' || a.name === 'passive' || a.name === 'immediate' ? 0.15 : 0.4); break;
      case 'octet': v[a.name] = g.pick([0, 1, 255, g.int(256)]); break;
      case 'short':
        v[a.name] = a.name === 'reply-code' ? g.pick([200, 320, 404, 541, 0, 65535])
          : a.name === 'prefetch-count' ? g.pick([0, 1, 10, 65535])
            : g.pick([0, 1, 65535, g.int(65536)]);
        break;
      case 'long': v[a.name] = a.name === 'prefetch-size' ? g.pick([0, 0, 0, 1]) : g.pick([0, 1, 4096, 131072, 0xffff_ffff, g.u32()]); break;
      case 'longlong': case 'timestamp':
        v[a.name] = a.name === 'delivery-tag' ? g.pick([0n, 1n, 2n, 3n, 2n ** 64n - 1n, 2n ** 53n]) : g.u64();
        break;
      case 'shortstr':
        if (a.name === 'queue') v[a.name] = pool.queue(g);
        else if (a.name === 'exchange' || a.name === 'destination' || a.name === 'source') v[a.name] = pool.exchange(g);
        else if (a.name === 'type') v[a.name] = Buffer.from(g.pick(['direct', 'fanout', 'topic', 'headers', 'x-consistent-hash', '', 'DIRECT']));
        else if (a.name === 'virtual-host') v[a.name] = Buffer.from(g.pick(['/', '', 'nope', '/\xff']));
        else if (a.name === 'consumer-tag') v[a.name] = g.chance(0.5) ? Buffer.from('ctag') : genString(g);
        else v[a.name] = genString(g);
        break;
      case 'longstr': v[a.name] = g.chance(0.1) ? g.bytes(g.between(256, 5000)) : genString(g); break;
      case 'table': {
        const t = genArguments(g);
        if (t.note) notes.push(t.note);
        v[a.name] = t.bytes;
        break;
      }
    }
  }
  return v;
}

/** Methods a client sends, weighted towards the ones with most broker logic behind them. */
const CLIENT_WEIGHTS: Record<string, number> = {
  'queue.declare': 8, 'queue.bind': 5, 'queue.unbind': 3, 'queue.purge': 2, 'queue.delete': 3,
  'exchange.declare': 6, 'exchange.delete': 3, 'exchange.bind': 4, 'exchange.unbind': 2,
  'basic.publish': 10, 'basic.consume': 5, 'basic.cancel': 2, 'basic.get': 4, 'basic.ack': 4, 'basic.nack': 3,
  'basic.reject': 3, 'basic.qos': 2, 'basic.recover': 1, 'basic.recover-async': 1,
  'channel.open': 2, 'channel.close': 2, 'channel.close-ok': 2, 'channel.flow': 1, 'channel.flow-ok': 1,
  'confirm.select': 3, 'tx.select': 2, 'tx.commit': 2, 'tx.rollback': 1, 'access.request': 1,
  'connection.close': 1, 'connection.close-ok': 1, 'connection.update-secret': 1, 'connection.blocked': 1,
};

export function pickMethod(g: Gen): MethodSpec {
  return g.weighted(METHODS.map((m) => [CLIENT_WEIGHTS[m.name] ?? 0.4, m] as const));
}

/** One grammar item: a random method (with its content when it carries one), frame or oddity. Returns frames and a description. */
export function genItem(g: Gen, pool: NamePool, frameMax = FRAME_MAX): { frames: Buffer[]; desc: string } {
  const channel = g.weighted<number>([[80, 1], [6, 0], [6, 2], [3, 65535], [2, g.int(65536)]]);
  const kind = g.weighted<string>([[60, 'method'], [12, 'publish'], [4, 'header'], [4, 'body'], [4, 'heartbeat'],
    [3, 'unknown-type'], [3, 'oversize'], [3, 'bad-end'], [3, 'short-method'], [2, 'trailing']]);
  switch (kind) {
    case 'method': {
      const m = pickMethod(g);
      const notes: string[] = [];
      const frames = [methodFrame(channel, m.name, genArgs(g, m, pool, notes))];
      return { frames, desc: `${m.name}@${channel}${notes.length ? ` (${notes.join(', ')})` : ''}` };
    }
    case 'publish': {
      const m = METHOD_BY_NAME.get('basic.publish')!;
      const notes: string[] = [];
      const args = genArgs(g, m, pool, notes);
      if (g.chance(0.5)) args.exchange = Buffer.alloc(0);
      if (g.chance(0.5)) args['routing-key'] = g.pick(pool.queues);
      const props = genProps(g, { valid: g.chance(0.5) });
      const body = g.chance(0.1) ? g.bytes(g.between(frameMax - 100, frameMax * 2)) : g.bytes(g.int(40));
      const lie = g.chance(0.1);
      const size = lie ? g.pick([0n, BigInt(body.length + 1), 2n ** 64n - 1n, 2n ** 27n + 1n]) : BigInt(body.length);
      const frames = [methodFrame(channel, m.name, args), headerFrame(channel, size, props.bytes), ...bodyFrames(channel, body, frameMax)];
      return { frames, desc: `publish@${channel} body ${body.length}${lie ? ` declared ${size}` : ''}${props.notes.length ? ` (${props.notes.join(', ')})` : ''}${notes.length ? ` (${notes.join(', ')})` : ''}` };
    }
    case 'header': return { frames: [headerFrame(channel, g.int(10), genProps(g, { valid: false }).bytes, g.pick([60, 60, 50, 0]), g.pick([0, 0, 1]))], desc: `header@${channel}` };
    case 'body': return { frames: [frame(FRAME_BODY, channel, g.bytes(g.int(20)))], desc: `body@${channel}` };
    case 'heartbeat': return { frames: [heartbeat(g.pick([0, 0, channel]), g.chance(0.3) ? g.bytes(g.between(1, 4)) : Buffer.alloc(0))], desc: `heartbeat@${channel}` };
    case 'unknown-type': return { frames: [frame(g.pick([0, 4, 5, 9, 0x41, 0xce, 255]), channel, g.bytes(g.int(8)))], desc: 'unknown frame type' };
    case 'oversize': {
      // A frame header announcing more than frame_max, with the start of its payload.
      const size = g.pick([frameMax + 1, frameMax + 9, 0x7fff_ffff, 0xffff_ffff]);
      const b = Buffer.alloc(7 + 16);
      b[0] = g.pick([1, 2, 3]);
      b.writeUInt16BE(channel, 1);
      b.writeUInt32BE(size, 3);
      return { frames: [b], desc: `frame of ${size} bytes` };
    }
    case 'bad-end': {
      const m = pickMethod(g);
      return { frames: [frame(FRAME_METHOD, channel, methodPayload(m.name, genArgs(g, m, pool, [])), g.pick([0, 0xcd, 0xff]))], desc: `${m.name} with a bad frame end` };
    }
    case 'short-method': {
      const m = pickMethod(g);
      const p = methodPayload(m.name, genArgs(g, m, pool, []));
      return { frames: [frame(FRAME_METHOD, channel, p.subarray(0, g.int(p.length)))], desc: `${m.name} truncated` };
    }
    default: {
      const m = pickMethod(g);
      const p = methodPayload(m.name, genArgs(g, m, pool, []));
      return { frames: [frame(FRAME_METHOD, channel, Buffer.concat([p, g.bytes(g.between(1, 8))]))], desc: `${m.name} with trailing bytes` };
    }
  }
}

// --------------------------------------------------------------- handshake

export interface HandshakeFrames {
  header: Buffer;
  startOk: Buffer;
  tuneOk: Buffer;
  open: Buffer;
}

/** The client's side of a normal handshake (PLAIN guest/guest, vhost /), for sending without waiting. */
export function handshakeFrames(frameMax = FRAME_MAX, heartbeatSecs = 0): HandshakeFrames {
  const clientProperties = encTable([
    ['product', F.str('warren fuzz test')],
    ['capabilities', F.table([['publisher_confirms', F.bool(true)], ['basic.nack', F.bool(true)],
      ['consumer_cancel_notify', F.bool(true)], ['authentication_failure_close', F.bool(true)], ['connection.blocked', F.bool(true)]])],
  ]);
  return {
    header: PROTOCOL_HEADER,
    startOk: methodFrame(0, 'connection.start-ok', { 'client-properties': clientProperties, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' }),
    tuneOk: methodFrame(0, 'connection.tune-ok', { 'channel-max': 2047, 'frame-max': frameMax, heartbeat: heartbeatSecs }),
    open: methodFrame(0, 'connection.open', { 'virtual-host': '/' }),
  };
}

export const handshakeBytes = (): Buffer => {
  const h = handshakeFrames();
  return Buffer.concat([h.header, h.startOk, h.tuneOk, h.open]);
};

// ------------------------------------------------------- valid sessions

/**
 * A step of a script: bytes to send, a pause (so that what follows is a separate read), or a
 * wait until the broker has sent `count` of the `methods` named in all (or `ms` passed).
 */
export type Step = Buffer | { pause: number } | Wait;
export interface Wait { wait: string[]; count: number; ms: number }
/** One socket write of a case, and what to do after it. */
export interface Write { data: Buffer; delay: number; wait?: Wait }

export interface SessionInfo {
  /** Property bytes of the three messages published: via the headers exchange, to the TTL queue, to the reject queue. */
  published: Buffer[];
  names: { x: Buffer; q: Buffer; q2: Buffer; dlq: Buffer };
  notes: string[];
}

/**
 * A valid session exercising what the broker parses and rewrites: a headers exchange, a queue
 * with x-message-ttl 200 and a dead-letter exchange, one whose consumer rejects with
 * requeue=false into the same dead-letter queue, confirms, acks, basic.get, deletes and closes.
 * Unmutated, a broker must answer it without any error, with 2 deliveries and 2 dead-lettered
 * messages in the DLQ whose properties (headers aside) are the published ones.
 */
export function validSession(g: Gen, prefix: string, withHandshake: boolean, propsOf: (i: number) => Buffer = () => genProps(g, { valid: true }).bytes):
  { steps: Step[]; info: SessionInfo } {
  const names = { x: Buffer.from(`${prefix}hx`), q: Buffer.from(`${prefix}ttl`), q2: Buffer.from(`${prefix}rej`), dlq: Buffer.from(`${prefix}dlq`) };
  const published = [propsOf(0), propsOf(1), propsOf(2)];
  const body = (i: number) => Buffer.from(`body ${i} ${prefix}`);
  const publish = (exchange: Buffer, rk: Buffer, i: number) => [
    methodFrame(1, 'basic.publish', { exchange, 'routing-key': rk }),
    headerFrame(1, body(i).length, published[i]),
    frame(FRAME_BODY, 1, body(i)),
  ];
  const h = handshakeFrames();
  const expires: Entry = ['x-expires', F.int(60000)];
  const steps: Step[] = [
    ...(withHandshake ? [h.header, h.startOk, h.tuneOk, h.open] : []),
    methodFrame(1, 'channel.open'),
    methodFrame(1, 'confirm.select'),
    methodFrame(1, 'exchange.declare', { exchange: names.x, type: 'headers', 'auto-delete': false }),
    methodFrame(1, 'queue.declare', { queue: names.dlq, arguments: encTable([expires]) }),
    methodFrame(1, 'queue.declare', { queue: names.q, arguments: encTable([expires, ['x-message-ttl', F.int(200)],
      ['x-dead-letter-exchange', F.str('')], ['x-dead-letter-routing-key', F.str(names.dlq)]]) }),
    methodFrame(1, 'queue.declare', { queue: names.q2, arguments: encTable([expires,
      ['x-dead-letter-exchange', F.str('')], ['x-dead-letter-routing-key', F.str(names.dlq)]]) }),
    methodFrame(1, 'queue.bind', { queue: names.q2, exchange: names.x, arguments: encTable([['x-match', F.str('all')]]) }),
    ...publish(names.x, Buffer.alloc(0), 0),
    ...publish(Buffer.alloc(0), names.q, 1),
    ...publish(Buffer.alloc(0), names.q2, 2),
    methodFrame(1, 'basic.consume', { queue: names.q2, 'consumer-tag': 'fz' }),
    { wait: ['basic.deliver'], count: 2, ms: 3000 },
    methodFrame(1, 'basic.reject', { 'delivery-tag': 1n, requeue: false }),
    methodFrame(1, 'basic.ack', { 'delivery-tag': 2n }),
    { pause: 700 }, // the TTL (200 ms) runs out meanwhile
    methodFrame(1, 'basic.get', { queue: names.dlq, 'no-ack': true }),
    methodFrame(1, 'basic.get', { queue: names.dlq, 'no-ack': true }),
    { wait: ['basic.get-ok', 'basic.get-empty'], count: 2, ms: 3000 },
    methodFrame(1, 'queue.delete', { queue: names.q }),
    methodFrame(1, 'queue.delete', { queue: names.q2 }),
    methodFrame(1, 'queue.delete', { queue: names.dlq }),
    methodFrame(1, 'exchange.delete', { exchange: names.x }),
    methodFrame(1, 'channel.close', { 'reply-code': 200, 'reply-text': 'bye' }),
    { wait: ['channel.close-ok'], count: 1, ms: 3000 },
    methodFrame(0, 'connection.close', { 'reply-code': 200, 'reply-text': 'bye' }),
    { wait: ['connection.close-ok'], count: 1, ms: 3000 },
  ];
  return { steps, info: { published, names, notes: [] } };
}

// ----------------------------------------------------------------- mutation

export type Mutation = 'flip' | 'truncate' | 'duplicate' | 'drop' | 'reorder' | 'resize' | 'rechannel' | 'bad-end' | 'insert' | 'splice-bytes';

/**
 * Mutates a script in place (frame granularity where the bytes parse as frames, byte granularity
 * otherwise). `from` keeps the first steps (the handshake) intact. Returns what was done.
 */
export function mutate(g: Gen, steps: Step[], pool: NamePool, from = 0, count = g.between(1, 3)): string[] {
  const done: string[] = [];
  // Work on a list of frames; pauses stay where they are.
  // Waits for replies become short pauses: a mutated session gets other replies, or none.
  const frames: Step[] = [];
  for (const s of steps) {
    if (Buffer.isBuffer(s)) frames.push(...splitFrames(s));
    else frames.push('wait' in s ? { pause: 50 } : s);
  }
  const kept = Math.min(from, frames.length);
  const idx = () => kept + g.int(Math.max(1, frames.length - kept));
  const bufAt = (i: number): Buffer | null => (i < frames.length && Buffer.isBuffer(frames[i]) ? frames[i] as Buffer : null);
  for (let n = 0; n < count && frames.length > kept; n++) {
    const op = g.weighted<Mutation>([[6, 'flip'], [2, 'truncate'], [3, 'duplicate'], [2, 'drop'], [3, 'reorder'], [4, 'resize'],
      [2, 'rechannel'], [1, 'bad-end'], [3, 'insert'], [2, 'splice-bytes']]);
    const i = idx();
    const f = bufAt(i);
    switch (op) {
      case 'flip': {
        if (!f || f.length === 0) continue;
        const b = Buffer.from(f);
        const flips = g.between(1, 3);
        for (let k = 0; k < flips; k++) {
          const at = g.chance(0.5) && b.length > 7 ? 7 + g.int(Math.min(24, b.length - 7)) : g.int(b.length);
          b[at] = g.chance(0.5) ? b[at] ^ (1 << g.int(8)) : g.pick([0, 0xff, 0x7f, 0x80, g.int(256)]);
        }
        frames[i] = b;
        done.push(`flip ${flips} byte(s) of frame ${i}`);
        break;
      }
      case 'truncate': {
        if (!f) continue;
        const cut = g.int(f.length);
        frames.splice(i, frames.length - i, f.subarray(0, cut));
        done.push(`truncate at frame ${i} byte ${cut}`);
        break;
      }
      case 'duplicate': {
        if (!f) continue;
        frames.splice(i, 0, f);
        done.push(`duplicate frame ${i}`);
        break;
      }
      case 'drop': frames.splice(i, 1); done.push(`drop frame ${i}`); break;
      case 'reorder': {
        const j = idx();
        [frames[i], frames[j]] = [frames[j], frames[i]];
        done.push(`swap frames ${i} and ${j}`);
        break;
      }
      case 'resize': {
        if (!f || f.length < 8 || f[0] === 0x41) continue;
        const b = Buffer.from(f);
        const size = b.readUInt32BE(3);
        const next = g.pick([size + 1, Math.max(0, size - 1), 0, size + g.between(2, 64), 0xffff_ffff, FRAME_MAX + 1, Math.max(0, size - g.between(2, 20))]);
        b.writeUInt32BE(next >>> 0, 3);
        frames[i] = b;
        done.push(`frame ${i} size ${size} -> ${next}`);
        break;
      }
      case 'rechannel': {
        if (!f || f.length < 8 || f[0] === 0x41) continue;
        const b = Buffer.from(f);
        const ch = g.pick([0, 2, 65535, 1]);
        b.writeUInt16BE(ch, 1);
        frames[i] = b;
        done.push(`frame ${i} to channel ${ch}`);
        break;
      }
      case 'bad-end': {
        if (!f || f.length < 8) continue;
        const b = Buffer.from(f);
        b[b.length - 1] = g.pick([0, 0xcd, 0xff]);
        frames[i] = b;
        done.push(`frame ${i} bad end`);
        break;
      }
      case 'insert': {
        const item = genItem(g, pool);
        frames.splice(i, 0, ...item.frames);
        done.push(`insert ${item.desc} at ${i}`);
        break;
      }
      case 'splice-bytes': {
        // Move a byte range of one frame into the middle of another (misaligned frame boundaries).
        if (!f || f.length < 4) continue;
        const start = g.int(f.length - 1);
        const piece = f.subarray(start, start + g.between(1, Math.min(32, f.length - start)));
        const j = idx();
        const t = bufAt(j);
        if (!t) continue;
        const at = g.int(t.length + 1);
        frames[j] = Buffer.concat([t.subarray(0, at), piece, t.subarray(at)]);
        done.push(`splice ${piece.length} bytes of frame ${i} into frame ${j} at ${at}`);
        break;
      }
    }
  }
  steps.splice(0, steps.length, ...frames);
  return done;
}

/**
 * Turns a script into socket writes: each run of bytes between pauses is cut at random
 * boundaries (sometimes none, sometimes every byte), with a short delay after each piece so
 * that the broker reads them separately.
 */
export function toWrites(g: Gen, steps: Step[], split: 'none' | 'random' | 'frames' | 'bytes' = g.weighted([[5, 'none'], [4, 'random'], [2, 'frames'], [1, 'bytes']])):
  Write[] {
  const out: Write[] = [];
  let run: Buffer[] = [];
  const flush = (pause: number) => {
    if (run.length === 0) {
      if (pause && out.length) out[out.length - 1].delay += pause;
      return;
    }
    if (split === 'frames') {
      run.forEach((b, k) => out.push({ data: b, delay: k === run.length - 1 ? pause : 2 }));
    } else {
      const data = Buffer.concat(run);
      let cuts: number[] = [];
      if (split === 'random') cuts = Array.from({ length: g.between(1, 6) }, () => g.int(data.length)).sort((a, b) => a - b);
      else if (split === 'bytes' && data.length <= 400) cuts = Array.from({ length: data.length }, (_, k) => k);
      else if (split === 'bytes') cuts = Array.from({ length: 60 }, () => g.int(data.length)).sort((a, b) => a - b);
      let prev = 0;
      for (const c of [...new Set(cuts), data.length]) {
        if (c <= prev) continue;
        out.push({ data: data.subarray(prev, c), delay: 1 });
        prev = c;
      }
      if (out.length) out[out.length - 1].delay = pause;
    }
    run = [];
  };
  for (const s of steps) {
    if (Buffer.isBuffer(s)) run.push(s);
    else if ('pause' in s) flush(s.pause);
    else {
      flush(0);
      if (out.length) out[out.length - 1].wait = s;
    }
  }
  flush(0);
  return out;
}

// ------------------------------------------------------------ decoding replies

/** Decodes a field table strictly (4-byte length first) into plain values; throws on anything malformed. */
export function decodeTableStrict(buf: Buffer, pos = 0, depth = 0): { value: Record<string, unknown>; end: number } {
  if (pos + 4 > buf.length) throw new Error('table length past the end');
  const end = pos + 4 + buf.readUInt32BE(pos);
  if (end > buf.length) throw new Error('table runs past the end');
  const out: Record<string, unknown> = {};
  let p = pos + 4;
  while (p < end) {
    const klen = buf[p];
    if (p + 1 + klen >= end) throw new Error('table key runs past the end');
    const key = buf.toString('utf8', p + 1, p + 1 + klen);
    p += 1 + klen;
    const v = decodeValueStrict(buf, p, end, depth);
    out[key] = v.value;
    p = v.end;
  }
  if (p !== end) throw new Error('table entries overrun the table');
  return { value: out, end };
}

function decodeValueStrict(buf: Buffer, p: number, end: number, depth: number): { value: unknown; end: number } {
  if (depth > 100) throw new Error('a reply nested over 100 deep');
  const tag = String.fromCharCode(buf[p++]);
  const need = (n: number) => { if (p + n > end) throw new Error(`field '${tag}' runs past the end`); };
  switch (tag) {
    case 't': need(1); return { value: buf[p] !== 0, end: p + 1 };
    case 'b': need(1); return { value: buf.readInt8(p), end: p + 1 };
    case 'B': need(1); return { value: buf[p], end: p + 1 };
    case 's': need(2); return { value: buf.readInt16BE(p), end: p + 2 };
    case 'u': need(2); return { value: buf.readUInt16BE(p), end: p + 2 };
    case 'I': need(4); return { value: buf.readInt32BE(p), end: p + 4 };
    case 'i': need(4); return { value: buf.readUInt32BE(p), end: p + 4 };
    case 'f': need(4); return { value: buf.readFloatBE(p), end: p + 4 };
    case 'l': case 'L': need(8); return { value: buf.readBigInt64BE(p), end: p + 8 };
    case 'd': need(8); return { value: buf.readDoubleBE(p), end: p + 8 };
    case 'T': need(8); return { value: buf.readBigUInt64BE(p), end: p + 8 };
    case 'D': need(5); return { value: [buf[p], buf.readUInt32BE(p + 1)], end: p + 5 };
    case 'V': return { value: null, end: p };
    case 'S': case 'x': {
      need(4);
      const n = buf.readUInt32BE(p);
      need(4 + n);
      return { value: buf.subarray(p + 4, p + 4 + n), end: p + 4 + n };
    }
    case 'F': {
      const t = decodeTableStrict(buf.subarray(0, end), p, depth + 1);
      return { value: t.value, end: t.end };
    }
    case 'A': {
      need(4);
      const aend = p + 4 + buf.readUInt32BE(p);
      if (aend > end) throw new Error('array runs past the end');
      const items: unknown[] = [];
      let q = p + 4;
      while (q < aend) {
        const v = decodeValueStrict(buf, q, aend, depth + 1);
        items.push(v.value);
        q = v.end;
      }
      return { value: items, end: aend };
    }
  }
  throw new Error(`unknown field type 0x${tag.charCodeAt(0).toString(16)}`);
}

const METHOD_BY_ID = new Map(METHODS.map((m) => [(m.classId << 16) | m.methodId, m]));

/**
 * Decodes a method frame payload strictly by the spec: every argument present and within the
 * payload (trailing bytes allowed, as RabbitMQ's clients allow them). Throws if malformed.
 */
export function decodeMethod(payload: Buffer): { spec: MethodSpec; args: Record<string, unknown> } {
  if (payload.length < 4) throw new Error(`method payload of ${payload.length} bytes`);
  const id = payload.readUInt32BE(0);
  const spec = METHOD_BY_ID.get(id);
  if (!spec) throw new Error(`unknown method ${id >>> 16}/${id & 0xffff}`);
  const args: Record<string, unknown> = {};
  let p = 4;
  let bitByte = -1;
  let bitIndex = 8;
  const need = (n: number, what: string) => { if (p + n > payload.length) throw new Error(`${spec.name}: ${what} runs past the end`); };
  for (const a of spec.args) {
    if (a.type === 'bit') {
      if (bitIndex === 8) { need(1, a.name); bitByte = payload[p++]; bitIndex = 0; }
      args[a.name] = (bitByte & (1 << bitIndex++)) !== 0;
      continue;
    }
    bitIndex = 8;
    switch (a.type) {
      case 'octet': need(1, a.name); args[a.name] = payload[p]; p += 1; break;
      case 'short': need(2, a.name); args[a.name] = payload.readUInt16BE(p); p += 2; break;
      case 'long': need(4, a.name); args[a.name] = payload.readUInt32BE(p); p += 4; break;
      case 'longlong': case 'timestamp': need(8, a.name); args[a.name] = payload.readBigUInt64BE(p); p += 8; break;
      case 'shortstr': {
        need(1, a.name);
        const n = payload[p];
        need(1 + n, a.name);
        args[a.name] = payload.subarray(p + 1, p + 1 + n);
        p += 1 + n;
        break;
      }
      case 'longstr': {
        need(4, a.name);
        const n = payload.readUInt32BE(p);
        need(4 + n, a.name);
        args[a.name] = payload.subarray(p + 4, p + 4 + n);
        p += 4 + n;
        break;
      }
      case 'table': {
        const t = decodeTableStrict(payload, p);
        args[a.name] = t.value;
        p = t.end;
        break;
      }
    }
  }
  return { spec, args };
}

export const hex = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
