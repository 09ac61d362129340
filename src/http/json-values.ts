// AMQP field values to and from the JSON the management API shows and takes: numbers stay
// numbers (64-bit ones beyond 2^53 become strings), byte strings become text, timestamps
// seconds, tables objects, arrays arrays: what RabbitMQ shows for `arguments` and `headers`.
import { Decimal, type FieldTable, type FieldValue, RawField, Typed } from '../amqp/field-table.js';
import { badRequest } from './errors.js';

export function fieldToJson(v: FieldValue): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (v instanceof Typed) return fieldToJson(v.value);
  if (v instanceof Decimal) return v.value / 10 ** v.scale;
  if (v instanceof RawField) return v.toJSON();
  if (Array.isArray(v)) return v.map(fieldToJson);
  if (typeof v === 'object') return tableToJson(v as FieldTable);
  return v;
}

export function tableToJson(t: FieldTable | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (t === null || t === undefined) return out;
  for (const k of Object.keys(t)) out[k] = fieldToJson(t[k]);
  return out;
}

/** A JSON value from a request body as a field value (objects are tables); 400 for what has no AMQP type. */
export function jsonToField(v: unknown, where: string): FieldValue {
  if (v === null) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return v;
    case 'object':
      if (Array.isArray(v)) return v.map((x) => jsonToField(x, where));
      return jsonToTable(v, where);
    default:
      throw badRequest(`${where}: unsupported value ${String(v)}`);
  }
}

export function jsonToTable(v: unknown, where: string): FieldTable {
  if (v === undefined || v === null || v === '') return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${where} must be an object`);
  const out: FieldTable = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = jsonToField(x, where);
  return out;
}

/** RabbitMQ's idle_since format: "2026-12-02T00:07:28.661+00:00". */
export function idleSince(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}
