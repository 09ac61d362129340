// The on-disk format of segment files: checksummed records, read front to back through one
// large buffer, and ack files of settled sequence numbers.
//
// Record: u32 payload length | u32 crc32(payload) | payload
// Payload: u8 flags | u64 seq | u64 expiresAt (ms, 0 = never) | u32 propsEnd | message bytes
// The message bytes are the broker's layout: exchange and routing key shortstrs, properties, body.
import { closeSync, ftruncateSync, openSync, readSync, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { getU64, putU32, putU64 } from '../amqp/bytes.js';

export const FLAG_PERSISTENT = 1;
export const HEADER = 8;
export const PAYLOAD_FIXED = 21;
const SCAN_CHUNK = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Writes one record at `p` of `b` (which has room); returns the record size. */
export function writeRecord(b: Buffer, p: number, seq: number, flags: number, expiresAt: number, data: Buffer, propsEnd: number): number {
  const len = PAYLOAD_FIXED + data.length;
  putU32(b, p, len);
  b[p + 8] = flags;
  putU64(b, p + 9, seq);
  putU64(b, p + 17, expiresAt);
  putU32(b, p + 25, propsEnd);
  data.copy(b, p + 29);
  putU32(b, p + 4, crc32(b.subarray(p + 8, p + 8 + len)));
  return HEADER + len;
}

/** One segment file and what is known of it. */
export class Segment {
  /** Records not yet settled. */
  live = 0;
  /** Bytes on disk plus bytes buffered for it. */
  size = 0;
  fd = -1;
  ackFd = -1;
  /** From a previous run: its transient records and those in `acked` are dead. */
  recovered = false;
  acked: Set<number> | null = null;
  pendingAcks: number[] = [];

  constructor(readonly no: number, readonly path: string, readonly ackPath: string) {}

  get indexPath(): string {
    return this.path.replace(/\.seg$/, '.idx');
  }
}

export interface StoredMessage {
  seq: number;
  flags: number;
  expiresAt: number;
  /** A copy of the message bytes. */
  data: Buffer;
  propsEnd: number;
  segment: number;
}

/** Reads segment files front to back through one large buffer: one syscall per megabyte. */
export class Scanner {
  /** Allocated on first read: many logs are never read back (or only once). */
  buf = EMPTY;
  private seg: Segment | null = null;
  private start = 0;
  private len = 0;
  /**
   * Bytes of `tailSeg` from `tailAt` on are not in its file yet but at the start of `tail`: a
   * write that failed (disk full) waits to be retried, and paging may catch up with it meanwhile.
   */
  private tailSeg: Segment | null = null;
  private tailAt = 0;
  private tail = EMPTY;

  /** Serves `seg`'s bytes from `at` on out of `buf` (null: everything is in the file). */
  setTail(seg: Segment | null, at = 0, buf = EMPTY): void {
    this.tailSeg = seg;
    this.tailAt = at;
    this.tail = buf;
  }

  /** Index in `buf` holding file bytes [off, off + n) of `seg`, reading as needed; -1 past the end. */
  at(seg: Segment, off: number, n: number): number {
    if (seg === this.seg && off >= this.start && off + n <= this.start + this.len) return off - this.start;
    if (off + n > seg.size) return -1;
    if (n > this.buf.length || this.buf.length < SCAN_CHUNK) this.buf = Buffer.allocUnsafe(Math.max(n + SCAN_CHUNK, SCAN_CHUNK));
    const want = Math.min(this.buf.length, seg.size - off);
    const inFile = seg === this.tailSeg ? Math.max(0, Math.min(want, this.tailAt - off)) : want;
    let got = 0;
    if (inFile > 0 && seg.fd < 0) seg.fd = openSync(seg.path, 'r');
    while (got < inFile) {
      const r = readSync(seg.fd, this.buf, got, inFile - got, off + got);
      if (r <= 0) break;
      got += r;
    }
    if (got === inFile && got < want && seg === this.tailSeg) {
      got += this.tail.copy(this.buf, got, off + got - this.tailAt, off + want - this.tailAt);
    }
    this.seg = seg;
    this.start = off;
    this.len = got;
    return got >= n ? 0 : -1;
  }

  /** Gives the read buffer back (until the next read). */
  release(): void {
    this.reset();
    this.setTail(null);
    this.buf = EMPTY;
  }

  /** Forget buffered bytes (the file was truncated or rewritten). */
  reset(): void {
    this.seg = null;
    this.len = 0;
  }
}

/** What a scan learns of one record without copying its message bytes. */
export interface RecordInfo {
  size: number;
  flags: number;
  seq: number;
  bodySize: number;
  /** Index of the payload in the scanner's buffer (valid until the next read). */
  at: number;
  len: number;
}

/** The record at `off` of `seg`, or null when it is torn, corrupt or past the end. */
export function readRecord(sc: Scanner, seg: Segment, off: number, verify: boolean): RecordInfo | null {
  let i = sc.at(seg, off, HEADER);
  if (i < 0) return null;
  const len = sc.buf.readUInt32BE(i);
  const crc = sc.buf.readUInt32BE(i + 4);
  if (len < PAYLOAD_FIXED || off + HEADER + len > seg.size) return null;
  i = sc.at(seg, off + HEADER, len);
  if (i < 0) return null;
  const b = sc.buf;
  if (verify && crc32(b.subarray(i, i + len)) !== crc) return null;
  const propsEnd = b.readUInt32BE(i + 17);
  return {
    size: HEADER + len,
    flags: b[i],
    seq: getU64(b, i + 1),
    bodySize: len - PAYLOAD_FIXED - propsEnd,
    at: i,
    len,
  };
}

export function decodePayload(p: Buffer, segment: number): StoredMessage {
  const flags = p[0];
  const seq = getU64(p, 1);
  const expiresAt = getU64(p, 9);
  const propsEnd = p.readUInt32BE(17);
  const data = Buffer.allocUnsafe(p.length - PAYLOAD_FIXED);
  p.copy(data, 0, PAYLOAD_FIXED);
  return { seq, flags, expiresAt, data, propsEnd, segment };
}

/** Reads an ack file; a torn last entry (a partial write) is cut off so later appends align. */
export function readAcks(path: string): Set<number> {
  const acked = new Set<number>();
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return acked;
  }
  try {
    const size = statSync(path).size;
    if (size % 8 !== 0) ftruncateSync(fd, size - (size % 8));
    const b = Buffer.allocUnsafe(Math.min(size, 8 * 1024 * 1024) || 8);
    let off = 0;
    while (off + 8 <= size) {
      const n = readSync(fd, b, 0, Math.min(b.length, size - off) & ~7, off);
      if (n < 8) break;
      for (let i = 0; i + 8 <= n; i += 8) acked.add(getU64(b, i));
      off += n & ~7;
    }
  } finally {
    closeSync(fd);
  }
  return acked;
}

