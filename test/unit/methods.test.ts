// The generated method codec (src/amqp/methods.ts): checked against the spec JSON it is generated
// from with an independent reference encoder, plus hand-written cases for the common methods.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AmqpSyntaxError, Reader, Writer } from '../../src/amqp/codec.js';
import { fieldTypeName, type FieldTable } from '../../src/amqp/field-table.js';
import * as M from '../../src/amqp/methods.js';
import { plain } from './helpers.js';

// dist/test/unit/methods.test.js -> repository root is three levels up
const spec = JSON.parse(readFileSync(new URL('../../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url), 'utf8'));

interface SpecArg { name: string; type?: string; domain?: string }
interface SpecMethod { id: number; name: string; arguments: SpecArg[]; content?: boolean }
interface SpecClass { id: number; name: string; methods: SpecMethod[]; properties?: SpecArg[] }

const domains: Record<string, string> = Object.fromEntries(spec.domains);
const classes: SpecClass[] = spec.classes;
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const pascal = (s: string) => camel(s).replace(/^[a-z]/, (c) => c.toUpperCase());
const upper = (s: string) => s.replace(/-/g, '_').toUpperCase();
function typeOf(a: SpecArg): string {
  let t = (a.type ?? a.domain)!;
  while (domains[t] !== undefined && domains[t] !== t) t = domains[t];
  return t;
}

const methods = classes.flatMap((c) => c.methods.map((m) => ({
  cls: c, m, id: (c.id << 16) | m.id, full: `${c.name}.${m.name}`, typeName: pascal(c.name) + pascal(m.name),
  constName: `${upper(c.name)}_${upper(m.name)}`,
  args: m.arguments.map((a) => ({ name: camel(a.name), type: typeOf(a) })),
})));

type Args = Record<string, unknown>;
const mod = M as unknown as Record<string, unknown>;
const encoderOf = (typeName: string) => mod[`encode${typeName}`] as (w: Writer, a?: Args) => void;
const decoderOf = (typeName: string) => mod[`decode${typeName}`] as (r: Reader) => Args;

/** Independent reference encoding of a method payload, straight from the spec. */
function referenceEncode(id: number, args: { name: string; type: string }[], values: Args): Buffer {
  const out: number[] = [];
  const push32 = (v: number) => out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  push32(id);
  let bitByte = -1;
  let bitCount = 0;
  const flush = () => {
    if (bitCount > 0) out.push(bitByte);
    bitByte = -1;
    bitCount = 0;
  };
  for (const a of args) {
    const v = values[a.name];
    if (a.type === 'bit') {
      if (bitCount === 8) flush();
      if (bitCount === 0) bitByte = 0;
      if (v) bitByte |= 1 << bitCount;
      bitCount++;
      continue;
    }
    flush();
    switch (a.type) {
      case 'octet': out.push(v as number); break;
      case 'short': out.push(((v as number) >> 8) & 0xff, (v as number) & 0xff); break;
      case 'long': push32(v as number); break;
      case 'longlong': case 'timestamp': {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt(v as number));
        out.push(...b);
        break;
      }
      case 'shortstr': {
        const b = Buffer.from(v as string, 'utf8');
        out.push(b.length, ...b);
        break;
      }
      case 'longstr': push32((v as Buffer).length); out.push(...(v as Buffer)); break;
      case 'table': {
        // tables in these tests are {} or { k: <string> }
        const t = v as Record<string, string>;
        const keys = Object.keys(t);
        const parts: number[] = [];
        for (const k of keys) {
          const kb = Buffer.from(k);
          const vb = Buffer.from(t[k]);
          parts.push(kb.length, ...kb, 0x53, 0, 0, (vb.length >> 8) & 0xff, vb.length & 0xff, ...vb);
        }
        push32(parts.length);
        out.push(...parts);
        break;
      }
      default: throw new Error(`unknown spec type ${a.type}`);
    }
  }
  flush();
  return Buffer.from(out);
}

/** Distinct sample values per argument; `bits` chooses bit values by bit index. */
function sample(args: { name: string; type: string }[], seed: number, bits: (i: number) => boolean): Args {
  const v: Args = {};
  let bitIndex = 0;
  args.forEach((a, i) => {
    const n = seed * 31 + i * 7 + 1;
    switch (a.type) {
      case 'bit': v[a.name] = bits(bitIndex++); break;
      case 'octet': v[a.name] = (n * 13) & 0xff; break;
      case 'short': v[a.name] = (n * 4099) & 0xffff; break;
      case 'long': v[a.name] = ((n * 2654435761) >>> 0); break;
      case 'longlong': case 'timestamp': v[a.name] = 2 ** 40 + n * 1_000_003; break;
      case 'shortstr': v[a.name] = `${a.name}-${n}-é`; break;
      case 'longstr': v[a.name] = Buffer.from(`\0${a.name}\0${n}`); break;
      case 'table': v[a.name] = seed % 2 === 0 ? {} : { [`k${n}`]: `v${n}` }; break;
      default: throw new Error(`unknown spec type ${a.type}`);
    }
  });
  return v;
}

function encode(fn: (w: Writer, a?: Args) => void, a?: Args): Buffer {
  const w = new Writer(8);
  fn(w, a);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Decodes a method payload the way the connection does: id, then DECODERS[id]; all bytes used. */
function decode(payload: Buffer): { id: number; args: Args } {
  const r = new Reader().reset(payload, 0, payload.length);
  const id = r.u32();
  const dec = M.DECODERS[id];
  assert.ok(dec, `decoder for ${id.toString(16)}`);
  const args = dec(r) as Args;
  assert.equal(r.pos, payload.length, 'decoder consumed the whole payload');
  return { id, args: plain(args) };
}

describe('generated methods match the spec file', () => {
  test('66 methods, ids and names as in the spec', () => {
    assert.equal(methods.length, 66);
    assert.equal(Object.keys(M.METHOD_NAMES).length, 66);
    assert.equal(Object.keys(M.DECODERS).length, 66);
    for (const x of methods) {
      assert.equal(M.METHOD_NAMES[x.id], x.full, x.full);
      assert.equal(mod[x.constName], x.id, x.constName);
      assert.equal(typeof M.DECODERS[x.id], 'function', x.full);
      assert.equal(M.DECODERS[x.id], decoderOf(x.typeName), x.full);
      assert.equal(typeof encoderOf(x.typeName), 'function', `encode${x.typeName}`);
    }
    // nothing in METHOD_NAMES that the spec does not have
    const ids = new Set(methods.map((x) => x.id));
    for (const k of Object.keys(M.METHOD_NAMES)) assert.ok(ids.has(Number(k)), `extra method id ${k}`);
  });

  test('class ids, constants, reply codes and content methods', () => {
    for (const c of classes) assert.equal(mod[`CLASS_${upper(c.name)}`], c.id, c.name);
    for (const c of spec.constants as { name: string; value: number; class?: string }[]) {
      assert.equal(mod[upper(c.name)], c.value, c.name);
      if (c.class) assert.equal(M.REPLY_NAMES[c.value], upper(c.name));
      assert.equal(M.HARD_ERROR_CODES.has(c.value), c.class === 'hard-error', c.name);
    }
    const content = methods.filter((x) => x.m.content).map((x) => x.id).sort();
    assert.deepEqual([...M.CONTENT_METHODS].sort(), content);
    assert.deepEqual([...M.CONTENT_METHODS].map((id) => M.METHOD_NAMES[id]).sort(),
      ['basic.deliver', 'basic.get-ok', 'basic.publish', 'basic.return']);
    assert.equal(M.FRAME_END, 0xce);
    assert.equal(M.FRAME_METHOD, 1);
    assert.equal(M.FRAME_HEARTBEAT, 8);
    assert.equal(M.BASIC_PUBLISH, 0x003c0028);
    const basic = classes.find((c) => c.name === 'basic')!;
    assert.deepEqual([...M.BASIC_PROPERTIES], basic.properties!.map((p) => camel(p.name)));
    assert.deepEqual([...M.BASIC_PROPERTY_TYPES], basic.properties!.map(typeOf));
  });

  test('every method: argument count, wire layout and round trip against a reference encoder', () => {
    const patterns: [string, (i: number) => boolean][] = [
      ['all false', () => false], ['all true', () => true], ['even', (i) => i % 2 === 0], ['odd', (i) => i % 2 === 1],
      ...[0, 1, 2, 3, 4].map((k) => [`only ${k}`, (i: number) => i === k] as [string, (i: number) => boolean]),
    ];
    let checked = 0;
    for (const x of methods) {
      for (const [seed, [pname, bits]] of patterns.entries()) {
        const values = sample(x.args, seed, bits);
        const enc = encoderOf(x.typeName);
        const got = encode(enc, x.args.length ? values : undefined);
        const want = referenceEncode(x.id, x.args, values);
        assert.equal(got.toString('hex'), want.toString('hex'), `${x.full} (${pname})`);
        const back = decode(got);
        assert.equal(back.id, x.id);
        assert.equal(Object.keys(back.args).length, x.args.length, `${x.full}: argument count`);
        assert.deepEqual(back.args, values, `${x.full} (${pname})`);
        checked++;
      }
    }
    assert.equal(checked, 66 * patterns.length);
  });

  test('every decoder rejects every truncation of its payload', () => {
    for (const x of methods) {
      if (x.args.length === 0) continue;
      const values = sample(x.args, 1, () => true);
      const payload = encode(encoderOf(x.typeName), values);
      const dec = decoderOf(x.typeName);
      for (let cut = 4; cut < payload.length; cut++) {
        assert.throws(() => dec(new Reader().reset(payload, 4, cut)), AmqpSyntaxError, `${x.full} cut at ${cut}`);
      }
    }
  });
});

describe('common methods', () => {
  function roundTrip<A extends object>(enc: (w: Writer, a: A) => void, a: A, id: number): Buffer {
    const payload = encode(enc as (w: Writer, a?: Args) => void, a as Args);
    assert.equal(payload.readUInt32BE(0), id);
    const back = decode(payload);
    assert.equal(back.id, id);
    assert.deepEqual(back.args, plain(a));
    return payload;
  }

  test('connection.start / start-ok', () => {
    roundTrip(M.encodeConnectionStart, {
      versionMajor: 0, versionMinor: 9,
      serverProperties: { product: 'Warren', capabilities: { publisher_confirms: true, 'basic.nack': true } },
      mechanisms: Buffer.from('PLAIN AMQPLAIN'), locales: Buffer.from('en_US'),
    }, M.CONNECTION_START);
    const p = roundTrip(M.encodeConnectionStartOk, {
      clientProperties: { product: 'client', version: '1.0' },
      mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
    }, M.CONNECTION_START_OK);
    assert.equal(p.readUInt32BE(0), 0x000a000b);
  });

  test('connection.tune / tune-ok / open / close', () => {
    const tune = roundTrip(M.encodeConnectionTune, { channelMax: 2047, frameMax: 131072, heartbeat: 60 }, M.CONNECTION_TUNE);
    assert.equal(tune.toString('hex'), '000a001e' + '07ff' + '00020000' + '003c');
    roundTrip(M.encodeConnectionTuneOk, { channelMax: 0, frameMax: 4096, heartbeat: 0 }, M.CONNECTION_TUNE_OK);
    const open = roundTrip(M.encodeConnectionOpen, { virtualHost: '/', capabilities: '', insist: true }, M.CONNECTION_OPEN);
    assert.equal(open.toString('hex'), '000a0028' + '012f' + '00' + '01');
    roundTrip(M.encodeConnectionOpenOk, { knownHosts: '' }, M.CONNECTION_OPEN_OK);
    const close = roundTrip(M.encodeConnectionClose, {
      replyCode: 320, replyText: 'CONNECTION_FORCED - shutdown', classId: 0, methodId: 0,
    }, M.CONNECTION_CLOSE);
    assert.equal(close.readUInt16BE(4), 320);
    assert.equal(encode(M.encodeConnectionCloseOk as (w: Writer) => void).toString('hex'), '000a0033');
  });

  test('channel.open / close', () => {
    assert.equal(roundTrip(M.encodeChannelOpen, { outOfBand: '' }, M.CHANNEL_OPEN).toString('hex'), '0014000a00');
    roundTrip(M.encodeChannelOpenOk, { channelId: Buffer.alloc(0) }, M.CHANNEL_OPEN_OK);
    roundTrip(M.encodeChannelClose, { replyCode: 404, replyText: "NOT_FOUND - no queue 'q'", classId: 50, methodId: 10 }, M.CHANNEL_CLOSE);
  });

  test('exchange.declare: passive/durable/auto-delete/internal/nowait are bits 0..4 of one octet', () => {
    const base = { ticket: 0, exchange: 'ex', type: 'topic', passive: false, durable: false, autoDelete: false, internal: false, nowait: false, arguments: { 'alternate-exchange': 'ae' } };
    const names = ['passive', 'durable', 'autoDelete', 'internal', 'nowait'] as const;
    // the bits octet sits after ticket(2) "ex"(3) "topic"(6)
    const bitsAt = 4 + 2 + 3 + 6;
    names.forEach((n, i) => {
      const p = roundTrip(M.encodeExchangeDeclare, { ...base, [n]: true }, M.EXCHANGE_DECLARE);
      assert.equal(p[bitsAt], 1 << i, n);
      assert.equal(p.readUInt32BE(bitsAt + 1), p.length - bitsAt - 5, 'arguments table follows the bits');
    });
    const all = roundTrip(M.encodeExchangeDeclare, { ...base, passive: true, durable: true, autoDelete: true, internal: true, nowait: true }, M.EXCHANGE_DECLARE);
    assert.equal(all[bitsAt], 0x1f);
    // decoding ignores the reserved high bits
    const hi = Buffer.from(all);
    hi[bitsAt] = 0xe2;
    const d = M.decodeExchangeDeclare(new Reader().reset(hi, 4, hi.length));
    assert.deepEqual([d.passive, d.durable, d.autoDelete, d.internal, d.nowait], [false, true, false, false, false]);
  });

  test('queue.declare', () => {
    const p = roundTrip(M.encodeQueueDeclare, {
      ticket: 0, queue: 'q1', passive: false, durable: true, exclusive: true, autoDelete: false, nowait: true,
      arguments: { 'x-message-ttl': 60000, 'x-queue-type': 'classic', 'x-max-priority': 10 },
    }, M.QUEUE_DECLARE);
    assert.equal(p[4 + 2 + 3], 0b10110);
    roundTrip(M.encodeQueueDeclareOk, { queue: 'amq.gen-abc', messageCount: 5, consumerCount: 2 }, M.QUEUE_DECLARE_OK);
  });

  test('queue.bind with arguments', () => {
    roundTrip(M.encodeQueueBind, {
      ticket: 0, queue: 'q', exchange: 'amq.headers', routingKey: '', nowait: false,
      arguments: { 'x-match': 'any', format: 'pdf', type: 'report', n: [1, 2, { z: null }] },
    }, M.QUEUE_BIND);
    roundTrip(M.encodeQueueUnbind, { ticket: 0, queue: 'q', exchange: 'x', routingKey: 'a.b', arguments: {} }, M.QUEUE_UNBIND);
  });

  test('basic.publish / deliver / consume', () => {
    const pub = roundTrip(M.encodeBasicPublish, { ticket: 0, exchange: '', routingKey: 'rk', mandatory: true, immediate: false }, M.BASIC_PUBLISH);
    assert.equal(pub.toString('hex'), '003c0028' + '0000' + '00' + '02726b' + '01');
    roundTrip(M.encodeBasicPublish, { ticket: 0, exchange: 'x', routingKey: '', mandatory: false, immediate: true }, M.BASIC_PUBLISH);
    const del = roundTrip(M.encodeBasicDeliver, {
      consumerTag: 'ctag', deliveryTag: 2 ** 40 + 1, redelivered: true, exchange: 'amq.topic', routingKey: 'a.b.c',
    }, M.BASIC_DELIVER);
    assert.equal(del.subarray(9, 17).toString('hex'), '0000010000000001');
    assert.equal(del[17], 1);
    const con = roundTrip(M.encodeBasicConsume, {
      ticket: 0, queue: 'q', consumerTag: '', noLocal: false, noAck: true, exclusive: true, nowait: false,
      arguments: { 'x-priority': 5 },
    }, M.BASIC_CONSUME);
    assert.equal(con[4 + 2 + 2 + 1], 0b0110);
    roundTrip(M.encodeBasicConsumeOk, { consumerTag: 'amq.ctag-1' }, M.BASIC_CONSUME_OK);
    roundTrip(M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 10, global: true }, M.BASIC_QOS);
    roundTrip(M.encodeBasicGetOk, { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q', messageCount: 3 }, M.BASIC_GET_OK);
  });

  test('basic.ack / nack / reject with multiple/requeue bits', () => {
    for (const multiple of [false, true]) {
      const ack = roundTrip(M.encodeBasicAck, { deliveryTag: 17, multiple }, M.BASIC_ACK);
      assert.equal(ack.toString('hex'), '003c0050' + '0000000000000011' + (multiple ? '01' : '00'));
      for (const requeue of [false, true]) {
        const nack = roundTrip(M.encodeBasicNack, { deliveryTag: 2 ** 53 - 1, multiple, requeue }, M.BASIC_NACK);
        assert.equal(nack[12], (multiple ? 1 : 0) | (requeue ? 2 : 0));
        assert.equal(nack.length, 13);
      }
    }
    for (const requeue of [false, true]) {
      const rej = roundTrip(M.encodeBasicReject, { deliveryTag: 0, requeue }, M.BASIC_REJECT);
      assert.equal(rej.toString('hex'), '003c005a' + '0000000000000000' + (requeue ? '01' : '00'));
    }
  });

  test('confirm.select and methods without arguments', () => {
    assert.equal(roundTrip(M.encodeConfirmSelect, { nowait: true }, M.CONFIRM_SELECT).toString('hex'), '0055000a01');
    assert.equal(roundTrip(M.encodeConfirmSelect, { nowait: false }, M.CONFIRM_SELECT).toString('hex'), '0055000a00');
    assert.equal(encode(M.encodeConfirmSelectOk as (w: Writer) => void).toString('hex'), '0055000b');
    assert.equal(encode(M.encodeTxCommit as (w: Writer) => void).toString('hex'), '005a0014');
    assert.deepEqual(decode(Buffer.from('005a0014', 'hex')).args, {});
  });

  test('a table argument decodes with its types remembered', () => {
    const p = encode(M.encodeQueueDeclare as unknown as (w: Writer, a?: Args) => void, {
      ticket: 0, queue: 'q', passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false,
      arguments: { 'x-expires': 1000 },
    });
    const d = M.decodeQueueDeclare(new Reader().reset(p, 4, p.length));
    const args: FieldTable = d.arguments;
    assert.equal(args['x-expires'], 1000);
    assert.equal(fieldTypeName(args, 'x-expires'), 'signedint');
  });
});
