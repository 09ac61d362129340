// Content-header properties of class basic: encode/decode of all 14 and the broker's scan.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpSyntaxError, Writer } from '../../src/amqp/codec.js';
import { Decimal, fieldTypeName } from '../../src/amqp/field-table.js';
import {
  PropertySummary, decodeHeaders, decodeProperties, encodeProperties, propertiesToBuffer, scanProperties,
  type BasicProperties,
} from '../../src/amqp/properties.js';
import { BASIC_PROPERTIES } from '../../src/amqp/methods.js';
import { plain } from './helpers.js';

const ALL: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: { 'x-match': 'all', n: 7, nested: { deep: [1, 'two'] }, big: 2n ** 60n, d: new Decimal(2, 5) },
  deliveryMode: 2,
  priority: 9,
  correlationId: 'corr-1',
  replyTo: 'reply.queue',
  expiration: '60000',
  messageId: 'msg-42',
  timestamp: 1_700_000_000,
  type: 'order.created',
  userId: 'guest',
  appId: 'warren-tests',
  clusterId: 'cluster-a',
};

function scan(p: BasicProperties): PropertySummary {
  const b = propertiesToBuffer(p);
  const s = new PropertySummary();
  scanProperties(b, 0, b.length, s);
  return s;
}

describe('encodeProperties / decodeProperties', () => {
  test('all 14 properties round trip', () => {
    const b = propertiesToBuffer(ALL);
    assert.equal(b.readUInt16BE(0), 0xfffc, 'flags: bits 15..2 set, continuation bit clear');
    const back = decodeProperties(b);
    assert.deepEqual(plain(back), ALL);
    assert.deepEqual(Object.keys(back), Object.keys(ALL), 'in flag order');
    assert.equal(fieldTypeName(back.headers!, 'big'), 'long');
  });

  test('the 14 names follow the spec order of the generated BASIC_PROPERTIES', () => {
    assert.deepEqual([...BASIC_PROPERTIES], Object.keys(ALL));
  });

  test('each property alone sets exactly its own flag bit', () => {
    const keys = Object.keys(ALL) as (keyof BasicProperties)[];
    keys.forEach((k, i) => {
      const p = { [k]: ALL[k] } as BasicProperties;
      const b = propertiesToBuffer(p);
      assert.equal(b.readUInt16BE(0), 1 << (15 - i), k);
      assert.deepEqual(plain(decodeProperties(b)), p, k);
    });
  });

  test('exact bytes of a small property list', () => {
    const b = propertiesToBuffer({ contentType: 'a', deliveryMode: 1, timestamp: 258 });
    assert.equal(b.toString('hex'), '9040' + '0161' + '01' + '0000000000000102');
  });

  test('no properties: two zero flag octets, decoded as {}', () => {
    const b = propertiesToBuffer({});
    assert.equal(b.toString('hex'), '0000');
    assert.deepEqual(decodeProperties(b), {});
  });

  test('empty strings and an empty headers table are present, not absent', () => {
    const p: BasicProperties = { contentType: '', headers: {}, expiration: '' };
    assert.deepEqual(plain(decodeProperties(propertiesToBuffer(p))), p);
  });

  test('decodeProperties honours start/end inside a larger buffer', () => {
    const inner = propertiesToBuffer({ messageId: 'm', priority: 3 });
    const big = Buffer.concat([Buffer.from([1, 2, 3]), inner, Buffer.from([0xce])]);
    assert.deepEqual(decodeProperties(big, 3, 3 + inner.length), { priority: 3, messageId: 'm' });
  });

  test('a continuation flag word is skipped', () => {
    // flags: content-type + continuation bit, then a second (empty) flag word
    const b = Buffer.from([0x80, 0x01, 0x00, 0x00, 0x01, 0x78]);
    assert.deepEqual(decodeProperties(b), { contentType: 'x' });
    const s = new PropertySummary();
    assert.doesNotThrow(() => scanProperties(b, 0, b.length, s));
  });

  test('truncated lists throw AmqpSyntaxError in decodeProperties', () => {
    const b = propertiesToBuffer(ALL);
    for (let cut = 0; cut < b.length; cut++) {
      assert.throws(() => decodeProperties(b, 0, cut), AmqpSyntaxError, `cut at ${cut}`);
    }
  });

  test('encodeProperties appends to a Writer', () => {
    const w = new Writer(4);
    w.u8(0xaa);
    encodeProperties(w, ALL);
    assert.deepEqual(plain(decodeProperties(w.buf, 1, w.pos)), ALL);
  });
});

