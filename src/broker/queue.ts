// A queue: its messages in order, its consumers, and the dispatch loop between them.
// Where the messages live (memory window, disk) is QueueMessages' business; this file decides
// who gets the next one and keeps publishers from outrunning a network-bound consumer.
import type { FieldTable } from '../amqp/field-table.js';
import { type Consumer, READY, SOCKET_FULL } from './consumer.js';
import type { Message } from './message.js';
import { QueueMessages } from './queue-messages.js';

export class QueueEntry {
  /** How many times it was handed out before (redelivered when > 0). */
  deliveries = 0;
  /** Set while it is unacked on a channel. */
  deliveryTag = 0;
  consumer: Consumer | null = null;

  constructor(
    readonly msg: Message,
    readonly queue: Queue,
    /** Position in the queue's history, increasing; also its key in the store. */
    readonly seq: number,
    /** Store segment holding it, or -1 when only in memory. */
    public segment: number,
  ) {}
}

/** Something held back by this queue's flow control (a publishing connection). */
export interface FlowWaiter {
  releaseFlow(queue: Queue): void;
}

export interface QueueOwner {
  /** The queue became unused in a way that deletes it (auto-delete after the last consumer). */
  autoDelete(queue: Queue): void;
}

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

export class Queue {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly owner: object | null;
  readonly messages: QueueMessages;
  readonly consumers: Consumer[] = [];
  /** Unacked deliveries, across channels. */
  unackedCount = 0;
  deleted = false;
  /** Router bookkeeping: the last route pass that picked this queue. */
  routeMark = 0;
  /** Single active consumer: only the first consumer receives. */
  readonly singleActive: boolean;

  // Counters for rates and the management API.
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;

  private rr = 0;
  private hadConsumer = false;
  private exclusiveConsumer: Consumer | null = null;
  private dispatching = false;
  private networkBound = false;
  private flowWaiters: Set<FlowWaiter> | null = null;
  /** Consumers ordered by priority, highest first, when priorities differ. */
  private prioritised = false;

  constructor(
    readonly name: string,
    readonly vhost: string,
    opts: QueueOptions,
    private readonly ownerHooks: QueueOwner,
    makeMessages?: (queue: Queue) => QueueMessages,
  ) {
    this.durable = opts.durable;
    this.exclusive = opts.exclusive;
    this.autoDelete = opts.autoDelete;
    this.arguments = opts.arguments;
    this.owner = opts.owner;
    this.singleActive = opts.arguments['x-single-active-consumer'] === true;
    this.messages = makeMessages ? makeMessages(this) : new QueueMessages(this);
  }

  get messageCount(): number {
    return this.messages.length;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  /**
   * Adds a message. Returns true when the publisher should pause: the queue is bound by the speed
   * at which its consumers' sockets drain and it is building up a backlog.
   */
  publish(msg: Message): boolean {
    this.publishCount++;
    this.messages.push(msg);
    if (this.consumers.length !== 0) this.dispatch();
    return this.networkBound && this.messages.length > FLOW_HIGH;
  }

  /** Registers a publisher to be released when the backlog drains. */
  holdPublisher(w: FlowWaiter): boolean {
    if (!this.networkBound || this.messages.length <= FLOW_HIGH) return false;
    (this.flowWaiters ??= new Set()).add(w);
    return true;
  }

  /** Hands ready messages to consumers with credit, round-robin within the highest priority. */
  dispatch(): void {
    if (this.dispatching || this.deleted) return;
    this.dispatching = true;
    let networkBound = false;
    const consumers = this.consumers;
    const messages = this.messages;
    try {
      while (messages.length !== 0) {
        const n = this.singleActive ? Math.min(1, consumers.length) : consumers.length;
        let chosen: Consumer | null = null;
        let start = this.rr < n ? this.rr : 0;
        if (this.prioritised) start = 0;
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
          if (r === SOCKET_FULL) networkBound = true;
        }
        if (chosen === null) break;
        if (this.prioritised) this.rotateWithinPriority(chosen);
        const entry = messages.shift();
        if (entry === undefined) break;
        this.deliverCount++;
        if (!chosen.noAck) {
          entry.consumer = chosen;
          this.unackedCount++;
        }
        chosen.sink.deliver(chosen, entry);
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
    const entry = this.messages.shift();
    if (entry === undefined) return null;
    this.deliverCount++;
    if (!noAck) this.unackedCount++;
    return entry;
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

  /** Reject without requeue (dropped; dead-lettering comes here later). */
  discard(entry: QueueEntry): void {
    this.release(entry);
    this.messages.settled(entry);
  }

  /** Returns unacked entries to the queue in their original order, ahead of newer messages. */
  requeue(entries: QueueEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) this.release(e);
    if (this.deleted) return;
    this.messages.requeue(entries);
    this.dispatch();
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

  addConsumer(c: Consumer): void {
    this.consumers.push(c);
    if (c.exclusive) this.exclusiveConsumer = c;
    this.hadConsumer = true;
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
    if (this.consumers.length === 0) {
      this.networkBound = false;
      this.releaseFlowIfDrained();
      if (this.autoDelete && this.hadConsumer) {
        this.ownerHooks.autoDelete(this);
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
    const consumers = this.consumers.splice(0);
    for (const c of consumers) c.sink.cancelledByBroker(c);
    this.messages.destroy();
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
