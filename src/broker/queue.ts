// A queue: its messages in order, its consumers, and the dispatch loop between them; message
// TTL, length limits and dead-lettering. Where the messages live (memory window, disk) is
// QueueMessages' business; this file decides who gets the next one and keeps publishers from
// outrunning a network-bound consumer.
import { type FieldTable, Typed } from '../amqp/field-table.js';
import { type Consumer, READY, SOCKET_FULL } from './consumer.js';
import { type DelaySchedule, withHeader } from './delayed.js';
import type { Message } from './message.js';
import { QueueMessages } from './queue-messages.js';

export class QueueEntry {
  /** How many times it was handed out before (redelivered when > 0). */
  deliveries = 0;
  /** How many times it came back unacked (x-delivery-limit, delayed retry); 0 until first counted. */
  returns = 0;
  /** Set while it is unacked on a channel. */
  deliveryTag = 0;
  /** Date.now() when it was last handed out for an ack (consumer timeout). */
  deliveredAt = 0;
  consumer: Consumer | null = null;

  constructor(
    readonly msg: Message,
    readonly queue: Queue,
    /** Position in the queue's history, increasing; also its key in the store. */
    readonly seq: number,
    /** Store segment holding it, or -1 when only in memory. */
    public segment: number,
    /** When it expires (ms since the epoch), or 0 for never. */
    readonly expiresAt = 0,
  ) {}
}

/** Something held back by this queue's flow control (a publishing connection). */
export interface FlowWaiter {
  releaseFlow(queue: Queue): void;
}

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/** Why unacked messages come back: a reject/nack with requeue, or their channel or consumer went away. */
export type ReturnKind = 'failed' | 'returned';

export interface QueueOwner {
  /** The queue became unused in a way that deletes it (auto-delete, x-expires). */
  autoDelete(queue: Queue): void;
  /** Republishes a message dead-lettered from `queue` to its dead-letter exchange. Never throws. */
  deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason): void;
  /** An error this queue contained (a bug): logged, and the queue carries on. */
  reportError(err: unknown, what: string): void;
}

/** publish() result bits. */
export const PUBLISH_FLOW = 1;
export const PUBLISH_REJECTED = 2;

// A network-bound queue (consumers waiting on their sockets) holding more than FLOW_HIGH ready
// messages makes its publishers pause reading until it is back under FLOW_LOW.
const FLOW_HIGH = 4000;
const FLOW_LOW = 1000;

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** The connection an exclusive queue belongs to. */
  owner: object | null;
}

/**
 * The x-arguments that shape a queue's behaviour (its own, with the effective policy folded in),
 * read at declare and again whenever a policy that matches it changes; never per message.
 */
class QueueLimits {
  readonly ttl: number;
  readonly maxLength: number;
  readonly maxLengthBytes: number;
  readonly overflow: 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
  readonly expires: number;
  readonly maxPriority: number;
  /** Some length limit is set. */
  readonly limited: boolean;
  /** x-delivery-limit: a message returned more often than this is dead-lettered; -1 for none. */
  readonly deliveryLimit: number;
  /** x-consumer-timeout (or the consumer-timeout policy): ms a delivery may stay unacked; -1: the server's default. */
  readonly consumerTimeout: number;
  /** Delayed retry (RabbitMQ 4.3's arguments, plus a multiplier): which returns wait, and how long. */
  readonly retryType: 'disabled' | 'all' | 'failed' | 'returned';
  readonly retryMin: number;
  readonly retryMax: number;
  readonly retryMultiplier: number;
  readonly deadLetterExchange: string | null;
  readonly deadLetterRoutingKey: string | null;

  constructor(args: FieldTable) {
    const num = (k: string) => (typeof args[k] === 'number' ? args[k] as number : -1);
    this.ttl = num('x-message-ttl');
    this.maxLength = num('x-max-length');
    this.maxLengthBytes = num('x-max-length-bytes');
    const o = args['x-overflow'];
    this.overflow = o === 'reject-publish' || o === 'reject-publish-dlx' ? o : 'drop-head';
    this.expires = num('x-expires');
    this.maxPriority = Math.min(255, num('x-max-priority'));
    this.limited = this.maxLength >= 0 || this.maxLengthBytes >= 0;
    this.deliveryLimit = num('x-delivery-limit');
    this.consumerTimeout = num('x-consumer-timeout');
    const t = args['x-delayed-retry-type'];
    this.retryMin = num('x-delayed-retry-min');
    this.retryType = this.retryMin > 0 && (t === 'all' || t === 'failed' || t === 'returned') ? t : 'disabled';
    this.retryMax = num('x-delayed-retry-max');
    this.retryMultiplier = num('x-delayed-retry-multiplier');
    const dlx = args['x-dead-letter-exchange'];
    this.deadLetterExchange = typeof dlx === 'string' ? dlx : null;
    const dlrk = args['x-dead-letter-routing-key'];
    this.deadLetterRoutingKey = typeof dlrk === 'string' ? dlrk : null;
  }

