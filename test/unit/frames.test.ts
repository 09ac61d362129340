// FrameReader (splitting socket chunks into frames) and FrameWriter (method, heartbeat, content).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader } from '../../src/amqp/codec.js';
import { FRAME_OVERHEAD, FrameReader, FrameWriter, PROTOCOL_HEADER, type FrameHandler } from '../../src/amqp/frames.js';
import { decodeProperties, propertiesToBuffer } from '../../src/amqp/properties.js';
import * as M from '../../src/amqp/methods.js';
import { rng } from './helpers.js';

interface Got { type: number; channel: number; payload: Buffer }

class Collector implements FrameHandler {
  frames: Got[] = [];
  errors: string[] = [];
  stopAfter = Infinity;
  reader = new FrameReader(this);
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    assert.ok(start <= end && end < buf.length, 'payload range inside buf');
    assert.equal(buf[end], M.FRAME_END, 'buf[end] is the end octet');
    this.frames.push({ type, channel, payload: Buffer.from(buf.subarray(start, end)) });
    if (this.frames.length >= this.stopAfter) this.reader.stopped = true;
  }
  onFrameError(message: string): void {
    this.errors.push(message);
  }
}

function frame(type: number, channel: number, payload: Buffer | number[], end = M.FRAME_END): Buffer {
  const p = Buffer.from(payload as number[]);
  const b = Buffer.alloc(p.length + 8);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(p.length, 3);
  p.copy(b, 7);
  b[7 + p.length] = end;
  return b;
}

const heartbeat = () => frame(M.FRAME_HEARTBEAT, 0, []);

// A stream of several kinds of frame, on several channels.
const frames: Got[] = [
  { type: M.FRAME_METHOD, channel: 1, payload: Buffer.from('003c0028000000027161', 'hex') },
  { type: M.FRAME_HEADER, channel: 1, payload: Buffer.from('003c000000000000000000050000', 'hex') },
  { type: M.FRAME_BODY, channel: 1, payload: Buffer.from('hello') },
  { type: M.FRAME_HEARTBEAT, channel: 0, payload: Buffer.alloc(0) },
  { type: M.FRAME_BODY, channel: 65535, payload: Buffer.alloc(0) },
  { type: M.FRAME_METHOD, channel: 0, payload: Buffer.from('000a0033', 'hex') },
];
const stream = Buffer.concat(frames.map((f) => frame(f.type, f.channel, f.payload)));

