// RabbitMQ-format definitions (as exported by `rabbitmqctl export_definitions` or the management
// API): users, vhosts, permissions, topic permissions, runtime and global parameters, policies,
// exchanges, queues, bindings. Imported at boot from a file and by the management API; exported
// the same way, whole or for one vhost (then without vhost fields, as RabbitMQ does).
import { Decimal, RawField, Typed, type FieldTable, type FieldValue } from '../amqp/field-table.js';
import type { Broker } from './broker.js';
import { Exchange } from './exchange.js';
import { KNOWN_COMPONENTS } from './parameters.js';
import type { PolicyJson } from './policies.js';
import { definitionsShapeError } from './definitions-shape.js';
import { exportPolicyDefinitions, importPolicyDefinitions, type ParameterJson } from './policy-definitions.js';
import { HASHING_ALGORITHMS, sortedLimits, userLimitProblem } from './users.js';
import type { VHost } from './vhost.js';

type Args = Record<string, unknown>;

export interface VhostDefinition {
  name: string;
  description?: string;
  tags?: string | string[];
  default_queue_type?: string;
  metadata?: { description?: string; tags?: string | string[]; default_queue_type?: string };
  limits?: unknown;
}

export interface Definitions {
  rabbit_version?: string;
  rabbitmq_version?: string;
  product_name?: string;
  product_version?: string;
  users?: { name: string; password?: string; password_hash?: string; hashing_algorithm?: string; tags?: string | string[]; limits?: unknown }[];
  vhosts?: VhostDefinition[];
  permissions?: { user: string; vhost: string; configure: string; write: string; read: string }[];
  topic_permissions?: { user: string; vhost: string; exchange: string; write: string; read: string }[];
  parameters?: { component: string; vhost?: string; name: string; value: unknown }[];
  global_parameters?: { name: string; value: unknown }[];
  policies?: (Omit<PolicyJson, 'vhost'> & { vhost?: string })[];
  exchanges?: { name: string; vhost?: string; type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Args }[];
  queues?: { name: string; vhost?: string; durable?: boolean; auto_delete?: boolean; type?: string; arguments?: Args }[];
  bindings?: { source: string; vhost?: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key?: string; arguments?: Args }[];
}

/** Runtime-parameter components that carry policies' kin (RabbitMQ exports them so); policy-definitions.ts handles them. */
const POLICY_COMPONENTS: ReadonlySet<string> = new Set(['operator_policy', 'vhost-limits']);

export class DefinitionsError extends Error {}

