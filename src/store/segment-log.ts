// One queue's messages on disk: append-only segment files of checksummed records (format in
// segment-format.ts), plus an ack file per segment listing the sequence numbers settled in it.
// A segment is deleted once nothing in it is live. A read cursor lets the queue page messages
// back in order; sealed segments get an index so that restarts need not read message bodies.
import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { putU64 } from '../amqp/bytes.js';
import {
  decodePayload, FLAG_PERSISTENT, HEADER, PAYLOAD_FIXED, readAcks, readRecord, type RecordInfo, Scanner, Segment,
  type StoredMessage, writeRecord,
} from './segment-format.js';
import { entryBodySize, entryFlags, entrySeq, entrySize, IndexBuilder, readIndex, type SegmentIndex } from './segment-index.js';
import { PartialWriteError, writeFully } from './write-fully.js';

export { FLAG_PERSISTENT, type StoredMessage } from './segment-format.js';
/** Roll over to a new segment beyond this size. */
export const SEGMENT_SIZE = 16 * 1024 * 1024;
/** An emptied current segment is truncated once it is at least this big. */
const TRUNCATE_EMPTY_AT = 1024 * 1024;

export interface RecoveryResult {
  /** Live messages loaded into memory, in order (at most the window asked for). */
  loaded: StoredMessage[];
  /** Live messages left on disk behind the read cursor. */
  paged: number;
  /** Bytes of the paged messages. */
  pagedBytes: number;
  nextSeq: number;
  /** Bytes dropped from torn or corrupt tails. */
  droppedBytes: number;
}

interface RecoveryState {
  result: RecoveryResult;
  window: number;
  windowBytes: number;
  loadedBytes: number;
}

/** Called by the log when it has buffered writes (the store flushes them at the end of the turn). */
export interface LogOwner {
  dirty(log: SegmentLog): void;
  /**
   * The log holds settles (acks) not yet written: the owner has `writeAcks` called before the
   * broker's next output, which may tell a client that they were processed.
   */
  acksPending?(log: SegmentLog): void;
  log: Logger;
}

/** Writing to a log failed (disk full, I/O error); what could not be written is kept to retry. */
export interface WriteFailure {
  err: NodeJS.ErrnoException;
  path: string;
}

export class SegmentLog {
  private readonly segments = new Map<number, Segment>();
  private writeSeg: Segment | null = null;
  private nextSegNo = 1;
  private buf = Buffer.allocUnsafe(64 * 1024);
  private bufLen = 0;
  /** A persistent record was appended since the last flush(): a confirm may wait on it. */
  private persistentAppended = false;
  /** Persistent bytes are in the write buffer (written by whichever flushWrites comes next). */
  private bufPersistent = false;
  /** Written but not yet fdatasync'ed persistent data: fds to sync (and close, if rolled over). */
  private unsynced: Segment | null = null;
  private rolledUnsynced: number[] = [];
  private acksDirty = false;
  /** Handed to the owner's acksPending since the last writeAcks. */
  private acksListed = false;
  /** Paging read cursor: next record to read back, or null when nothing is paged. */
  private cursorSeg: Segment | null = null;
  private cursorOff = 0;
  private readonly scanner = new Scanner();
  private destroyed = false;
  /** Index entries of the current write segment (durable logs only). */
  private readonly index: IndexBuilder | null;
  /**
   * The last write failed: records (from the write buffer) or acks wait for a retry, which the
   * store makes at its next flush. Null once everything is written.
   */
  writeFailure: WriteFailure | null = null;
  /** An fdatasync failed: what it covered may be lost, so nothing more is appended to that file. */
  private rollBeforeAppend = false;

