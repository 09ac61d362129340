// A sealed segment's index: one small entry per record (size, flags, seq, body size), so that a
// restart learns what a segment holds without reading its message bodies. Written when a segment
// is sealed and, for the current one, at a clean shutdown. It is a cache: it is used only when
// its checksum is right and it covers the segment file exactly; otherwise the segment is scanned.
//
// File: "WIX1" | u64 covered segment size | u32 entry count | u32 crc32(entries) | entries
// Entry: u32 record size | u8 flags | u64 seq | u32 body size
import { closeSync, openSync, readFileSync, renameSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { getU64, putU32, putU64 } from '../amqp/bytes.js';
import { writeFully } from './write-fully.js';

const MAGIC = 0x57495831; // "WIX1"
const HEADER = 20;
export const ENTRY = 17;

/** Index entries of the segment being written, kept as records are appended. */
export class IndexBuilder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  get count(): number {
    return this.len / ENTRY;
  }

  add(size: number, flags: number, seq: number, bodySize: number): void {
    if (this.len + ENTRY > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const b = this.buf;
    const p = this.len;
    putU32(b, p, size);
    b[p + 4] = flags;
    putU64(b, p + 5, seq);
    putU32(b, p + 13, bodySize);
    this.len = p + ENTRY;
  }

  reset(): void {
    this.len = 0;
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
  }

  /** Writes the index of a segment of `coveredSize` bytes (temp file, then rename). */
  write(path: string, coveredSize: number): void {
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(MAGIC, 0);
    putU64(header, 4, coveredSize);
    header.writeUInt32BE(this.count, 12);
    const entries = this.buf.subarray(0, this.len);
    header.writeUInt32BE(crc32(entries), 16);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeFully(fd, header);
      writeFully(fd, entries);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }
}

export interface SegmentIndex {
  count: number;
  entries: Buffer;
}

export function entrySize(ix: SegmentIndex, i: number): number {
  return ix.entries.readUInt32BE(i * ENTRY);
}

export function entryFlags(ix: SegmentIndex, i: number): number {
  return ix.entries[i * ENTRY + 4];
}

export function entrySeq(ix: SegmentIndex, i: number): number {
  return getU64(ix.entries, i * ENTRY + 5);
}

export function entryBodySize(ix: SegmentIndex, i: number): number {
  return ix.entries.readUInt32BE(i * ENTRY + 13);
}

/** The index of a segment file of `segmentSize` bytes, or null when absent, damaged or stale. */
export function readIndex(path: string, segmentSize: number): SegmentIndex | null {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return null;
  }
  if (b.length < HEADER || b.readUInt32BE(0) !== MAGIC) return null;
  const covered = getU64(b, 4);
  const count = b.readUInt32BE(12);
  if (covered !== segmentSize || b.length !== HEADER + count * ENTRY) return null;
  const entries = b.subarray(HEADER);
  if (crc32(entries) !== b.readUInt32BE(16)) return null;
  let total = 0;
  for (let i = 0; i < count; i++) total += entries.readUInt32BE(i * ENTRY);
  return total === segmentSize ? { count, entries } : null;
}
