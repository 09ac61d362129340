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
//
// A write that fails (disk full, I/O error) leaves its records buffered in their log, which is
// written again at every flush until it succeeds. Every epoch flushed meanwhile is failed (its
// confirms become nacks) and no sync round reaches past the first of them until the data is
// written, so whatever waits on those epochs for durability keeps waiting rather than being told
// a lie. A failed fdatasync fails the epochs it covered: the kernel may have dropped those pages.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SegmentLog, type LogOwner, type WriteFailure } from './segment-log.js';
import { isOutOfSpace } from './write-fully.js';

/** Longest time written persistent data that nothing waits for stays unsynced. */
const LAZY_SYNC_MS = 200;
/** How often writes that failed are tried again while traffic goes on (the disk monitor tries too). */
const RETRY_MS = 250;

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
  /** Logs with acks not yet written (each once until writeAcks), see acksPending. */
  private readonly ackLogs: SegmentLog[] = [];
  private readonly toSync = new Set<SegmentLog>();
  private flushQueued = false;
  private readonly durableDir: string;
  private readonly transientDir: string;
  private readonly delayedRoot: string;
  private nextTransient = 1;
  /** Other files to fsync in each round (the definitions journal). */
  readonly alsoSync: { sync(done: (err: NodeJS.ErrnoException | null) => void): boolean }[] = [];
  onSynced: ((epoch: number) => void) | null = null;
  /** Called after a flush wrote everything buffered (no write failing); see RoutedJournal. */
  readonly afterWrite = new Set<() => void>();
  /** Callbacks waiting for an epoch to be synced, in epoch order. */
  private syncWaiters: { epoch: number; fn: () => void }[] = [];
  /** Logs holding records or acks they could not write; retried at every flush. */
  private readonly unwritten = new Set<SegmentLog>();
  /** The first epoch whose data may still be unwritten (0: none); sync rounds stop short of it. */
  private heldFrom = 0;
  /** When held writes are next tried (performance.now() ms). */
  private retryAt = 0;
  /** Writes started failing (to raise the disk alarm at once). */
  onWriteFailed: ((failure: WriteFailure) => void) | null = null;
  /** Epochs `from`..`to` will never be synced as they were: their confirms become nacks. */
  onEpochsFailed: ((from: number, to: number) => void) | null = null;

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

  acksPending(log: SegmentLog): void {
    this.ackLogs.push(log);
  }

  /**
   * Writes every pending ack now. The broker calls this before each write to a client socket: a
   * reply that follows an ack (a round trip after it) tells the client the ack was processed, and
   * a kill -9 after that must not undo it. The flush at the end of the turn comes too late for
   * that: connection output goes out in its own setImmediate, which often runs first, and any
   * delay after it (a long turn, a busy machine) left processed acks in memory only.
   */
  readonly writeAcks = (): void => {
    const logs = this.ackLogs;
    if (logs.length === 0) return;
    for (let i = 0; i < logs.length; i++) logs[i].writeAcks();
    logs.length = 0;
  };

  readonly flush = (): void => {
    this.flushQueued = false;
    let persistent = false;
    const wasFailing = this.unwritten.size !== 0;
    // A failing log is retried now and then, not every turn: each try may copy megabytes.
    if (wasFailing && performance.now() >= this.retryAt) {
      for (const log of this.unwritten) this.dirtyLogs.add(log);
      this.unwritten.clear();
      this.retryAt = performance.now() + RETRY_MS;
    }
    let failure: WriteFailure | null = null;
    for (const log of this.dirtyLogs) {
      if (wasFailing && this.unwritten.has(log)) continue;
      if (log.flush()) persistent = true;
      if (log.writeFailure !== null) {
        failure ??= log.writeFailure;
        this.unwritten.add(log);
      }
      if (log.needsSync) this.toSync.add(log);
    }
    this.dirtyLogs.clear();
    const failing = this.unwritten.size !== 0;
    if (persistent) {
      this.epoch++;
      if (failing) {
        if (this.heldFrom === 0) this.heldFrom = this.epoch;
        this.onEpochsFailed?.(this.epoch, this.epoch);
      }
    }
    if (failure !== null && !wasFailing) this.writesFailing(failure);
    if (!failing && wasFailing) this.writesResumed();
    if (!failing && this.afterWrite.size !== 0) for (const fn of this.afterWrite) fn();
    if (persistent || (wasFailing && !failing)) this.syncSoon();
  };

  private writesFailing(f: WriteFailure): void {
    const code = f.err.code ?? f.err.message;
    const what = isOutOfSpace(f.err) ? `disk full at ${f.path} (${code})` : `cannot write ${f.path} (${code})`;
    this.log.error({ err: f.err, path: f.path }, `${what}: blocking publishers and nacking publishes not yet confirmed; `
      + 'data already confirmed is safe, and what could not be written is kept in memory and retried. '
      + 'Free space on that filesystem (or enlarge the volume): the broker resumes by itself');
    this.onWriteFailed?.(f);
  }

  private writesResumed(): void {
    this.heldFrom = 0;
    this.log.warn('writes to the data directory succeed again; publishes are confirmed once synced');
  }

  /** Records or acks are held unwritten (the disk alarm must stay up). */
  get writesHeld(): boolean {
    return this.unwritten.size !== 0;
  }

  /** Tries the held writes again now (the disk may have room again); returns whether they all went out. */
  retryWrites(): boolean {
    this.retryAt = 0;
    if (this.unwritten.size !== 0) this.flush();
    return this.unwritten.size === 0;
  }

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
    // Data of epochs from heldFrom on may still be in memory: no round may claim them synced.
    const target = this.heldFrom !== 0 ? this.heldFrom - 1 : this.epoch;
    if (this.syncing || target <= this.syncedEpoch) return;
    this.syncing = true;
    const logs = [...this.toSync];
    this.toSync.clear();
    // A round with nothing to sync still completes: its records were settled before being
    // written (or were synced by an earlier round), and their confirms are due.
    let pending = 1;
    let firstErr: NodeJS.ErrnoException | null = null;
    const done = (err: NodeJS.ErrnoException | null) => {
      firstErr ??= err;
      if (--pending !== 0) return;
      this.syncing = false;
      if (firstErr === null) {
        this.syncedEpoch = target;
        this.onSynced?.(target);
        this.runSyncWaiters();
        this.syncSoon();
        return;
      }
      // The kernel may have dropped the pages this round covered, and a second fdatasync would
      // not say so: nack those publishes. Their logs go on in new files (see SegmentLog.sync).
      this.log.error({ err: firstErr }, `fdatasync failed (${firstErr.code ?? firstErr.message}): nacking the publishes it covered; `
        + 'check the disk (kernel log) and free space on the data directory');
      this.onEpochsFailed?.(this.syncedEpoch + 1, target);
      this.onWriteFailed?.({ err: firstErr, path: this.durableDir });
      for (const l of logs) this.toSync.add(l);
      setTimeout(() => this.startSync(), 100).unref();
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
