// Helpers for the features-*.test.ts files (TTL, dead-lettering, limits, priorities, ...):
// publisher-confirm outcomes per message, probing a queue's existence without touching its
// expiry timer, the broker's version, x-death access, and the AMQP field types of decoded
// header tables (amqplib and @cloudamqp/amqp-client both turn every integer into a JS number).
import assert from 'node:assert/strict';
import { AMQPView } from '@cloudamqp/amqp-client/amqp-view';
import { withTimeout, type ChannelModel, type ConfirmChannel, type Message } from './amqp.js';
import type { Options } from 'amqplib';

/** Publishes one message on a confirm channel and resolves with the broker's answer. */
export function publishOutcome(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: string,
  options?: Options.Publish,
): Promise<'ack' | 'nack'> {
  return withTimeout(new Promise((resolve) => {
    ch.publish(exchange, routingKey, Buffer.from(body), options, (err: unknown) => resolve(err ? 'nack' : 'ack'));
  }), `publisher confirm for ${body}`);
}

/** Publishes each body in turn (without waiting in between) and returns each confirm outcome, in order. */
export function publishOutcomes(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  bodies: string[],
  options?: Options.Publish,
): Promise<('ack' | 'nack')[]> {
  return Promise.all(bodies.map((b) => publishOutcome(ch, exchange, routingKey, b, options)));
}

/** Records basic.return messages on a channel. */
export function collectReturns(ch: { on(event: 'return', f: (m: Message) => void): unknown }): Message[] {
  const returned: Message[] = [];
  ch.on('return', (m: Message) => { returned.push(m); });
  return returned;
}

/**
 * Whether `queue` exists, probed by a mandatory publish through the default exchange on a
 * confirm channel (a basic.return arrives before the basic.ack when nothing was routed).
 * Unlike a passive queue.declare, this does not count as a use of the queue, so it does not
 * restart an x-expires timer. (If the queue exists, the probe message is left in it.)
 */
export async function queueExists(ch: ConfirmChannel, queue: string): Promise<boolean> {
  const id = `probe-${Math.random().toString(36).slice(2)}`;
  let returned = false;
  const onReturn = (m: Message) => { if (m.properties.messageId === id) returned = true; };
  ch.on('return', onReturn);
  try {
    ch.publish('', queue, Buffer.from('probe'), { mandatory: true, messageId: id });
    await withTimeout(ch.waitForConfirms(), 'probe confirm');
  } finally {
    ch.removeListener('return', onReturn);
  }
  return !returned;
}

/**
 * True when the broker is a RabbitMQ older than 3.13 (the 3.10 reference). Used only to relax
 * assertions on behaviour that was added in 3.13 (e.g. the x-last-death-* headers); Warren
 * and RabbitMQ >= 3.13 get the strict 3.13 assertions.
 */
export function isPre313RabbitMQ(conn: ChannelModel): boolean {
  const props = (conn as any).connection?.serverProperties ?? {};
  const product = String(props.product ?? '');
  const version = String(props.version ?? '');
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!/rabbitmq/i.test(product) || !m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 3 || (major === 3 && minor < 13);
}

/** One x-death entry as amqplib decodes it. */
export interface XDeath {
  count: number;
  reason: string;
  queue: string;
  time: { '!': 'timestamp'; value: number };
  exchange: string;
  'routing-keys': string[];
  'original-expiration'?: string;
}

/** The x-death header of a message (asserting it is an array). */
export function xDeath(m: Message): XDeath[] {
  const h = m.properties.headers?.['x-death'];
  assert.ok(Array.isArray(h), `x-death should be an array, got ${JSON.stringify(h)}`);
  return h as XDeath[];
}

/** The x-death entries reduced to queue/reason/count, in order. */
export function deathSummary(m: Message): { queue: string; reason: string; count: number }[] {
  return xDeath(m).map((d) => ({ queue: d.queue, reason: d.reason, count: d.count }));
}

/**
 * Asserts an x-death entry field by field, with `time` within [fromMs, toMs] (whole seconds
 * as AMQP timestamps are). The exact key set is checked.
 */
