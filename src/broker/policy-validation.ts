// Checks a policy or operator policy as RabbitMQ does before storing it, with its reason texts
// ("Validation failed\n\n... are not recognised policy settings\n"): the keys each kind accepts,
// each value's type and range, the pattern, priority and apply-to.
import { APPLY_TO, type ApplyTo, type Definition, type Policy } from './policies.js';

export class PolicyInvalid extends Error {}

/** Erlang's ~p rendering of a JSON value, as RabbitMQ's reasons print them. */
export function erlangTerm(v: unknown): string {
  if (typeof v === 'string') return `<<"${v.replace(/["\\]/g, (c) => `\\${c}`)}">>`;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(erlangTerm).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `#{${entries.map(([k, x]) => `${erlangTerm(k)} => ${erlangTerm(x)}`).join(',')}}`;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const check = (ok: (v: unknown) => boolean, what: string) => (v: unknown) => (ok(v) ? null : `${erlangTerm(v)} is not a valid ${what}`);
const oneOf = (values: string[], what: string) => check((v) => typeof v === 'string' && values.includes(v), what);
const str = (what: string) => check((v) => typeof v === 'string', what);
const intAtLeast = (min: number, what: string) => check((v) => isInt(v) && v >= min, what);

type Validator = (v: unknown) => string | null;

/** Keys a policy may set (RabbitMQ's built-in validators, mirroring's, and Warren's delayed retry). */
const POLICY_KEYS: Record<string, Validator> = {
  'alternate-exchange': str('alternate exchange name'),
  'dead-letter-exchange': str('dead letter exchange name'),
  'dead-letter-routing-key': str('dead letter routing key'),
  'dead-letter-strategy': oneOf(['at-most-once', 'at-least-once'], 'dead letter strategy'),
  'message-ttl': intAtLeast(0, 'message TTL'),
  'expires': intAtLeast(1, 'queue expiry'),
  'max-length': intAtLeast(0, 'maximum length'),
  'max-length-bytes': intAtLeast(0, 'maximum length in bytes'),
  'max-in-memory-length': intAtLeast(0, 'maximum memory in bytes'),
  'max-in-memory-bytes': intAtLeast(0, 'maximum memory in bytes'),
  'queue-mode': oneOf(['default', 'lazy'], 'queue-mode value'),
  'queue-version': check((v) => v === 1 || v === 2, 'queue version'),
  'overflow': oneOf(['drop-head', 'reject-publish', 'reject-publish-dlx'], 'overflow value'),
  'delivery-limit': intAtLeast(0, 'delivery limit'),
  'consumer-timeout': intAtLeast(0, 'consumer timeout'),
  'max-age': check((v) => typeof v === 'string' && /^[0-9]+[YMDhms]$/.test(v), 'max age'),
  'stream-max-segment-size-bytes': intAtLeast(0, 'segment size'),
  'queue-leader-locator': oneOf(['client-local', 'balanced', 'random', 'least-leaders'], 'queue leader locator value'),
  'initial-cluster-size': intAtLeast(0, 'cluster size'),
  'target-group-size': intAtLeast(0, 'target group size'),
  'ha-mode': oneOf(['all', 'exactly', 'nodes'], 'ha-mode value'),
  'ha-params': () => null,
  'ha-sync-mode': oneOf(['automatic', 'manual'], 'ha-sync-mode value'),
  'ha-sync-batch-size': intAtLeast(1, 'ha-sync-batch-size value'),
  'ha-promote-on-shutdown': oneOf(['always', 'when-synced'], 'ha-promote-on-shutdown value'),
  'ha-promote-on-failure': oneOf(['always', 'when-synced'], 'ha-promote-on-failure value'),
  'queue-master-locator': oneOf(['min-masters', 'client-local', 'random'], 'queue-master-locator value'),
  'delayed-retry-type': oneOf(['disabled', 'all', 'failed', 'returned'], 'delayed retry type'),
  'delayed-retry-min': intAtLeast(1, 'delayed retry minimum'),
  'delayed-retry-max': intAtLeast(1, 'delayed retry maximum'),
  'delayed-retry-multiplier': intAtLeast(1, 'delayed retry multiplier'),
};

/** The subset an operator policy may set. */
const OPERATOR_KEYS = ['expires', 'message-ttl', 'max-length', 'max-length-bytes', 'max-in-memory-length', 'max-in-memory-bytes', 'delivery-limit'];

const failed = (msg: string) => new PolicyInvalid(`Validation failed\n\n${msg}\n`);

function validateDefinition(def: unknown, operator: boolean): Definition {
  if (def === null || typeof def !== 'object' || Array.isArray(def)) {
    throw failed(`definition must be a dictionary: ${erlangTerm(def)}`);
  }
  const entries = Object.entries(def as Definition).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) throw failed('no policy provided');
  const unknown: [string, unknown][] = [];
  for (const [k, v] of entries) {
    const validator = operator && !OPERATOR_KEYS.includes(k) ? undefined : POLICY_KEYS[k];
    if (validator === undefined) {
      unknown.push([k, v]);
      continue;
    }
    const problem = validator(v);
    if (problem !== null) throw failed(problem);
  }
  if (unknown.length !== 0) {
    throw failed(`[${unknown.map(([k, v]) => `{${erlangTerm(k)},${erlangTerm(v)}}`).join(',')}] are not recognised policy settings`);
  }
  return def as Definition;
}

/**
 * Builds a policy from RabbitMQ's JSON body ({pattern, definition, priority?, apply-to?}), or
 * throws PolicyInvalid with RabbitMQ's reason.
 */
export function parsePolicy(vhost: string, name: string, body: Record<string, unknown>, operator: boolean): Policy {
  for (const k of ['pattern', 'definition']) if (body[k] === undefined) throw new PolicyInvalid(`[{key_missing,${k}}]`);
  const priority = body.priority ?? 0;
  if (typeof priority !== 'number') throw failed(`priority should be a number, actually was ${erlangTerm(priority)}`);
  const pattern = body.pattern;
  if (typeof pattern !== 'string') throw failed(`pattern should be a string, actually was ${erlangTerm(pattern)}`);
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
    // V8 compiles lazily: a pattern too large to compile would fail on every later declare.
    regex.test('');
  } catch (err) {
    throw failed(`pattern should be regular expression but is invalid: {"${(err as Error).message}",0}`);
  }
  const applyTo = body['apply-to'] ?? 'all';
  if (typeof applyTo !== 'string' || !(APPLY_TO as readonly string[]).includes(applyTo)) {
    throw failed(`apply-to '${String(applyTo)}' unrecognised; should be one of: 'queues', 'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'`);
  }
  const definition = validateDefinition(body.definition, operator);
  return { vhost, name, pattern, applyTo: applyTo as ApplyTo, priority, definition, regex };
}

export type VhostLimitName = 'max-connections' | 'max-queues';
export const VHOST_LIMIT_NAMES: VhostLimitName[] = ['max-connections', 'max-queues'];

/** Checks one vhost limit value as RabbitMQ does; returns the reason or null. */
export function vhostLimitProblem(name: string, value: unknown): string | null {
  if (!(VHOST_LIMIT_NAMES as string[]).includes(name)) return `Validation failed\n\nUnrecognised terms [{${erlangTerm(name)},${erlangTerm(value)}}] in limits\n`;
  if (!isInt(value)) return `Validation failed\n\n${name} should be a number, actually was ${erlangTerm(value)}\n`;
  return null;
}
