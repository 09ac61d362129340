// What decodes must encode back to the same bytes, at the edges of every type; publish-time
// validation of tables; nesting far deeper than any call stack; property rewriting that keeps
// every untouched byte.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpSyntaxError, Writer } from '../../src/amqp/codec.js';
import {
  MAX_DECODE_DEPTH, RawField, decodeTableAt, encodeTable, tableEntries, validateTable,
} from '../../src/amqp/field-table.js';
import { decodeProperties, encodeProperties, propertiesToBuffer, rewriteProperties } from '../../src/amqp/properties.js';

/** One table entry: key, type letter, value bytes. */
const entry = (key: string, type: string, value: number[] | Buffer) =>
  Buffer.concat([Buffer.from([key.length]), Buffer.from(key), Buffer.from(type, 'latin1'), Buffer.from(value as number[])]);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const withLength = (contents: Buffer) => Buffer.concat([u32(contents.length), contents]);

/** Decodes table contents and encodes the result: must give back the same contents. */
function roundTrip(contents: Buffer): Buffer {
  const t = decodeTableAt(contents, 0, contents.length);
  const w = new Writer(16);
  encodeTable(w, t);
  return Buffer.from(w.buf.subarray(4, w.pos));
}

const be64 = (v: bigint, signed: boolean) => {
  const b = Buffer.alloc(8);
  if (signed) b.writeBigInt64BE(v); else b.writeBigUInt64BE(v);
  return b;
};

// Each type at its edges, as raw wire values.
const EDGES: [string, string, Buffer][] = [
  ['bool false', 't', Buffer.from([0])], ['bool true', 't', Buffer.from([1])],
  ['byte min', 'b', Buffer.from([0x80])], ['byte max', 'b', Buffer.from([0x7f])],
  ['ubyte max', 'B', Buffer.from([0xff])],
  ['short min', 's', Buffer.from([0x80, 0])], ['short max', 's', Buffer.from([0x7f, 0xff])],
  ['ushort max', 'u', Buffer.from([0xff, 0xff])],
  ['int min', 'I', Buffer.from([0x80, 0, 0, 0])], ['int max', 'I', Buffer.from([0x7f, 0xff, 0xff, 0xff])],
  ['uint max', 'i', Buffer.from([0xff, 0xff, 0xff, 0xff])],
  ['long min', 'l', be64(-(2n ** 63n), true)], ['long max', 'l', be64(2n ** 63n - 1n, true)],
  ['long 2^53', 'l', be64(2n ** 53n, true)], ['long -2^53-1', 'l', be64(-(2n ** 53n) - 1n, true)],
  ['long 2^53-1', 'l', be64(2n ** 53n - 1n, true)],
  ['L (read by RabbitMQ as a signed long) min', 'L', be64(-(2n ** 63n), true)], ['L 1000', 'L', be64(1000n, true)],
  ['timestamp 0', 'T', be64(0n, false)], ['timestamp 2^53', 'T', be64(2n ** 53n, false)],
  ['timestamp 2^64-1', 'T', be64(2n ** 64n - 1n, false)],
  ['float', 'f', Buffer.from([0x3d, 0xcc, 0xcc, 0xcd])], ['float -0', 'f', Buffer.from([0x80, 0, 0, 0])],
  ['double max', 'd', Buffer.from([0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
  ['double -inf', 'd', Buffer.from([0xff, 0xf0, 0, 0, 0, 0, 0, 0])],
  ['decimal max', 'D', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])],
  ['longstr empty', 'S', u32(0)], ['longstr utf8', 'S', withLength(Buffer.from('żółw 🐢'))],
  ['longstr not utf8', 'S', withLength(Buffer.from([0xff, 0xfe, 0x61, 0xc3]))],
  ['binary', 'x', withLength(Buffer.from([0, 1, 0xff]))],
  ['void', 'V', Buffer.alloc(0)],
  ['empty table', 'F', u32(0)], ['empty array', 'A', u32(0)],
  ['array of typed values', 'A', withLength(Buffer.concat([
    Buffer.from('b', 'latin1'), Buffer.from([0xff]), Buffer.from('u', 'latin1'), Buffer.from([0, 1]),
    Buffer.from('T', 'latin1'), be64(2n ** 64n - 1n, false), Buffer.from('S', 'latin1'), withLength(Buffer.from([0x80])),
  ]))],
];

describe('field values round trip at the edges of each type', () => {
  for (const [name, type, value] of EDGES) {
    test(name, () => {
      const contents = entry('k', type, value);
      assert.equal(roundTrip(contents).toString('hex'), contents.toString('hex'));
      // And nested one level inside a table.
      const nested = entry('outer', 'F', withLength(contents));
      assert.equal(roundTrip(nested).toString('hex'), nested.toString('hex'));
    });
  }

  test('a value changed to something its old type cannot hold is re-typed, not broken', () => {
    const e = entry('k', 'b', [1]);
    const t = decodeTableAt(e, 0, e.length);
    t.k = 1000;
    const w = new Writer(16);
    encodeTable(w, t);
    assert.equal(decodeTableAt(w.buf, 4, w.pos).k, 1000);
    t.k = 2 ** 70; // beyond a long: written as a double
    const w2 = new Writer(16);
    encodeTable(w2, t);
    assert.equal(decodeTableAt(w2.buf, 4, w2.pos).k, 2 ** 70);
  });
});

describe('validateTable (publish-time checks)', () => {
  test('accepts every type', () => {
    const contents = Buffer.concat(EDGES.map(([, type, value], i) => entry(`k${i}`, type, value)));
    validateTable(contents, 0, contents.length);
  });

  const bad: [string, Buffer][] = [
    ['unknown type tag', entry('a', 'Z', [])],
    ['longstr length past the end', entry('a', 'S', [0, 0, 0, 50, 1, 2])],
    ['fixed-size value cut short', entry('a', 'l', [0, 0, 0])],
    ['key past the end', Buffer.from([9, 0x61])],
    ['nested table with an unknown tag', entry('a', 'F', withLength(entry('b', 'Z', [])))],
    ['nested table length past its parent', entry('a', 'F', [0, 0, 0, 99, 1, 0x62, 0x56])],
    ['array element with an unknown tag', entry('a', 'A', withLength(Buffer.from('Q', 'latin1')))],
  ];
  for (const [name, contents] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(() => validateTable(contents, 0, contents.length), AmqpSyntaxError);
      assert.throws(() => decodeTableAt(contents, 0, contents.length), AmqpSyntaxError);
    });
  }
});

