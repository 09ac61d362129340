// Field tables: every RabbitMQ value type, exact wire bytes, and malformed input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpSyntaxError, Reader, Writer } from '../../src/amqp/codec.js';
import { Decimal, Typed, decodeTableAt, encodeTable, fieldTypeName, type FieldTable } from '../../src/amqp/field-table.js';
import { plain } from './helpers.js';

/** Encodes a table (with its 4-byte length) and returns exactly the bytes written. */
function enc(t: FieldTable | undefined): Buffer {
  const w = new Writer(16);
  encodeTable(w, t);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Decodes a buffer holding a length-prefixed table, checking the prefix. */
function dec(b: Buffer): FieldTable {
  const len = b.readUInt32BE(0);
  assert.equal(len, b.length - 4, 'length prefix covers the rest of the buffer');
  return decodeTableAt(b, 4, b.length);
}

/** Decodes table contents (no length prefix) as plain objects, for deepEqual. */
function decPlain(b: Buffer, start = 0, end = b.length): FieldTable {
  return plain(decodeTableAt(b, start, end));
}

/** A table's contents (no length prefix) from hand-written entries: [key, type letter, value bytes]. */
function raw(...entries: [string, string, Buffer | number[]][]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, type, v] of entries) {
    const kb = Buffer.from(k, 'utf8');
    parts.push(Buffer.from([kb.length]), kb, Buffer.from(type, 'latin1'), Buffer.from(v as number[]));
  }
  return Buffer.concat(parts);
}

const hex = (b: Buffer) => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');

describe('field table wire bytes', () => {
  test('{a: 1} encodes as a signed 32-bit int', () => {
    assert.equal(hex(enc({ a: 1 })), '00 00 00 07 01 61 49 00 00 00 01');
  });

  test('empty and undefined tables are four zero bytes', () => {
    assert.equal(hex(enc({})), '00 00 00 00');
    assert.equal(hex(enc(undefined)), '00 00 00 00');
  });

  test('keys with undefined values are left out', () => {
    assert.equal(hex(enc({ a: undefined, b: true })), '00 00 00 04 01 62 74 01');
  });

  test('string, bool, null, negative int, double, long', () => {
    assert.equal(hex(enc({ s: 'hi' })), '00 00 00 09 01 73 53 00 00 00 02 68 69');
    assert.equal(hex(enc({ t: false })), '00 00 00 04 01 74 74 00');
    assert.equal(hex(enc({ v: null })), '00 00 00 03 01 76 56');
    assert.equal(hex(enc({ n: -2 })), '00 00 00 07 01 6e 49 ff ff ff fe');
    assert.equal(hex(enc({ d: 1.5 })), '00 00 00 0b 01 64 64 3f f8 00 00 00 00 00 00');
    // 2^31 no longer fits 'I', so it is a signed 64-bit 'l'
    assert.equal(hex(enc({ l: 2 ** 31 })), '00 00 00 0b 01 6c 6c 00 00 00 00 80 00 00 00');
    assert.equal(hex(enc({ l: -(2 ** 31) - 1 })), '00 00 00 0b 01 6c 6c ff ff ff ff 7f ff ff ff');
    // the int32 bounds themselves are still 'I'
    assert.equal(hex(enc({ i: 0x7fffffff })), '00 00 00 07 01 69 49 7f ff ff ff');
    assert.equal(hex(enc({ i: -0x80000000 })), '00 00 00 07 01 69 49 80 00 00 00');
  });

  test('array, nested table, decimal, timestamp, byte array', () => {
    assert.equal(hex(enc({ a: [1, 'x'] })), '00 00 00 12 01 61 41 00 00 00 0b 49 00 00 00 01 53 00 00 00 01 78');
    assert.equal(hex(enc({ f: { b: true } })), '00 00 00 0b 01 66 46 00 00 00 04 01 62 74 01');
    assert.equal(hex(enc({ D: new Decimal(2, 12345) })), '00 00 00 08 01 44 44 02 00 00 30 39');
    assert.equal(hex(enc({ T: new Date(1_700_000_000_500) })), '00 00 00 0b 01 54 54 00 00 00 00 65 53 f1 00');
    assert.equal(hex(enc({ x: Buffer.from([0, 0xff]) })), '00 00 00 09 01 78 78 00 00 00 02 00 ff');
  });

  test('Typed forces the wire type', () => {
    assert.equal(hex(enc({ c: new Typed('l', 1) })), '00 00 00 0b 01 63 6c 00 00 00 00 00 00 00 01');
    assert.equal(hex(enc({ c: new Typed('b', -1) })), '00 00 00 04 01 63 62 ff');
    assert.equal(hex(enc({ c: new Typed('B', 200) })), '00 00 00 04 01 63 42 c8');
    assert.equal(hex(enc({ c: new Typed('s', -2) })), '00 00 00 05 01 63 73 ff fe');
    assert.equal(hex(enc({ c: new Typed('u', 65535) })), '00 00 00 05 01 63 75 ff ff');
    assert.equal(hex(enc({ c: new Typed('i', 0xfffffffe) })), '00 00 00 07 01 63 69 ff ff ff fe');
    assert.equal(hex(enc({ c: new Typed('f', 1.5) })), '00 00 00 07 01 63 66 3f c0 00 00');
    assert.equal(hex(enc({ c: new Typed('T', 1) })), '00 00 00 0b 01 63 54 00 00 00 00 00 00 00 01');
  });

  test('multi-byte UTF-8 keys and strings use byte lengths', () => {
    const b = enc({ 'é': 'ü' });
    assert.equal(hex(b), '00 00 00 0a 02 c3 a9 53 00 00 00 02 c3 bc');
    assert.deepEqual(plain(dec(b)), { 'é': 'ü' });
  });

  test('Writer.table is encodeTable and Reader.table reads it back', () => {
    const w = new Writer(8);
    w.u8(7);
    w.table({ k: 'v', n: 42 });
    w.u8(9);
    const r = new Reader().reset(w.buf, 0, w.pos);
    assert.equal(r.u8(), 7);
    assert.deepEqual(plain(r.table()), { k: 'v', n: 42 });
    assert.equal(r.u8(), 9);
    assert.equal(r.pos, r.end);
  });
});