export function assertDeathEntry(
  d: XDeath,
  expected: { count: number; reason: string; queue: string; exchange: string; routingKeys: string[]; originalExpiration?: string },
  fromMs: number,
  toMs: number,
): void {
  const keys = ['count', 'exchange', 'queue', 'reason', 'routing-keys', 'time'];
  if (expected.originalExpiration !== undefined) keys.push('original-expiration');
  assert.deepEqual(Object.keys(d).sort(), keys.sort(), `x-death entry keys: ${JSON.stringify(d)}`);
  assert.equal(d.count, expected.count, 'count');
  assert.equal(d.reason, expected.reason, 'reason');
  assert.equal(d.queue, expected.queue, 'queue');
  assert.equal(d.exchange, expected.exchange, 'exchange');
  assert.deepEqual(d['routing-keys'], expected.routingKeys, 'routing-keys');
  if (expected.originalExpiration !== undefined) assert.equal(d['original-expiration'], expected.originalExpiration, 'original-expiration');
  assert.equal(typeof d.time, 'object', `time should be an AMQP timestamp, got ${JSON.stringify(d.time)}`);
  assert.equal(d.time['!'], 'timestamp', `time should be an AMQP timestamp, got ${JSON.stringify(d.time)}`);
  const secs = d.time.value;
  assert.ok(secs >= Math.floor(fromMs / 1000) - 1 && secs <= Math.ceil(toMs / 1000) + 1,
    `time ${secs} should be between ${Math.floor(fromMs / 1000)} and ${Math.ceil(toMs / 1000)} (seconds)`);
}

// ---- AMQP field types of tables decoded by @cloudamqp/amqp-client ----

const tableTypes = new WeakMap<object, Record<string, string>>();
const arrayTypes = new WeakMap<object, string[]>();
let recorderInstalled = false;

/**
 * Makes @cloudamqp/amqp-client remember the AMQP type tag ('l' long, 'I' int, 'S' long string,
 * 'T' timestamp, 'A' array, 'F' table, ...) of every field of the tables and arrays it decodes,
 * so tests can assert on wire types; read them back with `fieldTypes` / `elementTypes`.
 */
export function recordFieldTypes(): void {
  if (recorderInstalled) return;
  recorderInstalled = true;
  const proto = AMQPView.prototype as any;
  const getTable = proto.getTable;
  proto.getTable = function (this: AMQPView, byteOffset: number, littleEndian?: boolean) {
    const result = getTable.call(this, byteOffset, littleEndian);
    const types: Record<string, string> = {};
    const len = this.getUint32(byteOffset, littleEndian);
    let i = byteOffset + 4;
    while (i < byteOffset + 4 + len) {
      const [key, keyLen] = this.getShortString(i);
      i += keyLen;
      types[key] = String.fromCharCode(this.getUint8(i));
      i += this.getField(i, littleEndian)[1];
    }
    tableTypes.set(result[0], types);
    return result;
  };
  const getArray = proto.getArray;
  proto.getArray = function (this: AMQPView, byteOffset: number, littleEndian?: boolean) {
    const result = getArray.call(this, byteOffset, littleEndian);
    const types: string[] = [];
    const len = this.getUint32(byteOffset, littleEndian);
    let i = byteOffset + 4;
    while (i < byteOffset + 4 + len) {
      types.push(String.fromCharCode(this.getUint8(i)));
      i += this.getField(i, littleEndian)[1];
    }
    arrayTypes.set(result[0], types);
    return result;
  };
}

/** The AMQP type tag of each field of a table decoded by @cloudamqp/amqp-client. */
export function fieldTypes(table: unknown): Record<string, string> {
  const t = table && typeof table === 'object' ? tableTypes.get(table) : undefined;
  assert.ok(t, 'no recorded field types (call recordFieldTypes() before decoding)');
  return t;
}

/** The AMQP type tag of each element of an array decoded by @cloudamqp/amqp-client. */
export function elementTypes(array: unknown): string[] {
  const t = Array.isArray(array) ? arrayTypes.get(array) : undefined;
  assert.ok(t, 'no recorded element types (call recordFieldTypes() before decoding)');
  return t;
}
