// Byte copies and comparisons for the per-message path. Buffer.copy and Buffer.compare cross
// into C++ on every call, which costs more than the work itself for the few dozen bytes of a
// routing key or a small body; a plain loop is faster there, memcpy beyond.
const LOOP_MAX = 48;

/** Copies src[start, end) to dst at `at`; returns the number of bytes copied. */
export function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n > LOOP_MAX) return src.copy(dst, at, start, end);
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i];
  return n;
}

/** Whether a[aStart, aStart + n) equals b[bStart, bStart + n). */
export function bytesEqual(a: Buffer, aStart: number, b: Buffer, bStart: number, n: number): boolean {
  if (n > LOOP_MAX) return a.compare(b, bStart, bStart + n, aStart, aStart + n) === 0;
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** Big-endian u32 store without Buffer.writeUInt32BE's range checks (callers pass valid values). */
export function putU32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export function putU16(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}

/** Big-endian u64 from a number below 2^53. */
export function putU64(b: Buffer, at: number, v: number): void {
  putU32(b, at, Math.floor(v / 0x1_0000_0000));
  putU32(b, at + 4, v >>> 0);
}

/** Big-endian u64 as a number (exact below 2^53, which is all putU64 writes). */
export function getU64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);
}
