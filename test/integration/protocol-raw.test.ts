// The AMQP 0-9-1 wire protocol as RabbitMQ speaks it, checked with a raw socket client:
// protocol header negotiation, the handshake (start, tune, SASL PLAIN/AMQPLAIN, refused logins),
// heartbeats, tune-ok limits, framing errors and the reply codes RabbitMQ closes the connection
// with, and content split across frames. Every malformed connection must leave other
// connections working. Expectations were taken from RabbitMQ (3.10 reference; where 3.13
// differs, 3.13 — see the comments).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, consume, openChannel, sleep, texts, type Consumer } from '../helpers/amqp.js';
import {
  RawClient, M, PROTOCOL_HEADER, ServerClosedError, frame, methodFrame, headerFrame, bodyFrames, methodPayload,
  HEARTBEAT_FRAME, DEFAULT_CLIENT_PROPERTIES, type Frame,
} from '../helpers/raw-amqp.js';

const CAPABILITIES = [
  'publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'connection.blocked',
  'consumer_priorities', 'authentication_failure_close', 'per_consumer_qos', 'direct_reply_to',
];
const LOGIN_REFUSED = (mechanism: string) =>
  `ACCESS_REFUSED - Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`;

const qos = (prefetchCount = 1) => methodFrame(1, M.encodeBasicQos, { prefetchSize: 0, prefetchCount, global: false });
const publishMethod = (channel: number, routingKey: string) =>
  methodFrame(channel, M.encodeBasicPublish, { ticket: 0, exchange: '', routingKey, mandatory: false, immediate: false });

