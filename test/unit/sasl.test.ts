// SASL responses of connection.start-ok: PLAIN and AMQPLAIN.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from '../../src/amqp/codec.js';
import { encodeTable, type FieldTable } from '../../src/amqp/field-table.js';
import { Socket } from 'node:net';
import { Mechanisms, parseCredentials } from '../../src/server/sasl.js';

/** AMQPLAIN response: a field table without its 4-byte length. */
function amqplain(t: FieldTable): Buffer {
  const w = new Writer(16);
  encodeTable(w, t);
  return Buffer.from(w.buf.subarray(4, w.pos));
}

describe('parseCredentials', () => {
  test('offered mechanisms: EXTERNAL only on TLS connections', () => {
    const m = new Mechanisms(['PLAIN', 'AMQPLAIN', 'EXTERNAL'], 'distinguished_name');
    assert.equal(m.offered(new Socket()).toString(), 'PLAIN AMQPLAIN');
    assert.equal(m.tls.toString(), 'PLAIN AMQPLAIN EXTERNAL');
    // A client choosing EXTERNAL on a plain connection, or a mechanism not enabled, gets no credentials.
    assert.equal(m.credentials('EXTERNAL', Buffer.alloc(0), new Socket()), null);
    const plainOnly = new Mechanisms(['PLAIN'], 'common_name');
    assert.equal(plainOnly.credentials('AMQPLAIN', amqplain({ LOGIN: 'a', PASSWORD: 'b' }), new Socket()), null);
    assert.deepEqual(plainOnly.credentials('PLAIN', Buffer.from('\0a\0b'), new Socket()), { username: 'a', password: 'b' });
  });

  test('PLAIN without authzid', () => {
    assert.deepEqual(parseCredentials('PLAIN', Buffer.from('\0guest\0guest')), { username: 'guest', password: 'guest' });
  });

  test('PLAIN with authzid (ignored)', () => {
    assert.deepEqual(parseCredentials('PLAIN', Buffer.from('admin\0bob\0s3cret')), { username: 'bob', password: 's3cret' });
  });

  test('PLAIN with empty fields, UTF-8, and NUL inside the password', () => {
    assert.deepEqual(parseCredentials('PLAIN', Buffer.from('\0\0')), { username: '', password: '' });
    assert.deepEqual(parseCredentials('PLAIN', Buffer.from('\0jürgen\0pässwörd')), { username: 'jürgen', password: 'pässwörd' });
    assert.deepEqual(parseCredentials('PLAIN', Buffer.from('\0u\0p\0q')), { username: 'u', password: 'p\0q' });
  });

  test('malformed PLAIN is null', () => {
    assert.equal(parseCredentials('PLAIN', Buffer.alloc(0)), null);
    assert.equal(parseCredentials('PLAIN', Buffer.from('guestguest')), null);
    assert.equal(parseCredentials('PLAIN', Buffer.from('\0guestguest')), null);
    assert.equal(parseCredentials('PLAIN', Buffer.from('guest\0')), null);
  });

  test('AMQPLAIN table', () => {
    assert.deepEqual(parseCredentials('AMQPLAIN', amqplain({ LOGIN: 'guest', PASSWORD: 'guest' })), { username: 'guest', password: 'guest' });
    assert.deepEqual(parseCredentials('AMQPLAIN', amqplain({ PASSWORD: 'p', other: 1, LOGIN: 'u' })), { username: 'u', password: 'p' });
    // as sent by some clients: the exact bytes of a LOGIN/PASSWORD table
    const raw = Buffer.concat([
      Buffer.from([5]), Buffer.from('LOGIN'), Buffer.from('S'), Buffer.from([0, 0, 0, 3]), Buffer.from('bob'),
      Buffer.from([8]), Buffer.from('PASSWORD'), Buffer.from('S'), Buffer.from([0, 0, 0, 2]), Buffer.from('pw'),
    ]);
    assert.deepEqual(parseCredentials('AMQPLAIN', raw), { username: 'bob', password: 'pw' });
  });

  test('malformed or incomplete AMQPLAIN is null', () => {
    assert.equal(parseCredentials('AMQPLAIN', Buffer.alloc(0)), null);
    assert.equal(parseCredentials('AMQPLAIN', amqplain({ LOGIN: 'guest' })), null);
    assert.equal(parseCredentials('AMQPLAIN', amqplain({ PASSWORD: 'guest' })), null);
    const good = amqplain({ LOGIN: 'guest', PASSWORD: 'guest' });
    for (let cut = 1; cut < good.length; cut++) {
      assert.equal(parseCredentials('AMQPLAIN', good.subarray(0, cut)), null, `cut at ${cut}`);
    }
    assert.equal(parseCredentials('AMQPLAIN', Buffer.from([5, 0x4c, 0x4f, 0x47, 0x49, 0x4e, 0x5a])), null, 'unknown type');
    // PLAIN bytes sent as AMQPLAIN
    assert.equal(parseCredentials('AMQPLAIN', Buffer.from('\0guest\0guest')), null);
  });

  test('unknown mechanisms are null', () => {
    assert.equal(parseCredentials('EXTERNAL', Buffer.from('\0guest\0guest')), null);
    assert.equal(parseCredentials('plain', Buffer.from('\0guest\0guest')), null);
    assert.equal(parseCredentials('', Buffer.from('\0guest\0guest')), null);
  });
});
