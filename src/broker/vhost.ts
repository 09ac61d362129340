// A virtual host: its exchanges, queues and bindings, and the router that takes a message from
// an exchange to the set of queues it reaches (following exchange-to-exchange bindings and
// alternate exchanges, each queue at most once).
import type { FieldTable } from '../amqp/field-table.js';
import { Binding, checkExchangeType, createExchange, type Destination, Exchange, type RouteSink } from './exchange.js';
import { accessRefused, describe, notAllowed, notFound, preconditionFailed, resourceLocked } from './errors.js';
import { checkExchangeEquivalence, checkQueueEquivalence, validateHeadersBinding, validateQueueArguments } from './arguments.js';
import { buildMessage, type Message } from './message.js';
import { type DeadLetterReason, Queue, type QueueOptions } from './queue.js';
import { deadLetteredCopy, isDeadLetterCycle } from './dead-letter.js';
import { DELAYED_TYPE, DelayedExchange, DelaySchedule, delayOf, withNegatedDelay } from './delayed.js';
import { ccKeys, mayHaveCc } from './sender-selected.js';
import type { DelayBuckets } from '../store/delay-buckets.js';
import type { QueueMessages } from './queue-messages.js';
import { ChurnCounters, DeadLetterCounters } from './counters.js';
import { applyExchangePolicy, applyQueuePolicy, type Policy } from './policies.js';

/** What the model needs of an open connection: whose it is and how many channels it has open. */
export interface OpenConnection {
  readonly userName: string;
  readonly channels: { readonly size: number };
}

/** Told about every change to durable definitions, so the store can persist it. */
export interface DefinitionListener {
  exchangeDeclared(x: Exchange): void;
  exchangeDeleted(x: Exchange): void;
  queueDeclared(q: Queue): void;
  queueDeleted(q: Queue): void;
  bindingAdded(b: Binding): void;
  bindingRemoved(b: Binding): void;
}

/**
 * Makes the message container of a queue (the store provides disk-backed ones). `fresh` is false
 * when the queue is being restored at boot and its stored messages must be kept.
 */
export type QueueMessagesFactory = (queue: Queue, fresh: boolean) => QueueMessages;

/**
 * Makes the on-disk store of a delayed exchange's pending messages; `fresh` is false when the
 * exchange is being restored at boot and its stored messages must be kept.
 */
export type DelayStoreFactory = (owner: DelayOwner, fresh: boolean) => DelayBuckets;

/** What delayed messages belong to: a delayed exchange, or a queue's delayed retries. */
export interface DelayOwner {
  kind: 'exchange' | 'queue';
  vhost: string;
  name: string;
  durable: boolean;
}

export interface ExchangeDeclare {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDeclare {
  name: string;
  /** The broker chose the name (amq.gen-...), so the reserved prefix is fine. */
  serverNamed?: boolean;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
}

const BUILTIN_EXCHANGES: [string, string][] = [
  ['amq.direct', 'direct'], ['amq.fanout', 'fanout'], ['amq.topic', 'topic'],
  ['amq.headers', 'headers'], ['amq.match', 'headers'],
];

/** What a vhost is described with (RabbitMQ's vhost metadata). */
export interface VhostMetadata {
  description: string;
  tags: string[];
  /** The queue type asked for at creation; null when none was given. */
  defaultQueueType: string | null;
}

export class VHost implements RouteSink {
  metadata: VhostMetadata = { description: '', tags: [], defaultQueueType: null };
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  /** Bindings by destination, to drop them when the destination goes. */
  private readonly bindingsTo = new Map<Destination, Set<Binding>>();
  private routeMark = 0;
  private routeOut: Queue[] = [];
  private routeWork: Exchange[] = [];
  private matched = 0;

