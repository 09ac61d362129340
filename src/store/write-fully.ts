// writeSync may write less than asked (a full disk, a signal): keep going until it is all out.
import { writeSync } from 'node:fs';

/** Writes b[0, length) to fd, at `position` onwards when given (else at the file offset). */
export function writeFully(fd: number, b: Buffer, length = b.length, position: number | null = null): void {
  let off = 0;
  while (off < length) off += writeSync(fd, b, off, length - off, position === null ? null : position + off);
}
