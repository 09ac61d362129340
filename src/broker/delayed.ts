// The delayed-message exchange (RabbitMQ's x-delayed-message plugin, done on Warren's own store).
// A message published with a positive `x-delay` header (ms) is kept on disk and routed by the
// exchange's underlying kind (`x-delayed-type`) when it falls due, with the bindings in force
// then; its x-delay header is negated on the way out so that it is not delayed twice. Due order
// is kept across the whole exchange (ties in publish order). Only messages due within about a
// second are held in memory (see store/delay-buckets.ts).
import { Writer } from '../amqp/codec.js';
import { decodeTableAt, decodeValueAt, encodeEntry, type FieldTable, type FieldValue, findEntry, tableEntries, Typed } from '../amqp/field-table.js';
import { rewriteProperties } from '../amqp/properties.js';
import type { DelayBuckets, DelayedRecord } from '../store/delay-buckets.js';
import type { RoutedJournal } from '../store/routed-journal.js';
import { commandInvalid, preconditionFailed } from './errors.js';
import { createExchange, Exchange, type Binding, type ExchangeOptions, type RouteSink, valuesEqual } from './exchange.js';
import { buildMessage, type Message, messageFromStored } from './message.js';
import { MinHeap } from '../store/min-heap.js';
import { Deque } from './deque.js';

export const DELAYED_TYPE = 'x-delayed-message';
const KINDS = ['direct', 'fanout', 'topic', 'headers'];
/** Due times are kept as ms since the epoch in 53 bits: ~285,000 years, never wrapping. */
const MAX_DUE = Number.MAX_SAFE_INTEGER;
/** At most this many pending messages are held in memory (a backlog after downtime loads as it drains). */
const MAX_LOADED = 50_000;
/** Messages routed per timer turn before yielding to other work. */
const ROUTE_BATCH = 2000;
/** Time a timer turn may spend reading and splitting buckets before routing and yielding. */
const RIPEN_BUDGET_MS = 4;

/** The plugin's checks of x-delayed-type, in its order and with its codes. */
export function delayedKind(args: FieldTable): string {
  const t = args['x-delayed-type'];
  if (t === DELAYED_TYPE) throw preconditionFailed(`Invalid argument, '${DELAYED_TYPE}' can't be used for 'x-delayed-type'`);
  if (typeof t !== 'string') throw preconditionFailed(`Invalid argument, 'x-delayed-type' must be an existing exchange type`);
  if (!KINDS.includes(t)) throw commandInvalid(`unknown exchange type '${t}'`);
  return t;
}

/**
 * The delay a message asks for, in ms: its x-delay header as an integer of any width, a float
 * (truncated) or a numeric string. 0 (route now) when missing, not a number, zero or negative.
 */
export function delayOf(msg: Message): number {
  if (msg.headersStart < 0) return 0;
  // Only the x-delay entry is decoded (this runs for every message a delayed exchange sees).
  const at = findEntry(msg.data, msg.headersStart, msg.headersEnd, X_DELAY);
  if (at < 0) return 0;
  const v = decodeValueAt(msg.data, at, msg.headersEnd);
  let n: number;
  if (typeof v === 'number') n = Math.trunc(v);
  else if (typeof v === 'bigint') n = v > 0n ? Number(v) : 0;
  else if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) n = Number(v.trim());
  else return 0;
  return n > 0 ? n : 0;
}

const X_DELAY = Buffer.from('x-delay');

/** The message with header `key` set to `value` (replacing any); every other byte is kept. */
export function withHeader(msg: Message, key: string, value: FieldValue): Message {
  const data = msg.data;
  const w = new Writer(Math.max(0, msg.headersEnd - msg.headersStart) + key.length + 32);
  w.u32(0);
  if (msg.headersStart >= 0) {
    for (const e of tableEntries(data, msg.headersStart, msg.headersEnd)) if (e.key !== key) w.bytes(data, e.at, e.end);
  }
  w.shortstr(key);
  encodeEntry(w, undefined, value);
  w.buf.writeUInt32BE(w.pos - 4, 0);
  const props = rewriteProperties(data, msg.routeEnd, msg.propsEnd, { headers: w.buf.subarray(0, w.pos) });
  return buildMessage(msg.exchange, msg.routingKey, props, msg.body);
}