  listener: DefinitionListener | null = null;
  /** Policies and operator policies by name; applied at declare and whenever they change. */
  readonly policies = new Map<string, Policy>();
  readonly operatorPolicies = new Map<string, Policy>();
  /** Vhost limits as RabbitMQ keeps them ({"max-queues": n, "max-connections": n}); negative or absent: none. */
  limits: Record<string, number> = {};
  /** Open AMQP connections to this vhost (for max-connections, and users' max-connections and max-channels). */
  readonly connections = new Set<OpenConnection>();
  messagesFactory: QueueMessagesFactory | null = null;
  delayStoreFactory: DelayStoreFactory | null = null;
  /** Shared with the broker: queue declarations, creations and deletions. */
  churn = new ChurnCounters();
  /** Shared with the broker: messages dead-lettered, by reason. */
  deadLettered = new DeadLetterCounters();
  /**
   * Set by route(): delayed exchanges the message reached with a positive x-delay (it is not
   * routed on from them now), and whether any of them could route it now (for `mandatory`).
   */
  readonly delayedHits: Exchange[] = [];
  delayedRoutable = false;
  private delayMs = -1;
  private probeCount = 0;
  private readonly probe: RouteSink = { add: () => { this.probeCount++; } };

  constructor(readonly name: string) {
    const opts = { durable: true, autoDelete: false, internal: false, arguments: {} };
    this.exchanges.set('', createExchange('', 'direct', name, opts));
    for (const [n, t] of BUILTIN_EXCHANGES) this.exchanges.set(n, createExchange(n, t, name, opts));
  }

  // ---------------------------------------------------------------- exchanges

  exchange(name: string): Exchange {
    const x = this.exchanges.get(name);
    if (!x) throw notFound(`no ${describe('exchange', name, this.name)}`);
    return x;
  }