describe('FrameReader', () => {
  test('several frames in one chunk', () => {
    const c = new Collector();
    c.reader.push(stream);
    assert.deepEqual(c.frames, frames);
    assert.deepEqual(c.errors, []);
  });

  test('a stream split at every possible byte boundary into two chunks', () => {
    for (let i = 0; i <= stream.length; i++) {
      const c = new Collector();
      c.reader.push(stream.subarray(0, i));
      c.reader.push(stream.subarray(i));
      assert.deepEqual(c.frames, frames, `split at ${i}`);
      assert.deepEqual(c.errors, []);
    }
  });

  test('a stream split at every pair of boundaries into three chunks', () => {
    const s = stream.subarray(0, 50);
    const whole = new Collector();
    whole.reader.push(s);
    for (let i = 0; i <= s.length; i++) {
      for (let j = i; j <= s.length; j++) {
        const c = new Collector();
        c.reader.push(s.subarray(0, i));
        c.reader.push(s.subarray(i, j));
        c.reader.push(s.subarray(j));
        assert.deepEqual(c.frames, whole.frames, `split at ${i}, ${j}`);
      }
    }
  });

  test('one byte at a time, and random chunk sizes', () => {
    const c = new Collector();
    for (let i = 0; i < stream.length; i++) c.reader.push(stream.subarray(i, i + 1));
    assert.deepEqual(c.frames, frames);
    const rand = rng(42);
    const long = Buffer.concat(Array.from({ length: 50 }, () => stream));
    for (let round = 0; round < 20; round++) {
      const r = new Collector();
      for (let pos = 0; pos < long.length;) {
        const n = Math.floor(rand() * 40);
        r.reader.push(long.subarray(pos, pos + n));
        pos += n;
      }
      assert.equal(r.frames.length, frames.length * 50);
      assert.deepEqual(r.frames.slice(-frames.length), frames);
    }
  });

  test('a kept partial frame is a copy, not a view of the socket chunk', () => {
    const c = new Collector();
    const chunk = Buffer.from(stream.subarray(0, 10));
    c.reader.push(chunk);
    chunk.fill(0); // the socket may reuse its buffer
    c.reader.push(stream.subarray(10));
    assert.deepEqual(c.frames, frames);
  });

  test('heartbeat frames', () => {
    const c = new Collector();
    c.reader.push(Buffer.concat([heartbeat(), heartbeat()]));
    assert.deepEqual(c.frames, [
      { type: 8, channel: 0, payload: Buffer.alloc(0) },
      { type: 8, channel: 0, payload: Buffer.alloc(0) },
    ]);
  });

  // RabbitMQ checks the payload against frame_max, tolerating the 8 bytes of framing on top
  // (clients that count frame_max without them); one byte more is a frame error.
  test('a payload of exactly maxFrame is accepted, one byte more is a frame error', () => {
    const ok = new Collector();
    ok.reader.maxFrame = 4096;
    ok.reader.push(frame(M.FRAME_BODY, 1, Buffer.alloc(4096, 7)));
    assert.equal(ok.frames.length, 1);
    assert.deepEqual(ok.errors, []);

    const big = new Collector();
    big.reader.maxFrame = 4096;
    big.reader.push(frame(M.FRAME_BODY, 1, Buffer.alloc(4096 + 1, 7)));
    assert.equal(big.frames.length, 0);
    assert.equal(big.errors.length, 1);
    assert.match(big.errors[0], /4097/);
  });

  test('an oversize frame is reported from its header alone, before its payload arrives', () => {
    const c = new Collector();
    c.reader.push(Buffer.concat([heartbeat(), Buffer.from([3, 0, 1, 0xff, 0xff, 0xff, 0xff])]));
    assert.equal(c.frames.length, 1);
    assert.equal(c.errors.length, 1);
    // and with the header split across chunks
    const d = new Collector();
    d.reader.push(Buffer.from([3, 0, 1, 0x00]));
    assert.deepEqual(d.errors, []);
    d.reader.push(Buffer.from([0x10, 0x00, 0x00]));
    assert.equal(d.errors.length, 1, 'size 0x00100000 > 131072');
  });

  test('the default maxFrame is 131072 and can be raised', () => {
    const c = new Collector();
    assert.equal(c.reader.maxFrame, 131072);
    c.reader.maxFrame = 1 << 20;
    c.reader.push(frame(M.FRAME_BODY, 1, Buffer.alloc(200_000)));
    assert.equal(c.frames.length, 1);
    assert.deepEqual(c.errors, []);
  });

  test('bad end octet is a frame error; earlier frames were delivered, later ones are not', () => {
    const c = new Collector();
    c.reader.push(Buffer.concat([heartbeat(), frame(M.FRAME_METHOD, 1, [1, 2, 3], 0x00), heartbeat()]));
    assert.equal(c.frames.length, 1);
    assert.equal(c.errors.length, 1);
    assert.match(c.errors[0], /end/);
    // end octet arriving in a later chunk
    const d = new Collector();
    const bad = frame(M.FRAME_METHOD, 1, [1, 2, 3], 0xcd);
    d.reader.push(bad.subarray(0, bad.length - 1));
    assert.deepEqual(d.errors, []);
    d.reader.push(bad.subarray(bad.length - 1));
    assert.equal(d.errors.length, 1);
    assert.equal(d.frames.length, 0);
  });

  test('stopped ends parsing of the current chunk and drops the rest', () => {
    const c = new Collector();
    c.stopAfter = 2;
    c.reader.push(stream);
    assert.equal(c.frames.length, 2);
    c.reader.push(heartbeat());
    assert.equal(c.frames.length, 2, 'nothing is parsed after stopping');
  });

  test('an empty chunk is harmless', () => {
    const c = new Collector();
    c.reader.push(Buffer.alloc(0));
    c.reader.push(stream.subarray(0, 3));
    c.reader.push(Buffer.alloc(0));
    c.reader.push(stream.subarray(3));
    assert.deepEqual(c.frames, frames);
  });
});

