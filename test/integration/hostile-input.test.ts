// Hostile and unusual input, answered as RabbitMQ answers it (codes checked against RabbitMQ
// 3.10 with the same bytes), while a bystander connection publishes and consumes throughout
// and must never notice. The harness fails any test during which the broker logs an internal error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import { Writer } from '../../src/amqp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawClient, M, frame } from '../helpers/raw-amqp.js';
import { sleep } from '../helpers/amqp.js';

/** A method frame on `channel` built by hand, so that any bytes can go in. */
function rawMethod(channel: number, classId: number, methodId: number, build: (w: Writer) => void): Buffer {
  const w = new Writer(256);
  w.u16(classId);
  w.u16(methodId);
  build(w);
  return frame(M.FRAME_METHOD, channel, Buffer.from(w.buf.subarray(0, w.pos)));
}
const shortstr = (w: Writer, b: Buffer) => { w.u8(b.length); w.bytes(b); };

/** basic.publish with raw exchange and routing-key bytes. */
const rawPublish = (exchange: Buffer, routingKey: Buffer) =>
  rawMethod(1, 60, 40, (w) => { w.u16(0); shortstr(w, exchange); shortstr(w, routingKey); w.u8(0); });

/** A content header carrying only a headers table, given as raw bytes (length prefix included). */
function rawHeadersHeader(channel: number, bodySize: number, table: Buffer): Buffer {
  const p = Buffer.alloc(14);
  p.writeUInt16BE(60, 0);
  p.writeUInt32BE(bodySize, 8);
  p.writeUInt16BE(1 << 13, 12);
  return frame(M.FRAME_HEADER, channel, Buffer.concat([p, table]));
}

const withLength = (contents: Buffer) => {
  const l = Buffer.alloc(4);
  l.writeUInt32BE(contents.length);
  return Buffer.concat([l, contents]);
};
const entry = (key: string, typeAndValue: Buffer) => Buffer.concat([Buffer.from([key.length]), Buffer.from(key), typeAndValue]);

/** A headers table {a: {a: ... void}} nested `depth` deep, tables or arrays, with its length. */
function deepHeaders(depth: number, kind: 'F' | 'A'): Buffer {
  let v = Buffer.from('V');
  for (let i = 0; i < depth; i++) v = Buffer.concat([Buffer.from(kind), withLength(kind === 'F' ? entry('a', v) : v)]);
  return withLength(entry('a', v));
}

const BAD_UTF8 = Buffer.from([0x61, 0xff, 0xfe]);

