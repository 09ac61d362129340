// Pending delayed messages of one exchange, on disk, bucketed by due time as a hierarchical
// timing wheel: a message due within 64 slots of a level goes to that level's slot (level 0 has
// 256 ms slots, each level up 64 times wider), so a week-long delay and a one-second delay both
// land in a handful of buckets. Each bucket is a segment log. A level-0 bucket is read into
// memory shortly before its time; a higher bucket is split into the level below shortly before
// its start. So memory holds only what is due within about a second, start-up reads bucket
// indexes rather than messages, and each message is rewritten at most once per level it descends.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { RoutedJournal } from './routed-journal.js';
import { join } from 'node:path';
import type { MessageStore } from './message-store.js';
import { MinHeap } from './min-heap.js';
import { FLAG_PERSISTENT, SegmentLog, type StoredMessage } from './segment-log.js';

/** Width of a level-0 slot, in ms. */
const SLOT0 = 256;
const SLOTS = 64;
const LEVELS = 7;
const WIDTH: number[] = Array.from({ length: LEVELS }, (_, l) => SLOT0 * SLOTS ** l);
/** Level-0 buckets are loaded this long before their start. */
const LOAD_AHEAD = 2 * SLOT0;
/**
 * A bucket of level L > 0 starts being split this long before its start (16 slots of the level
 * below, a quarter of its width), so the split is done well before the buckets it fills ripen.
 */
const splitAhead = (level: number) => 16 * WIDTH[level - 1];
/**
 * Records read per step of a load or a split. Steps run until the caller's deadline, so a split
 * of half a million records or the load of a full level-0 bucket never holds the event loop for
 * more than a few ms at a time.
 */
const STEP = 1024;
/** Work that is already overdue (records due now wait behind it) may run this long past the deadline. */
const OVERDUE_GRACE_MS = 50;

/** A pending message as the scheduler holds it once its bucket is loaded. */
export interface DelayedRecord {
  due: number;
  /** Publish order, for ties. */
  seq: number;
  persistent: boolean;
  data: Buffer;
  propsEnd: number;
  bucket: Bucket;
  segment: number;
}

export class Bucket {
  /** Live records (added, not yet settled). */
  live = 0;
  bytes = 0;
  /** Level 0: its records are in the scheduler's memory. Higher: being split or split. */
  opened = false;
  /** The earliest due time among its records (its start for one recovered from disk). */
  minDue = Infinity;
  /** Records cancelled while the bucket was unopened (still on disk until it is read). */
  cancelled: Set<number> | null = null;
  /** Deleted: its entry in the ripening heap is stale. */
  dropped = false;
  /** Being split: new records go to the level below. */
  splitting = false;
  /** Level 0, opened and partly read: new records go to its log, behind the read cursor. */
  loading = false;
  /** A split has moved persistent records out of it (its files go once their copies are synced). */
  movedPersistent = false;
  /**
   * `name`: its directory, `level-id` with a `.n` suffix when an earlier bucket of the same slot
   * still has its files there (a split waiting for its copies to sync).
   */
  constructor(readonly level: number, readonly id: number, readonly name: string, readonly log: SegmentLog) {}

  get slot(): string {
    return `${this.level}-${this.id}`;
  }

  get start(): number {
    return this.id * WIDTH[this.level];
  }

  /** When this bucket needs attention: loading (level 0) or splitting. */
  get ripeAt(): number {
    return this.level === 0 ? this.start - LOAD_AHEAD : this.start - splitAhead(this.level);
  }
}

export interface DelayBucketsOptions {
  store: MessageStore;
  dir: string;
  /** Keep persistent records across restarts (a durable exchange). */
  durable: boolean;
}

export class DelayBuckets {
  /** Every bucket with files, by directory name. */
  private readonly buckets = new Map<string, Bucket>();
  /** The bucket new records of a slot go to, by `level-id`. */
  private readonly bySlot = new Map<string, Bucket>();
  /** Unopened buckets by the time they ripen; parents ripen before the buckets they split into. */
  private readonly ripening = new MinHeap<Bucket>((a, b) => a.ripeAt < b.ripeAt || (a.ripeAt === b.ripeAt && a.level > b.level));
  /** Pending messages and their body bytes (kept incrementally). */
  count = 0;
  bytes = 0;
  private destroyed = false;
  /** Higher buckets being split, in the order they ripened. */
  private readonly splitting: Bucket[] = [];
  /** Level-0 buckets being read into memory, in the order they ripened. */
  private readonly loading: Bucket[] = [];
  /** Split buckets whose files go once their records' copies are synced. */
  private readonly pendingDestroy = new Set<Bucket>();

