// The data directory's own bookkeeping: its format version (a newer format is refused rather
// than misread), a lock so two brokers never share it, and a marker of clean shutdown.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FORMAT_VERSION = 1;
const VERSION_FILE = 'VERSION';
const LOCK_FILE = 'warren.lock';
const CLEAN_FILE = 'clean-shutdown';

export class DataDirError extends Error {}

export interface DataDirState {
  /** The directory held data from an earlier run. */
  existed: boolean;
  /** That run ended without a clean shutdown (crash, kill -9). */
  unclean: boolean;
  /** What the last clean shutdown recorded (closeDataDir's `extra`). */
  cleanInfo: Record<string, unknown>;
}

export function openDataDir(dir: string): DataDirState {
  mkdirSync(dir, { recursive: true });
  const versionPath = join(dir, VERSION_FILE);
  const existed = existsSync(versionPath);
  if (existed) {
    let format: number;
    try {
      format = (JSON.parse(readFileSync(versionPath, 'utf8')) as { format: number }).format;
    } catch {
      throw new DataDirError(`${versionPath} is unreadable; it should hold {"format": ${FORMAT_VERSION}}. Restore it or use another --data-dir.`);
    }
    if (!Number.isInteger(format) || format > FORMAT_VERSION) {
      throw new DataDirError(`data directory ${dir} has format ${format}, but this Warren reads format ${FORMAT_VERSION} `
        + 'or older. Run a newer Warren, or point --data-dir elsewhere.');
    }
  } else {
    writeFileSync(versionPath, JSON.stringify({ format: FORMAT_VERSION, product: 'warren' }) + '\n');
  }
  lock(dir);
  const cleanPath = join(dir, CLEAN_FILE);
  const unclean = existed && !existsSync(cleanPath);
  let cleanInfo: Record<string, unknown> = {};
  if (!unclean && existed) {
    try {
      cleanInfo = JSON.parse(readFileSync(cleanPath, 'utf8')) as Record<string, unknown>;
    } catch {
      cleanInfo = {};
    }
  }
  rmSync(cleanPath, { force: true });
  return { existed, unclean, cleanInfo };
}

function lock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) {
      throw new DataDirError(`data directory ${dir} is in use by another Warren (pid ${pid}). Stop it, or use another --data-dir.`);
    }
  }
  writeFileSync(path, String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Marks a clean shutdown and releases the lock. Returns false when the marker could not be written
 * (a full disk): then there is none, and the next start recovers as after a crash, the safe side.
 */
export function closeDataDir(dir: string, extra: Record<string, unknown> = {}): boolean {
  let marked = true;
  try {
    writeFileSync(join(dir, CLEAN_FILE), JSON.stringify({ at: new Date().toISOString(), ...extra }));
  } catch {
    rmSync(join(dir, CLEAN_FILE), { force: true });
    marked = false;
  }
  releaseDataDir(dir);
  return marked;
}

/**
 * Releases the lock without marking a clean shutdown: the store could not write everything, so
 * the next start treats the data as after a crash (checks every record, redelivers what it finds).
 */
export function releaseDataDir(dir: string): void {
  rmSync(join(dir, LOCK_FILE), { force: true });
}

/** A start that failed before serving anything: put back the state it found, release the lock. */
export function abandonDataDir(dir: string, state: DataDirState): void {
  if (state.existed && !state.unclean) writeFileSync(join(dir, CLEAN_FILE), JSON.stringify(state.cleanInfo));
  releaseDataDir(dir);
}

const CLUSTER_ID_FILE = 'cluster-id';

/**
 * The node's permanent cluster id (RabbitMQ's rabbitmq_cluster_permanent_id): made once, kept in
 * the data directory, so it survives restarts and renames of the cluster.
 */
export function permanentClusterId(dir: string, fresh: () => string): string {
  const path = join(dir, CLUSTER_ID_FILE);
  if (existsSync(path)) {
    const id = readFileSync(path, 'utf8').trim();
    if (id !== '') return id;
  }
  const id = fresh();
  writeFileSync(path, id + '\n');
  return id;
}
