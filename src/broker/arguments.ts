// Declare-time checks of exchange and queue properties and arguments, with RabbitMQ's rules:
// a redeclare must match what exists ("inequivalent arg" 406), and known x-arguments must have
// valid types and ranges.
import { fieldTypeName, type FieldTable, type FieldValue } from '../amqp/field-table.js';
import { DELAYED_TYPE } from './delayed.js';
import { describe, preconditionFailed } from './errors.js';
import type { Exchange } from './exchange.js';
import { valuesEqual } from './exchange.js';
import type { Queue } from './queue.js';
import type { ExchangeDeclare, QueueDeclare } from './vhost.js';

/** Queue arguments RabbitMQ compares on redeclare; others may differ freely. */
const QUEUE_EQUIVALENCE_KEYS = [
  'x-expires', 'x-message-ttl', 'x-max-length', 'x-max-length-bytes', 'x-max-priority', 'x-overflow',
  'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-queue-mode', 'x-queue-type',
  'x-single-active-consumer', 'x-queue-master-locator', 'x-queue-version', 'x-delivery-limit', 'x-consumer-timeout',
  'x-delayed-retry-type', 'x-delayed-retry-min', 'x-delayed-retry-max', 'x-delayed-retry-multiplier',
];

function typeName(v: FieldValue): string {
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'string': return 'longstr';
    case 'number': return Number.isInteger(v) ? 'long' : 'double';
    case 'bigint': return 'long';
    default: return v === null ? 'void' : Array.isArray(v) ? 'array' : Buffer.isBuffer(v) ? 'binary' : 'table';
  }
}

/** How RabbitMQ shows an argument in "inequivalent arg" texts when the other side is absent. */
function show(t: FieldTable, key: string): string {
  const v = t[key];
  return v === undefined ? 'none' : `the value '${String(v)}' of type '${fieldTypeName(t, key) ?? typeName(v)}'`;
}

function mismatch(kind: 'queue' | 'exchange', name: string, vhost: string, key: string, want: FieldTable, have: FieldTable) {
  const detail = want[key] !== undefined && have[key] !== undefined
    ? `received '${String(want[key])}' but current is '${String(have[key])}'`
    : `received ${show(want, key)} but current is ${show(have, key)}`;
  return preconditionFailed(`inequivalent arg '${key}' for ${describe(kind, name, vhost)}: ${detail}`);
}

function fieldMismatch(kind: 'queue' | 'exchange', name: string, vhost: string, field: string, received: unknown, current: unknown) {
  return preconditionFailed(`inequivalent arg '${field}' for ${describe(kind, name, vhost)}: `
    + `received '${String(received)}' but current is '${String(current)}'`);
}

export function checkQueueEquivalence(q: Queue, d: QueueDeclare, vhost: string): void {
  if (q.durable !== d.durable) throw fieldMismatch('queue', q.name, vhost, 'durable', d.durable, q.durable);
  if (q.autoDelete !== d.autoDelete) throw fieldMismatch('queue', q.name, vhost, 'auto_delete', d.autoDelete, q.autoDelete);
  for (const key of QUEUE_EQUIVALENCE_KEYS) {
    const have = q.arguments[key];
    const want = d.arguments[key];
    if (have === undefined && want === undefined) continue;
    if (have !== undefined && want !== undefined && valuesEqual(have, want)) continue;
    throw mismatch('queue', q.name, vhost, key, d.arguments, q.arguments);
  }
}

export function checkExchangeEquivalence(x: Exchange, d: ExchangeDeclare, vhost: string): void {
  if (x.type !== d.type) throw fieldMismatch('exchange', x.name, vhost, 'type', d.type, x.type);
  if (x.durable !== d.durable) throw fieldMismatch('exchange', x.name, vhost, 'durable', d.durable, x.durable);
  if (x.autoDelete !== d.autoDelete) throw fieldMismatch('exchange', x.name, vhost, 'auto_delete', d.autoDelete, x.autoDelete);
  if (x.internal !== d.internal) throw fieldMismatch('exchange', x.name, vhost, 'internal', d.internal, x.internal);
  // x-delayed-type is Warren's addition: the plugin lets a redeclare change the kind silently.
  for (const key of x.type === DELAYED_TYPE ? ['alternate-exchange', 'x-delayed-type'] : ['alternate-exchange']) {
    const have = x.arguments[key];
    const want = d.arguments[key];
    if ((have !== undefined || want !== undefined) && !(have !== undefined && want !== undefined && valuesEqual(have, want))) {
      throw mismatch('exchange', x.name, vhost, key, d.arguments, x.arguments);
    }
  }
}

type Check = (v: FieldValue) => string | null;

const nonNegInt: Check = (v) => (typeof v === 'number' && Number.isInteger(v) ? (v < 0 ? `{value_negative,${v}}` : null) : `{unacceptable_type,${typeName(v)}}`);
const posInt: Check = (v) => (typeof v === 'number' && Number.isInteger(v) ? (v <= 0 ? `{value_zero_or_less,${v}}` : null) : `{unacceptable_type,${typeName(v)}}`);
const str: Check = (v) => (typeof v === 'string' ? null : `{unacceptable_type,${typeName(v)}}`);
const oneOf = (...allowed: string[]): Check => (v) => (typeof v === 'string' && allowed.includes(v) ? null : `{unacceptable_value,${String(v)}}`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : `{unacceptable_type,${typeName(v)}}`);

const QUEUE_ARG_CHECKS: Record<string, Check> = {
  'x-expires': posInt,
  'x-message-ttl': nonNegInt,
  'x-max-length': nonNegInt,
  'x-max-length-bytes': nonNegInt,
  'x-max-priority': (v) => nonNegInt(v) ?? ((v as number) > 255 ? `{value_too_large,${v},255}` : null),
  'x-dead-letter-exchange': str,
  'x-dead-letter-routing-key': str,
  'x-overflow': oneOf('drop-head', 'reject-publish', 'reject-publish-dlx'),
  'x-queue-mode': oneOf('default', 'lazy'),
  'x-queue-type': oneOf('classic', 'quorum'),
  'x-single-active-consumer': bool,
  'x-delivery-limit': nonNegInt,
  'x-consumer-timeout': nonNegInt,
  'x-delayed-retry-type': oneOf('disabled', 'all', 'failed', 'returned'),
  'x-delayed-retry-min': posInt,
  'x-delayed-retry-max': posInt,
  'x-delayed-retry-multiplier': posInt,
};

export function validateQueueArguments(args: FieldTable, queue: string, vhost: string): void {
  for (const [key, check] of Object.entries(QUEUE_ARG_CHECKS)) {
    const v = args[key];
    if (v === undefined) continue;
    const problem = check(v);
    if (problem !== null) {
      throw preconditionFailed(`invalid arg '${key}' for ${describe('queue', queue, vhost)}: ${problem}`);
    }
  }
  if (args['x-dead-letter-routing-key'] !== undefined && args['x-dead-letter-exchange'] === undefined) {
    throw preconditionFailed(`invalid arg 'x-dead-letter-routing-key' for ${describe('queue', queue, vhost)}: `
      + `{missing_dead_letter_exchange}`);
  }
}

const X_MATCH = ['all', 'any', 'all-with-x', 'any-with-x'];

/** Headers-exchange bindings must have a valid x-match, if any. */
export function validateHeadersBinding(args: FieldTable): void {
  const m = args['x-match'];
  if (m === undefined) return;
  if (typeof m !== 'string' || !X_MATCH.includes(m)) {
    throw preconditionFailed(`Invalid x-match field value <<"${String(m)}">>; expected all, any, all-with-x, or any-with-x`);
  }
}
