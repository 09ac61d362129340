// The ready messages of one queue, in order: a bounded window in memory, and beyond it a tail
// on disk read back in order as the window drains. Persistent messages in durable queues are
// also written when they stay in memory, so they survive a restart; the queue order is always
// [window in memory] ++ [paged tail on disk].
import type { MessageStore } from '../store/message-store.js';
import { FLAG_PERSISTENT, type SegmentLog, type StoredMessage } from '../store/segment-log.js';
import { Deque } from './deque.js';
import { type Message, messageFromStored } from './message.js';
import { QueueEntry, type Queue } from './queue.js';

/**
 * Which recovered messages were delivered before a restart: every seq below `below`, and the
 * listed ones. A crash sets `below` past every stored message; a clean shutdown lists them.
 */
export interface Redelivered {
  below: number;
  seqs: number[];
}

export interface StorageOptions {
  store: MessageStore;
  /** Messages kept in memory per queue before paging out. */
  windowCount: number;
  /** Body bytes kept in memory per queue before paging out. */
  windowBytes: number;
}

export class QueueMessages {
  protected readonly ready = new Deque<QueueEntry>();
  nextSeq = 1;
  /** Body bytes of ready messages (memory and disk). */
  bytes = 0;
  /** Messages and body bytes paged out to disk, behind the window. */
  private paged = 0;
  private pagedBytes = 0;
  protected log: SegmentLog | null = null;
  private lastEpoch = 0;
  private readonly refillBatch: StoredMessage[] = [];
  /** After a restart, until the recovered messages are all read back: which were delivered before. */
  private recovered: { next: number; below: number; seqs: Set<number> } | null = null;
  /** Persistent messages are written to this queue's log (a durable, non-exclusive queue). */
  protected readonly persistent: boolean;

  /** The container for `queue`: with priority levels when it has x-max-priority. */
  static create(queue: Queue, storage: StorageOptions | null, fresh: boolean): QueueMessages {
    return queue.limits.maxPriority >= 0
      ? new PriorityMessages(queue, storage, fresh, queue.limits.maxPriority)
      : new QueueMessages(queue, storage, fresh);
  }

  constructor(protected readonly queue: Queue, protected readonly storage: StorageOptions | null, fresh: boolean) {
    this.persistent = storage !== null && queue.durable && !queue.exclusive;
    if (this.persistent) this.log = storage!.store.openDurable(queue.vhost, queue.name, fresh);
  }

  get length(): number {
    return this.ready.length + this.paged;
  }

  /** Messages on disk only (for the management API). */
  get pagedCount(): number {
    return this.paged;
  }

  /** Body bytes on disk only. */
  get pagedBytesCount(): number {
    return this.pagedBytes;
  }

  /** The head message if it is in memory (never reads from disk; for the management API). */
  headInMemory(): QueueEntry | undefined {
    return this.ready.peek();
  }