  /** `fresh`: false when restoring at boot (a delayed exchange keeps its stored messages). */
  declareExchange(d: ExchangeDeclare, passive: boolean, fresh = true): Exchange {
    if (passive) return this.exchange(d.name);
    checkExchangeType(d.type);
    const existing = this.exchanges.get(d.name);
    if (existing) {
      checkExchangeEquivalence(existing, d, this.name);
      return existing;
    }
    if (d.name.startsWith('amq.')) {
      throw accessRefused(`exchange name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    const x = d.type === DELAYED_TYPE ? this.createDelayed(d, fresh) : createExchange(d.name, d.type, this.name, d);
    applyExchangePolicy(this, x);
    this.exchanges.set(d.name, x);
    if (x.durable) this.recordOrUndo(() => this.listener?.exchangeDeclared(x), () => this.removeExchange(x));
    return x;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    const x = this.exchanges.get(name);
    if (!x) throw notFound(`no ${describe('exchange', name, this.name)}`);
    if (name === '' || name.startsWith('amq.')) {
      throw accessRefused(`operation not permitted on the default exchange`);
    }
    // As RabbitMQ, only bindings from this exchange make it used; bindings into it go with it.
    if (ifUnused && x.bindings.size > 0) {
      throw preconditionFailed(`${describe('exchange', name, this.name)} in use`);
    }
    this.removeExchange(x);
  }

  private createDelayed(d: ExchangeDeclare, fresh: boolean): Exchange {
    const x = new DelayedExchange(d.name, this.name, d);
    if (this.delayStoreFactory === null) throw new Error('delayed exchanges need a message store');
    x.delays = new DelaySchedule(x.durable, this.delayStoreFactory({ kind: 'exchange', vhost: this.name, name: x.name, durable: x.durable }, fresh),
      (stored) => {
        // Leaving the exchange, x-delay is negated so that no delayed exchange holds it again.
        const delay = delayOf(stored);
        return this.routeDue(x, delay > 0 ? withNegatedDelay(stored, delay) : stored);
      });
    return x;
  }

  /** Routes a delayed message that fell due; returns the store epoch to sync, or -1 when nothing took it. */
  private routeDue(x: Exchange, msg: Message): number {
    if (x.deleted) return -1;
    const extra = mayHaveCc(msg) ? ccKeys(msg) : null;
    const queues = this.route(x, msg, msg.routingKey, extra).slice();
    let epoch = this.delayedHits.length !== 0 ? this.scheduleDelayed(msg) : 0;
    if (queues.length === 0 && this.delayedHits.length === 0) return -1;
    for (const q of queues) {
      q.publish(msg);
      const e = q.messages.lastPushSyncEpoch();
      if (e > epoch) epoch = e;
    }
    return epoch;
  }

  /** Hands the message of the last route() to the delayed exchanges it reached; returns the epoch a confirm waits for. */
  scheduleDelayed(msg: Message): number {
    let epoch = 0;
    for (const x of this.delayedHits) {
      const e = x.delays!.add(msg, this.delayMs);
      if (e > epoch) epoch = e;
    }
    return epoch;
  }

  /** Clean shutdown: delayed exchanges keep their messages on disk. */
  closeDelayed(): void {
    for (const x of this.exchanges.values()) x.delays?.close();
    for (const q of this.queues.values()) q.retry?.close();
  }

  private removeExchange(x: Exchange): void {
    for (const b of [...x.bindings.values()]) this.dropBinding(b, false);
    // Exchanges bound to this one may lose their last binding and auto-delete.
    for (const b of [...(this.bindingsTo.get(x) ?? [])]) this.dropBinding(b, true);
    this.bindingsTo.delete(x);
    this.exchanges.delete(x.name);
    x.deleted = true;
    x.delays?.destroy();
    if (x.durable) this.listener?.exchangeDeleted(x);
  }

  // ------------------------------------------------------------------ queues

  queue(name: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw notFound(`no ${describe('queue', name, this.name)}`);
    return q;
  }

  /** Fails with 405 when the queue is exclusive to another connection. */
  checkExclusive(q: Queue, conn: object): void {
    if (q.exclusive && q.owner !== conn) {
      throw resourceLocked(`cannot obtain exclusive access to locked ${describe('queue', q.name, this.name)}. `
        + 'It could be originally declared on another connection or the exclusive property value does not '
        + 'match that of the original declaration.');
    }
  }

  declareQueue(d: QueueDeclare, passive: boolean, conn: object): { queue: Queue; created: boolean } {
    const existing = this.queues.get(d.name);
    if (passive) {
      if (!existing) throw notFound(`no ${describe('queue', d.name, this.name)}`);
      this.checkExclusive(existing, conn);
      existing.touch();
      return { queue: existing, created: false };
    }
    this.churn.queuesDeclared++;
    if (existing) {
      // Redeclaring must agree on exclusivity too: same owner, or neither exclusive.
      if (existing.owner !== (d.exclusive ? conn : null)) this.checkExclusive({ exclusive: true, owner: null, name: d.name } as Queue, conn);
      checkQueueEquivalence(existing, d, this.name);
      existing.touch();
      return { queue: existing, created: false };
    }
    if (d.name.startsWith('amq.') && !d.serverNamed) {
      throw accessRefused(`queue name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    validateQueueArguments(d.arguments, d.name, this.name);
    const maxQueues = this.limits['max-queues'];
    if (maxQueues !== undefined && maxQueues >= 0 && this.queues.size >= maxQueues) {
      throw preconditionFailed(`cannot declare queue '${d.name}': queue limit in vhost '${this.name}' (${maxQueues}) is reached`);
    }
    const opts: QueueOptions = { durable: d.durable, exclusive: d.exclusive, autoDelete: d.autoDelete,
      arguments: d.arguments, owner: d.exclusive ? conn : null };
    const q = this.createQueue(d.name, opts);
    this.churn.queuesCreated++;
    return { queue: q, created: true };
  }

  /** Creates a queue without checks (declare, and recovery from the store with fresh=false). */
  createQueue(name: string, opts: QueueOptions, fresh = true): Queue {
    const q = new Queue(name, this.name, opts, this.queueHooks,
      this.messagesFactory ? (queue) => this.messagesFactory!(queue, fresh) : undefined);
    applyQueuePolicy(this, q, fresh);
    this.queues.set(name, q);
    if (q.durable) this.recordOrUndo(() => this.listener?.queueDeclared(q), () => this.removeQueue(q));
    return q;
  }

  /**
   * Records a new durable object; when the store cannot (disk full), the object goes again and the
   * declaration fails, rather than succeeding now and vanishing at the next restart.
   */
  private recordOrUndo(record: () => void, undo: () => void): void {
    try {
      record();
    } catch (err) {
      undo();
      throw err;
    }
  }

  /** Gives a queue with delayed retry set (by argument or policy) its schedule, once. */
  ensureRetry(q: Queue, fresh: boolean): void {
    if (q.retry !== null || q.limits.retryType === 'disabled' || this.delayStoreFactory === null) return;
    const durable = q.durable && !q.exclusive;
    q.retry = new DelaySchedule(durable, this.delayStoreFactory({ kind: 'queue', vhost: this.name, name: q.name, durable }, fresh),
      (msg) => q.reenter(msg));
  }

  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, conn: object): number {
    const q = this.queue(name);
    this.checkExclusive(q, conn);
    if (ifUnused && q.consumerCount > 0) throw preconditionFailed(`${describe('queue', name, this.name)} in use`);
    if (ifEmpty && q.messageCount > 0) throw preconditionFailed(`${describe('queue', name, this.name)} not empty`);
    return this.removeQueue(q);
  }

  removeQueue(q: Queue): number {
    if (this.queues.get(q.name) !== q) return 0;
    this.queues.delete(q.name);
    this.churn.queuesDeleted++;
    // As in RabbitMQ, an auto-delete exchange goes with its last binding, however it went.
    for (const b of [...(this.bindingsTo.get(q) ?? [])]) this.dropBinding(b, true);
    this.bindingsTo.delete(q);
    const count = q.destroy();
    if (q.durable) this.listener?.queueDeleted(q);
    return count;
  }

  /** A connection went away: its exclusive queues go with it. */
  connectionClosed(conn: OpenConnection): void {
    this.connections.delete(conn);
    for (const q of [...this.queues.values()]) {
      if (q.exclusive && q.owner === conn) this.removeQueue(q);
    }
  }

  private readonly queueHooks = {
    autoDelete: (queue: Queue) => {
      this.removeQueue(queue);
    },
    deadLetter: (queue: Queue, msg: Message, reason: DeadLetterReason) => this.deadLetter(queue, msg, reason),
    reportError: (err: unknown, what: string) => this.reportError(err, what),
  };

  /** Republishes a message that died in `queue` to the queue's dead-letter exchange. */
  private deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason): void {
    const dlx = queue.deadLetterExchange;
    if (dlx === null) return;
    this.deadLettered[reason]++;
    const x = this.exchanges.get(dlx);
    if (x === undefined) return; // RabbitMQ drops it when the dead-letter exchange is missing
    const rk = queue.deadLetterRoutingKey ?? msg.routingKey;
    let copy: Message;
    try {
      copy = deadLetteredCopy(msg, queue, reason, dlx, rk);
    } catch (err) {
      // Never lose the message over its headers: send it on as it was, without x-death.
      this.reportError(err, `dead-lettering a message from ${describe('queue', queue.name, this.name)} (sent on without x-death)`);
      copy = buildMessage(dlx, rk, msg.data.subarray(msg.routeEnd, msg.propsEnd), msg.body);
    }
    try {
      const targets = this.route(x, copy, rk, null).slice();
      if (this.delayedHits.length !== 0) this.scheduleDelayed(copy);
      for (const q of targets) if (!isDeadLetterCycle(copy, q)) q.publish(copy);
    } catch (err) {
      this.reportError(err, `routing a message dead-lettered from ${describe('queue', queue.name, this.name)}`);
    }
  }