  /**
   * The wait before the n-th return comes back: min × n (RabbitMQ 4.3), or min × multiplier^(n-1)
   * with a multiplier; never above max.
   */
  retryDelay(n: number): number {
    const d = this.retryMultiplier > 0 ? this.retryMin * this.retryMultiplier ** (n - 1) : this.retryMin * n;
    return this.retryMax > 0 ? Math.min(d, this.retryMax) : Math.min(d, Number.MAX_SAFE_INTEGER);
  }

  retries(kind: ReturnKind): boolean {
    return this.retryType === 'all' || this.retryType === kind;
  }

  /** Whether `length` messages of `bytes` body bytes would be over a limit. */
  exceeded(length: number, bytes: number): boolean {
    return (this.maxLength >= 0 && length > this.maxLength) || (this.maxLengthBytes >= 0 && bytes > this.maxLengthBytes);
  }
}

export class Queue {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly owner: object | null;
  readonly messages: QueueMessages;
  readonly consumers: Consumer[] = [];
  /** Effective settings: x-arguments and policies (see applyPolicy). */
  limits: QueueLimits;
  /** The policy and operator policy in effect (names), and their merged definition. */
  policy: string | null = null;
  operatorPolicy: string | null = null;
  effectivePolicyDefinition: Record<string, unknown> = {};
  /** Unacked deliveries, across channels. */
  unackedCount = 0;
  /** Returned messages waiting out their delayed retry (set by the vhost when the queue has one). */
  retry: DelaySchedule | null = null;
  deleted = false;
  /** Router bookkeeping: the last route pass that picked this queue. */
  routeMark = 0;
  /** Single active consumer: only the first consumer receives. */
  readonly singleActive: boolean;

  // Counters for rates and the management API.
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;
  redeliverCount = 0;
  /** Of deliverCount, those by basic.get (and the management API's get). */
  getCount = 0;