  /** Up to `n` ready messages from the head that are in memory, in order, untouched. */
  firstInMemory(n: number): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (const e of this.inMemory()) {
      if (out.length >= n) break;
      out.push(e);
    }
    return out;
  }

  push(msg: Message, expiresAt: number): void {
    const seq = this.nextSeq++;
    this.bytes += msg.bodySize;
    const storage = this.storage;
    if (storage === null) {
      this.ready.push(new QueueEntry(msg, this.queue, seq, -1, expiresAt));
      return;
    }
    const persist = this.persistent && msg.persistent;
    const flags = persist ? FLAG_PERSISTENT : 0;
    if (this.paged !== 0 || this.ready.length >= storage.windowCount || this.bytes - this.pagedBytes >= storage.windowBytes) {
      const log = this.log ??= storage.store.openTransient();
      if (this.paged === 0) log.startPaging();
      log.append(seq, flags, expiresAt, msg.data, msg.propsEnd);
      this.paged++;
      this.pagedBytes += msg.bodySize;
      this.lastEpoch = persist ? storage.store.pendingEpoch : 0;
      return;
    }
    this.ready.push(new QueueEntry(msg, this.queue, seq, this.persistMaybe(seq, persist, expiresAt, msg), expiresAt));
  }

  /** Writes a message kept in memory to the log if it must survive a restart; its segment or -1. */
  protected persistMaybe(seq: number, persist: boolean, expiresAt: number, msg: Message): number {
    if (!persist) {
      this.lastEpoch = 0;
      return -1;
    }
    this.lastEpoch = this.storage!.store.pendingEpoch;
    return this.log!.append(seq, FLAG_PERSISTENT, expiresAt, msg.data, msg.propsEnd);
  }

  /**
   * What a publisher confirm for the message last pushed must wait for: 0 for nothing, else
   * the store epoch that must be synced first.
   */
  lastPushSyncEpoch(): number {
    return this.lastEpoch;
  }

  peek(): QueueEntry | undefined {
    if (this.paged !== 0 && this.ready.length === 0) this.refill();
    return this.ready.peek();
  }

  shift(): QueueEntry | undefined {
    if (this.paged !== 0 && this.lowWater()) this.refill();
    const e = this.ready.shift();
    if (e !== undefined) this.bytes -= e.msg.bodySize;
    return e;
  }

  /** The in-memory window is down to half, by count and by bytes: time to read more back. */
  private lowWater(): boolean {
    const storage = this.storage!;
    return this.ready.length === 0
      || (this.ready.length <= storage.windowCount >>> 1 && this.bytes - this.pagedBytes <= storage.windowBytes >>> 1);
  }

  private refill(): void {
    const storage = this.storage!;
    const batch = this.refillBatch;
    batch.length = 0;
    const room = Math.max(1, storage.windowCount - this.ready.length);
    const roomBytes = Math.max(1, storage.windowBytes - (this.bytes - this.pagedBytes));
    this.log!.readPaged(room, roomBytes, batch);
    for (const m of batch) {
      const e = this.entryFromStored(m);
      this.ready.push(e);
      this.paged--;
      this.pagedBytes -= e.msg.bodySize;
    }
    batch.length = 0;
    // The queue's count says when everything paged is back; the log may still have dead records
    // (of an earlier run) ahead of its cursor, which must not be read as new pages later.
    if (this.paged === 0) this.log!.stopPaging();
    if (!this.log!.paging) {
      this.recovered = null;
      if (this.paged !== 0) {
        // The log ran out before the count did: records were lost (the log said why). Resync.
        this.bytes -= this.pagedBytes;
        this.paged = 0;
        this.pagedBytes = 0;
      }
    }
  }

  protected entryFromStored(m: StoredMessage): QueueEntry {
    const e = new QueueEntry(messageFromStored(m.data, m.propsEnd), this.queue, m.seq, m.segment, m.expiresAt);
    if (this.deliveredBeforeRestart(m.seq)) e.deliveries = 1;
    return e;
  }

  /** Puts entries back where they were: ahead of newer messages, in publish order. */
  requeue(entries: QueueEntry[]): void {
    const sorted = entries.length > 1 ? [...entries].sort((a, b) => b.seq - a.seq) : entries;
    for (const e of sorted) {
      this.insertRequeued(e);
      this.bytes += e.msg.bodySize;
    }
  }

  protected insertRequeued(e: QueueEntry): void {
    insertBySeq(this.ready, e);
  }

  /** The entry left the queue for good (acked, dropped, or delivered without ack). */
  settled(entry: QueueEntry): void {
    if (entry.segment < 0) return;
    this.log?.settle(entry.segment, entry.seq, this.persistent && entry.msg.persistent);
  }

  purge(): number {
    const n = this.length;
    for (let e = this.ready.shift(); e !== undefined; e = this.ready.shift()) this.settled(e);
    if (this.paged !== 0) this.log!.dropPaged();
    this.paged = 0;
    this.pagedBytes = 0;
    this.bytes = 0;
    return n;
  }

  destroy(): void {
    this.ready.clear();
    this.paged = 0;
    this.pagedBytes = 0;
    this.bytes = 0;
    this.log?.destroy();
    this.log = null;
  }

  private deliveredBeforeRestart(seq: number): boolean {
    const r = this.recovered;
    return r !== null && seq < r.next && (seq < r.below || r.seqs.has(seq));
  }

  /** Clean shutdown: keep the files, and say which stored messages were delivered before. */
  close(): Redelivered {
    const out = this.redeliveredNow();
    this.log?.close();
    return out;
  }

  /** The ready messages held in memory. */
  protected inMemory(): Iterable<QueueEntry> {
    return this.ready;
  }

  /** Delivered-before marks of stored messages: those in memory, and recovered ones still paged. */
  private redeliveredNow(): Redelivered {
    const seqs: number[] = [];
    for (const e of this.inMemory()) if (e.deliveries > 0 && e.segment >= 0 && e.msg.persistent) seqs.push(e.seq);
    const r = this.recovered;
    if (r === null) return { below: 0, seqs };
    for (const s of r.seqs) seqs.push(s);
    return { below: Math.min(r.below, r.next), seqs };
  }

  /**
   * After a restart: reads the queue's log back, the first window into memory, the rest left
   * paged. `redelivered` tells which messages count as delivered before (all of them after a crash).
   */
  recover(redelivered: Redelivered, unclean: boolean): { recovered: number; droppedBytes: number } {
    const storage = this.storage!;
    this.recovered = { next: Number.MAX_SAFE_INTEGER, below: redelivered.below, seqs: new Set(redelivered.seqs) };
    const [count, bytes] = this.recoveryWindow(storage);
    const r = this.log!.recover(count, bytes, unclean);
    for (const m of r.loaded) {
      const e = this.entryFromStored(m);
      this.pushRecovered(e);
      this.bytes += e.msg.bodySize;
    }
    this.paged = r.paged;
    this.recovered.next = r.nextSeq;
    if (r.paged === 0) this.recovered = null;
    this.pagedBytes = r.pagedBytes;
    this.bytes += r.pagedBytes;
    this.nextSeq = Math.max(this.nextSeq, r.nextSeq);
    return { recovered: r.loaded.length + r.paged, droppedBytes: r.droppedBytes };
  }

  /** How many messages (and body bytes) to load at boot; the rest stay paged. */
  protected recoveryWindow(storage: StorageOptions): [number, number] {
    return [storage.windowCount, storage.windowBytes];
  }

  protected pushRecovered(e: QueueEntry): void {
    this.ready.push(e);
  }

  /** Bytes of this queue's segment files. */
  diskSize(): number {
    return this.log?.diskSize() ?? 0;
  }
}