  /** Where errors that this vhost contained go (the server logs them); set by the broker. */
  reportError: (err: unknown, what: string) => void = () => {};

  // ---------------------------------------------------------------- bindings

  bind(source: Exchange, destination: Destination, routingKey: string, args: FieldTable): Binding {
    if (source.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    if (source.routingType === 'headers') validateHeadersBinding(args);
    const id = bindingId(destination, routingKey, args);
    const existing = source.bindings.get(id);
    if (existing) return existing;
    const b = new Binding(source, destination, routingKey, args, id);
    source.addBinding(b);
    let set = this.bindingsTo.get(destination);
    if (!set) this.bindingsTo.set(destination, (set = new Set()));
    set.add(b);
    if (source.durable && destination.durable) this.recordOrUndo(() => this.listener?.bindingAdded(b), () => this.dropBinding(b, false));
    return b;
  }

  hasBinding(source: Exchange, destination: Destination, routingKey: string, args: FieldTable): boolean {
    return source.bindings.has(bindingId(destination, routingKey, args));
  }

  unbind(source: Exchange, destination: Destination, routingKey: string, args: FieldTable): void {
    if (source.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    const b = source.bindings.get(bindingId(destination, routingKey, args));
    // RabbitMQ answers unbind-ok for a binding that does not exist.
    if (b) this.dropBinding(b, true);
  }

  private dropBinding(b: Binding, autoDelete: boolean): void {
    b.source.removeBinding(b);
    this.bindingsTo.get(b.destination)?.delete(b);
    if (b.source.durable && b.destination.durable) this.listener?.bindingRemoved(b);
    const src = b.source;
    if (autoDelete && src.autoDelete && src.bindings.size === 0 && this.exchanges.get(src.name) === src) {
      this.removeExchange(src);
    }
  }

  bindingsOf(destination: Destination): Binding[] {
    return [...(this.bindingsTo.get(destination) ?? [])];
  }

  /** Every binding, for listings and definitions export. */
  allBindings(): Binding[] {
    const out: Binding[] = [];
    for (const x of this.exchanges.values()) out.push(...x.bindings.values());
    return out;
  }

  // ----------------------------------------------------------------- routing

  /** Called by exchanges for each match. */
  add(d: Destination): void {
    this.matched++;
    if (d instanceof Exchange) {
      this.routeWork.push(d);
    } else if (d.routeMark !== this.routeMark) {
      d.routeMark = this.routeMark;
      this.routeOut.push(d);
    }
  }

  /**
   * The queues `msg` reaches from exchange `x` with `routingKey` (and extra CC/BCC keys).
   * The returned array is reused by the next call.
   */
  route(x: Exchange, msg: Message, routingKey: string, extraKeys: string[] | null): Queue[] {
    const mark = ++this.routeMark;
    const out = this.routeOut;
    if (out.length !== 0) out.length = 0;
    const work = this.routeWork;
    if (work.length !== 0) work.length = 0;
    if (this.delayedHits.length !== 0) this.delayedHits.length = 0;
    this.delayedRoutable = false;
    this.delayMs = -1;
    if (x.name === '') {
      this.routeDefault(routingKey, extraKeys);
      return out;
    }
    work.push(x);
    for (let i = 0; i < work.length; i++) {
      const ex = work[i];
      if (ex.visitMark === mark) continue;
      ex.visitMark = mark;
      ex.publishInCount++;
      if (ex.delays !== null && this.holdDelayed(ex, msg, routingKey, extraKeys)) continue;
      const before = this.matched;
      ex.route(msg, routingKey, this);
      if (extraKeys !== null) for (const k of extraKeys) ex.route(msg, k, this);
      if (this.matched === before) {
        const ae = ex.alternate;
        const aex = ae === null ? undefined : this.exchanges.get(ae);
        if (aex !== undefined) work.push(aex);
      } else {
        ex.publishOutCount++;
      }
    }
    return out;
  }

  /**
   * A delayed exchange with a message asking for a delay: it goes no further now. Counts as
   * routed (no alternate exchange upstream); whether it could be routed now decides `mandatory`.
   */
  private holdDelayed(ex: Exchange, msg: Message, routingKey: string, extraKeys: string[] | null): boolean {
    if (this.delayMs < 0) this.delayMs = delayOf(msg);
    if (this.delayMs <= 0) return false;
    this.delayedHits.push(ex);
    this.matched++;
    if (!this.delayedRoutable) {
      this.probeCount = 0;
      ex.route(msg, routingKey, this.probe);
      if (extraKeys !== null) for (const k of extraKeys) ex.route(msg, k, this.probe);
      const ae = ex.alternate;
      this.delayedRoutable = this.probeCount !== 0 || (ae !== null && this.exchanges.has(ae));
    }
    return true;
  }

  private routeDefault(routingKey: string, extraKeys: string[] | null): void {
    const q = this.queues.get(routingKey);
    if (q !== undefined) this.add(q);
    if (extraKeys !== null) {
      for (const k of extraKeys) {
        const cq = this.queues.get(k);
        if (cq !== undefined) this.add(cq);
      }
    }
  }

  /** Fails unless `user` may use this vhost (connection.open). */
  static checkVhostAccess(allowed: boolean, user: string, vhost: string): void {
    if (!allowed) throw notAllowed(`access to vhost '${vhost}' refused for user '${user}'`);
  }
}

function bindingId(d: Destination, routingKey: string, args: FieldTable): string {
  const kind = d instanceof Exchange ? 'e' : 'q';
  const argKey = Object.keys(args).length === 0 ? '' : stableArgs(args);
  return `${kind}\u0000${d.name}\u0000${routingKey}\u0000${argKey}`;
}

function stableArgs(args: FieldTable): string {
  return JSON.stringify(Object.keys(args).sort().map((k) => {
    const v = args[k];
    return [k, typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v];
  }));
}
