// The broker: vhosts, users and permissions, and the resource alarms that block publishers.
// It knows nothing of sockets; the server layer drives it.
import { EventEmitter } from 'node:events';
import { AuthCounters, ChurnCounters, DeadLetterCounters } from './counters.js';
import { notAllowed } from './errors.js';
import { ParameterStore } from './parameters.js';
import { type Policy, reapplyPolicies } from './policies.js';
import { type Access, UserStore } from './users.js';
import { VHost, type OpenConnection, type DefinitionListener, type DelayStoreFactory, type QueueMessagesFactory } from './vhost.js';

/** Told about changes to vhosts, users and permissions (the store persists them). */
export interface AccessListener {
  vhostsChanged(): void;
  usersChanged(): void;
  parametersChanged(): void;
}

/** Told about changes to a vhost's policies, operator policies and limits (the store persists them). */
export interface PolicyListener {
  policiesChanged(vhost: string): void;
}

export type PolicyKind = 'policy' | 'operator_policy';

export class Broker extends EventEmitter {
  readonly vhosts = new Map<string, VHost>();
  readonly users = new UserStore();
  readonly parameters = new ParameterStore();
  accessListener: AccessListener | null = null;
  policyListener: PolicyListener | null = null;
  definitionListener: DefinitionListener | null = null;
  messagesFactory: QueueMessagesFactory | null = null;
  delayStoreFactory: DelayStoreFactory | null = null;
  /** Active resource alarms ('memory', 'disk'); publishing is blocked while any is set. */
  readonly alarms = new Set<string>();
  /** Connections, channels and queues opened and closed since start (Prometheus churn series). */
  readonly churn = new ChurnCounters();
  readonly auth = new AuthCounters();
  readonly deadLettered = new DeadLetterCounters();

  /** Starts recording definition changes (after boot-time restore, which must not re-record). */
  setListeners(defs: DefinitionListener, access: AccessListener): void {
    this.definitionListener = defs;
    this.accessListener = access;
    for (const v of this.vhosts.values()) v.listener = defs;
  }

  vhost(name: string): VHost | undefined {
    return this.vhosts.get(name);
  }

  addVhost(name: string): VHost {
    let v = this.vhosts.get(name);
    if (v) return v;
    v = new VHost(name);
    v.listener = this.definitionListener;
    v.messagesFactory = this.messagesFactory;
    v.delayStoreFactory = this.delayStoreFactory;
    v.churn = this.churn;
    v.deadLettered = this.deadLettered;
    v.reportError = (err, what) => this.emit('internal-error', err, what);
    this.vhosts.set(name, v);
    this.accessListener?.vhostsChanged();
    return v;
  }

  deleteVhost(name: string): boolean {
    const v = this.vhosts.get(name);
    if (!v) return false;
    for (const q of [...v.queues.values()]) v.removeQueue(q);
    for (const x of [...v.exchanges.values()]) if (x.name !== '' && !x.name.startsWith('amq.')) v.deleteExchange(x.name, false);
    this.vhosts.delete(name);
    this.users.clearVhost(name);
    this.parameters.clearVhost(name);
    this.accessListener?.vhostsChanged();
    this.accessListener?.usersChanged();
    this.accessListener?.parametersChanged();
    this.policyListener?.policiesChanged(name);
    this.emit('vhost-deleted', name);
    return true;
  }

  /** Deletes a user with its permissions; its connections are closed by the server ('user-deleted'). */
  deleteUser(name: string): boolean {
    if (!this.users.users.has(name)) return false;
    this.users.deleteUser(name);
    this.accessListener?.usersChanged();
    this.emit('user-deleted', name);
    return true;
  }

  /**
   * Fails with 530 unless the vhost exists, its max-connections and the user's allow one more,
   * and the user has permissions there; then counts `conn` as open there until connectionClosed.
   */
  openVhost(user: string, name: string, conn: OpenConnection): VHost {
    const v = this.vhosts.get(name);
    if (!v) throw notAllowed(`vhost ${name} not found`);
    // RabbitMQ's order (rabbit_reader, connection.open): the vhost's limit, the user's, then access.
    const max = v.limits['max-connections'];
    if (max !== undefined && max >= 0 && v.connections.size >= max) {
      throw notAllowed(`access to vhost '${name}' refused for user '${user}': connection limit (${max}) is reached`);
    }
    const userMax = this.users.limit(user, 'max-connections');
    if (userMax >= 0 && this.countOpen(user, false) >= userMax) {
      throw notAllowed(`connection refused for user '${user}': user connection limit (${userMax}) is reached`);
    }
    VHost.checkVhostAccess(this.users.hasVhostAccess(user, name), user, name);
    v.connections.add(conn);
    return v;
  }

  /** A user's max-channels allows them one more channel; else 530. */
  checkChannelLimit(user: string): void {
    const max = this.users.limit(user, 'max-channels');
    if (max >= 0 && this.countOpen(user, true) >= max) {
      throw notAllowed(`number of channels opened for user '${user}' has reached the maximum allowed user limit of (${max})`);
    }
  }

  /**
   * A user's open connections (or their channels), across vhosts. Counted when a limit is set
   * and something opens, rather than tracked on every open and close.
   */
  private countOpen(user: string, channels: boolean): number {
    let n = 0;
    for (const v of this.vhosts.values()) {
      for (const c of v.connections) if (c.userName === user) n += channels ? c.channels.size : 1;
    }
    return n;
  }

  /** Sets or clears (null) a policy or operator policy and applies the change to the vhost's objects. */
  setPolicy(vhost: VHost, kind: PolicyKind, name: string, policy: Policy | null): void {
    const map = kind === 'policy' ? vhost.policies : vhost.operatorPolicies;
    if (policy === null) map.delete(name);
    else map.set(name, policy);
    reapplyPolicies(vhost);
    this.policyListener?.policiesChanged(vhost.name);
  }

  /** Replaces a vhost's limits ({"max-queues": n, ...}); they apply to the next connection or declare. */
  setVhostLimits(vhost: VHost, limits: Record<string, number>): void {
    vhost.limits = limits;
    this.policyListener?.policiesChanged(vhost.name);
  }

  allowed(user: string, vhost: string, access: Access, resource: string): boolean {
    return this.users.allowed(user, vhost, access, resource);
  }

  setAlarm(resource: string, on: boolean): void {
    const had = this.alarms.size > 0;
    if (on) this.alarms.add(resource);
    else this.alarms.delete(resource);
    const has = this.alarms.size > 0;
    if (had !== has) this.emit(has ? 'blocked' : 'unblocked', [...this.alarms].join(','));
  }
}
