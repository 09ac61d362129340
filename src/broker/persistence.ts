// Connects the broker model to the store: records every change to durable definitions, and at
// boot rebuilds vhosts, users, permissions, durable exchanges, queues (with their messages) and
// bindings from what the store holds.
import type { Logger } from 'pino';
import type { FieldTable } from '../amqp/field-table.js';
import { definitionsReplacer, type DefinitionRecord, DefinitionsWriteError, type DefinitionsStore, type Kind } from '../store/definitions-store.js';
import { describe, internalError } from './errors.js';
import type { AccessListener, Broker, PolicyListener } from './broker.js';
import { applyQueuePolicy } from './policies.js';
import { recordPolicies, restorePolicies } from './policy-persistence.js';
import { type Binding, Exchange } from './exchange.js';
import { Queue } from './queue.js';
import type { Redelivered } from './queue-messages.js';
import type { RuntimeParameter } from './parameters.js';
import type { TopicPermission } from './users.js';
import type { DefinitionListener } from './vhost.js';

const key = (...parts: string[]) => parts.join('\u0000');

function bindingKey(b: Binding): string {
  const dtype = b.destination instanceof Exchange ? 'exchange' : 'queue';
  return key(b.source.vhost, b.source.name, dtype, b.destination.name, b.routingKey, JSON.stringify(Object.entries(b.args).sort(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** Whether a queue outlives a restart: durable and not exclusive (as in RabbitMQ). */
export function survivesRestart(q: Queue): boolean {
  return q.durable && !q.exclusive;
}

export class DefinitionsRecorder implements DefinitionListener, AccessListener, PolicyListener {
  constructor(private readonly store: DefinitionsStore, private readonly broker: Broker) {}

  policiesChanged(vhost: string): void {
    recordPolicies(this.store, this.broker, vhost);
  }

  exchangeDeclared(x: Exchange): void {
    this.putDeclared(describe('exchange', x.name, x.vhost), 'exchange', key(x.vhost, x.name), {
      vhost: x.vhost, name: x.name, type: x.type, durable: x.durable, autoDelete: x.autoDelete,
      internal: x.internal, arguments: x.arguments,
    });
  }

  /** A declaration the store cannot write fails with 541 (the vhost undoes it). */
  private putDeclared(what: string, kind: Kind, k: string, value: DefinitionRecord): void {
    try {
      this.store.put(kind, k, value);
    } catch (err) {
      if (!(err instanceof DefinitionsWriteError)) throw err;
      throw internalError(`cannot store ${what}: ${err.code ?? err.message} writing the definitions; it was not declared`);
    }
  }

  exchangeDeleted(x: Exchange): void {
    this.store.del('exchange', key(x.vhost, x.name));
  }

  queueDeclared(q: Queue): void {
    if (!survivesRestart(q)) return;
    this.putDeclared(describe('queue', q.name, q.vhost), 'queue', key(q.vhost, q.name), {
      vhost: q.vhost, name: q.name, durable: true, autoDelete: q.autoDelete, arguments: q.arguments,
    });
  }

  queueDeleted(q: Queue): void {
    this.store.del('queue', key(q.vhost, q.name));
  }

  bindingAdded(b: Binding): void {
    if (b.destination instanceof Queue && !survivesRestart(b.destination)) return;
    this.putDeclared(`a binding of ${describe('exchange', b.source.name, b.source.vhost)}`, 'binding', bindingKey(b), {
      vhost: b.source.vhost, source: b.source.name, destination: b.destination.name,
      destinationType: b.destination instanceof Exchange ? 'exchange' : 'queue',
      routingKey: b.routingKey, arguments: b.args,
    });
  }

  bindingRemoved(b: Binding): void {
    this.store.del('binding', bindingKey(b));
  }

  vhostsChanged(): void {
    const want = new Map<string, DefinitionRecord>();
    for (const v of this.broker.vhosts.values()) want.set(v.name, { name: v.name, ...v.metadata });
    syncKind(this.store, 'vhost', want, (r) => r.name as string);
  }

  /**
   * A change the journal refuses (a full disk) is undone: users and permissions are loaded again
   * from what the store holds, and the error goes to the caller (the API answers 500).
   */
  usersChanged(): void {
    try {
      this.recordUsers();
    } catch (err) {
      if (!(err instanceof DefinitionsWriteError)) throw err;
      this.broker.users.clear();
      loadUsers(this.broker, this.store);
      throw err;
    }
  }

  private recordUsers(): void {
    const users = this.broker.users;
    const want = new Map<string, DefinitionRecord>();
    for (const u of users.users.values()) want.set(u.name, { ...u });
    syncKind(this.store, 'user', want, (r) => r.name as string);
    const perms = new Map<string, DefinitionRecord>();
    for (const p of users.listPermissions()) perms.set(key(p.vhost, p.user), { ...p });
    syncKind(this.store, 'permission', perms, (r) => key(r.vhost as string, r.user as string));
    const topic = new Map<string, DefinitionRecord>();
    for (const p of users.listTopicPermissions()) topic.set(key(p.vhost, p.user, p.exchange), { ...p });
    syncKind(this.store, 'topic_permission', topic, (r) => key(r.vhost as string, r.user as string, r.exchange as string));
  }

  parametersChanged(): void {
    const params = this.broker.parameters;
    const want = new Map<string, DefinitionRecord>();
    for (const p of params.list()) want.set(key(p.component, p.vhost, p.name), { ...p });
    syncKind(this.store, 'parameter', want, (r) => key(r.component as string, r.vhost as string, r.name as string));
    const global = new Map<string, DefinitionRecord>();
    for (const [name, value] of params.global) global.set(name, { name, value });
    syncKind(this.store, 'global_parameter', global, (r) => r.name as string);
  }
}

/** Makes the stored set of `kind` equal to `want`, writing only the differences. */
function syncKind(store: DefinitionsStore, kind: Kind, want: Map<string, DefinitionRecord>, keyOf: (r: DefinitionRecord) => string): void {
  const have = new Map(store.all(kind).map((r) => [keyOf(r), r]));
  for (const k of have.keys()) if (!want.has(k)) store.del(kind, k);
  for (const [k, r] of want) if (JSON.stringify(have.get(k), definitionsReplacer) !== JSON.stringify(r, definitionsReplacer)) store.put(kind, k, r);
}

/** Users, permissions and topic permissions as the store holds them. */
function loadUsers(broker: Broker, store: DefinitionsStore): void {
  for (const u of store.all('user')) {
    broker.users.putUser(u.name as string, null, u.tags as string[], u.passwordHash as string, u.hashingAlgorithm as string,
      (u.limits as Record<string, number> | undefined) ?? {});
  }
  for (const p of store.all('permission')) {
    broker.users.setPermission(p.user as string, p.vhost as string, p as unknown as { configure: string; write: string; read: string });
  }
  for (const p of store.all('topic_permission')) {
    broker.users.setTopicPermission(p.user as string, p.vhost as string, p as unknown as TopicPermission);
  }
}

export interface RestoreStats {
  queues: number;
  messages: number;
  droppedBytes: number;
}

/**
 * Rebuilds the broker from stored definitions and queue logs. `redelivered` tells, per queue,
 * which recovered messages were delivered before (all of them after a crash).
 */
export function restoreBroker(broker: Broker, store: DefinitionsStore, log: Logger, unclean: boolean,
  redelivered: (vhost: string, queue: string) => Redelivered): RestoreStats {
  const stats: RestoreStats = { queues: 0, messages: 0, droppedBytes: 0 };
  for (const v of store.all('vhost')) {
    const vhost = broker.addVhost(v.name as string);
    vhost.metadata = {
      description: (v.description as string | undefined) ?? '', tags: (v.tags as string[] | undefined) ?? [],
      defaultQueueType: (v.defaultQueueType as string | null | undefined) ?? null,
    };
  }
  loadUsers(broker, store);
  for (const p of store.all('parameter')) broker.parameters.set(p as unknown as RuntimeParameter);
  for (const p of store.all('global_parameter')) broker.parameters.global.set(p.name as string, p.value);
  restorePolicies(broker, store);
  for (const x of store.all('exchange')) {
    const vhost = broker.vhost(x.vhost as string);
    if (!vhost || vhost.exchanges.has(x.name as string)) continue;
    vhost.declareExchange({
      name: x.name as string, type: x.type as string, durable: true, autoDelete: x.autoDelete as boolean,
      internal: x.internal as boolean, arguments: (x.arguments ?? {}) as FieldTable,
    }, false, false);
  }
  for (const q of store.all('queue')) {
    const vhost = broker.vhost(q.vhost as string);
    if (!vhost) continue;
    const queue = vhost.createQueue(q.name as string, {
      durable: true, exclusive: false, autoDelete: q.autoDelete as boolean,
      arguments: (q.arguments ?? {}) as FieldTable, owner: null,
    }, false);
    const r = queue.messages.recover(redelivered(vhost.name, queue.name), unclean);
    // Limits apply to what was recovered too (a lower max-length trims the head, as RabbitMQ at recovery).
    if (queue.policy !== null || queue.operatorPolicy !== null) applyQueuePolicy(vhost, queue, false);
    stats.queues++;
    stats.messages += r.recovered;
    stats.droppedBytes += r.droppedBytes;
    if (r.recovered > 0) log.debug({ vhost: vhost.name, queue: queue.name, messages: r.recovered }, 'recovered queue');
  }
  for (const b of store.all('binding')) {
    const vhost = broker.vhost(b.vhost as string);
    if (!vhost) continue;
    const src = vhost.exchanges.get(b.source as string);
    const dst = b.destinationType === 'exchange' ? vhost.exchanges.get(b.destination as string) : vhost.queues.get(b.destination as string);
    if (src && dst) vhost.bind(src, dst, b.routingKey as string, (b.arguments ?? {}) as FieldTable);
  }
  return stats;
}
