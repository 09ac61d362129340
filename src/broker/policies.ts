// Policies and operator policies as RabbitMQ has them: a named, prioritised pattern per vhost
// whose definition supplies queue and exchange settings in bulk. Per object, the matching policy
// with the highest priority wins, and so does the matching operator policy; the two are merged
// (operator values win, numeric limits take the lower). Everything here runs when a policy or
// an object changes, never per message.
import type { FieldTable, FieldValue } from '../amqp/field-table.js';
import { describe } from './errors.js';
import type { Exchange } from './exchange.js';
import type { Queue } from './queue.js';
import type { VHost } from './vhost.js';

export type ApplyTo = 'queues' | 'exchanges' | 'all' | 'classic_queues' | 'quorum_queues' | 'streams';
export const APPLY_TO: readonly ApplyTo[] = ['queues', 'exchanges', 'all', 'classic_queues', 'quorum_queues', 'streams'];

export type Definition = Record<string, unknown>;

export interface Policy {
  vhost: string;
  name: string;
  pattern: string;
  applyTo: ApplyTo;
  priority: number;
  definition: Definition;
  /** The compiled pattern. */
  regex: RegExp;
}

/** What RabbitMQ's JSON (API, definitions) calls a policy. */
export interface PolicyJson {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': ApplyTo;
  definition: Definition;
  priority: number;
}

export function policyJson(p: Policy): PolicyJson {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: p.definition, priority: p.priority };
}

/** Something policies apply to: a queue (with its type) or an exchange. */
export interface PolicyTarget {
  kind: 'queue' | 'exchange';
  name: string;
  /** Queues: 'classic' or 'quorum'. */
  queueType?: string;
}

function applies(p: Policy, t: PolicyTarget): boolean {
  switch (p.applyTo) {
    case 'all': return true;
    case 'exchanges': return t.kind === 'exchange';
    case 'queues': return t.kind === 'queue';
    case 'classic_queues': return t.kind === 'queue' && t.queueType === 'classic';
    case 'quorum_queues': return t.kind === 'queue' && t.queueType === 'quorum';
    case 'streams': return false; // Warren has no streams
  }
}

/**
 * The policy that applies to `t`: the highest priority among those matching. On a tie RabbitMQ
 * (checked on 3.10) picks the one whose name sorts last; so does Warren, to be deterministic.
 */
export function matchPolicy(policies: Iterable<Policy>, t: PolicyTarget): Policy | null {
  let best: Policy | null = null;
  for (const p of policies) {
    if (!applies(p, t) || !p.regex.test(t.name)) continue;
    if (best === null || p.priority > best.priority || (p.priority === best.priority && p.name > best.name)) best = p;
  }
  return best;
}

/** Keys whose policy and operator-policy values merge to the lower one (RabbitMQ's merge strategy). */
const MIN_KEYS = new Set(['expires', 'message-ttl', 'max-length', 'max-length-bytes', 'max-in-memory-length', 'max-in-memory-bytes', 'delivery-limit']);

/** RabbitMQ's effective definition: the policy's, with the operator policy's merged in. */
export function mergeDefinitions(policy: Policy | null, op: Policy | null): Definition {
  if (op === null) return policy === null ? {} : { ...policy.definition };
  if (policy === null) return { ...op.definition };
  const out: Definition = { ...policy.definition };
  for (const [k, v] of Object.entries(op.definition)) {
    const mine = out[k];
    out[k] = mine !== undefined && MIN_KEYS.has(k) && typeof mine === 'number' && typeof v === 'number' ? Math.min(mine, v) : v;
  }
  return out;
}

/**
 * Queue keys a policy sets, and how a queue's own x-argument combines with the policy's value
 * (rabbit_amqqueue_process: the lower for limits, the argument otherwise).
 */
const QUEUE_KEYS: Record<string, 'min' | 'arg'> = {
  'expires': 'min',
  'message-ttl': 'min',
  'max-length': 'min',
  'max-length-bytes': 'min',
  'delivery-limit': 'min', // as quorum queues do
  'consumer-timeout': 'min', // rabbit_channel: args_policy_lookup with min
  'dead-letter-exchange': 'arg',
  'dead-letter-routing-key': 'arg',
  'overflow': 'arg',
  'queue-mode': 'arg',
  'delayed-retry-type': 'arg',
  'delayed-retry-min': 'arg',
  'delayed-retry-max': 'arg',
  'delayed-retry-multiplier': 'arg',
};

/** A queue's own arguments with the effective policy definition folded in, as x-arguments. */
export function effectiveQueueArgs(args: FieldTable, def: Definition): FieldTable {
  let out: FieldTable | null = null;
  for (const [key, v] of Object.entries(def)) {
    const rule = QUEUE_KEYS[key];
    if (rule === undefined) continue;
    const x = `x-${key}`;
    const own = args[x];
    let value: FieldValue;
    if (own === undefined) value = v as FieldValue;
    else if (rule === 'min' && typeof own === 'number' && typeof v === 'number') value = Math.min(own, v);
    else continue;
    out ??= { ...args };
    out[x] = value;
  }
  return out ?? args;
}

/** An exchange's alternate exchange: its own argument wins over the policy's (rabbit_policy:get_arg). */
export function effectiveAlternate(args: FieldTable, def: Definition): string | null {
  const own = args['alternate-exchange'];
  if (typeof own === 'string') return own;
  const p = def['alternate-exchange'];
  return typeof p === 'string' ? p : null;
}

/** Finds the policy and operator policy for `q` and applies their settings (at declare, and on policy changes). */
export function applyQueuePolicy(v: VHost, q: Queue, fresh = true): void {
  const target = { kind: 'queue' as const, name: q.name, queueType: q.arguments['x-queue-type'] === 'quorum' ? 'quorum' : 'classic' };
  const p = v.policies.size === 0 ? null : matchPolicy(v.policies.values(), target);
  const op = v.operatorPolicies.size === 0 ? null : matchPolicy(v.operatorPolicies.values(), target);
  if (p !== null || op !== null || q.policy !== null || q.operatorPolicy !== null) {
    const def = mergeDefinitions(p, op);
    q.applyPolicy(p?.name ?? null, op?.name ?? null, def, effectiveQueueArgs(q.arguments, def));
  }
  v.ensureRetry(q, fresh);
}

export function applyExchangePolicy(v: VHost, x: Exchange): void {
  const target = { kind: 'exchange' as const, name: x.name };
  const p = v.policies.size === 0 ? null : matchPolicy(v.policies.values(), target);
  const op = v.operatorPolicies.size === 0 ? null : matchPolicy(v.operatorPolicies.values(), target);
  if (p === null && op === null && x.policy === null && x.operatorPolicy === null) return;
  const def = mergeDefinitions(p, op);
  x.applyPolicy(p?.name ?? null, op?.name ?? null, def, effectiveAlternate(x.arguments, def));
}

/** A policy or operator policy was set or cleared: every queue and exchange of the vhost is matched again. */
export function reapplyPolicies(v: VHost): void {
  for (const x of v.exchanges.values()) applyExchangePolicy(v, x);
  for (const q of [...v.queues.values()]) {
    try {
      applyQueuePolicy(v, q);
    } catch (err) {
      v.reportError(err, `applying policies to ${describe('queue', q.name, v.name)}`);
    }
  }
}