/**
 * The message as it leaves the delayed exchange: x-delay replaced by the negated delay, a
 * signed 32-bit int when it fits (as RabbitMQ 3.x sent it; pika and py-amqp misread the 64-bit
 * form), else a signed 64-bit long.
 */
export function withNegatedDelay(msg: Message, delay: number): Message {
  return withHeader(msg, 'x-delay', new Typed(delay <= 0x8000_0000 ? 'I' : 'l', -delay));
}

/** An exchange of type x-delayed-message: bindings and routing are those of its underlying kind. */
export class DelayedExchange extends Exchange {
  readonly inner: Exchange;

  constructor(name: string, vhost: string, opts: ExchangeOptions) {
    super(name, DELAYED_TYPE, vhost, opts);
    this.inner = createExchange(name, delayedKind(opts.arguments), vhost, opts);
  }

  override get routingType(): string {
    return this.inner.type;
  }

  protected indexBinding(b: Binding): void {
    this.inner.addBinding(b);
  }

  protected unindexBinding(b: Binding): void {
    this.inner.removeBinding(b);
  }

  route(msg: Message, routingKey: string, sink: RouteSink): void {
    this.inner.route(msg, routingKey, sink);
  }
}

/** Takes a message that fell due; returns the store epoch its enqueueing must sync, or -1 if nothing took it. */
export type DueHandler = (msg: Message) => number;

/** One pending delayed message, as listed. */
export interface PendingDelayed {
  /** Publish order within the exchange; identifies the message for cancel. */
  id: number;
  /** When it falls due, ms since the epoch. */
  due: number;
  routingKey: string;
  headers: FieldTable | null;
  size: number;
  persistent: boolean;
  /** The first bytes of the body. */
  preview: Buffer;
  /** The whole stored message (for the management API's properties and payload). */
  message: Message;
}

/** What to cancel: one message by id, those with a routing key or a header value, or all. */
export interface CancelFilter {
  id?: number;
  routingKey?: string;
  header?: { name: string; value: FieldValue };
  /** Only those due before / at or after this time (ms since the epoch). */
  dueBefore?: number;
  dueAfter?: number;
}

const PREVIEW = 64;
const earlier = (a: DelayedRecord, b: DelayedRecord) => a.due < b.due || (a.due === b.due && a.seq < b.seq);

/**
 * Messages waiting for their time (of a delayed exchange, or a queue's delayed retries): what is
 * due soon in memory, the rest on disk. Due messages go to `onDue` in due order.
 */
export class DelaySchedule {
  private readonly heap = new MinHeap<DelayedRecord>(earlier);
  /** Routed persistent messages whose bucket record is settled once their queues have synced. */
  private readonly settleLater = new Deque<{ rec: DelayedRecord; epoch: number }>();
  private settleLaterBytes = 0;
  /** The last epoch a sync waiter was registered for (epochs only grow). */
  private waitingEpoch = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private nextSeq: number;
  private closed = false;
  /** Routed records not settled yet, journaled once their copies are written (null: not durable). */
  private readonly journal: RoutedJournal | null;
  private journalWatched = false;
  /** settleSynced emptied settleLater: the journal starts over after the next write. */
  private journalClearWanted = false;
  /** Messages routed when due, and those dropped because nothing was bound then. */
  routedCount = 0;
  droppedCount = 0;

  /** `durable`: persistent messages are kept across restarts (and their confirms wait for disk). */
  constructor(private readonly durable: boolean, private readonly buckets: DelayBuckets, private readonly onDue: DueHandler) {
    const recovered = buckets.recover();
    this.journal = buckets.openRoutedJournal();
    // Sequence numbers order ties; new ones must follow every stored one.
    this.nextSeq = Math.max(recovered, Date.now() * 1000);
    this.arm(Date.now());
  }

  /** Pending messages (routed ones awaiting their sync not counted). */
  get count(): number {
    return this.buckets.count - this.settleLater.length;
  }

  /** Body bytes of the pending messages. */
  get bytes(): number {
    return this.buckets.bytes - this.settleLaterBytes;
  }

