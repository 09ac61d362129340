// Coordinates the segment logs of all queues: buffered appends are written out once per turn of
// the event loop, and one round of fdatasync covers everything written meanwhile (group commit).
// Epochs number the flushes that carried persistent data; a publisher confirm waits until the
// store has synced the epoch its message went out in.
//
// A sync round starts at once only when something waits for it (a confirm, a settle that must
// not precede the copy's sync); data nobody waits for is synced within LAZY_SYNC_MS. Written
// data survives a crash of the process either way (it is in the kernel's page cache); only a
// power loss can take the last unconfirmed writes, as with RabbitMQ, which syncs for confirms
// only. An fdatasync per turn that nobody waits for costs disk and CPU time that other
// processes on the machine (a Celery worker's pool, say) feel.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SegmentLog, type LogOwner } from './segment-log.js';

/** Longest time written persistent data that nothing waits for stays unsynced. */
const LAZY_SYNC_MS = 200;

export class MessageStore implements LogOwner {
  /** Epoch of the last flush that wrote persistent data. */
  private epoch = 0;
  /** Every epoch up to here is on disk. */
  syncedEpoch = 0;
  private syncing = false;
  /** The highest epoch something waits for. */
  private wanted = 0;
  private lazyTimer: NodeJS.Timeout | null = null;
  private readonly dirtyLogs = new Set<SegmentLog>();
  private readonly toSync = new Set<SegmentLog>();
  private flushQueued = false;
  private readonly durableDir: string;
  private readonly transientDir: string;
  private readonly delayedRoot: string;
  private nextTransient = 1;
  /** Other files to fsync in each round (the definitions journal). */
  readonly alsoSync: { sync(done: (err: NodeJS.ErrnoException | null) => void): boolean }[] = [];
  onSynced: ((epoch: number) => void) | null = null;
  /** Callbacks waiting for an epoch to be synced, in epoch order. */
  private syncWaiters: { epoch: number; fn: () => void }[] = [];

  /** `lazySyncMs`: how long data nothing waits for may stay unsynced (default LAZY_SYNC_MS). */
  constructor(dataDir: string, readonly log: Logger, private readonly lazySyncMs = LAZY_SYNC_MS) {
    this.durableDir = join(dataDir, 'queues');
    this.transientDir = join(dataDir, 'transient');
    this.delayedRoot = join(dataDir, 'delayed');
    mkdirSync(this.durableDir, { recursive: true });
    // Paged-out transient messages do not survive a restart.
    rmSync(this.transientDir, { recursive: true, force: true });
    mkdirSync(this.transientDir, { recursive: true });
  }

  /** The directory of a durable queue's log: stable across restarts, safe for any name. */
  queueDir(vhost: string, name: string): string {
    const h = createHash('sha256').update(vhost).update('\0').update(name).digest('hex').slice(0, 32);
    return join(this.durableDir, h);
  }

  /** A durable queue's log; `fresh` clears leftovers of an earlier queue of the same name. */
  openDurable(vhost: string, name: string, fresh: boolean): SegmentLog {
    const dir = this.queueDir(vhost, name);
    if (fresh) rmSync(dir, { recursive: true, force: true });
    return new SegmentLog(dir, this, true);
  }

  /**
   * The directory of a delayed exchange's pending messages: stable across restarts for a durable
   * exchange (cleared when `fresh`), under the transient area (wiped at boot) otherwise.
   */
  delayedDir(x: { kind: 'exchange' | 'queue'; vhost: string; name: string; durable: boolean }, fresh: boolean): string {
    if (!x.durable) return join(this.transientDir, `delayed-${this.nextTransient++}`);
    // Exchanges keep their hash of vhost and name; a queue's retries are told apart by a prefix.
    const h = createHash('sha256').update(x.kind === 'queue' ? 'queue\0' : '').update(x.vhost).update('\0').update(x.name)
      .digest('hex').slice(0, 32);
    const dir = join(this.delayedRoot, h);
    if (fresh) rmSync(dir, { recursive: true, force: true });
    return dir;
  }

  openTransient(): SegmentLog {
    return new SegmentLog(join(this.transientDir, String(this.nextTransient++)), this);
  }

  /** The epoch that a record appended now will be written in. */
  get pendingEpoch(): number {
    return this.epoch + 1;
  }

  dirty(log: SegmentLog): void {
    this.dirtyLogs.add(log);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.flushQueued = false;
    let persistent = false;
    for (const log of this.dirtyLogs) {
      if (log.flush()) persistent = true;
      if (log.needsSync) this.toSync.add(log);
    }
    this.dirtyLogs.clear();
    if (persistent) {
      this.epoch++;
      this.syncSoon();
    }
  };

  /** Something waits for `epoch` to be on disk: sync it now rather than lazily. */
  want(epoch: number): void {
    if (epoch > this.wanted) this.wanted = epoch;
    if (epoch <= this.epoch) this.syncSoon();
  }

  /** Starts a round if anything waits, else makes sure one happens within LAZY_SYNC_MS. */
  private syncSoon(): void {
    if (this.epoch === this.syncedEpoch) return;
    if (this.wanted > this.syncedEpoch) {
      this.startSync();
    } else if (this.lazyTimer === null) {
      this.lazyTimer = setTimeout(this.lazySync, this.lazySyncMs);
      this.lazyTimer.unref();
    }
  }

  private readonly lazySync = (): void => {
    this.lazyTimer = null;
    this.startSync();
  };

  private startSync(): void {
    if (this.syncing || this.epoch === this.syncedEpoch) return;
    this.syncing = true;
    const target = this.epoch;
    const logs = [...this.toSync];
    this.toSync.clear();
    // A round with nothing to sync still completes: its records were settled before being
    // written (or were synced by an earlier round), and their confirms are due.
    let pending = 1;
    const done = (err: NodeJS.ErrnoException | null) => {
      if (err) this.log.error({ err }, 'fdatasync failed; confirms are held back until a sync succeeds');
      if (--pending !== 0) return;
      this.syncing = false;
      if (!err) {
        this.syncedEpoch = target;
        this.onSynced?.(target);
        this.runSyncWaiters();
      } else {
        for (const l of logs) this.toSync.add(l);
      }
      if (err) setTimeout(() => this.startSync(), 100).unref();
      else this.syncSoon();
    };
    for (const log of logs) if (log.sync(done)) pending++;
    for (const other of this.alsoSync) if (other.sync(done)) pending++;
    done(null);
  }

  /** Calls `fn` once every record written in `epoch` (or earlier) is on disk; at once if it is. */
  whenSynced(epoch: number, fn: () => void): void {
    if (epoch <= this.syncedEpoch) {
      fn();
      return;
    }
    this.want(epoch);
    const w = this.syncWaiters;
    let i = w.length;
    while (i > 0 && w[i - 1].epoch > epoch) i--;
    w.splice(i, 0, { epoch, fn });
  }

  private runSyncWaiters(): void {
    const w = this.syncWaiters;
    let n = 0;
    while (n < w.length && w[n].epoch <= this.syncedEpoch) n++;
    if (n === 0) return;
    const due = w.splice(0, n);
    for (const x of due) x.fn();
  }

  /**
   * Writes everything buffered and resolves once it is all on disk (shutdown: the confirms of every
   * publish received so far are then due). Never resolves while fdatasync keeps failing.
   */
  syncEverything(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.whenSynced(this.epoch, resolve));
  }

  /** Writes everything buffered (clean shutdown). Sync happens as the logs close. */
  flushNow(): void {
    this.flush();
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
  }
}