  constructor(private readonly opts: DelayBucketsOptions) {
    mkdirSync(opts.dir, { recursive: true });
  }

  /** The journal of routed, unsettled records (durable buckets only); see RoutedJournal. */
  openRoutedJournal(): RoutedJournal | null {
    return this.opts.durable ? RoutedJournal.open(join(this.opts.dir, 'routed')) : null;
  }

  /** Runs `fn` after each store flush that wrote everything, until `offAfterWrite`. */
  onAfterWrite(fn: () => void): void {
    this.opts.store.afterWrite.add(fn);
  }

  offAfterWrite(fn: () => void): void {
    this.opts.store.afterWrite.delete(fn);
  }

  /**
   * Reads back the buckets of a previous run (durable exchanges): their indexes, not their
   * messages. Returns the highest publish sequence seen.
   */
  recover(): number {
    let maxSeq = 0;
    if (!existsSync(this.opts.dir)) return maxSeq;
    for (const name of readdirSync(this.opts.dir)) {
      const m = /^(\d+)-(\d+)(?:\.\d+)?$/.exec(name);
      if (m === null) continue;
      const log = new SegmentLog(join(this.opts.dir, name), this.opts.store, true);
      const r = log.recover(0, 0, false);
      if (r.paged === 0) {
        log.destroy();
        continue;
      }
      const b = new Bucket(Number(m[1]), Number(m[2]), name, log);
      b.live = r.paged;
      b.bytes = r.pagedBytes;
      b.minDue = b.start;
      this.buckets.set(name, b);
      // Two directories of one slot (a crash while a split's old files waited): both ripen.
      if (!this.bySlot.has(b.slot)) this.bySlot.set(b.slot, b);
      this.ripening.push(b);
      this.count += r.paged;
      this.bytes += r.pagedBytes;
      if (r.nextSeq - 1 > maxSeq) maxSeq = r.nextSeq - 1;
    }
    return maxSeq;
  }

  /**
   * Stores a message due at `due` (ms since the epoch). Returns the record when its bucket is
   * already in memory (the scheduler must hold it), else null.
   */
  add(due: number, seq: number, persistent: boolean, data: Buffer, propsEnd: number, now: number): DelayedRecord | null {
    const distance = due - now;
    let level = 0;
    while (level < LEVELS - 1 && distance >= SLOTS * WIDTH[level]) level++;
    const rec = this.append(level, due, seq, persistent, data, propsEnd);
    this.count++;
    this.bytes += data.length - propsEnd;
    return rec;
  }

  /** The sync epoch a confirm of the record just added must wait for. */
  get pendingEpoch(): number {
    return this.opts.store.pendingEpoch;
  }

  private append(level: number, due: number, seq: number, persistent: boolean, data: Buffer, propsEnd: number): DelayedRecord | null {
    const id = Math.floor(due / WIDTH[level]);
    const b = this.bucket(level, id);
    // A bucket being split takes nothing more: the record goes straight to the level below.
    if (b.splitting) return this.append(level - 1, due, seq, persistent, data, propsEnd);
    const segment = b.log.append(seq, persistent && this.opts.durable ? FLAG_PERSISTENT : 0, due, data, propsEnd);
    b.live++;
    b.bytes += data.length - propsEnd;
    if (due < b.minDue) b.minDue = due;
    if (!(level === 0 && b.opened && !b.loading)) return null;
    return { due, seq, persistent, data, propsEnd, bucket: b, segment };
  }

  private bucket(level: number, id: number): Bucket {
    const slot = `${level}-${id}`;
    let b = this.bySlot.get(slot);
    if (b === undefined) {
      // The slot's split bucket may still have files here, to go once its copies sync.
      let name = slot;
      for (let n = 1; existsSync(join(this.opts.dir, name)); n++) name = `${slot}.${n}`;
      const log = new SegmentLog(join(this.opts.dir, name), this.opts.store, true);
      // Records are read back from disk when the bucket ripens, never kept in memory before.
      log.startPaging();
      b = new Bucket(level, id, name, log);
      this.buckets.set(name, b);
      this.bySlot.set(slot, b);
      this.ripening.push(b);
    }
    return b;
  }

