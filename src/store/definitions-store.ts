// Durable definitions (vhosts, users, permissions, topic permissions, runtime and global
// parameters, durable exchanges, queues and bindings) as a
// snapshot file plus a journal of changes. Each change is one checksummed journal line written
// before the client hears back; a torn last line is dropped at load. When the journal grows
// past the snapshot, a new snapshot is written (temp file, fsync, rename) and the journal emptied.
import { closeSync, existsSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { PartialWriteError, writeFully } from './write-fully.js';
import { RawField } from '../amqp/field-table.js';

/** Policies, operator policies (keyed vhost NUL name) and vhost limits (keyed by vhost). */
export type PolicyKind = 'policy' | 'operator_policy' | 'vhost_limits';
export const POLICY_KINDS: PolicyKind[] = ['policy', 'operator_policy', 'vhost_limits'];
export type Kind = 'vhost' | 'user' | 'permission' | 'topic_permission' | 'parameter' | 'global_parameter'
  | 'exchange' | 'queue' | 'binding' | PolicyKind;
export const KINDS: Kind[] = ['vhost', 'user', 'permission', 'topic_permission', 'parameter', 'global_parameter',
  'exchange', 'queue', 'binding', ...POLICY_KINDS];

export type DefinitionRecord = Record<string, unknown>;

interface JournalEntry {
  op: 'put' | 'del';
  kind: Kind;
  key: string;
  value?: DefinitionRecord;
}

const SNAPSHOT = 'definitions.json';
const JOURNAL = 'definitions.log';
const COMPACT_MIN = 2000;

/** JSON cannot hold every field-table value: bytes and 64-bit integers get a tagged form. */
function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return { $long: v.toString() };
  if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return { $bin: Buffer.from((v as { data: number[] }).data).toString('base64') };
  }
  return v;
}

function reviver(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.$long === 'string' && Object.keys(o).length === 1) return BigInt(o.$long);
    if (typeof o.$bin === 'string' && Object.keys(o).length === 1) return Buffer.from(o.$bin, 'base64');
    if ((o.$raw === 'F' || o.$raw === 'A') && typeof o.data === 'string' && Object.keys(o).length === 2) {
      return new RawField(o.$raw, Buffer.from(o.data, 'base64'));
    }
  }
  return v;
}

/** A change could not be written to the journal (disk full, I/O error): it was not made. */
export class DefinitionsWriteError extends Error {
  readonly code: string | undefined;
  constructor(override readonly cause: NodeJS.ErrnoException, readonly path: string) {
    super(`cannot write ${path}: ${cause.message}`);
    this.code = cause.code;
  }
}

export class DefinitionsStore {
  private readonly model = new Map<Kind, Map<string, DefinitionRecord>>(KINDS.map((k) => [k, new Map()]));
  private fd = -1;
  private journalEntries = 0;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Whether anything was found on disk at load (a fresh data directory has nothing). */
  existed = false;

  constructor(private readonly dir: string, private readonly log: Logger) {}

