// Messages as the management API takes and shows them: the `properties` object in RabbitMQ's
// snake_case names, and payloads as text or base64 (encoding "auto" picks text when the bytes
// are valid UTF-8), optionally truncated.
import { isUtf8 } from 'node:buffer';
import type { BasicProperties } from '../amqp/properties.js';
import { badRequest } from './errors.js';
import { jsonToTable, tableToJson } from './json-values.js';

const STRING_PROPS: [keyof BasicProperties, string][] = [
  ['contentType', 'content_type'], ['contentEncoding', 'content_encoding'], ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'], ['expiration', 'expiration'], ['messageId', 'message_id'], ['type', 'type'],
  ['userId', 'user_id'], ['appId', 'app_id'], ['clusterId', 'cluster_id'],
];

export function propertiesToJson(p: BasicProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, name] of STRING_PROPS) if (p[k] !== undefined) out[name] = p[k];
  if (p.deliveryMode !== undefined) out.delivery_mode = p.deliveryMode;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.timestamp !== undefined) out.timestamp = Number(p.timestamp);
  if (p.headers !== undefined) out.headers = tableToJson(p.headers);
  return out;
}

export function propertiesFromJson(v: unknown): BasicProperties {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('properties must be an object');
  const o = v as Record<string, unknown>;
  const p: BasicProperties = {};
  for (const [k, name] of STRING_PROPS) {
    const x = o[name];
    if (x === undefined) continue;
    if (typeof x !== 'string' && typeof x !== 'number') throw badRequest(`property ${name} must be a string`);
    // A short string on the wire: longer would not encode.
    if (Buffer.byteLength(String(x)) > 255) throw badRequest(`property ${name} is longer than 255 bytes`);
    (p as Record<string, unknown>)[k] = String(x);
  }
  const int = (name: string, max: number): number | undefined => {
    const x = o[name];
    if (x === undefined) return undefined;
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0 || n > max) throw badRequest(`property ${name} must be an integer 0-${max}`);
    return n;
  };
  p.deliveryMode = int('delivery_mode', 255);
  p.priority = int('priority', 255);
  p.timestamp = int('timestamp', Number.MAX_SAFE_INTEGER);
  if (o.headers !== undefined) p.headers = jsonToTable(o.headers, 'headers');
  for (const k of Object.keys(p) as (keyof BasicProperties)[]) if (p[k] === undefined) delete p[k];
  return p;
}

/** The payload of a request: "string" (UTF-8) or "base64". */
export function payloadFromJson(payload: unknown, encoding: unknown): Buffer {
  if (typeof payload !== 'string') throw badRequest('payload must be a string');
  if (encoding === 'string') return Buffer.from(payload, 'utf8');
  if (encoding === 'base64') return Buffer.from(payload, 'base64');
  throw badRequest(`payload_encoding must be "string" or "base64"`);
}

/** {payload, payload_bytes, payload_encoding} of a body; `truncate` cuts it to that many bytes first. */
export function payloadToJson(body: Buffer, encoding: 'auto' | 'base64', truncate: number | null): Record<string, unknown> {
  const cut = truncate !== null && body.length > truncate ? body.subarray(0, truncate) : body;
  const text = encoding === 'auto' && isUtf8(cut);
  return {
    payload_bytes: body.length,
    payload: text ? cut.toString('utf8') : cut.toString('base64'),
    payload_encoding: text ? 'string' : 'base64',
  };
}

/** Checks /get's and /peek's encoding and truncate fields. */
export function readEncoding(body: Record<string, unknown>): { encoding: 'auto' | 'base64'; truncate: number | null } {
  const e = body.encoding ?? 'auto';
  if (e !== 'auto' && e !== 'base64') throw badRequest(`Unsupported encoding ${String(e)}`);
  let truncate: number | null = null;
  if (body.truncate !== undefined && body.truncate !== null && body.truncate !== '') {
    const t = Number(body.truncate);
    if (!Number.isInteger(t) || t < 0) throw badRequest('truncate must be a non-negative integer');
    truncate = t;
  }
  return { encoding: e, truncate };
}