  /** The bucket takes no more records and is no longer listed (its files go now or later). */
  private forget(b: Bucket): void {
    b.dropped = true;
    this.buckets.delete(b.name);
    if (this.bySlot.get(b.slot) === b) this.bySlot.delete(b.slot);
  }

  /** Every sync epoch up to here is on disk. */
  get syncedEpoch(): number {
    return this.opts.store.syncedEpoch;
  }

  /** Calls `fn` once everything written in `epoch` is on disk. */
  whenSynced(epoch: number, fn: () => void): void {
    this.opts.store.whenSynced(epoch, fn);
  }

  /** The earliest due time on disk (unopened buckets), or Infinity. */
  earliestDue(): number {
    let at = Infinity;
    for (const b of this.buckets.values()) if ((!b.opened || b.loading) && b.minDue < at) at = b.minDue;
    return at;
  }

  /**
   * Records due at or after this may still be on disk, in a bucket being loaded or split: only
   * earlier ones may be routed yet, or due order would break.
   */
  holdFrom(): number {
    let at = Infinity;
    for (const b of this.loading) if (b.start < at) at = b.start;
    for (const b of this.splitting) if (b.start < at) at = b.start;
    return at;
  }

  /** When the next bucket ripens (ms since the epoch), or Infinity; in the past while a load or split is under way. */
  nextRipeAt(): number {
    let at = this.nextRipe()?.ripeAt ?? Infinity;
    if (this.loading.length !== 0) at = Math.min(at, this.loading[0].ripeAt);
    if (this.splitting.length !== 0) at = Math.min(at, this.splitting[0].ripeAt);
    return at;
  }

  private nextRipe(): Bucket | undefined {
    for (let b = this.ripening.peek(); b !== undefined; b = this.ripening.peek()) {
      if (!b.dropped && !b.opened && !b.splitting && !b.loading) return b;
      this.ripening.pop();
    }
    return undefined;
  }

  /**
   * Opens the buckets ripe at `now`, in the order they ripen, a step at a time until `deadline`
   * (a performance.now() time): level-0 buckets hand their records to `load`, higher ones are
   * split into the level below; loads go first, so that a long split never makes a bucket late.
   * Stops loading once `limit` records were handed out (a backlog after downtime is loaded as it
   * drains). Returns whether work was left for later.
   */
  ripen(now: number, limit: number, load: (r: DelayedRecord) => void, deadline = Infinity): boolean {
    for (let b = this.nextRipe(); b !== undefined && b.ripeAt <= now; b = this.nextRipe()) {
      this.ripening.pop();
      if (b.level === 0) {
        b.opened = b.loading = true;
        this.loading.push(b);
      } else {
        b.splitting = true;
        this.splitting.push(b);
      }
    }
    let handed = 0;
    for (;;) {
      let list: Bucket[];
      if (this.loading.length !== 0 && handed < limit) list = this.loading;
      else if (this.splitting.length !== 0) list = this.splitting;
      else break;
      const b = list[0];
      if (b.dropped) {
        list.shift();
        continue;
      }
      if (list === this.loading) handed += this.loadStep(b, load);
      if (list === this.loading ? !b.loading : this.splitStep(b, load)) list.shift();
      const t = performance.now();
      if (t >= deadline && (b.start > now || t >= deadline + OVERDUE_GRACE_MS)) break;
    }
    return this.loading.length !== 0 || this.splitting.length !== 0 || (this.nextRipe()?.ripeAt ?? Infinity) <= now;
  }

  private record(b: Bucket, m: StoredMessage): DelayedRecord {
    return { due: m.expiresAt, seq: m.seq, persistent: (m.flags & FLAG_PERSISTENT) !== 0 || !this.opts.durable,
      data: m.data, propsEnd: m.propsEnd, bucket: b, segment: m.segment };
  }