  private rr = 0;
  private hadConsumer = false;
  private exclusiveConsumer: Consumer | null = null;
  private dispatching = false;
  private networkBound = false;
  private flowWaiters: Set<FlowWaiter> | null = null;
  /** Consumers ordered by priority, highest first, when priorities differ. */
  private prioritised = false;
  /** Some message may carry an expiry: check heads and keep a timer. */
  private ttlSeen: boolean;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    readonly vhost: string,
    opts: QueueOptions,
    private readonly hooks: QueueOwner,
    makeMessages?: (queue: Queue) => QueueMessages,
  ) {
    this.durable = opts.durable;
    this.exclusive = opts.exclusive;
    this.autoDelete = opts.autoDelete;
    this.arguments = opts.arguments;
    this.owner = opts.owner;
    this.limits = new QueueLimits(opts.arguments);
    this.singleActive = opts.arguments['x-single-active-consumer'] === true;
    this.ttlSeen = this.limits.ttl >= 0;
    this.messages = makeMessages ? makeMessages(this) : QueueMessages.create(this, null, true);
    this.touch();
  }

  get messageCount(): number {
    return this.messages.length;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get deadLetterExchange(): string | null {
    return this.limits.deadLetterExchange;
  }

  get deadLetterRoutingKey(): string | null {
    return this.limits.deadLetterRoutingKey;
  }

  /**
   * A policy was set, changed or cleared (or the queue was just declared): the settings are
   * rebuilt from `effectiveArgs` and applied to the messages already here as RabbitMQ does: a
   * lower max-length trims the head (drop-head), expiry restarts its countdown, and expired
   * heads go. Messages keep the expiry they were given when they arrived.
   */
  applyPolicy(policy: string | null, operatorPolicy: string | null, definition: Record<string, unknown>, effectiveArgs: FieldTable): void {
    this.policy = policy;
    this.operatorPolicy = operatorPolicy;
    this.effectivePolicyDefinition = definition;
    const before = this.limits;
    this.limits = new QueueLimits(effectiveArgs);
    if (this.limits.ttl >= 0) this.ttlSeen = true;
    if (this.limits.expires !== before.expires) {
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      this.touch();
    }
    if (this.deleted) return;
    if (this.limits.limited) this.dropOverflow();
    if (this.ttlSeen) this.expireHead();
    this.releaseFlowIfDrained();
  }

  /**
   * Adds a message. Returns PUBLISH_REJECTED when a length limit with reject-publish refused it,
   * and PUBLISH_FLOW when the publisher should pause: the queue is bound by the speed at which
   * its consumers' sockets drain and it is building up a backlog.
   */
  publish(msg: Message): number {
    const limits = this.limits;
    if (limits.limited && limits.overflow !== 'drop-head'
      && limits.exceeded(this.messages.length + 1, this.messages.bytes + msg.bodySize)) {
      if (limits.overflow === 'reject-publish-dlx') this.hooks.deadLetter(this, msg, 'maxlen');
      return PUBLISH_REJECTED;
    }
    this.publishCount++;
    let expiresAt = 0;
    let now = 0;
    const ttl = msg.ttl >= 0 && (limits.ttl < 0 || msg.ttl < limits.ttl) ? msg.ttl : limits.ttl;
    if (ttl >= 0) {
      now = Date.now();
      expiresAt = now + ttl;
      this.ttlSeen = true;
    }
    this.messages.push(msg, expiresAt);
    // A consumer that can take the message at once gets it before drop-head trims the queue;
    // and gets it even with TTL 0, so the clock must not move between here and there.
    if (this.consumers.length !== 0) this.dispatch(now);
    if (limits.limited) this.dropOverflow();
    if (this.ttlSeen) this.expireHead();
    return this.networkBound && this.messages.length > FLOW_HIGH ? PUBLISH_FLOW : 0;
  }

  /** drop-head: the oldest ready messages make room (dead-lettered as maxlen). */
  private dropOverflow(): void {
    const limits = this.limits;
    if (limits.overflow !== 'drop-head') return;
    const m = this.messages;
    while (m.length !== 0 && limits.exceeded(m.length, m.bytes)) this.drop(m.shift()!, 'maxlen');
  }

  /** Registers a publisher to be released when the backlog drains. */
  holdPublisher(w: FlowWaiter): boolean {
    if (!this.networkBound || this.messages.length <= FLOW_HIGH) return false;
    (this.flowWaiters ??= new Set()).add(w);
    return true;
  }

  /**
   * Hands ready messages to consumers with credit, round-robin within the highest priority.
   * `now`: the time to judge expiry by, when the caller has just read the clock.
   */
  dispatch(now = 0): void {
    if (this.dispatching || this.deleted) return;
    this.dispatching = true;
    let networkBound = false;
    const consumers = this.consumers;
    const messages = this.messages;
    try {
      while (messages.length !== 0) {
        const n = this.singleActive ? Math.min(1, consumers.length) : consumers.length;
        let chosen: Consumer | null = null;
        let full: Consumer | null = null;
        const start = this.prioritised || this.rr >= n ? 0 : this.rr;
        for (let i = 0; i < n; i++) {
          let idx = start + i;
          if (idx >= n) idx -= n;
          const c = consumers[idx];
          const r = c.sink.readiness(c);
          if (r === READY) {
            chosen = c;
            this.rr = idx + 1;
            break;
          }
          if (r === SOCKET_FULL) {
            networkBound = true;
            full ??= c;
          }
        }
        if (chosen === null) {
          // RabbitMQ hands a queue's deliveries to the channel before the socket pushes back (up
          // to its credit-flow window), so a message due to expire now (TTL 0) still reaches a
          // consumer with credit whose socket is merely full, within a bounded overfill.
          if (full === null) break;
          const head = messages.peek();
          if (head === undefined || head.expiresAt === 0 || head.expiresAt > (now || (now = Date.now()))) break;
          if (!full.sink.canOverfill()) break;
          chosen = full;
        }
        const entry = messages.shift();
        if (entry === undefined) break;
        // Strictly past: a TTL 0 message still goes to a consumer that can take it at once.
        if (entry.expiresAt !== 0 && entry.expiresAt < (now || (now = Date.now()))) {
          this.drop(entry, 'expired');
          continue;
        }
        // Equal-priority consumers take turns; a single active consumer stays the one.
        if (this.prioritised && !this.singleActive) this.rotateWithinPriority(chosen);
        if (!chosen.noAck) {
          entry.consumer = chosen;
          this.unackedCount++;
        }
        try {
          chosen.sink.deliver(chosen, entry);
        } catch (err) {
          // The message goes back where it was, and this pass stops; nothing is lost.
          if (!chosen.noAck) {
            entry.consumer = null;
            this.unackedCount--;
          }
          this.messages.requeue([entry]);
          this.hooks.reportError(err, `delivering a message from queue '${this.name}'`);
          break;
        }
        this.deliverCount++;
        if (entry.deliveries !== 0) this.redeliverCount++;
        if (chosen.noAck) this.messages.settled(entry);
        entry.deliveries++;
      }
    } finally {
      this.dispatching = false;
    }
    this.networkBound = networkBound && messages.length !== 0;
    this.releaseFlowIfDrained();
  }

  /** basic.get: the next message, or null. */
  get(noAck: boolean): QueueEntry | null {
    this.touch();
    for (;;) {
      const entry = this.messages.shift();
      if (entry === undefined) return null;
      if (entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
        this.drop(entry, 'expired');
        continue;
      }
      this.deliverCount++;
      this.getCount++;
      if (entry.deliveries !== 0) this.redeliverCount++;
      if (!noAck) this.unackedCount++;
      // As RabbitMQ, expire the new head now, so get-ok's message count leaves it out.
      if (this.ttlSeen) this.expireHead();
      return entry;
    }
  }

  /** After basic.get with no-ack, once the message is written out. */
  settleNoAck(entry: QueueEntry): void {
    entry.deliveries++;
    this.messages.settled(entry);
    this.releaseFlowIfDrained();
  }

  ack(entry: QueueEntry): void {
    this.ackCount++;
    this.release(entry);
    this.messages.settled(entry);
  }

  /** Reject without requeue: dead-lettered if the queue has a dead-letter exchange. */
  discard(entry: QueueEntry): void {
    this.release(entry);
    this.drop(entry, 'rejected');
  }

  /** Removes a ready or unacked entry for good, dead-lettering it if configured. */
  private drop(entry: QueueEntry, reason: DeadLetterReason): void {
    this.messages.settled(entry);
    if (this.deadLetterExchange !== null) this.hooks.deadLetter(this, entry.msg, reason);
  }

  /**
   * Returns unacked entries to the queue in their original order, ahead of newer messages; with
   * a delivery limit or delayed retry, counts the return and dead-letters or holds them back.
   */
  requeue(entries: QueueEntry[], kind: ReturnKind = 'failed'): void {
    if (entries.length === 0) return;
    for (const e of entries) this.release(e);
    if (this.deleted) {
      for (const e of entries) this.messages.settled(e);
      return;
    }
    const limits = this.limits;
    if (limits.deliveryLimit >= 0 || limits.retryType !== 'disabled') entries = this.countReturns(entries, kind);
    if (entries.length === 0) return;
    this.messages.requeue(entries);
    // As RabbitMQ, a requeue can push a drop-head queue over its limit: trim before dispatching.
    if (this.limits.limited) this.dropOverflow();
    this.dispatch();
    if (this.ttlSeen) this.expireHead();
  }

  /** Counts a return of each entry; those past the delivery limit or waiting to retry do not come back now. */
  private countReturns(entries: QueueEntry[], kind: ReturnKind): QueueEntry[] {
    const limits = this.limits;
    const back: QueueEntry[] = [];
    for (const e of entries) {
      e.returns = (e.returns || deliveryCountOf(e.msg)) + 1;
      if (limits.deliveryLimit >= 0 && e.returns > limits.deliveryLimit) {
        this.drop(e, 'delivery_limit');
      } else if (this.retry !== null && limits.retries(kind)) {
        // The retry copy carries the count (x-delivery-count, as quorum queues show it); the
        // queue's record goes once the copy is on disk.
        const epoch = this.retry.add(withHeader(e.msg, 'x-delivery-count', new Typed('l', e.returns)), limits.retryDelay(e.returns));
        if (epoch > 0) this.retry.whenSynced(epoch, () => this.messages.settled(e));
        else this.messages.settled(e);
      } else {
        back.push(e);
      }
    }
    return back;
  }

  /** A delayed retry fell due: the message joins the queue again. Returns the epoch to sync, or -1. */
  reenter(msg: Message): number {
    if (this.deleted) return -1;
    if (this.publish(msg) & PUBLISH_REJECTED) return -1;
    return this.messages.lastPushSyncEpoch();
  }

  /** Messages waiting for a delayed retry. */
  get retryCount(): number {
    return this.retry?.count ?? 0;
  }

  private release(entry: QueueEntry): void {
    const c = entry.consumer;
    if (c !== null) {
      c.unacked--;
      entry.consumer = null;
    }
    entry.deliveryTag = 0;
    this.unackedCount--;
  }

  purge(): number {
    const n = this.messages.purge();
    this.releaseFlowIfDrained();
    return n;
  }

  // -------------------------------------------------------------- expiry

  /** Drops expired messages from the head (RabbitMQ expires only at the head) and re-arms the timer. */
  private expireHead(): void {
    const m = this.messages;
    const now = Date.now();
    for (let head = m.peek(); head !== undefined && head.expiresAt !== 0 && head.expiresAt <= now; head = m.peek()) {
      this.drop(m.shift()!, 'expired');
    }
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    const head = this.messages.peek();
    const at = head === undefined ? 0 : head.expiresAt;
    if (at === 0 || this.deleted) {
      if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
      this.expiryAt = 0;
      return;
    }
    if (this.expiryTimer !== null && this.expiryAt <= at) return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.expiryAt = 0;
      try {
        this.expireHead();
      } catch (err) {
        // The timer must live on whatever one message did.
        this.hooks.reportError(err, `expiring messages in queue '${this.name}'`);
        this.scheduleExpiry();
      }
    }, Math.max(0, at - Date.now()));
    this.expiryTimer.unref();
  }

  /** x-expires: any use restarts the countdown to deleting an unused queue. */
  touch(): void {
    const ms = this.limits.expires;
    if (ms <= 0 || this.deleted) return;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.consumers.length === 0) this.hooks.autoDelete(this);
      else this.touch();
    }, ms);
    this.idleTimer.unref();
  }

  // ------------------------------------------------------------ consumers

  addConsumer(c: Consumer): void {
    // rr past the end means the next turn starts from the front again.
    const rr = this.rr < this.consumers.length ? this.rr : (this.rr = 0);
    if (!this.singleActive && !this.prioritised && c.priority === 0 && rr > 0) {
      // A newcomer queues up behind everyone, i.e. just before whoever is served next.
      this.consumers.splice(rr, 0, c);
      this.rr = rr + 1;
    } else {
      this.consumers.push(c);
    }
    if (c.exclusive) this.exclusiveConsumer = c;
    this.hadConsumer = true;
    this.touch();
    if (c.priority !== 0 || this.prioritised) {
      this.prioritised = true;
      // Stable sort keeps registration order within a priority (round-robin order).
      this.consumers.sort((a, b) => b.priority - a.priority);
    }
    this.dispatch();
  }

  hasExclusiveConsumer(): boolean {
    return this.exclusiveConsumer !== null;
  }

  removeConsumer(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.rr > i) this.rr--;
    if (this.exclusiveConsumer === c) this.exclusiveConsumer = null;
    this.touch();
    if (this.consumers.length === 0) {
      this.networkBound = false;
      this.releaseFlowIfDrained();
      if (this.autoDelete && this.hadConsumer) {
        this.hooks.autoDelete(this);
        return;
      }
    } else if (this.singleActive && i === 0) {
      this.dispatch();
    }
  }

  /** Called when the queue is deleted: consumers are told, messages dropped. */
  destroy(): number {
    if (this.deleted) return 0;
    const count = this.messages.length;
    this.deleted = true;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const consumers = this.consumers.splice(0);
    for (const c of consumers) c.sink.cancelledByBroker(c);
    this.messages.destroy();
    this.retry?.destroy();
    this.networkBound = false;
    this.releaseFlowIfDrained();
    return count;
  }

  private rotateWithinPriority(chosen: Consumer): void {
    // Move the chosen consumer behind the others of its priority, so equals take turns.
    const list = this.consumers;
    const i = list.indexOf(chosen);
    let j = i;
    while (j + 1 < list.length && list[j + 1].priority === chosen.priority) {
      list[j] = list[j + 1];
      j++;
    }
    list[j] = chosen;
  }

  private releaseFlowIfDrained(): void {
    const waiters = this.flowWaiters;
    if (waiters === null) return;
    if (this.networkBound && this.messages.length > FLOW_LOW && this.consumers.length !== 0) return;
    this.flowWaiters = null;
    for (const w of waiters) w.releaseFlow(this);
  }
}

/** The count a message carries from an earlier delayed retry (x-delivery-count), or 0. */
function deliveryCountOf(msg: Message): number {
  if (msg.headersStart < 0) return 0;
  const v = msg.headers()?.['x-delivery-count'];
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0;
}
