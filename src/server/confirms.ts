// Publisher-confirm bookkeeping for one channel. Publishes are numbered from 1; each needs either
// nothing (confirm at once) or the store to have synced past an epoch. Confirms go out in order,
// coalesced into basic.ack with multiple=true at the next flush.
import { Deque } from '../broker/deque.js';

/** Marks a publish that must be nacked rather than acked. */
export const NACK = -1;
/** Marks a publish with nothing to wait for. */
export const NOW = 0;

export interface ConfirmOutput {
  ack(tag: number, multiple: boolean): void;
  nack(tag: number, multiple: boolean): void;
}

export class ConfirmTracker {
  /** The last publish number handed out. */
  seq = 0;
  /** Every publish up to here is settled (acked or nacked) or queued for sending. */
  private settled = 0;
  /** Up to here acks were written to the client. */
  private sent = 0;
  /** For publishes settled+1.. in order: the store epoch each waits for, NOW, or NACK. */
  private readonly waiting = new Deque<number>();
  /** Nacks to send, in order, as [tag...]; rare (overflow, internal failure). */
  private nacks: number[] = [];

  next(): number {
    return ++this.seq;
  }

  /** Records what publish `tag` (the latest from next()) waits for. Returns true if output is due. */
  record(tag: number, epoch: number): boolean {
    if (epoch === NOW && this.waiting.length === 0 && tag === this.settled + 1) {
      this.settled = tag;
      return true;
    }
    this.waiting.push(epoch);
    if (epoch === NACK && this.waiting.length === 1) return this.advance(0);
    return false;
  }

  /** The store synced through `epoch`: settle what waited for it. Returns true if output is due. */
  advance(syncedEpoch: number): boolean {
    let moved = false;
    while (this.waiting.length !== 0) {
      const e = this.waiting.peek()!;
      if (e === NACK) {
        this.waiting.shift();
        this.settled++;
        this.nacks.push(this.settled);
        moved = true;
        continue;
      }
      if (e > syncedEpoch) break;
      this.waiting.shift();
      this.settled++;
      moved = true;
    }
    return moved;
  }

  /**
   * The store could not make epochs `from`..`to` durable (disk full, failed fsync): the publishes
   * waiting for them are nacked. Returns true if output is due.
   */
  fail(from: number, to: number): boolean {
    const w = this.waiting;
    let hit = false;
    for (let i = 0; i < w.length; i++) {
      const e = w.at(i)!;
      if (e >= from && e <= to) {
        w.set(i, NACK);
        hit = true;
      }
    }
    return hit && this.advance(0);
  }

  /** Publishes not yet acked or nacked to the client (channel_messages_unconfirmed). */
  get unconfirmed(): number {
    return this.seq - this.sent;
  }

  get pendingSync(): boolean {
    return this.waiting.length !== 0;
  }

  /** Writes the due acks/nacks, coalescing runs into multiple=true; returns how many publishes they settle. */
  write(out: ConfirmOutput): number {
    const before = this.sent;
    if (this.nacks.length !== 0) {
      for (const n of this.nacks) {
        if (n - 1 > this.sent) out.ack(n - 1, n - 1 - this.sent > 1);
        out.nack(n, false);
        this.sent = n;
      }
      this.nacks = [];
    }
    if (this.settled > this.sent) {
      out.ack(this.settled, this.settled - this.sent > 1);
      this.sent = this.settled;
    }
    return this.sent - before;
  }
}