  /** When the next message falls due (ms since the epoch), or null when none is pending. */
  get nextDue(): number | null {
    const top = this.heap.peek();
    const onDisk = this.buckets.earliestDue();
    const at = Math.min(top === undefined ? Infinity : top.due, onDisk);
    return at === Infinity ? null : at;
  }

  get diskSize(): number {
    return this.buckets.diskSize();
  }

  /** Calls `fn` once everything written in `epoch` is on disk. */
  whenSynced(epoch: number, fn: () => void): void {
    this.buckets.whenSynced(epoch, fn);
  }

  /** Keeps `msg` until `delay` ms from now. Returns the store epoch a publisher confirm must wait for (0: none). */
  add(msg: Message, delay: number): number {
    const now = Date.now();
    const due = Math.min(now + delay, MAX_DUE);
    const rec = this.buckets.add(due, ++this.nextSeq, msg.persistent, msg.data, msg.propsEnd, now);
    if (rec !== null) this.heap.push(rec);
    if (due < this.timerAt) this.arm(now);
    return msg.persistent && this.durable ? this.buckets.pendingEpoch : 0;
  }

  private arm(now: number): void {
    if (this.closed) return;
    const at = Math.min(this.heap.peek()?.due ?? Infinity, this.buckets.nextRipeAt());
    if (at === Infinity) return;
    if (this.timer !== null) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - now));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = Date.now();
    const more = this.buckets.ripen(now, MAX_LOADED - this.heap.size, this.load, performance.now() + RIPEN_BUDGET_MS);
    // Later records may still be on disk in a bucket being read or split.
    const until = Math.min(now + 1, this.buckets.holdFrom());
    let routed = 0;
    for (let top = this.heap.peek(); top !== undefined && top.due < until && routed < ROUTE_BATCH; top = this.heap.peek()) {
      this.heap.pop();
      this.routeDue(top);
      routed++;
    }
    // More due now (a batch cut short, or a backlog still on disk): carry on after other work.
    if (routed === ROUTE_BATCH || (more && this.heap.size < MAX_LOADED)) {
      this.timerAt = now;
      this.timer = setTimeout(this.fire, 0);
      this.timer.unref();
      return;
    }
    this.arm(now);
  };

  private readonly load = (r: DelayedRecord): void => {
    this.heap.push(r);
  };

  private routeDue(rec: DelayedRecord): void {
    // Routed before a crash of the process on this boot: its queues recovered their copies.
    if (this.journal !== null && this.journal.recovered.size !== 0 && this.journal.recovered.delete(rec.seq)) {
      this.buckets.settle(rec);
      return;
    }
    const epoch = this.onDue(messageFromStored(rec.data, rec.propsEnd));
    if (epoch < 0) this.droppedCount++;
    else this.routedCount++;
    if (rec.persistent && epoch > this.buckets.syncedEpoch) {
      this.settleLater.push({ rec, epoch });
      this.settleLaterBytes += rec.data.length - rec.propsEnd;
      if (this.journal !== null) {
        this.journal.add(rec.seq);
        this.watchJournal();
      }
      if (epoch !== this.waitingEpoch) {
        this.waitingEpoch = epoch;
        this.buckets.whenSynced(epoch, this.settleSynced);
      }
    } else {
      this.buckets.settle(rec);
    }
  }

  /** Settles routed records whose queues have synced (so that a crash cannot lose them). */
  private readonly settleSynced = (): void => {
    if (this.closed) return;
    const synced = this.buckets.syncedEpoch;
    const q = this.settleLater;
    // Queue epochs only grow, so the settled ones are at the head.
    for (let s = q.peek(); s !== undefined && s.epoch <= synced; s = q.peek()) {
      q.shift();
      this.settleLaterBytes -= s.rec.data.length - s.rec.propsEnd;
      this.buckets.settle(s.rec);
    }
    if (this.journal !== null && q.length === 0 && this.journal.recovered.size === 0) {
      this.journalClearWanted = true;
      this.watchJournal();
    }
  };

  private watchJournal(): void {
    if (this.journalWatched) return;
    this.journalWatched = true;
    this.buckets.onAfterWrite(this.journalAfterWrite);
  }

  /**
   * After a store flush: the queue copies of the records routed since are written now, so their
   * ids go to the journal; once every routed record is settled (those settles written by the same
   * flush), it starts over.
   */
  private readonly journalAfterWrite = (): void => {
    const j = this.journal!;
    j.write();
    if (this.journalClearWanted && this.settleLater.length === 0 && j.recovered.size === 0) j.clear();
    this.journalClearWanted = false;
    if (!j.hasPending) {
      this.journalWatched = false;
      this.buckets.offAfterWrite(this.journalAfterWrite);
    }
  };

  private closeJournal(remove: boolean): void {
    if (this.journal === null) return;
    this.buckets.offAfterWrite(this.journalAfterWrite);
    this.journal.close(remove);
  }

  /** Pending messages in due order (ties in publish order), `offset` skipped, at most `limit`. */
  list(offset: number, limit: number): PendingDelayed[] {
    const want = offset + limit;
    let picked: DelayedRecord[] = [...this.heap.values()];
    const trim = () => {
      picked.sort((a, b) => a.due - b.due || a.seq - b.seq);
      if (picked.length > want) picked.length = want;
    };
    trim();
    let bucket: unknown = null;
    this.buckets.scanUnopened((r) => {
      if (r.bucket !== bucket) {
        // Buckets come in start order: once `want` are picked before this one starts, stop.
        bucket = r.bucket;
        trim();
        if (picked.length >= want && picked[want - 1].due < r.bucket.start) return false;
      }
      picked.push(r);
      if (picked.length > 2 * want + 1024) trim();
      return true;
    });
    trim();
    picked = picked.slice(offset);
    return picked.map((r) => {
      const m = messageFromStored(r.data, r.propsEnd);
      return {
        id: r.seq, due: r.due, routingKey: m.routingKey, headers: m.headersStart < 0 ? null : decodeTableAt(m.data, m.headersStart, m.headersEnd),
        size: m.bodySize, persistent: m.persistent, preview: Buffer.from(m.body.subarray(0, PREVIEW)), message: m,
      };
    });
  }

  /** Cancels the pending messages `filter` picks (durably); returns how many. */
  cancel(filter: CancelFilter): number {
    const match = (r: DelayedRecord): boolean => {
      if (filter.id !== undefined && r.seq !== filter.id) return false;
      if (filter.dueBefore !== undefined && !(r.due < filter.dueBefore)) return false;
      if (filter.dueAfter !== undefined && !(r.due >= filter.dueAfter)) return false;
      if (filter.routingKey === undefined && filter.header === undefined) return true;
      const m = messageFromStored(r.data, r.propsEnd);
      if (filter.routingKey !== undefined && m.routingKey !== filter.routingKey) return false;
      if (filter.header !== undefined) {
        const h = m.headers();
        if (h === null || !(filter.header.name in h) || !valuesEqual(h[filter.header.name], filter.header.value)) return false;
      }
      return true;
    };
    const inMemory = this.heap.removeWhere(match);
    for (const r of inMemory) this.buckets.settle(r);
    const onDisk: DelayedRecord[] = [];
    this.buckets.scanUnopened((r) => {
      if (match(r)) onDisk.push(r);
      return filter.id === undefined || onDisk.length === 0;
    });
    for (const r of onDisk) this.buckets.cancelUnopened(r);
    return inMemory.length + onDisk.length;
  }

  /** The exchange was deleted: pending messages and their files go. */
  destroy(): void {
    this.stop();
    this.closeJournal(true);
    this.settleLater.clear();
    this.settleLaterBytes = 0;
    this.buckets.destroy();
  }

  /** Clean shutdown, after the queues have synced and closed: files flushed and kept. */
  close(): void {
    this.stop();
    for (let s = this.settleLater.shift(); s !== undefined; s = this.settleLater.shift()) this.buckets.settle(s.rec);
    this.settleLaterBytes = 0;
    this.buckets.close();
    // Records recovered as routed but not yet due again stay journaled; otherwise all is settled.
    this.closeJournal(this.journal?.recovered.size === 0);
  }

  private stop(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.heap.clear();
  }
}
