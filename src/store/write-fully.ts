// writeSync may write less than asked (a full disk, a signal): keep going until it is all out.
import { writeSync } from 'node:fs';

/**
 * A write that failed part way (ENOSPC, EIO): `written` bytes did reach the file, so the caller
 * can cut them off (or keep the whole records among them) before trying again.
 */
export class PartialWriteError extends Error {
  readonly code: string | undefined;
  constructor(override readonly cause: NodeJS.ErrnoException, readonly written: number) {
    super(cause.message);
    this.code = cause.code;
  }
}

/** Writes b[0, length) to fd, at `position` onwards when given (else at the file offset). */
export function writeFully(fd: number, b: Buffer, length = b.length, position: number | null = null): void {
  let off = 0;
  try {
    while (off < length) off += writeSync(fd, b, off, length - off, position === null ? null : position + off);
  } catch (err) {
    throw new PartialWriteError(err as NodeJS.ErrnoException, off);
  }
}

/** Disk full or quota exceeded: space may come back, so the write is worth retrying. */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