describe('hostile input', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  let bystander: amqplib.ChannelModel;
  let bystanderErrors: string[] = [];
  let bystanderSent = 0;
  let bystanderGot: number[] = [];
  let stopBystander = false;
  let bystanderLoop: Promise<void>;

  /** Starts the bystander: confirmed publishes to its own queue, consumed as they come. */
  const startBystander = async () => {
    stopBystander = false;
    bystanderErrors = [];
    bystanderSent = 0;
    bystanderGot = [];
    bystander = await amqplib.connect(broker.url);
    bystander.on('error', (e) => bystanderErrors.push(`connection: ${e.message}`));
    bystander.on('close', () => { if (!stopBystander) bystanderErrors.push('connection closed'); });
    const ch = await bystander.createConfirmChannel();
    ch.on('error', (e) => bystanderErrors.push(`channel: ${e.message}`));
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.consume(queue, (m) => { if (m) bystanderGot.push(Number(m.content.toString())); }, { noAck: true });
    bystanderLoop = (async () => {
      while (!stopBystander) {
        ch.publish('', queue, Buffer.from(String(bystanderSent++)));
        await ch.waitForConfirms();
        await sleep(5);
      }
    })();
  };

  const stopTheBystander = async () => {
    stopBystander = true;
    await bystanderLoop;
    await bystander.close().catch(() => {});
  };

  before(async () => {
    broker = await startBroker();
    await startBystander();
  });

  after(async () => {
    await stopTheBystander();
    await broker?.stop();
  });

  /** A raw connection with channel 1 open. */
  const open = async () => {
    const c = await RawClient.open(broker.port);
    await c.openChannel(1);
    return c;
  };

  it('basic.publish whose exchange length runs past its frame, as the last frame of a read: 501', async () => {
    const c = await open();
    c.write(Buffer.from('0100010000000c003c00280000ff616d712e64ce', 'hex'));
    await sleep(50);
    c.write(rawHeadersHeader(1, 0, withLength(Buffer.alloc(0))));
    const close = await c.expectConnectionClose();
    assert.equal(close.replyCode, 501);
    assert.match(close.replyText, /^FRAME_ERROR - cannot decode basic.publish/);
    c.destroy();
  });

  it('basic.publish cut inside its routing key or flags: 501 whatever the read boundaries', async () => {
    // Payloads ending inside the exchange name, after the routing key, and before the flags.
    for (const hex of ['003c0028000001', '003c0028000000035f5f5f', '003c002800000000']) {
      const c = await open();
      const bytes = frame(M.FRAME_METHOD, 1, Buffer.from(hex, 'hex'));
      for (let i = 0; i < bytes.length; i++) c.write(bytes.subarray(i, i + 1)); // one byte per write
      const close = await c.expectConnectionClose();
      assert.equal(close.replyCode, 501, `${hex}: ${close.replyText}`);
      c.destroy();
    }
  });

  for (const [name, table] of [
    ['an unknown type tag', withLength(entry('a', Buffer.from('Z')))],
    ['a longstr running past the table', withLength(entry('a', Buffer.from([0x53, 0, 0, 0, 50, 1, 2])))],
    ['a table length running past the properties', Buffer.from([0, 0, 0, 80, 1, 0x61])],
    ['a bad tag 5,000 levels down', (() => { const t = deepHeaders(5000, 'F'); t[t.length - 1] = 0x5a; return t; })()],
  ] as const) {
    it(`a headers table with ${name} is refused at publish (541, as RabbitMQ) and never stored`, async () => {
      const c = await open();
      const dlq = `dlq-${Math.random()}`;
      const q = `q-${Math.random()}`;
      await c.declareQueue(1, dlq);
      await c.declareQueue(1, q, { arguments: { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
      c.write(Buffer.concat([rawPublish(Buffer.alloc(0), Buffer.from(q)), rawHeadersHeader(1, 0, table)]));
      const close = await c.expectConnectionClose();
      assert.equal(close.replyCode, 541);
      assert.match(close.replyText, /malformed content header/);
      c.destroy();
      await sleep(150);
      const check = await open();
      assert.equal((await check.declareQueue(1, q, { passive: true })).messageCount, 0);
      assert.equal((await check.declareQueue(1, dlq, { passive: true })).messageCount, 0);
      await check.close();
    });
  }

  for (const kind of ['F', 'A'] as const) {
    it(`headers nested 10,000 deep (${kind === 'F' ? 'tables' : 'arrays'}) are stored, routed by a headers exchange, dead-lettered and delivered intact`, async () => {
      const c = await open();
      const dlq = `dlq-${Math.random()}`;
      const q = `q-${Math.random()}`;
      await c.declareQueue(1, dlq);
      await c.declareQueue(1, q, { arguments: { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
      await c.call(1, M.encodeQueueBind, { ticket: 0, queue: q, exchange: 'amq.headers', routingKey: '', nowait: false,
        arguments: { 'x-match': 'any', a: 'never' } }, M.QUEUE_BIND_OK);
      const table = deepHeaders(10_000, kind);
      c.write(Buffer.concat([rawPublish(Buffer.from('amq.headers'), Buffer.alloc(0)), rawHeadersHeader(1, 0, table)]));
      c.write(Buffer.concat([rawPublish(Buffer.alloc(0), Buffer.from(q)), rawHeadersHeader(1, 0, table)]));
      await sleep(300);
      c.send(1, M.encodeBasicGet, { ticket: 0, queue: dlq, noAck: true });
      await c.waitUntil(() => c.deliveries.length === 1 || c.closed, 'the dead-lettered message');
      assert.equal(c.connectionClose, undefined, c.describeFrames());
      const h = c.deliveries[0].properties.headers!;
      assert.equal((h['x-death'] as { reason: string }[])[0].reason, 'expired');
      // The deep header came through byte for byte: count its depth in the raw table.
      let v: unknown = h.a;
      let depth = 0;
      while (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
        if ('bytes' in (v as object)) break; // decoded only so far by the test's own codec
        v = kind === 'F' ? (v as Record<string, unknown>).a : (v as unknown[])[0];
        depth++;
      }
      assert.ok(depth >= 64, `decoded depth ${depth}`);
      await c.close();
    });
  }

  it('a durable queue declared with arguments nested 10,000 deep is declared, redeclared and survives a restart', async () => {
    let v = Buffer.from('V');
    for (let i = 0; i < 10_000; i++) v = Buffer.concat([Buffer.from('A'), withLength(v)]);
    const args = withLength(entry('x-deep', v));
    const declare = (c: RawClient) => c.write(rawMethod(1, 50, 10, (w) => {
      w.u16(0); shortstr(w, Buffer.from('deep-args')); w.u8(2); w.bytes(args);
    }));
    let c = await open();
    declare(c);
    await c.expect(M.QUEUE_DECLARE_OK, 1);
    declare(c);
    await c.expect(M.QUEUE_DECLARE_OK, 1);
    await c.close();
    if (broker.external) return;
    await stopTheBystander();
    await broker.restart();
    c = await open();
    declare(c);
    await c.expect(M.QUEUE_DECLARE_OK, 1);
    await c.call(1, M.encodeQueueDelete, { ticket: 0, queue: 'deep-args', ifUnused: false, ifEmpty: false, nowait: false }, M.QUEUE_DELETE_OK);
    await c.close();
    // A new bystander for the tests after this one.
    await startBystander();
  });

  for (const [name, bytes] of [
    ['exchange.declare', rawMethod(1, 40, 10, (w) => { w.u16(0); shortstr(w, BAD_UTF8); shortstr(w, Buffer.from('direct')); w.u8(0); w.u32(0); })],
    ['queue.declare', rawMethod(1, 50, 10, (w) => { w.u16(0); shortstr(w, BAD_UTF8); w.u8(0); w.u32(0); })],
    ['queue.bind routing key', rawMethod(1, 50, 20, (w) => {
      w.u16(0); shortstr(w, Buffer.from('q')); shortstr(w, Buffer.from('amq.direct')); shortstr(w, BAD_UTF8); w.u8(0); w.u32(0);
    })],
    ['basic.consume tag', rawMethod(1, 60, 20, (w) => { w.u16(0); shortstr(w, Buffer.from('q')); shortstr(w, BAD_UTF8); w.u8(0); w.u32(0); })],
    ['basic.get queue', rawMethod(1, 60, 70, (w) => { w.u16(0); shortstr(w, BAD_UTF8); w.u8(0); })],
  ] as const) {
    it(`a name that is not UTF-8 in ${name}: 501 Malformed UTF-8 in shortstr`, async () => {
      const c = await open();
      c.write(bytes);
      const close = await c.expectConnectionClose();
      assert.deepEqual([close.replyCode, close.replyText], [501, 'FRAME_ERROR - Malformed UTF-8 in shortstr']);
      c.destroy();
    });
  }

  it('basic.publish names are not UTF-8-checked (as RabbitMQ): a missing exchange is 404', async () => {
    const c = await open();
    c.write(Buffer.concat([rawPublish(BAD_UTF8, Buffer.from('k')), rawHeadersHeader(1, 0, withLength(Buffer.alloc(0)))]));
    const close = await c.expect(M.CHANNEL_CLOSE, 1);
    assert.equal(close.replyCode, 404);
    await c.close();
  });

  it('an unsolicited connection.close-ok: 504 unexpected method in connection state running', async () => {
    const c = await open();
    c.send(0, M.encodeConnectionCloseOk);
    const close = await c.expectConnectionClose();
    assert.deepEqual([close.replyCode, close.replyText], [504, 'CHANNEL_ERROR - unexpected method in connection state running']);
    c.destroy();
  });

  it('channel.open on a channel the server is closing: 504 second channel.open seen', async () => {
    const c = await open();
    c.send(1, M.encodeQueueDeclare, { ticket: 0, queue: 'no-such-queue', passive: true, durable: false, exclusive: false,
      autoDelete: false, nowait: false, arguments: {} });
    c.send(1, M.encodeChannelOpen, { outOfBand: '' });
    const close = await c.expectConnectionClose();
    assert.deepEqual([close.replyCode, close.replyText], [504, "CHANNEL_ERROR - second 'channel.open' seen"]);
    c.destroy();
  });

  it('close crossing the server\'s close: the late close-ok is ignored and other channels live on', async () => {
    const c = await open();
    await c.openChannel(2);
    // Channel 1 fails; the client closes it at the same moment (amqp091-go's TestChannelExceptionWithCloseIssue43).
    c.write(Buffer.concat([rawPublish(Buffer.from('no-such-exchange'), Buffer.from('k')), rawHeadersHeader(1, 0, withLength(Buffer.alloc(0))),
      rawMethod(1, 20, 40, (w) => { w.u16(200); shortstr(w, Buffer.from('bye')); w.u16(0); w.u16(0); })]));
    assert.equal((await c.expect(M.CHANNEL_CLOSE, 1)).replyCode, 404);
    await c.expect(M.CHANNEL_CLOSE_OK, 1);
    c.send(1, M.encodeChannelCloseOk); // answers the server's close
    await c.declareQueue(2, '', { exclusive: true });
    await c.openChannel(1);
    await c.declareQueue(1, '', { exclusive: true });
    assert.equal(c.connectionClose, undefined);
    // A close-ok for a channel that never was open is still an error.
    c.send(9, M.encodeChannelCloseOk);
    assert.equal((await c.expectConnectionClose()).replyCode, 504);
    c.destroy();
  });

  it('amqplib: a confirm channel that publishes and closes at once gets its acks before close-ok', async () => {
    const conn = await amqplib.connect(broker.url);
    const errors: string[] = [];
    const onUncaught = (e: Error) => errors.push(e.message);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 20; i++) {
        const ch = await conn.createConfirmChannel();
        for (let j = 0; j < 10; j++) ch.publish('', 'nowhere', Buffer.from('x'));
        await ch.close();
      }
      await sleep(100);
    } finally {
      process.off('uncaughtException', onUncaught);
      await conn.close();
    }
    assert.deepEqual(errors, []);
  });

  it('raw: acks due before a channel.close come before close-ok', async () => {
    const c = await open();
    c.send(1, M.encodeConfirmSelect, { nowait: false });
    await c.expect(M.CONFIRM_SELECT_OK, 1);
    c.write(Buffer.concat([
      rawPublish(Buffer.alloc(0), Buffer.from('nowhere')), rawHeadersHeader(1, 0, withLength(Buffer.alloc(0))),
      rawMethod(1, 20, 40, (w) => { w.u16(200); shortstr(w, Buffer.from('bye')); w.u16(0); w.u16(0); }),
    ]));
    await c.expect(M.BASIC_ACK, 1);
    await c.expect(M.CHANNEL_CLOSE_OK, 1);
    await c.close();
  });

  it('the bystander saw no error and got every message in order', async () => {
    await sleep(100);
    assert.deepEqual(bystanderErrors, []);
    assert.ok(bystanderSent > 10, `bystander published ${bystanderSent}`);
    assert.deepEqual(bystanderGot, bystanderGot.map((_, i) => i));
  });
});

describe('listening on IPv4 and IPv6 by default', { timeout: 30_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker({ args: ['--bind', '::'] }); });
  after(async () => { await broker?.stop(); });

  it('amqplib reaches the broker at amqp://[::1] and at 127.0.0.1', async (t) => {
    if (broker.external) return t.skip('needs a broker started by the test');
    for (const host of ['[::1]', '127.0.0.1']) {
      const conn = await amqplib.connect(`amqp://guest:guest@${host}:${broker.port}`);
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from(host));
      const m = await (async () => { for (let i = 0; i < 50; i++) { const g = await ch.get(queue); if (g) return g; await sleep(10); } return false; })();
      assert.ok(m && m.content.toString() === host, `round trip over ${host}`);
      await conn.close();
    }
  });
});
