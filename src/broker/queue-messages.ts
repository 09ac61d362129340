// The ready messages of one queue, in order: a bounded window in memory, and beyond it a tail
// on disk read back in order as the window drains. Persistent messages in durable queues are
// also written when they stay in memory, so they survive a restart; the queue order is always
// [window in memory] ++ [paged tail on disk].
import type { MessageStore } from '../store/message-store.js';
import { FLAG_PERSISTENT, type SegmentLog, type StoredMessage } from '../store/segment-log.js';
import { Deque } from './deque.js';
import { type Message, messageFromStored } from './message.js';
import { QueueEntry, type Queue } from './queue.js';

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
  /** Messages and bytes paged out to disk, behind the window. */
  private paged = 0;
  private log: SegmentLog | null = null;
  private lastEpoch = 0;
  private readonly refillBatch: StoredMessage[] = [];
  /** After a restart: which recovered messages count as delivered before. */
  private wasDelivered: ((seq: number) => boolean) | null = null;
  private readonly persistent: boolean;

  constructor(protected readonly queue: Queue, private readonly storage: StorageOptions | null = null, fresh = true) {
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

  get inMemoryCount(): number {
    return this.ready.length;
  }

  push(msg: Message): void {
    const seq = this.nextSeq++;
    this.bytes += msg.bodySize;
    const storage = this.storage;
    if (storage === null) {
      this.ready.push(new QueueEntry(msg, this.queue, seq, -1));
      return;
    }
    const persist = this.persistent && msg.persistent;
    const flags = persist ? FLAG_PERSISTENT : 0;
    if (this.paged !== 0 || this.ready.length >= storage.windowCount || this.memoryBytes() >= storage.windowBytes) {
      const log = this.log ??= storage.store.openTransient();
      if (this.paged === 0) log.startPaging();
      log.append(seq, flags, msg.data, msg.propsEnd);
      this.paged++;
      this.pagedBytes += msg.bodySize;
      this.lastEpoch = persist ? storage.store.pendingEpoch : 0;
      return;
    }
    let segment = -1;
    if (persist) {
      segment = this.log!.append(seq, flags, msg.data, msg.propsEnd);
      this.lastEpoch = storage.store.pendingEpoch;
    } else {
      this.lastEpoch = 0;
    }
    this.ready.push(new QueueEntry(msg, this.queue, seq, segment));
  }

  private memoryBytes(): number {
    return this.bytes - this.pagedBytes;
  }

  private pagedBytes = 0;

  /**
   * What a publisher confirm for the message just pushed must wait for: 0 for nothing, else
   * the store epoch that must be synced first.
   */
  syncEpochFor(_msg: Message): number {
    return this.lastEpoch;
  }

  shift(): QueueEntry | undefined {
    if (this.paged !== 0 && this.ready.length <= (this.storage!.windowCount >>> 1)) this.refill();
    const e = this.ready.shift();
    if (e !== undefined) this.bytes -= e.msg.bodySize;
    return e;
  }

  private refill(): void {
    const storage = this.storage!;
    const batch = this.refillBatch;
    batch.length = 0;
    const room = Math.max(1, storage.windowCount - this.ready.length);
    this.log!.readPaged(room, storage.windowBytes >>> 1, batch);
    for (const m of batch) {
      const msg = messageFromStored(m.data, m.propsEnd);
      const e = new QueueEntry(msg, this.queue, m.seq, m.segment);
      if (this.wasDelivered !== null && this.wasDelivered(m.seq)) e.deliveries = 1;
      this.ready.push(e);
      this.paged--;
      this.pagedBytes -= msg.bodySize;
    }
    batch.length = 0;
    if (!this.log!.paging) this.wasDelivered = null;
    if (!this.log!.paging && this.paged !== 0) {
      // The log ran out before the count did: records were lost (logged by the log). Resync.
      this.bytes -= this.pagedBytes;
      this.paged = 0;
      this.pagedBytes = 0;
    }
  }

  /** Puts entries back where they were: ahead of newer messages, in publish order. */
  requeue(entries: QueueEntry[]): void {
    const sorted = entries.length > 1 ? [...entries].sort((a, b) => b.seq - a.seq) : entries;
    const ready = this.ready;
    for (const e of sorted) {
      // Usually at the head; after other requeues, among them.
      let i = 0;
      while (i < ready.length && ready.at(i)!.seq < e.seq) i++;
      ready.insertAt(i, e);
      this.bytes += e.msg.bodySize;
    }
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

  /** Clean shutdown: keep the files, remember which messages were delivered before. */
  close(): number[] {
    const redelivered: number[] = [];
    for (const e of this.ready) if (e.deliveries > 0) redelivered.push(e.seq);
    this.log?.close();
    return redelivered;
  }

  /**
   * After a restart: reads the queue's log back, the first window into memory, the rest left
   * paged. `redelivered` tells which messages count as delivered before (all of them after a crash).
   */
  recover(redelivered: (seq: number) => boolean): { recovered: number; droppedBytes: number } {
    const storage = this.storage!;
    const r = this.log!.recover(storage.windowCount, storage.windowBytes);
    for (const m of r.loaded) {
      const msg = messageFromStored(m.data, m.propsEnd);
      const e = new QueueEntry(msg, this.queue, m.seq, m.segment);
      if (redelivered(m.seq)) e.deliveries = 1;
      this.ready.push(e);
      this.bytes += msg.bodySize;
    }
    this.paged = r.paged;
    if (r.paged !== 0) this.wasDelivered = redelivered;
    this.pagedBytes = r.pagedBytes;
    this.bytes += r.pagedBytes;
    this.nextSeq = Math.max(this.nextSeq, r.nextSeq);
    return { recovered: r.loaded.length + r.paged, droppedBytes: r.droppedBytes };
  }

  /** Bytes of this queue's segment files. */
  diskSize(): number {
    return this.log?.diskSize() ?? 0;
  }
}