/** Inserts after every entry with a lower seq, counting from the head (requeue's usual case). */
function insertBySeq(d: Deque<QueueEntry>, e: QueueEntry): void {
  let i = 0;
  while (i < d.length && d.at(i)!.seq < e.seq) i++;
  d.insertAt(i, e);
}

/**
 * x-max-priority queues: one deque per priority level, highest served first. All of a
 * priority queue's messages stay in memory (persistent ones are also written, to survive
 * restarts); they are not paged.
 */
class PriorityMessages extends QueueMessages {
  private readonly levels: Deque<QueueEntry>[];
  private count = 0;

  constructor(queue: Queue, storage: StorageOptions | null, fresh: boolean, maxPriority: number) {
    super(queue, storage, fresh);
    this.levels = Array.from({ length: maxPriority + 1 }, () => new Deque<QueueEntry>());
  }

  override get length(): number {
    return this.count;
  }

  private level(e: QueueEntry): Deque<QueueEntry> {
    const p = e.msg.priority;
    return this.levels[p < 0 ? 0 : Math.min(p, this.levels.length - 1)];
  }

  override push(msg: Message, expiresAt: number): void {
    const seq = this.nextSeq++;
    this.bytes += msg.bodySize;
    const segment = this.storage === null ? -1 : this.persistMaybe(seq, this.persistent && msg.persistent, expiresAt, msg);
    const e = new QueueEntry(msg, this.queue, seq, segment, expiresAt);
    this.level(e).push(e);
    this.count++;
  }

  override headInMemory(): QueueEntry | undefined {
    return this.peek();
  }

  override firstInMemory(n: number): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (let p = this.levels.length - 1; p >= 0 && out.length < n; p--) {
      for (const e of this.levels[p]) {
        if (out.length >= n) break;
        out.push(e);
      }
    }
    return out;
  }

  override peek(): QueueEntry | undefined {
    for (let p = this.levels.length - 1; p >= 0; p--) if (this.levels[p].length !== 0) return this.levels[p].peek();
    return undefined;
  }

  override shift(): QueueEntry | undefined {
    for (let p = this.levels.length - 1; p >= 0; p--) {
      const e = this.levels[p].shift();
      if (e !== undefined) {
        this.count--;
        this.bytes -= e.msg.bodySize;
        return e;
      }
    }
    return undefined;
  }

  protected override insertRequeued(e: QueueEntry): void {
    insertBySeq(this.level(e), e);
    this.count++;
  }

  override purge(): number {
    const n = this.count;
    for (const level of this.levels) for (let e = level.shift(); e !== undefined; e = level.shift()) this.settled(e);
    this.count = 0;
    this.bytes = 0;
    return n;
  }

  override destroy(): void {
    for (const level of this.levels) level.clear();
    this.count = 0;
    super.destroy();
  }

  protected override *inMemory(): Iterable<QueueEntry> {
    for (const level of this.levels) yield* level;
  }

  protected override recoveryWindow(): [number, number] {
    return [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  }

  protected override pushRecovered(e: QueueEntry): void {
    this.level(e).push(e);
    this.count++;
  }
}