describe('field table round trips', () => {
  test('every type the encoder chooses, with fieldTypeName', () => {
    const big = 2n ** 60n + 7n;
    const t: FieldTable = {
      bool_t: true,
      bool_f: false,
      int: 123456,
      neg: -123456,
      zero: 0,
      int_max: 2147483647,
      int_min: -2147483648,
      long_pos: 2 ** 40 + 3,
      long_neg: -(2 ** 40) - 3,
      long_safe_max: Number.MAX_SAFE_INTEGER,
      long_safe_min: Number.MIN_SAFE_INTEGER,
      big,
      big_neg: -big,
      big_max: 2n ** 63n - 1n,
      big_min: -(2n ** 63n),
      dbl: 3.141592653589793,
      dbl_neg: -0.5,
      str: 'hello wörld',
      empty_str: '',
      bytes: Buffer.from([1, 2, 3, 0, 255]),
      empty_bytes: Buffer.alloc(0),
      dec: new Decimal(3, 4294967295),
      ts: new Date(86_400_000 * 365),
      nil: null,
      undef_in_array: [undefined],
      arr: [1, 'two', true, null, [3, [4]], { inner: 'x' }, 2n ** 62n, 1.25, Buffer.from('b')],
      empty_arr: [],
      nested: { level1: { level2: { deep: -1, list: ['a', 'b'] } }, empty: {} },
    };
    const back = dec(enc(t));
    assert.deepEqual(plain(back), {
      ...t,
      ts: 365 * 86400, // timestamps decode as seconds since the epoch
      undef_in_array: [null],
    });
    // bigints inside the safe range decode as numbers; outside stay bigints
    assert.equal(typeof back.long_pos, 'number');
    assert.equal(typeof back.big, 'bigint');
    assert.equal(back.big, big);
    assert.equal(back.big_min, -(2n ** 63n));

    const names: Record<string, string> = {
      bool_t: 'bool', int: 'signedint', neg: 'signedint', int_max: 'signedint', int_min: 'signedint',
      long_pos: 'long', long_neg: 'long', big: 'long', big_max: 'long', dbl: 'double', str: 'longstr',
      bytes: 'binary', dec: 'decimal', ts: 'timestamp', nil: 'void', arr: 'array', nested: 'table',
    };
    for (const [k, name] of Object.entries(names)) assert.equal(fieldTypeName(back, k), name, k);
    assert.equal(fieldTypeName(back, 'no-such-key'), undefined);
    // nested tables remember their own types
    const nested = back.nested as FieldTable;
    const l1 = nested.level1 as FieldTable;
    assert.equal(fieldTypeName(nested, 'level1'), 'table');
    assert.equal(fieldTypeName(l1.level2 as FieldTable, 'deep'), 'signedint');
    assert.equal(fieldTypeName(l1.level2 as FieldTable, 'list'), 'array');
    // tables inside arrays too
    const inArr = (back.arr as FieldTable[])[5];
    assert.equal(fieldTypeName(inArr, 'inner'), 'longstr');
  });

  test('the type memory is invisible to Object.keys and JSON', () => {
    const back = dec(enc({ a: 1, b: 'x' }));
    assert.deepEqual(Object.keys(back), ['a', 'b']);
    assert.equal(JSON.stringify(back), '{"a":1,"b":"x"}');
  });

  test('the type memory is not enumerable, as documented (spread copies do not share it)', () => {
    const back = dec(enc({ a: 1 }));
    const syms = Object.getOwnPropertySymbols(back);
    assert.equal(syms.length, 1);
    assert.equal(Object.prototype.propertyIsEnumerable.call(back, syms[0]), false,
      'the symbol-keyed type record is enumerable: {...table} copies (and shares) it, and deepStrictEqual compares it');
  });

  test('fieldTypeName of a table that was not decoded is undefined', () => {
    assert.equal(fieldTypeName({ a: 1 }, 'a'), undefined);
  });

  test('Typed values round trip with their forced types', () => {
    const back = dec(enc({
      b: new Typed('b', -128), B: new Typed('B', 255), s: new Typed('s', -32768), u: new Typed('u', 65535),
      i: new Typed('i', 4294967295), I: new Typed('I', -5), l: new Typed('l', 5), f: new Typed('f', 0.25),
      d: new Typed('d', 2), T: new Typed('T', new Date(2000)), S: new Typed('S', 'str'), t: new Typed('t', 1),
    }));
    assert.deepEqual(plain(back), { b: -128, B: 255, s: -32768, u: 65535, i: 4294967295, I: -5, l: 5, f: 0.25, d: 2, T: 2, S: 'str', t: true });
    const expected: Record<string, string> = {
      b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', i: 'unsignedint', I: 'signedint',
      l: 'long', f: 'float', d: 'double', T: 'timestamp', S: 'longstr', t: 'bool',
    };
    for (const [k, name] of Object.entries(expected)) assert.equal(fieldTypeName(back, k), name, k);
  });

  test('a Typed with an unknown type cannot be encoded', () => {
    assert.throws(() => enc({ a: new Typed('Q', 1) }), AmqpSyntaxError);
  });
});