export function tagsOf(t: unknown): string[] {
  if (Array.isArray(t) && t.every((x) => typeof x === 'string')) return t.filter(Boolean);
  if (t === undefined || t === null || t === '') return [];
  if (typeof t !== 'string') throw new DefinitionsError(`tags must be a comma-separated string or a list of strings, not ${JSON.stringify(t).slice(0, 100)}`);
  return t.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A vhost definition's metadata, from its top-level fields or its `metadata` object (3.11+). */
export function vhostMetadataOf(v: VhostDefinition): VHost['metadata'] {
  const m = v.metadata ?? {};
  const dqt = v.default_queue_type ?? m.default_queue_type ?? null;
  return {
    description: v.description ?? m.description ?? '',
    tags: tagsOf(v.tags ?? m.tags),
    // RabbitMQ writes an unset default queue type as "undefined".
    defaultQueueType: dqt === 'undefined' ? null : dqt,
  };
}

/** Field-table arguments as JSON: numbers stay numbers, booleans booleans, as RabbitMQ shows them. */
export function argumentsJson(t: FieldTable): Args {
  const out: Args = {};
  for (const [k, v] of Object.entries(t)) out[k] = valueJson(v);
  return out;
}

function valueJson(v: FieldValue): unknown {
  if (v instanceof Typed) return valueJson(v.value);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (v instanceof Decimal) return v.value / 10 ** v.scale;
  if (v instanceof RawField) return null;
  if (Array.isArray(v)) return v.map(valueJson);
  if (v !== null && typeof v === 'object') return argumentsJson(v as FieldTable);
  return v ?? null;
}

/**
 * A user's `limits` from definitions or the users API: an object (RabbitMQ's export), or a list
 * of {name: value} objects; undefined when absent. Throws the reason RabbitMQ gives for a bad one.
 */
export function userLimitsOf(limits: unknown): Record<string, number> | undefined {
  if (limits === undefined || limits === null) return undefined;
  const pairs = Array.isArray(limits) ? limits.flatMap((l) => Object.entries(l as object)) : Object.entries(limits as object);
  const out: Record<string, number> = {};
  for (const [name, value] of pairs) {
    const problem = userLimitProblem(name, value);
    if (problem !== null) throw new DefinitionsError(problem);
    out[name] = value as number;
  }
  return out;
}

/** Refuses what Warren would otherwise drop: parameters of components it does not know, bad user limits. */
function checkSupported(defs: Definitions): void {
  for (const u of defs.users ?? []) {
    userLimitsOf(u.limits);
    if (u.hashing_algorithm !== undefined && !HASHING_ALGORITHMS.has(u.hashing_algorithm)) {
      throw new DefinitionsError(`user '${u.name}': unknown hashing algorithm ${u.hashing_algorithm}`);
    }
  }
  for (const p of defs.parameters ?? []) {
    if (!KNOWN_COMPONENTS.has(p.component) && !POLICY_COMPONENTS.has(p.component)) {
      throw new DefinitionsError(`Validation failed\n\ncomponent ${p.component} not found\n`);
    }
  }
}

/**
 * Imports definitions: whole-broker (`vhost` null: objects name their vhost) or into one vhost
 * (objects' vhost fields are ignored). Existing objects are kept (as RabbitMQ's import does for
 * queues and exchanges); users, permissions and parameters are overwritten.
 */
export function importDefinitions(broker: Broker, defs: Definitions, vhost: string | null = null): void {
  const shapeError = definitionsShapeError(defs as Record<string, unknown>);
  if (shapeError !== null) throw new DefinitionsError(shapeError);
  checkSupported(defs);
  const where = (v: string | undefined) => vhost ?? v ?? '/';
  if (vhost === null) {
    for (const v of defs.vhosts ?? []) {
      const created = !broker.vhosts.has(v.name);
      const vh = broker.addVhost(v.name);
      if (created || v.metadata !== undefined || v.description !== undefined) vh.metadata = vhostMetadataOf(v);
    }
    for (const u of defs.users ?? []) {
      broker.users.putUser(u.name, u.password ?? null, tagsOf(u.tags), u.password !== undefined ? undefined : u.password_hash ?? '', u.hashing_algorithm,
        userLimitsOf(u.limits));
    }
    for (const p of defs.permissions ?? []) {
      if (!broker.vhost(p.vhost)) broker.addVhost(p.vhost);
      broker.users.setPermission(p.user, p.vhost, p);
    }
    for (const p of defs.topic_permissions ?? []) {
      if (!broker.vhost(p.vhost)) broker.addVhost(p.vhost);
      broker.users.setTopicPermission(p.user, p.vhost, p);
    }
    for (const g of defs.global_parameters ?? []) broker.parameters.global.set(g.name, g.value);
    broker.accessListener?.vhostsChanged();
    broker.accessListener?.usersChanged();
  }
  for (const p of defs.parameters ?? []) {
    if (KNOWN_COMPONENTS.has(p.component)) broker.parameters.set({ component: p.component, vhost: where(p.vhost), name: p.name, value: p.value });
  }
  broker.accessListener?.parametersChanged();
  // Before queues and exchanges, so that they are declared with their policies in effect.
  try {
    importPolicyDefinitions(broker, {
      policies: (defs.policies ?? []).map((p) => ({ ...p, vhost: where(p.vhost) })),
      parameters: (defs.parameters ?? []).filter((p) => POLICY_COMPONENTS.has(p.component)).map((p) => ({ ...p, vhost: where(p.vhost) })),
      vhosts: vhost === null ? defs.vhosts : undefined,
    });
  } catch (err) {
    throw new DefinitionsError((err as Error).message);
  }
  const system = {} as object;
  for (const x of defs.exchanges ?? []) {
    const vh = broker.vhost(where(x.vhost)) ?? broker.addVhost(where(x.vhost));
    if (vh.exchanges.has(x.name)) continue;
    vh.declareExchange({
      name: x.name, type: x.type, durable: x.durable ?? true, autoDelete: x.auto_delete ?? false,
      internal: x.internal ?? false, arguments: (x.arguments ?? {}) as FieldTable,
    }, false);
  }
  for (const q of defs.queues ?? []) {
    const vh = broker.vhost(where(q.vhost)) ?? broker.addVhost(where(q.vhost));
    if (vh.queues.has(q.name)) continue;
    vh.declareQueue({
      name: q.name, durable: q.durable ?? true, exclusive: false, autoDelete: q.auto_delete ?? false,
      arguments: (q.arguments ?? {}) as FieldTable,
    }, false, system);
  }
  for (const b of defs.bindings ?? []) {
    const vh = broker.vhost(where(b.vhost));
    if (!vh) continue;
    const src = vh.exchanges.get(b.source);
    const dst = b.destination_type === 'exchange' ? vh.exchanges.get(b.destination) : vh.queues.get(b.destination);
    if (src && dst) vh.bind(src, dst, b.routing_key ?? '', (b.arguments ?? {}) as FieldTable);
  }
}

/** One vhost in the export: name and 3.13's metadata (description, tags, default queue type). */
function vhostJson(v: VHost): Args {
  const m = v.metadata;
  const metadata: Args = { description: m.description, tags: m.tags };
  if (m.defaultQueueType !== null) metadata.default_queue_type = m.defaultQueueType;
  return { name: v.name, ...metadata, metadata };
}

function topology(vhosts: VHost[], withVhost: boolean): Pick<Definitions, 'queues' | 'exchanges' | 'bindings'> {
  const vh = (v: VHost) => (withVhost ? { vhost: v.name } : {});
  return {
    queues: vhosts.flatMap((v) => [...v.queues.values()].filter((q) => q.durable && !q.exclusive)
      .map((q) => ({ name: q.name, ...vh(v), durable: q.durable, auto_delete: q.autoDelete, arguments: argumentsJson(q.arguments) }))),
    exchanges: vhosts.flatMap((v) => [...v.exchanges.values()]
      .filter((x) => x.durable && x.name !== '' && !x.name.startsWith('amq.'))
      .map((x) => ({ name: x.name, ...vh(v), type: x.type, durable: x.durable, auto_delete: x.autoDelete, internal: x.internal, arguments: argumentsJson(x.arguments) }))),
    bindings: vhosts.flatMap((v) => v.allBindings()
      .filter((b) => b.source.durable && b.destination.durable && !(b.destination instanceof Exchange ? false : b.destination.exclusive))
      .map((b) => ({
        source: b.source.name, ...vh(v), destination: b.destination.name,
        destination_type: b.destination instanceof Exchange ? 'exchange' as const : 'queue' as const,
        routing_key: b.routingKey, arguments: argumentsJson(b.args),
      }))),
  };
}

/** The whole broker's definitions, in the field order of RabbitMQ's GET /api/definitions. */
export function exportDefinitions(broker: Broker, versions: { rabbitmq: string; product: string; productVersion: string }): Definitions {
  const vhosts = [...broker.vhosts.values()];
  const policyKin = exportPolicyDefinitions(broker);
  return {
    rabbit_version: versions.rabbitmq,
    rabbitmq_version: versions.rabbitmq,
    product_name: versions.product,
    product_version: versions.productVersion,
    users: [...broker.users.users.values()].map((u) => ({
      name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: u.tags, limits: sortedLimits(u.limits),
    })),
    vhosts: vhosts.map(vhostJson) as unknown as VhostDefinition[],
    permissions: broker.users.listPermissions(),
    topic_permissions: broker.users.listTopicPermissions(),
    parameters: [...broker.parameters.list(), ...policyKin.parameters],
    global_parameters: [...broker.parameters.global].map(([name, value]) => ({ name, value })),
    policies: policyKin.policies,
    ...topology(vhosts, true),
  };
}

/** One vhost's definitions, as RabbitMQ's GET /api/definitions/{vhost}: objects without vhost fields. */
export function exportVhostDefinitions(broker: Broker, vhost: VHost, rabbitmqVersion: string): Definitions {
  const policyKin = exportPolicyDefinitions(broker);
  const here = <T extends { vhost: string }>(xs: T[]) => xs.filter((x) => x.vhost === vhost.name).map(({ vhost: _v, ...rest }) => rest);
  return {
    rabbit_version: rabbitmqVersion,
    parameters: here<ParameterJson>([...broker.parameters.list(), ...policyKin.parameters]),
    policies: here(policyKin.policies),
    ...topology([vhost], false),
  };
}