  /** `indexed`: keep segment indexes so that restarts need not read message bodies. */
  constructor(readonly dir: string, private readonly owner: LogOwner, indexed = false) {
    this.index = indexed ? new IndexBuilder() : null;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      // A full disk may refuse the directory too: the first segment's open makes it, or fails.
      this.failed(err as NodeJS.ErrnoException, dir);
    }
  }

  // ----------------------------------------------------------------- writes

  /** Appends a record; returns the segment number that holds it. */
  append(seq: number, flags: number, expiresAt: number, data: Buffer, propsEnd: number): number {
    const len = PAYLOAD_FIXED + data.length;
    let seg = this.writeSeg;
    if (seg === null || (seg.size + HEADER + len > SEGMENT_SIZE && seg.size > 0) || this.rollBeforeAppend) seg = this.roll();
    this.reserve(HEADER + len);
    this.bufLen += writeRecord(this.buf, this.bufLen, seq, flags, expiresAt, data, propsEnd);
    seg.size += HEADER + len;
    seg.live++;
    this.index?.add(HEADER + len, flags, seq, data.length - propsEnd);
    if (flags & FLAG_PERSISTENT) {
      this.bufPersistent = true;
      this.persistentAppended = true;
    }
    this.owner.dirty(this);
    return seg.no;
  }

  /** The record `seq` in segment `segNo` is no longer needed. */
  settle(segNo: number, seq: number, persistent: boolean): void {
    const seg = this.segments.get(segNo);
    if (seg === undefined) return;
    seg.live--;
    // The ack is recorded even for the last live record: the file may stay (see emptied).
    if (persistent) {
      seg.pendingAcks.push(seq);
      this.acksDirty = true;
      this.owner.dirty(this);
      this.listAcks();
    }
    if (seg.live <= 0) this.emptied(seg);
  }

  /** Nothing in `seg` is live: delete it, or truncate it if it is the current one and big. */
  private emptied(seg: Segment): void {
    if (seg === this.writeSeg) {
      if (seg.size < TRUNCATE_EMPTY_AT || seg === this.cursorSeg) return;
      // Reuse the current segment: drop its buffered bytes and truncate it and its acks.
      seg.pendingAcks = [];
      this.bufLen = 0;
      this.bufPersistent = false;
      this.scanner.setTail(null);
      if (seg.fd >= 0) ftruncateSync(seg.fd, 0);
      seg.size = 0;
      this.index?.reset();
      this.scanner.reset();
      if (seg.ackFd >= 0) ftruncateSync(seg.ackFd, 0);
      return;
    }
    if (seg === this.cursorSeg) return;
    this.removeSegment(seg);
  }

  private removeSegment(seg: Segment): void {
    this.segments.delete(seg.no);
    this.scanner.reset();
    if (this.unsynced === seg) this.unsynced = null;
    if (seg.fd >= 0) {
      if (this.rolledUnsynced.includes(seg.fd)) this.rolledUnsynced = this.rolledUnsynced.filter((fd) => fd !== seg.fd);
      closeSync(seg.fd);
    }
    if (seg.ackFd >= 0) closeSync(seg.ackFd);
    seg.fd = seg.ackFd = -1;
    rmSync(seg.path, { force: true });
    rmSync(seg.ackPath, { force: true });
    if (this.index !== null) rmSync(seg.indexPath, { force: true });
  }

  private roll(): Segment {
    // Buffered bytes belong to the current file: while they cannot be written it keeps growing.
    if (!this.flushWrites()) return this.writeSeg!;
    this.rollBeforeAppend = false;
    const old = this.writeSeg;
    if (old !== null) this.seal(old);
    if (old !== null && old.fd >= 0) {
      // Keep the fd until the next sync covers what was written to it.
      if (this.unsynced === old) {
        this.rolledUnsynced.push(old.fd);
        this.unsynced = null;
      } else {
        closeSync(old.fd);
      }
      old.fd = -1;
      if (old.live <= 0 && old !== this.cursorSeg) this.removeSegment(old);
    }
    const no = this.nextSegNo++;
    const name = String(no).padStart(8, '0');
    const seg = new Segment(no, join(this.dir, `${name}.seg`), join(this.dir, `${name}.ack`));
    this.segments.set(no, seg);
    this.writeSeg = seg;
    // A full disk may refuse even a new file: flushWrites tries again with the records.
    try {
      this.openWriteSeg(seg);
    } catch (err) {
      this.failed(err as NodeJS.ErrnoException, seg.path);
    }
    return seg;
  }

  private openWriteSeg(seg: Segment): void {
    if (seg.fd >= 0) return;
    if (this.writeFailure !== null) mkdirSync(this.dir, { recursive: true });
    seg.fd = openSync(seg.path, 'w+'); // read back too, when paging catches up with writing
  }

  private failed(err: NodeJS.ErrnoException, path: string): void {
    this.writeFailure = { err, path };
  }

  /** The write segment is complete: write its index (if kept) for fast restarts. */
  private seal(seg: Segment): void {
    const ix = this.index;
    if (ix === null) return;
    try {
      if (seg.size > 0 && ix.count > 0 && this.segments.has(seg.no)) ix.write(seg.indexPath, seg.size);
    } catch (err) {
      // The index only speeds up restarts: without it the segment is scanned.
      this.owner.log.warn({ err, path: seg.indexPath }, 'could not write a segment index; a restart will scan the segment instead');
      rmSync(`${seg.indexPath}.tmp`, { force: true });
    }
    ix.reset();
  }

  private reserve(n: number): void {
    if (this.bufLen + n <= this.buf.length) return;
    if (this.bufLen > 0 && this.bufLen + n > 4 * 1024 * 1024 && this.writeFailure === null) this.flushWrites();
    if (n > this.buf.length - this.bufLen) {
      let size = this.buf.length * 2;
      while (size < this.bufLen + n) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.buf.copy(next, 0, 0, this.bufLen);
      this.buf = next;
    }
  }

  /**
   * Writes buffered records and acks to the files. Returns true when persistent records were
   * appended since the last flush (their confirms wait for the next sync round), whether they
   * were written now, earlier in this turn, or dropped unwritten because they were settled first.
   */
  flush(): boolean {
    if (this.flushWrites() && (!this.acksDirty || this.flushAcks())) this.writeFailure = null;
    const appended = this.persistentAppended;
    this.persistentAppended = false;
    return appended;
  }

  /** Writes what is buffered and gives big buffers back (a log that goes quiet for a while). */
  releaseBuffers(): void {
    this.flushWrites();
    if (this.buf.length > 64 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
    this.scanner.release();
  }

  /** Written persistent data awaits fdatasync. */
  get needsSync(): boolean {
    return this.unsynced !== null || this.rolledUnsynced.length !== 0;
  }

  /** Writes the buffered records; false when that failed (they stay buffered, see writeFailed). */
  private flushWrites(): boolean {
    if (this.bufLen === 0 || this.destroyed) return true;
    const seg = this.writeSeg!;
    // Explicit positions: the file may have been truncated for reuse since the last write.
    const filePos = seg.size - this.bufLen;
    try {
      this.openWriteSeg(seg);
      writeFully(seg.fd, this.buf, this.bufLen, filePos);
    } catch (err) {
      this.writeFailed(seg, filePos, err);
      return false;
    }
    this.bufLen = 0;
    this.scanner.setTail(null);
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
    if (this.bufPersistent) this.unsynced = seg;
    this.bufPersistent = false;
    return true;
  }

  /**
   * The records from `filePos` on could not be written. They stay buffered (queues count them as
   * stored, and paging reads them from the buffer) and are written again from `filePos` by the
   * next flush; a partial record written meanwhile is cut off now, and would be overwritten anyway.
   */
  private writeFailed(seg: Segment, filePos: number, err: unknown): void {
    this.failed(err instanceof PartialWriteError ? err.cause : err as NodeJS.ErrnoException, seg.path);
    this.scanner.reset();
    if (seg.fd < 0) return;
    try {
      ftruncateSync(seg.fd, filePos);
    } catch {
      // Recovery stops at the first record whose checksum fails, which a torn one does.
    }
  }

  private listAcks(): void {
    if (this.acksListed) return;
    this.acksListed = true;
    this.owner.acksPending?.(this);
  }

  /**
   * Writes the pending acks now, ahead of the store's flush at the end of the turn: called before
   * the broker sends anything (a reply after an ack is the client's proof that the ack was
   * processed, so it must not leave before the ack is written). Records still buffered are left
   * to the flush: an ack on disk for a record that is not is harmless. After a failed write the
   * store's flush and retries take over.
   */
  writeAcks(): void {
    this.acksListed = false;
    if (!this.acksDirty || this.destroyed || this.writeFailure !== null) return;
    this.flushAcks();
  }

  /** Writes settled sequence numbers to the ack files; false when a write failed (the rest stay pending). */
  private flushAcks(): boolean {
    this.acksDirty = false;
    for (const seg of this.segments.values()) {
      const acks = seg.pendingAcks;
      if (acks.length === 0) continue;
      seg.pendingAcks = [];
      const b = Buffer.allocUnsafe(acks.length * 8);
      for (let i = 0; i < acks.length; i++) putU64(b, i * 8, acks[i]);
      try {
        if (seg.ackFd < 0) seg.ackFd = openSync(seg.ackPath, 'a');
        writeFully(seg.ackFd, b);
      } catch (err) {
        this.ackWriteFailed(seg, acks, err);
        return false;
      }
    }
    return true;
  }

  /**
   * Keeps the acks that did not reach the file pending. A torn entry is cut off so that the next
   * append stays aligned. Until they are written, a restart redelivers those messages: never a loss.
   */
  private ackWriteFailed(seg: Segment, acks: number[], err: unknown): void {
    const written = err instanceof PartialWriteError ? err.written : 0;
    this.failed(err instanceof PartialWriteError ? err.cause : err as NodeJS.ErrnoException, seg.ackPath);
    seg.pendingAcks = written === 0 ? acks : acks.slice(written >>> 3);
    this.acksDirty = true;
    if (written % 8 === 0 || seg.ackFd < 0) return;
    try {
      ftruncateSync(seg.ackFd, fstatSync(seg.ackFd).size - (written % 8));
    } catch {
      // readAcks cuts a torn last entry at recovery.
    }
  }

  /** Fsyncs what was written; calls back when done. Returns false when there was nothing to sync. */
  sync(done: (err: NodeJS.ErrnoException | null) => void): boolean {
    const fds = this.rolledUnsynced;
    this.rolledUnsynced = [];
    const toClose = fds.slice();
    if (this.unsynced !== null && this.unsynced.fd >= 0) fds.push(this.unsynced.fd);
    this.unsynced = null;
    if (fds.length === 0) return false;
    let pending = fds.length;
    let firstErr: NodeJS.ErrnoException | null = null;
    for (const fd of fds) {
      fdatasync(fd, (err) => {
        if (err) this.rollBeforeAppend = true;
        if (err && !firstErr) firstErr = err;
        if (toClose.includes(fd)) closeSync(fd);
        if (--pending === 0) done(firstErr);
      });
    }
    return true;
  }

  // ------------------------------------------------------------------ paging

  /** Marks the next appended record as the first one paged out (not kept in memory). */
  startPaging(): void {
    if (this.cursorSeg !== null) return;
    let seg = this.writeSeg;
    if (seg === null || seg.size >= SEGMENT_SIZE) seg = this.roll();
    this.cursorSeg = seg;
    this.cursorOff = seg.size;
  }

  get paging(): boolean {
    return this.cursorSeg !== null;
  }

  /** The queue has read back everything it paged out: forget the cursor (and what it held). */
  stopPaging(): void {
    if (this.cursorSeg !== null) this.setCursor(null, 0);
  }

  /**
   * Reads up to `maxCount` live records (about `maxBytes`) from the cursor, skipping records that
   * are dead (from a previous run: transient or acked).
   */
  readPaged(maxCount: number, maxBytes: number, out: StoredMessage[]): void {
    let seg = this.cursorSeg;
    if (seg === null) return;
    this.readable(this.scanner);
    let bytes = 0;
    while (seg !== null && out.length < maxCount && bytes < maxBytes) {
      if (this.cursorOff >= seg.size) {
        seg = this.nextSegmentAfter(seg);
        this.setCursor(seg, 0);
        continue;
      }
      const rec = this.recordAt(seg, this.cursorOff, true);
      if (rec === null) {
        this.owner.log.error({ dir: this.dir, segment: seg.no, offset: this.cursorOff }, 'unreadable record while paging in; skipping the rest of the segment');
        seg = this.nextSegmentAfter(seg);
        this.setCursor(seg, 0);
        continue;
      }
      this.cursorOff += rec.size;
      // Dead records of an earlier run (transient, or acked) were never counted live: skip them.
      if (seg.recovered && (!(rec.flags & FLAG_PERSISTENT) || (seg.acked !== null && seg.acked.has(rec.seq)))) continue;
      out.push(this.decode(rec, seg.no));
      bytes += rec.bodySize;
    }
    // Caught up with the end of the log: nothing is paged any more.
    if (seg !== null && this.cursorOff >= seg.size && (seg === this.writeSeg || this.nextSegmentAfter(seg) === null)) {
      this.setCursor(null, 0);
    }
  }

  /**
   * Visits the live records behind the paging cursor without moving it: a read-only look at what
   * waits on disk (records settled in this run are the caller's to filter). Stops when `visit`
   * returns false.
   */
  peekPaged(visit: (m: StoredMessage) => boolean): void {
    if (this.cursorSeg === null) return;
    const sc = new Scanner();
    this.readable(sc);
    let seg: Segment | null = this.cursorSeg;
    let off = this.cursorOff;
    while (seg !== null) {
      const rec = off < seg.size ? readRecord(sc, seg, off, false) : null;
      if (rec === null) {
        seg = this.nextSegmentAfter(seg);
        off = 0;
        continue;
      }
      off += rec.size;
      if (seg.recovered && (!(rec.flags & FLAG_PERSISTENT) || (seg.acked?.has(rec.seq) ?? false))) continue;
      if (!visit(decodePayload(sc.buf.subarray(rec.at, rec.at + rec.len), seg.no))) return;
    }
  }

  /** Writes what is buffered, so reads see it; if that fails, `sc` reads it from the buffer. */
  private readable(sc: Scanner): void {
    if (this.flushWrites()) return;
    const seg = this.writeSeg!;
    sc.setTail(seg, seg.size - this.bufLen, this.buf);
  }

  private setCursor(seg: Segment | null, off: number): void {
    const old = this.cursorSeg;
    this.cursorSeg = seg;
    this.cursorOff = off;
    if (old !== null && old !== seg && old.live <= 0) this.emptied(old);
    if (old !== null && old !== seg) {
      old.acked = null;
      if (old.fd >= 0 && old !== this.writeSeg) {
        closeSync(old.fd);
        old.fd = -1;
      }
    }
  }

  private nextSegmentAfter(seg: Segment): Segment | null {
    let best: Segment | null = null;
    for (const s of this.segments.values()) if (s.no > seg.no && (best === null || s.no < best.no)) best = s;
    return best;
  }

  private recordAt(seg: Segment, off: number, verify: boolean): RecordInfo | null {
    return readRecord(this.scanner, seg, off, verify);
  }

  private decode(rec: RecordInfo, segment: number): StoredMessage {
    return decodePayload(this.scanner.buf.subarray(rec.at, rec.at + rec.len), segment);
  }

  /** Drops everything behind the cursor (purge): whole segments go, the cursor's tail is acked. */
  dropPaged(): void {
    const start = this.cursorSeg;
    if (start === null) return;
    this.readable(this.scanner);
    // Records after the cursor in its own segment.
    let off = this.cursorOff;
    while (off < start.size) {
      const rec = this.recordAt(start, off, false);
      if (rec === null) break;
      off += rec.size;
      const dead = start.recovered && (!(rec.flags & FLAG_PERSISTENT) || (start.acked?.has(rec.seq) ?? false));
      if (!dead) {
        start.live--;
        if (rec.flags & FLAG_PERSISTENT) start.pendingAcks.push(rec.seq);
      }
    }
    this.acksDirty = true;
    this.owner.dirty(this);
    this.listAcks();
    for (const s of [...this.segments.values()]) {
      if (s.no > start.no) {
        if (s === this.writeSeg) {
          s.live = 0;
          this.bufLen = 0;
          this.bufPersistent = false;
          this.writeSeg = null;
          if (this.unsynced === s) this.unsynced = null;
        }
        this.removeSegment(s);
      }
    }
    this.setCursor(null, 0);
    if (start.live <= 0 && this.segments.has(start.no)) this.emptied(start);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Reads back a log after a restart: live persistent records in order, the first `window` of
   * them returned, the rest left behind the read cursor. Torn or corrupt tails are cut off.
   * Checksums are verified for the records loaded, for the last segment (where a crash tears
   * writes), and everywhere when `verifyAll` (after an unclean shutdown); paging verifies the rest.
   */
  recover(window: number, windowBytes: number, verifyAll: boolean): RecoveryResult {
    const st: RecoveryState = {
      result: { loaded: [], paged: 0, pagedBytes: 0, nextSeq: 1, droppedBytes: 0 },
      window, windowBytes, loadedBytes: 0,
    };
    const nos = readdirSync(this.dir).filter((f) => f.endsWith('.seg')).map((f) => Number(f.slice(0, -4))).filter(Number.isInteger).sort((a, b) => a - b);
    for (const no of nos) {
      const name = String(no).padStart(8, '0');
      const seg = new Segment(no, join(this.dir, `${name}.seg`), join(this.dir, `${name}.ack`));
      seg.recovered = true;
      seg.acked = readAcks(seg.ackPath);
      this.segments.set(no, seg);
      this.nextSegNo = no + 1;
      seg.size = statSync(seg.path).size;
      seg.fd = openSync(seg.path, 'r+');
      const ix = this.index === null ? null : readIndex(seg.indexPath, seg.size);
      if (ix === null || !this.recoverIndexed(seg, ix, st)) {
        this.recoverScanned(seg, verifyAll || no === nos[nos.length - 1], st);
      }
      closeSync(seg.fd);
      seg.fd = -1;
      // Paging back needs the acks of every segment from the cursor on; the others are done.
      if (this.cursorSeg === null) seg.acked = null;
      if (seg.live === 0 && seg !== this.cursorSeg) this.removeSegment(seg);
    }
    // New records go to a fresh segment.
    this.writeSeg = null;
    return st.result;
  }

  /** Counts one live record: loaded into memory while the window has room, else left paged. */
  private recoverLive(seg: Segment, off: number, bodySize: number, st: RecoveryState, load: () => StoredMessage | null): boolean {
    seg.live++;
    const r = st.result;
    if (this.cursorSeg === null && r.loaded.length < st.window && st.loadedBytes < st.windowBytes) {
      const m = load();
      if (m === null) return false;
      r.loaded.push(m);
      st.loadedBytes += bodySize;
      return true;
    }
    if (this.cursorSeg === null) {
      this.cursorSeg = seg;
      this.cursorOff = off;
    }
    r.paged++;
    r.pagedBytes += bodySize;
    return true;
  }

  /** Reads a segment through its index, touching only the records loaded into memory. */
  private recoverIndexed(seg: Segment, ix: SegmentIndex, st: RecoveryState): boolean {
    const r = st.result;
    const before = { loaded: r.loaded.length, paged: r.paged, pagedBytes: r.pagedBytes, loadedBytes: st.loadedBytes, nextSeq: r.nextSeq, cursor: this.cursorSeg };
    let off = 0;
    for (let i = 0; i < ix.count; i++) {
      const size = entrySize(ix, i);
      const seq = entrySeq(ix, i);
      if (seq >= r.nextSeq) r.nextSeq = seq + 1;
      if ((entryFlags(ix, i) & FLAG_PERSISTENT) !== 0 && !seg.acked!.has(seq)) {
        const at = off;
        const ok = this.recoverLive(seg, off, entryBodySize(ix, i), st, () => {
          const rec = this.recordAt(seg, at, true);
          return rec === null || rec.seq !== seq ? null : this.decode(rec, seg.no);
        });
        if (!ok) {
          // The index and the segment disagree: forget what it said and scan the segment.
          this.owner.log.warn({ dir: this.dir, segment: seg.no }, 'segment index does not match its segment; scanning it');
          r.loaded.length = before.loaded;
          r.paged = before.paged;
          r.pagedBytes = before.pagedBytes;
          r.nextSeq = before.nextSeq;
          st.loadedBytes = before.loadedBytes;
          if (before.cursor === null) this.cursorSeg = null;
          seg.live = 0;
          return false;
        }
      }
      off += size;
    }
    return true;
  }

  /** Reads a segment record by record; a torn or corrupt record ends it (the file is cut there). */
  private recoverScanned(seg: Segment, verify: boolean, st: RecoveryState): void {
    const r = st.result;
    let off = 0;
    while (off < seg.size) {
      const loading = this.cursorSeg === null && r.loaded.length < st.window && st.loadedBytes < st.windowBytes;
      const rec = this.recordAt(seg, off, verify || loading);
      if (rec === null) {
        const dropped = seg.size - off;
        r.droppedBytes += dropped;
        this.owner.log.warn({ dir: this.dir, segment: seg.no, offset: off, droppedBytes: dropped },
          'torn or corrupt record at the end of a segment; dropping the rest of it');
        ftruncateSync(seg.fd, off);
        seg.size = off;
        this.scanner.reset();
        if (this.index !== null) rmSync(seg.indexPath, { force: true });
        return;
      }
      if (rec.seq >= r.nextSeq) r.nextSeq = rec.seq + 1;
      if ((rec.flags & FLAG_PERSISTENT) !== 0 && !seg.acked!.has(rec.seq)) {
        this.recoverLive(seg, off, rec.bodySize, st, () => this.decode(rec, seg.no));
      }
      off += rec.size;
    }
  }

  /** Closes files and removes the directory (the queue was deleted, or is transient). */
  destroy(): void {
    this.destroyed = true;
    this.writeFailure = null;
    for (const seg of this.segments.values()) {
      if (seg.fd >= 0) closeSync(seg.fd);
      if (seg.ackFd >= 0) closeSync(seg.ackFd);
    }
    for (const fd of this.rolledUnsynced) closeSync(fd);
    this.rolledUnsynced = [];
    this.segments.clear();
    this.unsynced = null;
    this.writeSeg = null;
    this.cursorSeg = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Flushes, syncs and closes files, keeping the data (clean shutdown). */
  close(): void {
    this.flush();
    if (this.writeFailure !== null) {
      const { err, path } = this.writeFailure;
      this.owner.log.error({ err, path, bytes: this.bufLen }, `shutting down with data that could not be written to ${path} (${err.code ?? err.message}): `
        + 'unconfirmed messages written since the disk filled are lost; acked deliveries not recorded come back as redeliveries');
    }
    if (this.writeSeg !== null && this.writeFailure === null) this.seal(this.writeSeg);
    for (const fd of this.rolledUnsynced) {
      this.syncAtClose(fd);
      closeSync(fd);
    }
    this.rolledUnsynced = [];
    for (const seg of this.segments.values()) {
      if (seg.fd >= 0) {
        if (seg === this.unsynced) this.syncAtClose(seg.fd);
        closeSync(seg.fd);
      }
      if (seg.ackFd >= 0) {
        this.syncAtClose(seg.ackFd);
        closeSync(seg.ackFd);
      }
      seg.fd = seg.ackFd = -1;
    }
    this.unsynced = null;
    this.destroyed = true;
  }

  private syncAtClose(fd: number): void {
    try {
      fdatasyncSync(fd);
    } catch (err) {
      // The shutdown goes on: the next start checks every record's checksum anyway.
      this.owner.log.error({ err, dir: this.dir }, 'fdatasync failed at shutdown; recent writes of this queue may be lost');
    }
  }

  /** Bytes in segment files (for the management API and tests). */
  diskSize(): number {
    let n = 0;
    for (const seg of this.segments.values()) n += seg.size;
    return n;
  }
}