describe('FrameWriter', () => {
  test('protocol header', () => {
    assert.equal(PROTOCOL_HEADER.toString('latin1'), 'AMQP\x00\x00\x09\x01');
  });

  test('method frames', () => {
    const w = new FrameWriter(8);
    w.method(0, M.encodeConnectionTune, { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    w.method(5, M.encodeBasicAck, { deliveryTag: 3, multiple: true });
    const out = w.take();
    assert.equal(out.subarray(0, 7 + 12 + 1).toString('hex'), '01' + '0000' + '0000000c' + '000a001e07ff00020000003c' + 'ce');
    const c = new Collector();
    c.reader.push(out);
    assert.equal(c.frames.length, 2);
    assert.equal(c.frames[1].channel, 5);
    const r = new Reader().reset(c.frames[1].payload, 0, c.frames[1].payload.length);
    assert.equal(r.u32(), M.BASIC_ACK);
    assert.deepEqual(M.decodeBasicAck(r), { deliveryTag: 3, multiple: true });
  });

  test('heartbeat bytes', () => {
    const w = new FrameWriter(1);
    w.heartbeat();
    assert.equal(w.take().toString('hex'), '08' + '0000' + '00000000' + 'ce');
  });

  function contentFrames(frameMax: number, bodyLen: number, pad = 0) {
    const props = propertiesToBuffer({ contentType: 'text/plain', deliveryMode: 2 });
    const body = Buffer.alloc(bodyLen);
    for (let i = 0; i < bodyLen; i++) body[i] = (i * 7 + 3) & 0xff;
    const data = Buffer.concat([Buffer.alloc(pad, 0xee), props, body, Buffer.alloc(pad, 0xee)]);
    const w = new FrameWriter(64);
    w.content(9, frameMax, data, pad, pad + props.length, pad + props.length + bodyLen);
    const out = w.take();
    const c = new Collector();
    c.reader.maxFrame = frameMax;
    c.reader.push(out);
    assert.deepEqual(c.errors, []);
    const [header, ...bodies] = c.frames;
    assert.equal(header.type, M.FRAME_HEADER);
    assert.equal(header.channel, 9);
    const hp = header.payload;
    assert.equal(hp.readUInt16BE(0), M.CLASS_BASIC);
    assert.equal(hp.readUInt16BE(2), 0, 'weight');
    assert.equal(Number(hp.readBigUInt64BE(4)), bodyLen);
    assert.deepEqual(decodeProperties(hp, 12), { contentType: 'text/plain', deliveryMode: 2 });
    for (const b of bodies) {
      assert.equal(b.type, M.FRAME_BODY);
      assert.equal(b.channel, 9);
      assert.ok(b.payload.length + FRAME_OVERHEAD <= frameMax);
      assert.ok(b.payload.length > 0, 'no empty body frames');
    }
    assert.deepEqual(Buffer.concat(bodies.map((b) => b.payload)), body);
    assert.equal(out.length, hp.length + 8 + bodies.reduce((n, b) => n + b.payload.length + 8, 0));
    return bodies.map((b) => b.payload.length);
  }

  test('content splits bodies by frameMax exactly', () => {
    const fm = 4096;
    const chunk = fm - FRAME_OVERHEAD;
    assert.deepEqual(contentFrames(fm, 0), []);
    assert.deepEqual(contentFrames(fm, 1), [1]);
    assert.deepEqual(contentFrames(fm, chunk - 1), [chunk - 1]);
    assert.deepEqual(contentFrames(fm, chunk), [chunk]);
    assert.deepEqual(contentFrames(fm, chunk + 1), [chunk, 1]);
    assert.deepEqual(contentFrames(fm, 2 * chunk), [chunk, chunk]);
    assert.deepEqual(contentFrames(fm, 3 * chunk + 1), [chunk, chunk, chunk, 1]);
    assert.deepEqual(contentFrames(131072, 300_000), [131064, 131064, 300_000 - 2 * 131064]);
  });

  test('content takes props and body as ranges of a larger buffer', () => {
    assert.deepEqual(contentFrames(4096, 5000, 33), [4088, 912]);
  });

  test('take: small batches are copies, large ones are handed over and the writer starts afresh', () => {
    const w = new FrameWriter(16);
    w.heartbeat();
    const small = w.take();
    assert.equal(w.pos, 0);
    w.heartbeat();
    w.heartbeat();
    assert.equal(small.length, 8, 'a small take is not overwritten by later writes');
    assert.equal(small[0], 8);
    assert.equal(w.take().length, 16);

    const big = Buffer.alloc(20_000, 1);
    w.content(1, 131072, Buffer.concat([Buffer.from([0, 0]), big]), 0, 2, 2 + big.length);
    const out = w.take();
    assert.equal(out.length, (8 + 14) + (8 + 20_000));
    w.heartbeat();
    assert.equal(out[0], M.FRAME_HEADER, 'a large take is not overwritten either');
    const c = new Collector();
    c.reader.push(out);
    assert.equal(c.frames.length, 2);
  });

  test('the writer grows past its initial size across many frames', () => {
    const w = new FrameWriter(8);
    for (let i = 0; i < 5000; i++) w.method(i % 100, M.encodeBasicAck, { deliveryTag: i, multiple: false });
    const c = new Collector();
    c.reader.push(w.take());
    assert.equal(c.frames.length, 5000);
    const last = c.frames[4999];
    assert.equal(last.channel, 99);
    assert.equal(last.payload.readUInt32BE(8), 4999);
  });
});