describe('scanProperties', () => {
  test('picks delivery mode, priority, expiration, user id and headers from all 14', () => {
    const b = propertiesToBuffer(ALL);
    const s = new PropertySummary();
    scanProperties(b, 0, b.length, s);
    assert.equal(s.deliveryMode, 2);
    assert.equal(s.priority, 9);
    assert.equal(s.expiration, 60000);
    assert.equal(s.badExpiration, null);
    assert.equal(s.userId, 'guest');
    assert.equal(s.replyToDirect, false);
    // headers offsets: the table contents without its length, right after the two shortstrs
    const expectStart = 2 + 1 + 'application/json'.length + 1 + 'gzip'.length + 4;
    assert.equal(s.headersStart, expectStart);
    assert.equal(s.headersEnd - s.headersStart, b.readUInt32BE(expectStart - 4));
    assert.deepEqual(plain(decodeHeaders(b, s)), plain(ALL.headers));
  });

  test('defaults when no properties are present', () => {
    const s = scan({});
    assert.equal(s.deliveryMode, 0);
    assert.equal(s.priority, -1);
    assert.equal(s.expiration, -1);
    assert.equal(s.badExpiration, null);
    assert.equal(s.userId, null);
    assert.equal(s.headersStart, -1);
    assert.equal(s.headersEnd, -1);
    assert.equal(s.replyToDirect, false);
    assert.equal(decodeHeaders(Buffer.alloc(0), s), null);
  });

  test('a reused summary is reset between scans', () => {
    const s = new PropertySummary();
    const a = propertiesToBuffer({ ...ALL, replyTo: 'amq.rabbitmq.reply-to', expiration: 'bad' });
    scanProperties(a, 0, a.length, s);
    assert.equal(s.replyToDirect, true);
    assert.equal(s.badExpiration, 'bad');
    const b = propertiesToBuffer({});
    scanProperties(b, 0, b.length, s);
    assert.deepEqual({ ...s }, { ...new PropertySummary() });
  });

  test('offsets are absolute when the list starts inside a buffer', () => {
    const inner = propertiesToBuffer({ headers: { a: 1 }, priority: 4 });
    const pad = Buffer.alloc(12, 0x11); // e.g. class, weight and body size of a content header
    const big = Buffer.concat([pad, inner, Buffer.from([0xce])]);
    const s = new PropertySummary();
    scanProperties(big, 12, 12 + inner.length, s);
    assert.equal(s.headersStart, 12 + 2 + 4);
    assert.equal(s.headersEnd, 12 + 2 + 4 + 7);
    assert.equal(s.priority, 4);
    assert.deepEqual(plain(decodeHeaders(big, s)), { a: 1 });
  });

  test('valid expirations', () => {
    for (const [text, ms] of [['0', 0], ['1', 1], ['60000', 60000], ['007', 7], ['999999999999999', 999999999999999]] as const) {
      const s = scan({ expiration: text });
      assert.equal(s.expiration, ms, text);
      assert.equal(s.badExpiration, null, text);
    }
  });

  test('invalid expirations are kept as text and leave expiration at -1', () => {
    for (const text of ['', '-1', '1.5', 'abc', ' 5', '5 ', '1e3', '0x10', '1234567890123456']) {
      const s = scan({ expiration: text });
      assert.equal(s.expiration, -1, JSON.stringify(text));
      assert.equal(s.badExpiration, text, JSON.stringify(text));
    }
  });

  test('user id, also empty and non-ASCII', () => {
    assert.equal(scan({ userId: 'bob' }).userId, 'bob');
    assert.equal(scan({ userId: '' }).userId, '');
    assert.equal(scan({ userId: 'jürgen' }).userId, 'jürgen');
  });

  test('delivery mode and priority alone', () => {
    assert.equal(scan({ deliveryMode: 1 }).deliveryMode, 1);
    assert.equal(scan({ priority: 0 }).priority, 0);
    assert.equal(scan({ priority: 255 }).priority, 255);
  });

  test('direct reply-to is detected only for the exact name', () => {
    assert.equal(scan({ replyTo: 'amq.rabbitmq.reply-to' }).replyToDirect, true);
    assert.equal(scan({ ...ALL, replyTo: 'amq.rabbitmq.reply-to' }).replyToDirect, true);
    assert.equal(scan({ replyTo: 'amq.rabbitmq.reply-to.g1h2AA5yZXBseUAx' }).replyToDirect, false);
    assert.equal(scan({ replyTo: 'amq.rabbitmq.reply-tO' }).replyToDirect, false);
    assert.equal(scan({ replyTo: 'amq.rabbitmq.reply-t' }).replyToDirect, false);
    assert.equal(scan({ replyTo: '' }).replyToDirect, false);
    assert.equal(scan({ correlationId: 'amq.rabbitmq.reply-to' }).replyToDirect, false);
  });

  test('a list shorter than the flags throws', () => {
    const s = new PropertySummary();
    assert.throws(() => scanProperties(Buffer.from([0x00]), 0, 1, s), AmqpSyntaxError);
    assert.throws(() => scanProperties(Buffer.from([0x00, 0x00]), 0, 1, s), AmqpSyntaxError);
  });

  test('fields overrunning the list throw when more bytes follow in the buffer', () => {
    const b = propertiesToBuffer(ALL);
    const big = Buffer.concat([b, Buffer.alloc(600, 0)]);
    const s = new PropertySummary();
    for (const cut of [3, 10, 20, b.length - 1]) {
      assert.throws(() => scanProperties(big, 0, cut, s), AmqpSyntaxError, `cut at ${cut}`);
    }
  });

  // As handed over by FrameReader: the payload ends at `end` and buf[end] is the 0xCE end octet,
  // possibly the last byte of the socket chunk. A malformed header must be a syntax error (502),
  // not an exception of another kind (which the connection turns into 541 internal error).
  const truncatedAtFrameEnd: [string, number[]][] = [
    ['headers flag, no table', [0x20, 0x00]],
    ['continuation flag, no second flag word', [0x00, 0x01]],
    ['timestamp flag, no timestamp', [0x00, 0x40]],
    ['content-type flag, no string', [0x80, 0x00]],
    ['delivery-mode flag, no octet', [0x10, 0x00]],
  ];
  for (const [what, bytes] of truncatedAtFrameEnd) {
    test(`truncated at the end of a frame (${what}) throws AmqpSyntaxError`, () => {
      const buf = Buffer.from([...bytes, 0xce]);
      assert.throws(() => scanProperties(buf, 0, bytes.length, new PropertySummary()), AmqpSyntaxError);
    });
  }
});