/** A table nested `depth` deep: {a: {a: ... {a: void}}}, as table contents. */
function deepTable(depth: number, kind: 'F' | 'A'): Buffer {
  let v = Buffer.from('V', 'latin1');
  for (let i = 0; i < depth; i++) {
    const inner = kind === 'F' ? entry('a', v.toString('latin1', 0, 1), v.subarray(1)) : v;
    v = Buffer.concat([Buffer.from(kind, 'latin1'), withLength(inner)]);
  }
  return entry('a', v.toString('latin1', 0, 1), v.subarray(1));
}

describe('deep nesting', () => {
  for (const kind of ['F', 'A'] as const) {
    test(`${kind === 'F' ? 'tables' : 'arrays'} nested 100,000 deep validate, decode and encode back exactly`, () => {
      const contents = deepTable(100_000, kind);
      validateTable(contents, 0, contents.length);
      assert.equal(roundTrip(contents).equals(contents), true);
      // Decoded as JS objects down to MAX_DECODE_DEPTH, kept as bytes below.
      let v: unknown = decodeTableAt(contents, 0, contents.length).a;
      let depth = 0;
      while (!(v instanceof RawField)) {
        v = kind === 'F' ? (v as Record<string, unknown>).a : (v as unknown[])[0];
        depth++;
      }
      assert.equal(depth, MAX_DECODE_DEPTH);
      assert.equal((v as RawField).type, kind);
    });
  }

  test('a malformed value 10,000 levels down is found', () => {
    const good = deepTable(10_000, 'F');
    const broken = Buffer.from(good);
    broken[broken.length - 1] = 0x5a; // the innermost 'V' becomes 'Z'
    assert.throws(() => validateTable(broken, 0, broken.length), /unknown field table type 'Z'/);
  });
});

describe('properties', () => {
  test('a timestamp of 2^64-1 decodes exactly and encodes back', () => {
    const bytes = propertiesToBuffer({ timestamp: 2n ** 64n - 1n, messageId: 'm' });
    const p = decodeProperties(bytes);
    assert.equal(p.timestamp, 2n ** 64n - 1n);
    const w = new Writer(64);
    encodeProperties(w, p);
    assert.equal(Buffer.from(w.buf.subarray(0, w.pos)).toString('hex'), bytes.toString('hex'));
  });

  test('rewriteProperties changes only what it is asked to', () => {
    const headers = withLength(entry('x', 'S', withLength(Buffer.from([0xff]))));
    const before = Buffer.concat([
      Buffer.from([0xff, 0xfc]), // every property
      Buffer.from([2, 0xc3, 0x28]), Buffer.from([1, 0x67]), headers, Buffer.from([2, 9]),
      Buffer.from([3, 0x63, 0x69, 0x64]), Buffer.from([2, 0x72, 0x74]), Buffer.from([3, 0x31, 0x30, 0x30]),
      Buffer.from([1, 0x6d]), be64(2n ** 64n - 1n, false), Buffer.from([1, 0x74]), Buffer.from([1, 0x75]),
      Buffer.from([1, 0x61]), Buffer.from([1, 0x63]),
    ]);
    const newHeaders = withLength(entry('y', 't', [1]));
    const after = rewriteProperties(before, 0, before.length, { headers: newHeaders, dropExpiration: true, replyTo: 'back' });
    const expected = Buffer.concat([
      Buffer.from([0xfe, 0xfc]),
      Buffer.from([2, 0xc3, 0x28]), Buffer.from([1, 0x67]), newHeaders, Buffer.from([2, 9]),
      Buffer.from([3, 0x63, 0x69, 0x64]), Buffer.from([4]), Buffer.from('back'),
      Buffer.from([1, 0x6d]), be64(2n ** 64n - 1n, false), Buffer.from([1, 0x74]), Buffer.from([1, 0x75]),
      Buffer.from([1, 0x61]), Buffer.from([1, 0x63]),
    ]);
    assert.equal(after.toString('hex'), expected.toString('hex'));
    assert.equal(rewriteProperties(before, 0, before.length, {}).toString('hex'), before.toString('hex'));
    assert.throws(() => rewriteProperties(before, 0, 20, {}), AmqpSyntaxError);
  });

  test('tableEntries gives each entry\'s exact bytes', () => {
    const a = entry('a', 'I', [0, 0, 0, 1]);
    const b = entry('bb', 'F', withLength(entry('c', 'V', [])));
    const contents = Buffer.concat([a, b]);
    const list = tableEntries(contents, 0, contents.length);
    assert.deepEqual(list.map((e) => [e.key, contents.subarray(e.at, e.end).toString('hex')]),
      [['a', a.toString('hex')], ['bb', b.toString('hex')]]);
  });
});