  /** Reads up to STEP records of a level-0 bucket into memory (`loading` ends once all are); returns how many. */
  private loadStep(b: Bucket, load: (r: DelayedRecord) => void): number {
    const batch: StoredMessage[] = [];
    b.log.readPaged(STEP, Infinity, batch);
    let n = 0;
    for (const m of batch) {
      if (b.cancelled?.has(m.seq)) continue;
      load(this.record(b, m));
      n++;
    }
    if (batch.length === STEP && b.log.paging) return n;
    b.loading = false;
    b.log.releaseBuffers();
    if (b.live === 0) this.drop(b);
    return n;
  }

  /**
   * Moves up to STEP of a bucket's records one level down; when all are moved, deletes it and
   * returns true.
   */
  private splitStep(b: Bucket, load: (r: DelayedRecord) => void): boolean {
    const batch: StoredMessage[] = [];
    b.log.readPaged(STEP, Infinity, batch);
    for (const m of batch) {
      if (b.cancelled?.has(m.seq)) continue;
      const persistent = (m.flags & FLAG_PERSISTENT) !== 0;
      // Normally lands in an unopened bucket (children ripen after their parents), but a
      // level-0 bucket opened meanwhile takes the record into memory at once.
      const rec = this.append(b.level - 1, m.expiresAt, m.seq, persistent || !this.opts.durable, m.data, m.propsEnd);
      if (rec !== null) load(rec);
      if (persistent) b.movedPersistent = true;
    }
    if (batch.length === STEP && b.log.paging) return false;
    b.opened = true;
    for (const t of this.buckets.values()) if (!t.opened && t.level === b.level - 1) t.log.releaseBuffers();
    // The old files go once the copies are on disk: a crash in between then repeats a message
    // (its copy and the original come back) rather than losing it.
    this.forget(b);
    if (!b.movedPersistent) {
      b.log.destroy();
      return true;
    }
    this.pendingDestroy.add(b);
    this.opts.store.whenSynced(this.opts.store.pendingEpoch, () => {
      if (this.pendingDestroy.delete(b)) b.log.destroy();
    });
    return true;
  }

  /** A record was routed or cancelled. */
  settle(r: DelayedRecord): void {
    const b = r.bucket;
    if (b.dropped || this.destroyed) return;
    b.log.settle(r.segment, r.seq, r.persistent && this.opts.durable);
    b.live--;
    b.bytes -= r.data.length - r.propsEnd;
    this.count--;
    this.bytes -= r.data.length - r.propsEnd;
    // An emptied bucket goes (one still unopened was emptied by cancels).
    if (b.live === 0) this.drop(b);
  }

  private drop(b: Bucket): void {
    this.forget(b);
    b.log.destroy();
  }

  /**
   * Visits the pending records of unopened buckets, earliest bucket first (records within a
   * bucket in publish order), without changing anything; `visit` returns false to stop.
   * Opened buckets' records are in the scheduler's memory (a bucket being loaded: those read so far).
   */
  scanUnopened(visit: (r: DelayedRecord) => boolean): void {
    const list = [...this.buckets.values()].filter((b) => !b.opened || b.loading).sort((a, b) => a.start - b.start || b.level - a.level);
    for (const b of list) {
      let go = true;
      b.log.peekPaged((m) => {
        if (b.cancelled?.has(m.seq)) return true;
        go = visit(this.record(b, m));
        return go;
      });
      if (!go) return;
    }
  }

  /** Cancels a record of an unopened bucket (found by scanUnopened). */
  cancelUnopened(r: DelayedRecord): void {
    (r.bucket.cancelled ??= new Set()).add(r.seq);
    this.settle(r);
  }

  /** Bytes on disk. */
  diskSize(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.log.diskSize();
    return n;
  }

  /** The exchange was deleted: every pending message and file goes. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.buckets.values()) b.log.destroy();
    for (const b of this.pendingDestroy) b.log.destroy();
    this.pendingDestroy.clear();
    this.buckets.clear();
    this.bySlot.clear();
    this.ripening.clear();
    this.splitting.length = 0;
    this.loading.length = 0;
    this.count = this.bytes = 0;
    rmSync(this.opts.dir, { recursive: true, force: true });
  }

  /** Clean shutdown: everything flushed and synced, files kept (split buckets' old files go now). */
  close(): void {
    for (const b of this.buckets.values()) b.log.close();
    for (const b of this.pendingDestroy) b.log.destroy();
    this.pendingDestroy.clear();
    this.destroyed = true;
  }
}
