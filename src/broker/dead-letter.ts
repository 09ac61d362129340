// Dead-lettering as RabbitMQ does it: the message is republished to the queue's dead-letter
// exchange with an x-death history (one entry per queue and reason, counted, most recent
// first), x-first-death-* and x-last-death-* headers, and its per-message TTL removed.
import { type FieldTable, type FieldValue, Typed } from '../amqp/field-table.js';
import { propertiesToBuffer } from '../amqp/properties.js';
import { buildMessage, type Message } from './message.js';
import type { DeadLetterReason, Queue } from './queue.js';

export function deadLetteredCopy(msg: Message, queue: Queue, reason: DeadLetterReason, exchange: string, routingKey: string): Message {
  const props = msg.properties();
  const headers: FieldTable = props.headers ?? {};
  const deaths = Array.isArray(headers['x-death']) ? (headers['x-death'] as FieldValue[]).filter(isTable) : [];
  const at = deaths.findIndex((d) => d.queue === queue.name && d.reason === reason);
  let entry: FieldTable;
  if (at >= 0) {
    entry = deaths.splice(at, 1)[0];
    entry.count = new Typed('l', Number(entry.count ?? 0) + 1);
    entry.time = new Typed('T', Math.floor(Date.now() / 1000));
  } else {
    entry = {
      count: new Typed('l', 1),
      reason,
      queue: queue.name,
      time: new Typed('T', Math.floor(Date.now() / 1000)),
      exchange: msg.exchange,
      'routing-keys': [msg.routingKey],
    };
    if (props.expiration !== undefined) entry['original-expiration'] = props.expiration;
  }
  deaths.unshift(entry);
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-queue'] = queue.name;
    headers['x-first-death-exchange'] = msg.exchange;
  }
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-queue'] = queue.name;
  headers['x-last-death-exchange'] = msg.exchange;
  props.headers = headers;
  delete props.expiration;
  return buildMessage(exchange, routingKey, propertiesToBuffer(props), msg.body);
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