describe('raw protocol', { timeout: 90_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const raws: RawClient[] = [];

  // Tests within a group run concurrently (RabbitMQ takes 3 s to drop some bad connections),
  // so connections are closed after the whole file rather than after each test.
  before(async () => { broker = await startBroker(); });
  after(async () => {
    for (const c of raws.splice(0)) c.destroy();
    await h.cleanup();
    await broker?.stop();
  });

  /** A raw socket to the broker, destroyed after the file. */
  const rawConnect = async (): Promise<RawClient> => {
    const c = await RawClient.connect(broker.port, broker.host);
    raws.push(c);
    return c;
  };
  /** A raw connection through the handshake (guest, vhost /). */
  const rawOpen = async (opts: Parameters<RawClient['handshake']>[0] = {}): Promise<RawClient> => {
    const c = await rawConnect();
    await c.handshake(opts);
    return c;
  };

  /**
   * A healthy amqplib connection consuming from its own queue, opened before a misbehaving one:
   * `check` proves it still publishes and consumes, and that nothing else reached its queue.
   */
  const healthy = async () => {
    const conn = await h.connect();
    const ch = await openChannel(conn);
    const queue = (await ch.assertQueue('', { exclusive: true })).queue;
    const consumer: Consumer = await consume(ch, queue, { noAck: true });
    return {
      queue,
      async check(label: string) {
        ch.sendToQueue(queue, Buffer.from(label));
        assert.deepEqual(texts(await consumer.take(1)), [label], 'the healthy connection still publishes and consumes');
      },
    };
  };

  describe('protocol header', { concurrency: true }, () => {
    const refused: [string, string][] = [
      ['AMQP 0-9-0', 'AMQP\x00\x00\x09\x00'],
      ['AMQP 0-9-2', 'AMQP\x00\x00\x09\x02'],
      ['AMQP 0-8 (0 0 8 0)', 'AMQP\x00\x00\x08\x00'],
      ['AMQP 1.0', 'AMQP\x00\x01\x00\x00'],
      ['HTTP/1.1', 'HTTP/1.1'],
      ['an HTTP request', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ];
    for (const [what, header] of refused) {
      it(`answers ${what} with the AMQP 0-9-1 header and closes the socket`, async () => {
        const c = await rawConnect();
        c.write(Buffer.from(header, 'latin1'));
        await c.expectSocketClosed();
        assert.equal(c.head.toString('latin1'), 'AMQP\x00\x00\x09\x01');
        assert.equal(c.frames.length, 0, 'nothing but the protocol header');
      });
    }

    it('treats the AMQP 0-9 header (AMQP 1 1 0 9) as 0-9-1 and starts the handshake', async () => {
      // RabbitMQ (3.10 through 4.x): "the protocol header for 0-9, which we can safely treat as
      // though it were 0-9-1": connection.start with version 0-9, then a normal connection.
      const c = await rawConnect();
      c.write(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'));
      const start: M.ConnectionStart = await c.expect(M.CONNECTION_START, 0);
      assert.deepEqual([start.versionMajor, start.versionMinor], [0, 9]);
    });

    it('accepts a protocol header split across TCP segments', async () => {
      const c = await rawConnect();
      c.write(PROTOCOL_HEADER.subarray(0, 3));
      await sleep(50);
      c.write(PROTOCOL_HEADER.subarray(3));
      await c.expect(M.CONNECTION_START, 0);
    });

    // Regression: a short first piece followed by a longer second one (the rest of the header and
    // the start of the next frame) was taken as a wrong header.
    it('accepts a split header whose second piece carries more than the header', async () => {
      const c = await rawConnect();
      c.write(PROTOCOL_HEADER.subarray(0, 3));
      await sleep(50);
      c.write(Buffer.concat([PROTOCOL_HEADER.subarray(3), Buffer.from([M.FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, M.FRAME_END])]));
      await c.expect(M.CONNECTION_START, 0);
    });
  });

  describe('handshake', { concurrency: true }, () => {
    it('connection.start offers 0-9, PLAIN and AMQPLAIN, en_US and the server capabilities', async () => {
      const c = await rawConnect();
      c.write(PROTOCOL_HEADER);
      const start: M.ConnectionStart = await c.expect(M.CONNECTION_START, 0);
      assert.deepEqual([start.versionMajor, start.versionMinor], [0, 9]);
      const mechanisms = start.mechanisms.toString().split(' ');
      assert.ok(mechanisms.includes('PLAIN') && mechanisms.includes('AMQPLAIN'), `mechanisms: ${mechanisms}`);
      assert.equal(start.locales.toString(), 'en_US');
      const props = start.serverProperties;
      for (const key of ['product', 'version', 'platform', 'copyright', 'information', 'cluster_name']) {
        assert.equal(typeof props[key], 'string', `server property ${key}`);
      }
      const caps = props.capabilities as Record<string, unknown>;
      assert.deepEqual(Object.keys(caps).sort(), [...CAPABILITIES].sort());
      for (const cap of CAPABILITIES) assert.equal(caps[cap], true, cap);
    });

    it('connection.tune proposes channel_max 2047, frame_max 131072 and heartbeat 60', async () => {
      const c = await rawConnect();
      const { tune } = await c.handshake();
      assert.deepEqual({ ...tune }, { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    });

    it('logs in with AMQPLAIN', async () => {
      const c = await rawOpen({ mechanism: 'AMQPLAIN' });
      await c.openChannel(1);
    });

    it('refuses a wrong password with connection.close 403 when the client announces authentication_failure_close', async () => {
      const c = await rawConnect();
      await assert.rejects(c.handshake({ password: 'wrong' }), (e: Error) => {
        assert.ok(e instanceof ServerClosedError, e.message);
        assert.equal(e.code, 403);
        assert.equal(e.text, LOGIN_REFUSED('PLAIN'));
        return true;
      });
      c.sendCloseOk();
      await c.expectSocketClosed(6000);
    });

    it('the same for an unknown user and for AMQPLAIN', async () => {
      const c = await rawConnect();
      await assert.rejects(c.handshake({ user: 'no-such-user', password: 'x', mechanism: 'AMQPLAIN' }), (e: Error) => {
        assert.ok(e instanceof ServerClosedError, e.message);
        assert.equal(e.code, 403);
        assert.equal(e.text, LOGIN_REFUSED('AMQPLAIN'));
        return true;
      });
      await c.expectSocketClosed(6000);
    });

    it('the login-refused close names no method (class 0, method 0)', async () => {
      const c = await rawConnect();
      await assert.rejects(c.handshake({ password: 'wrong' }), (e: Error) => {
        assert.ok(e instanceof ServerClosedError, e.message);
        assert.deepEqual([e.classId, e.methodId], [0, 0]);
        return true;
      });
    });

    // Without the capability RabbitMQ sends nothing and just closes the socket (after a delay
    // of 3 s meant to slow down password guessing); so it does for an unknown mechanism and a
    // malformed SASL response.
    const silent: [string, Parameters<RawClient['handshake']>[0]][] = [
      ['a wrong password from a client without authentication_failure_close', { password: 'wrong', clientProperties: { product: 'old client' } }],
      ['a wrong password with authentication_failure_close=false', {
        password: 'wrong', clientProperties: { capabilities: { ...(DEFAULT_CLIENT_PROPERTIES.capabilities as object), authentication_failure_close: false } },
      }],
      ['an unknown SASL mechanism', { mechanism: 'NOPE' }],
      ['a malformed PLAIN response', { response: Buffer.from('no separators') }],
    ];
    for (const [what, opts] of silent) {
      it(`closes the socket without connection.close on ${what}`, async () => {
        const c = await rawConnect();
        await assert.rejects(c.handshake(opts));
        await c.expectSocketClosed(6000);
        assert.equal(c.connectionClose, undefined, `no connection.close expected; received ${c.describeFrames()}`);
        assert.ok(!c.frames.some((f) => f.methodId === M.CONNECTION_TUNE), 'no connection.tune');
      });
    }
  });

  describe('tune-ok', { concurrency: true }, () => {
    // RabbitMQ refuses values it cannot accept: frame_max below 4096 or above its own, and 0
    // ("no limit") for frame_max or channel_max, since it has limits. 3.10 closes the socket
    // (after 3 s) without a connection.close; 3.13 may send connection.close 530 NOT_ALLOWED
    // first. Either way no connection.open-ok is ever sent.
    const bad: [string, { frameMax?: number; channelMax?: number }][] = [
      ['frame_max 1000', { frameMax: 1000 }],
      ['frame_max 4095', { frameMax: 4095 }],
      ['frame_max above the server\'s (131073)', { frameMax: 131073 }],
      ['frame_max 0 (no limit)', { frameMax: 0 }],
      ['channel_max above the server\'s (2048)', { channelMax: 2048 }],
      ['channel_max 0 (no limit)', { channelMax: 0 }],
    ];
    for (const [what, tune] of bad) {
      it(`closes the connection on ${what}`, async () => {
        const c = await rawConnect();
        await assert.rejects(c.handshake({ ...tune }));
        await c.expectSocketClosed(6000);
        assert.ok(!c.frames.some((f) => f.methodId === M.CONNECTION_OPEN_OK), 'no connection.open-ok');
        const close = c.connectionClose;
        if (close) {
          assert.equal(close.replyCode, 530, close.replyText);
          assert.match(close.replyText, /^NOT_ALLOWED - /);
        }
      });
    }

    it('accepts frame_max 4096, the minimum', async () => {
      const c = await rawOpen({ frameMax: 4096 });
      await c.openChannel(1);
    });
  });

  describe('heartbeats', { concurrency: true }, () => {
    it('sends heartbeats to a silent client and drops it after about two intervals', async () => {
      const c = await rawOpen({ heartbeat: 1 });
      const t0 = Date.now();
      await c.expectSocketClosed(6000);
      const elapsed = c.closedAt - t0;
      assert.ok(elapsed >= 1500 && elapsed <= 4000, `closed ${elapsed} ms after the handshake (expected 1.5-4 s)`);
      const beats = c.frames.filter((f) => f.type === M.FRAME_HEARTBEAT);
      assert.ok(beats.length >= 2, `heartbeats received: ${beats.length}`);
      assert.ok(beats.every((f) => f.channel === 0 && f.payload.length === 0 && f.end === 0xce), 'well-formed heartbeat frames');
      assert.ok(beats[0].at - t0 <= 1500, `first heartbeat after ${beats[0].at - t0} ms`);
      for (let i = 1; i < beats.length; i++) {
        const gap = beats[i].at - beats[i - 1].at;
        assert.ok(gap >= 300 && gap <= 1300, `heartbeat gap ${gap} ms (expected about 0.5-1 s)`);
      }
    });

    it('keeps a client that sends heartbeats, or other frames, connected', async () => {
      const beating = await rawOpen({ heartbeat: 1 });
      const talking = await rawOpen({ heartbeat: 1 });
      await talking.openChannel(1);
      const timer = setInterval(() => {
        beating.write(HEARTBEAT_FRAME);
        talking.write(qos());
      }, 400);
      try {
        await sleep(5000);
      } finally {
        clearInterval(timer);
      }
      assert.equal(beating.closed, false, 'the heartbeating client was dropped');
      assert.equal(talking.closed, false, 'the client sending methods was dropped');
      assert.ok(beating.frames.filter((f) => f.type === M.FRAME_HEARTBEAT).length >= 3, 'the server kept sending heartbeats');
      await beating.openChannel(1); // still fully working
    });
  });

  describe('frame errors', { concurrency: true }, () => {
    interface Case {
      what: string;
      /** Sends the offending bytes; `queue` is the healthy connection's queue (for publishes). */
      provoke: (c: RawClient, queue: string) => unknown;
      code: number;
      /** The reply text starts with this. */
      text: string;
      /** class and method ids in the close, where RabbitMQ names the offending method. */
      method?: [number, number];
    }
    const cases: Case[] = [
      { what: 'a bad frame-end octet', provoke: (c) => c.write(frame(M.FRAME_METHOD, 1, methodPayload(M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 1, global: false }), 0x00)),
        code: 501, text: 'FRAME_ERROR - ' },
      { what: 'a frame larger than the negotiated frame_max', provoke: (c) => c.write(frame(M.FRAME_BODY, 1, Buffer.alloc(131072 + 1))),
        code: 501, text: 'FRAME_ERROR - ' },
      { what: 'an unknown frame type', provoke: (c) => c.write(frame(9, 1, Buffer.alloc(0))), code: 501, text: 'FRAME_ERROR - ' },
      { what: 'a heartbeat frame with a payload', provoke: (c) => c.write(frame(M.FRAME_HEARTBEAT, 0, Buffer.from('x'))),
        code: 501, text: 'FRAME_ERROR - ' },
      { what: 'a method frame too short for its class and method ids', provoke: (c) => c.write(frame(M.FRAME_METHOD, 1, Buffer.from([0, 60]))),
        code: 501, text: 'FRAME_ERROR - ' },
      // queue.declare cut inside the queue name: RabbitMQ cannot decode it -> 501, not 502.
      { what: 'truncated method arguments', provoke: (c) => c.write(frame(M.FRAME_METHOD, 1, Buffer.from([0, 50, 0, 10, 0, 0, 20, 0x61]))),
        code: 501, text: 'FRAME_ERROR - cannot decode', method: [50, 10] },
      { what: 'a method on a channel that was never opened', provoke: (c) => c.write(methodFrame(5, M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 1, global: false })),
        code: 504, text: "CHANNEL_ERROR - expected 'channel.open'", method: [60, 10] },
      { what: 'channel.open on an open channel', provoke: (c) => c.send(1, M.encodeChannelOpen, { outOfBand: '' }),
        code: 504, text: "CHANNEL_ERROR - second 'channel.open' seen", method: [20, 10] },
      { what: 'a channel method on channel 0', provoke: (c) => c.write(methodFrame(0, M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 1, global: false })),
        code: 504, text: 'CHANNEL_ERROR - unexpected method in connection state running', method: [60, 10] },
      { what: 'connection.open on an open connection', provoke: (c) => c.send(0, M.encodeConnectionOpen, { virtualHost: '/', capabilities: '', insist: false }),
        code: 504, text: 'CHANNEL_ERROR - unexpected method in connection state running', method: [10, 40] },
      { what: 'channel.close-ok for a channel that was not closing', provoke: (c) => c.send(1, M.encodeChannelCloseOk),
        code: 503, text: 'COMMAND_INVALID - unimplemented method', method: [20, 41] },
      { what: 'a content header without a basic.publish', provoke: (c) => c.write(headerFrame(1, 3)),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a content body without a basic.publish', provoke: (c) => c.write(frame(M.FRAME_BODY, 1, Buffer.from('abc'))),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a content header on a channel that was never opened', provoke: (c) => c.write(headerFrame(7, 3)),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a content header on channel 0', provoke: (c) => c.write(headerFrame(0, 3)),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a heartbeat frame on a non-zero channel', provoke: (c) => c.write(frame(M.FRAME_HEARTBEAT, 1, Buffer.alloc(0))),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a method where the content header should be', provoke: (c, q) => c.write(Buffer.concat([publishMethod(1, q), qos()])),
        code: 505, text: 'UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead' },
      { what: 'a content header of another class', provoke: (c, q) => {
        const header = headerFrame(1, 3);
        header.writeUInt16BE(50, 7);
        c.write(Buffer.concat([publishMethod(1, q), header, frame(M.FRAME_BODY, 1, Buffer.from('abc'))]));
      }, code: 505, text: 'UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead' },
      { what: 'a content header with a non-zero weight', provoke: (c, q) => {
        const header = headerFrame(1, 3);
        header.writeUInt16BE(1, 9);
        c.write(Buffer.concat([publishMethod(1, q), header, frame(M.FRAME_BODY, 1, Buffer.from('abc'))]));
      }, code: 505, text: 'UNEXPECTED_FRAME - ' },
      { what: 'a method where a content body should be', provoke: (c, q) => c.write(Buffer.concat([publishMethod(1, q), headerFrame(1, 3), qos()])),
        code: 505, text: 'UNEXPECTED_FRAME - ' },
      // RabbitMQ 3.10-3.13 do not notice the excess at once (later RabbitMQ answers 501 right
      // away); the next method shows the content was never completed. The message must not
      // be delivered either way.
      { what: 'a content body larger than its header declared', provoke: (c, q) => {
        c.write(Buffer.concat([publishMethod(1, q), headerFrame(1, 3), frame(M.FRAME_BODY, 1, Buffer.from('abcdef'))]));
        setTimeout(() => { if (!c.closed) c.write(qos()); }, 100);
      }, code: 505, text: 'UNEXPECTED_FRAME - ' },
    ];

    for (const k of cases) {
      it(`${k.code}: ${k.what}`, async () => {
        const ok = await healthy();
        const c = await rawOpen();
        await c.openChannel(1);
        const mark = c.frames.length;
        k.provoke(c, ok.queue);
        const close = await c.expectConnectionClose(6000);
        assert.equal(close.frame.channel, 0);
        assert.equal(close.replyCode, k.code, `reply: ${close.replyCode} ${close.replyText}`);
        assert.ok(close.replyText.startsWith(k.text), `expected "${k.text}..." in: ${close.replyText}`);
        if (k.method) assert.deepEqual([close.classId, close.methodId], k.method, 'class and method ids');
        assert.ok(!c.frames.slice(mark).some((f: Frame) => f.methodId === M.CHANNEL_CLOSE), 'a connection error, not a channel error');
        c.sendCloseOk();
        await c.expectSocketClosed(6000);
        await ok.check(`after ${k.what}`);
      });
    }

    // RabbitMQ cannot even name an unknown method: its reader stops and the socket is closed
    // without a connection.close. What matters is that the connection is closed and others live.
    for (const [what, payload] of [['an unknown method id', [0, 60, 0, 99]], ['an unknown class id', [0, 77, 0, 10]]] as const) {
      it(`closes the connection on ${what}`, async () => {
        const ok = await healthy();
        const c = await rawOpen();
        await c.openChannel(1);
        c.write(frame(M.FRAME_METHOD, 1, Buffer.from(payload)));
        await c.waitUntil(() => c.closed || c.connectionClose !== undefined, 'the connection to be closed', 6000);
        if (c.connectionClose) assert.ok(c.connectionClose.replyCode >= 500, `a hard error: ${c.connectionClose.replyCode}`);
        c.sendCloseOk();
        await c.expectSocketClosed(6000);
        await ok.check(`after ${what}`);
      });
    }
  });

  describe('channels and frame sizes', { concurrency: true }, () => {
    it('channel_max limits how many channels are open, not the channel numbers', async () => {
      const c = await rawOpen({ channelMax: 2 });
      await c.openChannel(1);
      await c.openChannel(100);
      await assert.rejects(c.openChannel(3), (e: Error) => {
        assert.ok(e instanceof ServerClosedError, e.message);
        assert.equal(e.code, 530);
        assert.equal(e.text, 'NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)');
        return true;
      });
    });

    it('accepts frames up to 8 bytes over frame_max, as RabbitMQ tolerates clients that count wrong', async () => {
      // RabbitMQ checks payload <= frame_max - 8 + 8 (its FRAME_SIZE_FUDGE for off-by-8 clients).
      const ok = await healthy();
      const c = await rawOpen({ frameMax: 4096 });
      await c.openChannel(1);
      const body = Buffer.alloc(4096, 'f');
      c.write(Buffer.concat([publishMethod(1, ok.queue), headerFrame(1, body.length), frame(M.FRAME_BODY, 1, body)]));
      await c.call(1, M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 1, global: false }, M.BASIC_QOS_OK);
      assert.equal(c.connectionClose, undefined);
    });

    it('reassembles a body split across many frames with frame_max 4096 and splits deliveries the same way', async () => {
      const c = await rawOpen({ frameMax: 4096 });
      await c.openChannel(1);
      const q = h.q('split');
      await c.declareQueue(1, q);
      const body = Buffer.alloc(100_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
      const frames = bodyFrames(1, body, 4096);
      assert.equal(frames.length, Math.ceil(100_000 / 4088));
      // Send the frames in separate writes, some split mid-frame, to exercise reassembly.
      c.write(Buffer.concat([publishMethod(1, q), headerFrame(1, body.length, { contentType: 'application/octet-stream', messageId: 'm-1' })]));
      for (const f of frames) {
        c.write(f.subarray(0, 10));
        c.write(f.subarray(10));
      }
      await c.consume(1, q, { noAck: true });
      await c.waitUntil(() => c.deliveries.length === 1, 'the delivery');
      const d = c.deliveries[0];
      assert.equal(d.bodySize, body.length);
      assert.ok(d.body.equals(body), 'the body arrives intact');
      assert.equal(d.properties.messageId, 'm-1');
      assert.equal(d.properties.contentType, 'application/octet-stream');
      assert.equal(d.bodyFrames, Math.ceil(100_000 / 4088), 'delivered in frames of frame_max');
      const biggest = Math.max(...c.frames.map((f) => f.payload.length + 8));
      assert.ok(biggest <= 4096, `the server sent a frame of ${biggest} bytes with frame_max 4096`);
    });

    it('delivers a message with a zero-length body: a content header and no body frame', async () => {
      const c = await rawOpen();
      await c.openChannel(1);
      const q = h.q('empty');
      await c.declareQueue(1, q);
      c.write(Buffer.concat([publishMethod(1, q), headerFrame(1, 0, { messageId: 'empty-1' })]));
      c.write(Buffer.concat([publishMethod(1, q), headerFrame(1, 0, { messageId: 'empty-2' })]));
      await c.consume(1, q, { noAck: true });
      await c.waitUntil(() => c.deliveries.length === 2, 'two deliveries');
      for (const [i, d] of c.deliveries.entries()) {
        assert.equal(d.bodySize, 0);
        assert.equal(d.body.length, 0);
        assert.equal(d.bodyFrames, 0, 'no body frame for an empty body');
        assert.equal(d.properties.messageId, `empty-${i + 1}`);
      }
      // The channel is still in sync: another method works.
      await c.call(1, M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 5, global: false }, M.BASIC_QOS_OK);
    });
  });
});
