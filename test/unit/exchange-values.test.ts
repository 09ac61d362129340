// valuesEqual: header values compared as RabbitMQ does (numbers by value, bytes by content).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from '../../src/amqp/codec.js';
import { Typed, decodeTableAt, encodeTable, type FieldTable } from '../../src/amqp/field-table.js';
import { valuesEqual } from '../../src/broker/exchange.js';

describe('valuesEqual', () => {
  test('numbers by value, across number and bigint', () => {
    assert.equal(valuesEqual(1, 1), true);
    assert.equal(valuesEqual(1, 1n), true);
    assert.equal(valuesEqual(2n ** 60n, 2n ** 60n), true);
    assert.equal(valuesEqual(1, 2), false);
    assert.equal(valuesEqual(1.5, 1.5), true);
  });

  test('different kinds are not equal', () => {
    assert.equal(valuesEqual(1, '1'), false);
    assert.equal(valuesEqual('a', Buffer.from('a')), false);
    assert.equal(valuesEqual(true, 1), false);
    assert.equal(valuesEqual(null, 0), false);
    assert.equal(valuesEqual([], {}), false);
    assert.equal(valuesEqual({}, []), false);
  });

  test('strings, booleans, null', () => {
    assert.equal(valuesEqual('pdf', 'pdf'), true);
    assert.equal(valuesEqual('pdf', 'PDF'), false);
    assert.equal(valuesEqual(true, true), true);
    assert.equal(valuesEqual(null, null), true);
  });

  test('bytes by content, arrays and tables deeply', () => {
    assert.equal(valuesEqual(Buffer.from([1, 2]), Buffer.from([1, 2])), true);
    assert.equal(valuesEqual(Buffer.from([1, 2]), Buffer.from([1, 3])), false);
    assert.equal(valuesEqual([1, 'a', [2]], [1, 'a', [2]]), true);
    assert.equal(valuesEqual([1, 'a'], [1, 'a', 3]), false);
    assert.equal(valuesEqual({ a: 1, b: { c: [1] } }, { b: { c: [1] }, a: 1 }), true);
    assert.equal(valuesEqual({ a: 1 }, { a: 1, b: 2 }), false);
    assert.equal(valuesEqual({ a: 1 }, { b: 1 }), false);
  });

  test('decoded values equal the values they were encoded from, whatever the wire type', () => {
    const w = new Writer(64);
    const t: FieldTable = { s: new Typed('s', 5), l: new Typed('l', 5), u: new Typed('B', 5), nested: { x: [1, 2] } };
    encodeTable(w, t);
    const back = decodeTableAt(w.buf, 4, w.pos);
    assert.equal(valuesEqual(back.s, 5), true);
    assert.equal(valuesEqual(back.l, back.u), true);
    assert.equal(valuesEqual(back.nested, { x: [1, 2] }), true);
  });
});