  /** Loads the snapshot and replays the journal. */
  load(): void {
    const snapPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapPath)) {
      this.existed = true;
      const snap = JSON.parse(readFileSync(snapPath, 'utf8'), reviver) as Record<string, [string, DefinitionRecord][]>;
      for (const kind of KINDS) for (const [key, value] of snap[kind] ?? []) this.model.get(kind)!.set(key, value);
    }
    const journalPath = join(this.dir, JOURNAL);
    let validEnd = 0;
    if (existsSync(journalPath)) {
      const text = readFileSync(journalPath);
      let pos = 0;
      while (pos < text.length) {
        const nl = text.indexOf(0x0a, pos);
        if (nl < 0) break;
        const line = text.subarray(pos, nl);
        const entry = parseLine(line);
        if (entry === null) break;
        this.apply(entry);
        this.journalEntries++;
        pos = nl + 1;
        validEnd = pos;
      }
      if (validEnd < text.length) {
        this.log.warn({ file: journalPath, droppedBytes: text.length - validEnd }, 'definitions journal has a torn or corrupt tail; dropping it');
      }
      if (this.journalEntries > 0) this.existed = true;
    }
    this.fd = openSync(journalPath, existsSync(journalPath) ? 'r+' : 'w');
    ftruncateSync(this.fd, validEnd);
    this.journalPos = validEnd;
  }

  private journalPos = 0;

  all(kind: Kind): DefinitionRecord[] {
    return [...this.model.get(kind)!.values()];
  }

  put(kind: Kind, key: string, value: DefinitionRecord): void {
    this.write({ op: 'put', kind, key, value });
  }

  del(kind: Kind, key: string): void {
    if (!this.model.get(kind)!.has(key)) return;
    this.write({ op: 'del', kind, key });
  }

  private apply(e: JournalEntry): void {
    const m = this.model.get(e.kind);
    if (!m) return;
    if (e.op === 'put') m.set(e.key, e.value!);
    else m.delete(e.key);
  }

  private write(e: JournalEntry): void {
    const json = JSON.stringify(e, replacer);
    const line = Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} ${json}\n`);
    try {
      writeFully(this.fd, line, line.length, this.journalPos);
    } catch (err) {
      this.writeFailed(err);
    }
    this.apply(e);
    this.journalPos += line.length;
    this.journalEntries++;
    this.dirty = true;
    // A declare alone (no message traffic to piggyback on) is synced shortly after.
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      this.sync(() => {});
    }, 200);
    this.syncTimer.unref();
    let size = 0;
    for (const m of this.model.values()) size += m.size;
    if (this.journalEntries > Math.max(COMPACT_MIN, size * 2)) this.compactOrWait();
  }

  /** The model is left as it was, a torn line is cut off (load would drop it anyway); the caller fails. */
  private writeFailed(err: unknown): never {
    const cause = err instanceof PartialWriteError ? err.cause : err as NodeJS.ErrnoException;
    const path = join(this.dir, JOURNAL);
    try {
      ftruncateSync(this.fd, this.journalPos);
    } catch {
      // The next write overwrites from journalPos anyway.
    }
    this.log.error({ err: cause, path }, `cannot write ${path} (${cause.code ?? cause.message}): the change to durable definitions `
      + 'was refused; free space on the data directory\'s filesystem (or enlarge the volume) and retry');
    throw new DefinitionsWriteError(cause, path);
  }

  /** The journal already holds every change: a snapshot that cannot be written now is tried again later. */
  private compactOrWait(): void {
    try {
      this.compact();
    } catch (err) {
      this.log.warn({ err }, 'could not write the definitions snapshot; the journal keeps the changes and a later change tries again');
      rmSync(join(this.dir, `${SNAPSHOT}.tmp`), { force: true });
    }
  }

  /** Rewrites the snapshot from the model and empties the journal. */
  compact(): void {
    const snap: Record<string, unknown> = { format: 1 };
    for (const kind of KINDS) snap[kind] = [...this.model.get(kind)!.entries()];
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeFully(fd, Buffer.from(JSON.stringify(snap, replacer)));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    fsyncDir(this.dir);
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.journalPos = 0;
    this.journalEntries = 0;
    this.dirty = false;
  }

  /** Fsyncs the journal if it changed; false when there was nothing to do. */
  sync(done: (err: NodeJS.ErrnoException | null) => void): boolean {
    if (!this.dirty || this.fd < 0) return false;
    this.dirty = false;
    fdatasync(this.fd, (err) => done(err));
    return true;
  }

  close(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch (err) {
        this.log.error({ err }, 'fsync of the definitions journal failed at shutdown; the last changes may be lost');
      }
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

function parseLine(line: Buffer): JournalEntry | null {
  if (line.length < 10 || line[8] !== 0x20) return null;
  const json = line.subarray(9);
  const crc = Number.parseInt(line.toString('latin1', 0, 8), 16);
  if (crc32(json) !== crc) return null;
  try {
    return JSON.parse(json.toString('utf8'), reviver) as JournalEntry;
  } catch {
    return null;
  }
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  }
}

export { replacer as definitionsReplacer, reviver as definitionsReviver };
