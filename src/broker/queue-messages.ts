// The ready messages of one queue, in order. This in-memory version keeps everything in a deque;
// the store extends it with a bounded window in memory and the rest on disk.
import { Deque } from './deque.js';
import type { Message } from './message.js';
import { QueueEntry, type Queue } from './queue.js';

export class QueueMessages {
  protected readonly ready = new Deque<QueueEntry>();
  protected nextSeq = 1;
  /** Bytes of message bodies ready in the queue. */
  bytes = 0;

  constructor(protected readonly queue: Queue) {}

  get length(): number {
    return this.ready.length;
  }

  push(msg: Message): void {
    this.ready.push(new QueueEntry(msg, this.queue, this.nextSeq++, -1));
    this.bytes += msg.bodySize;
  }

  shift(): QueueEntry | undefined {
    const e = this.ready.shift();
    if (e !== undefined) this.bytes -= e.msg.bodySize;
    return e;
  }

  /** Puts entries back at the head, oldest first. */
  requeue(entries: QueueEntry[]): void {
    const sorted = entries.length > 1 ? [...entries].sort((a, b) => b.seq - a.seq) : entries;
    for (const e of sorted) {
      this.ready.unshift(e);
      this.bytes += e.msg.bodySize;
    }
  }

  /**
   * What a publisher confirm for `msg` (just pushed) must wait for: 0 for nothing, else the store
   * epoch that must be synced first.
   */
  syncEpochFor(_msg: Message): number {
    return 0;
  }

  /** The entry left the queue for good (acked, dropped, or delivered without ack). */
  settled(_entry: QueueEntry): void {}

  purge(): number {
    const n = this.ready.length;
    this.ready.clear();
    this.bytes = 0;
    return n;
  }

  destroy(): void {
    this.purge();
  }
}