describe('decoding types the encoder never chooses', () => {
  test('signed/unsigned bytes, shorts, ints and floats give the right numbers', () => {
    const f32 = Buffer.alloc(4);
    f32.writeFloatBE(-2.5);
    const body = raw(
      ['b1', 'b', [0xff]], ['b2', 'b', [0x7f]], ['b3', 'b', [0x80]],
      ['B1', 'B', [0xff]], ['B2', 'B', [0x00]],
      ['s1', 's', [0xff, 0xfe]], ['s2', 's', [0x7f, 0xff]], ['s3', 's', [0x80, 0x00]],
      ['u1', 'u', [0xff, 0xfe]], ['u2', 'u', [0x80, 0x00]],
      ['i1', 'i', [0xff, 0xff, 0xff, 0xff]], ['i2', 'i', [0x80, 0x00, 0x00, 0x00]],
      ['I1', 'I', [0xff, 0xff, 0xff, 0xff]],
      ['f1', 'f', f32],
      ['l1', 'l', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ['l2', 'l', [0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]], // 2^53: beyond safe -> bigint
      ['l3', 'l', [0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]], // 2^53-1: safe -> number
      ['T1', 'T', [0, 0, 0, 0, 0, 0, 0x01, 0x00]],
      ['D1', 'D', [0x01, 0xff, 0xff, 0xff, 0xff]],
      ['t1', 't', [0x02]], // any non-zero octet is true
      ['V1', 'V', []],
    );
    const t = decodeTableAt(body, 0, body.length);
    assert.deepEqual(plain(t), {
      b1: -1, b2: 127, b3: -128, B1: 255, B2: 0,
      s1: -2, s2: 32767, s3: -32768, u1: 65534, u2: 32768,
      i1: 4294967295, i2: 2147483648, I1: -1,
      f1: -2.5,
      l1: -1, l2: 2n ** 53n, l3: 2 ** 53 - 1,
      T1: 256,
      D1: new Decimal(1, 4294967295),
      t1: true,
      V1: null,
    });
    assert.equal(fieldTypeName(t, 'b1'), 'byte');
    assert.equal(fieldTypeName(t, 'B1'), 'unsignedbyte');
    assert.equal(fieldTypeName(t, 's1'), 'short');
    assert.equal(fieldTypeName(t, 'u1'), 'unsignedshort');
    assert.equal(fieldTypeName(t, 'i1'), 'unsignedint');
    assert.equal(fieldTypeName(t, 'I1'), 'signedint');
    assert.equal(fieldTypeName(t, 'f1'), 'float');
    assert.equal(fieldTypeName(t, 'l1'), 'long');
    assert.equal(fieldTypeName(t, 'V1'), 'void');
  });

  test('arrays holding small int types', () => {
    // A [ b:-1, s:-2, u:3 ] ; length = 2 + 3 + 3 = 8
    const body = raw(['a', 'A', [0, 0, 0, 8, 0x62, 0xff, 0x73, 0xff, 0xfe, 0x75, 0x00, 0x03]]);
    assert.deepEqual(decPlain(body), { a: [-1, -2, 3] });
  });

  test('decoding honours start and end inside a larger buffer', () => {
    const body = raw(['k', 'B', [5]]);
    const big = Buffer.concat([Buffer.from([0xaa, 0xbb]), body, Buffer.from([0xcc])]);
    assert.deepEqual(decPlain(big, 2, 2 + body.length), { k: 5 });
    assert.deepEqual(decodeTableAt(big, 2, 2), {});
  });

  test('a repeated key keeps the last value', () => {
    const body = raw(['k', 'B', [1]], ['k', 'B', [2]]);
    assert.deepEqual(decPlain(body), { k: 2 });
  });
});

describe('malformed field tables', () => {
  const good = enc({ a: 1, s: 'abc', arr: [1, 2], f: { x: true } });

  test('every truncation of the contents throws AmqpSyntaxError', () => {
    // entries end at 7 (a), 17 (s), 36 (arr): cutting there leaves a valid, shorter table
    const boundaries = new Set([7, 17, 36]);
    assert.equal(good.length - 4, 47);
    assert.deepEqual(plain(decodeTableAt(good, 4, 4 + 17)), { a: 1, s: 'abc' });
    for (let cut = 1; cut < good.length - 4; cut++) {
      if (boundaries.has(cut)) continue;
      assert.throws(() => decodeTableAt(good, 4, 4 + cut), AmqpSyntaxError, `cut at ${cut}`);
    }
  });

  test('a length prefix beyond the data throws via Reader.table', () => {
    const b = Buffer.from(good);
    b.writeUInt32BE(b.length, 0); // claims 4 more bytes than there are
    assert.throws(() => new Reader().reset(b, 0, b.length).table(), AmqpSyntaxError);
  });

  test('a key longer than the table throws', () => {
    const body = Buffer.from([10, 0x61, 0x62]);
    assert.throws(() => decodeTableAt(body, 0, body.length), AmqpSyntaxError);
  });

  test('a key with no type octet throws', () => {
    const body = Buffer.from([1, 0x61]);
    assert.throws(() => decodeTableAt(body, 0, body.length), AmqpSyntaxError);
  });

  test('values overrunning the table throw', () => {
    for (const [type, bytes] of [
      ['I', [0, 0, 1]], ['l', [0, 0, 0, 0, 0, 0, 0]], ['d', [0]], ['f', [0, 0]], ['s', [0]], ['u', []], ['b', []],
      ['B', []], ['t', []], ['D', [1, 0, 0, 0]], ['T', [0, 0]],
      ['S', [0, 0, 0, 5, 0x61]], ['x', [0, 0, 0, 2, 0]], ['S', [0, 0]],
      ['F', [0, 0, 0, 9]], ['A', [0, 0, 0, 3, 0x49]],
    ] as [string, number[]][]) {
      const body = raw(['k', type, bytes]);
      assert.throws(() => decodeTableAt(body, 0, body.length), AmqpSyntaxError, `${type} ${bytes}`);
    }
  });

  test('a value overrunning a nested table or array (but not the outer table) throws', () => {
    // F of length 3 holding key 'x' type I, while the outer table has the int's bytes after it
    const nested = raw(['f', 'F', [0, 0, 0, 3, 1, 0x78, 0x49, 0, 0, 0, 1]]);
    assert.throws(() => decodeTableAt(nested, 0, nested.length), AmqpSyntaxError);
    // A of length 2 holding an I
    const arr = raw(['a', 'A', [0, 0, 0, 2, 0x49, 0, 0, 0, 1]]);
    assert.throws(() => decodeTableAt(arr, 0, arr.length), AmqpSyntaxError);
  });

  test('an unknown type letter throws, also inside arrays', () => {
    // ('L' is known: RabbitMQ reads it as a signed 64-bit long, see field-table-edges.)
    for (const letter of ['Z', 'U', 'c', '\0']) {
      const body = raw(['k', letter, [0, 0, 0, 0]]);
      assert.throws(() => decodeTableAt(body, 0, body.length), (e: unknown) =>
        e instanceof AmqpSyntaxError && e.code === 502 && /unknown field table type/.test(e.message), letter);
    }
    const arr = raw(['a', 'A', [0, 0, 0, 1, 0x5a]]);
    assert.throws(() => decodeTableAt(arr, 0, arr.length), AmqpSyntaxError);
  });
});
