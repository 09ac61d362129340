// The broker: vhosts, users and permissions, and the resource alarms that block publishers.
// It knows nothing of sockets; the server layer drives it.
import { EventEmitter } from 'node:events';
import { notAllowed } from './errors.js';
import { type Access, UserStore } from './users.js';
import { QueueChurn, VHost, type DefinitionListener, type DelayStoreFactory, type QueueMessagesFactory } from './vhost.js';

/** Told about changes to vhosts, users and permissions (the store persists them). */
export interface AccessListener {
  vhostsChanged(): void;
  usersChanged(): void;
}

export class Broker extends EventEmitter {
  readonly vhosts = new Map<string, VHost>();
  readonly users = new UserStore();
  accessListener: AccessListener | null = null;
  definitionListener: DefinitionListener | null = null;
  messagesFactory: QueueMessagesFactory | null = null;
  delayStoreFactory: DelayStoreFactory | null = null;
  /** Active resource alarms ('memory', 'disk'); publishing is blocked while any is set. */
  readonly alarms = new Set<string>();
  /** Queue churn across every vhost (each vhost counts into it). */
  readonly queueChurn = new QueueChurn();

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
    v.churn = this.queueChurn;
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
    this.accessListener?.vhostsChanged();
    this.emit('vhost-deleted', name);
    return true;
  }

  /** Fails with 530 unless the vhost exists and the user has permissions there. */
  openVhost(user: string, name: string): VHost {
    const v = this.vhosts.get(name);
    if (!v) throw notAllowed(`vhost ${name} not found`);
    VHost.checkVhostAccess(this.users.hasVhostAccess(user, name), user, name);
    return v;
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
