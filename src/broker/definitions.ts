// RabbitMQ-format definitions (as exported by `rabbitmqctl export_definitions` or the management
// API): users, vhosts, permissions, exchanges, queues, bindings. Imported at boot from a file and
// later by the management API; exported the same way.
import type { FieldTable } from '../amqp/field-table.js';
import type { Broker } from './broker.js';
import { Exchange } from './exchange.js';
import { exportPolicyDefinitions, importPolicyDefinitions, type PolicyDefinitions } from './policy-definitions.js';

export interface Definitions extends PolicyDefinitions {
  users?: { name: string; password?: string; password_hash?: string; hashing_algorithm?: string; tags?: string | string[] }[];
  vhosts?: { name: string; limits?: unknown }[];
  permissions?: { user: string; vhost: string; configure: string; write: string; read: string }[];
  exchanges?: { name: string; vhost: string; type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: FieldTable }[];
  queues?: { name: string; vhost: string; durable?: boolean; auto_delete?: boolean; arguments?: FieldTable }[];
  bindings?: { source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key?: string; arguments?: FieldTable }[];
}

function tagsOf(t: string | string[] | undefined): string[] {
  if (Array.isArray(t)) return t;
  return t ? t.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

export function importDefinitions(broker: Broker, defs: Definitions): void {
  for (const v of defs.vhosts ?? []) broker.addVhost(v.name);
  for (const u of defs.users ?? []) {
    broker.users.putUser(u.name, u.password ?? null, tagsOf(u.tags), u.password !== undefined ? undefined : u.password_hash, u.hashing_algorithm);
  }
  for (const p of defs.permissions ?? []) {
    if (!broker.vhost(p.vhost)) broker.addVhost(p.vhost);
    broker.users.setPermission(p.user, p.vhost, p);
  }
  broker.accessListener?.usersChanged();
  // Before queues and exchanges, so that they are declared with their policies in effect.
  importPolicyDefinitions(broker, defs);
  const system = {} as object;
  for (const x of defs.exchanges ?? []) {
    const vhost = broker.vhost(x.vhost) ?? broker.addVhost(x.vhost);
    if (vhost.exchanges.has(x.name)) continue;
    vhost.declareExchange({
      name: x.name, type: x.type, durable: x.durable ?? true, autoDelete: x.auto_delete ?? false,
      internal: x.internal ?? false, arguments: x.arguments ?? {},
    }, false);
  }
  for (const q of defs.queues ?? []) {
    const vhost = broker.vhost(q.vhost) ?? broker.addVhost(q.vhost);
    if (vhost.queues.has(q.name)) continue;
    vhost.declareQueue({
      name: q.name, durable: q.durable ?? true, exclusive: false, autoDelete: q.auto_delete ?? false,
      arguments: q.arguments ?? {},
    }, false, system);
  }
  for (const b of defs.bindings ?? []) {
    const vhost = broker.vhost(b.vhost);
    if (!vhost) continue;
    const src = vhost.exchanges.get(b.source);
    const dst = b.destination_type === 'exchange' ? vhost.exchanges.get(b.destination) : vhost.queues.get(b.destination);
    if (src && dst) vhost.bind(src, dst, b.routing_key ?? '', b.arguments ?? {});
  }
}

/** Durable topology and all access definitions, in RabbitMQ's export format. */
export function exportDefinitions(broker: Broker, version: string): Definitions & Record<string, unknown> {
  const vhosts = [...broker.vhosts.values()];
  return {
    rabbit_version: version,
    users: [...broker.users.users.values()].map((u) => ({
      name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: u.tags,
    })),
    vhosts: vhosts.map((v) => ({ name: v.name })),
    permissions: broker.users.listPermissions(),
    exchanges: vhosts.flatMap((v) => [...v.exchanges.values()]
      .filter((x) => x.durable && x.name !== '' && !x.name.startsWith('amq.'))
      .map((x) => ({ name: x.name, vhost: v.name, type: x.type, durable: x.durable, auto_delete: x.autoDelete, internal: x.internal, arguments: x.arguments }))),
    queues: vhosts.flatMap((v) => [...v.queues.values()].filter((q) => q.durable)
      .map((q) => ({ name: q.name, vhost: v.name, durable: q.durable, auto_delete: q.autoDelete, arguments: q.arguments }))),
    bindings: vhosts.flatMap((v) => v.allBindings().filter((b) => b.source.durable && b.destination.durable).map((b) => ({
      source: b.source.name, vhost: v.name, destination: b.destination.name,
      destination_type: b.destination instanceof Exchange ? 'exchange' as const : 'queue' as const,
      routing_key: b.routingKey, arguments: b.args,
    }))),
    ...exportPolicyDefinitions(broker),
  };
}
