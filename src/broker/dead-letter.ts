// Dead-lettering as RabbitMQ does it: the message is republished to the queue's dead-letter
// exchange with an x-death history (one entry per queue and reason, counted, most recent
// first), x-first-death-* and x-last-death-* headers, and its per-message TTL removed.
// Only those headers are decoded and rewritten; every other header and property is copied
// byte for byte, so whatever the publisher sent survives dead-lettering exactly.
import { Writer } from '../amqp/codec.js';
import { decodeValueAt, encodeEntry, type FieldTable, type FieldValue, tableEntries, Typed } from '../amqp/field-table.js';
import { rewriteProperties } from '../amqp/properties.js';
import { buildMessage, type Message } from './message.js';
import type { DeadLetterReason, Queue } from './queue.js';

export function deadLetteredCopy(msg: Message, queue: Queue, reason: DeadLetterReason, exchange: string, routingKey: string): Message {
  const data = msg.data;
  const entries = msg.headersStart < 0 ? [] : tableEntries(data, msg.headersStart, msg.headersEnd);
  const hasFirstDeath = entries.some((e) => e.key === 'x-first-death-reason');
  const w = new Writer(256 + (msg.headersEnd - msg.headersStart));
  w.u32(0);
  let deaths: FieldTable[] = [];
  for (const e of entries) {
    if (e.key === 'x-death') {
      const v = decodeValueAt(data, e.valueStart, e.end);
      if (Array.isArray(v)) deaths = v.filter(isTable);
    } else if (!e.key.startsWith('x-last-death-') && !(e.key.startsWith('x-first-death-') && !hasFirstDeath)) {
      w.bytes(data, e.at, e.end);
    }
  }
  const at = deaths.findIndex((d) => d.queue === queue.name && d.reason === reason);
  const now = new Typed('T', Math.floor(Date.now() / 1000));
  let entry: FieldTable;
  if (at >= 0) {
    entry = deaths.splice(at, 1)[0];
    const count = Number(entry.count);
    entry.count = new Typed('l', (Number.isSafeInteger(count) ? count : 0) + 1);
    entry.time = now;
  } else {
    entry = { count: new Typed('l', 1), reason, queue: queue.name, time: now, exchange: msg.exchange, 'routing-keys': [msg.routingKey] };
    const expiration = msg.ttl >= 0 ? msg.properties().expiration : undefined;
    if (expiration !== undefined) entry['original-expiration'] = expiration;
  }
  deaths.unshift(entry);
  const put = (key: string, v: FieldValue) => {
    w.shortstr(key);
    encodeEntry(w, undefined, v);
  };
  put('x-death', deaths);
  if (!hasFirstDeath) {
    put('x-first-death-reason', reason);
    put('x-first-death-queue', queue.name);
    put('x-first-death-exchange', msg.exchange);
  }
  put('x-last-death-reason', reason);
  put('x-last-death-queue', queue.name);
  put('x-last-death-exchange', msg.exchange);
  w.buf.writeUInt32BE(w.pos - 4, 0);
  const headers = w.buf.subarray(0, w.pos);
  const props = rewriteProperties(data, msg.routeEnd, msg.propsEnd, { headers, dropExpiration: true });
  return buildMessage(exchange, routingKey, props, msg.body);
}

function isTable(v: FieldValue): v is FieldTable {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Typed);
}

/**
 * RabbitMQ drops a dead-lettered message instead of delivering it to a queue it already died in,
 * unless a client rejected it somewhere along the way (so automatic cycles cannot loop forever).
 */
export function isDeadLetterCycle(msg: Message, target: Queue): boolean {
  const deaths = msg.headers()?.['x-death'];
  if (!Array.isArray(deaths)) return false;
  let seen = false;
  for (const d of deaths) {
    if (!isTable(d)) continue;
    if (d.reason === 'rejected') return false;
    if (d.queue === target.name) seen = true;
  }
  return seen;
}
