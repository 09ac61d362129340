// Shared helpers for the unit tests.
import { Decimal, type FieldTable, type FieldValue } from '../../src/amqp/field-table.js';

/**
 * A deep copy of decoded field values as plain objects: own string keys only. Decoded tables
 * carry a symbol-keyed record of their wire types, which assert.deepStrictEqual would compare.
 */
export function plain<T>(v: T): T {
  return strip(v as FieldValue) as T;
}

function strip(v: FieldValue): FieldValue {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Date || v instanceof Decimal) return v;
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: FieldTable = {};
  for (const k of Object.keys(v)) out[k] = strip((v as FieldTable)[k]);
  return out;
}

export { rng } from '../helpers/random.js';
