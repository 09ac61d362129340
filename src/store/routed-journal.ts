// Ids of delayed records already routed to their queues but not yet settled: a routed record is
// settled only once its queue copies are fsync'ed, so that a power loss cannot lose it, and a
// process crash in between used to route it a second time after the restart. A crash of the
// process alone leaves the page cache, and with it every write(2), intact: so when the next start
// is on the same boot (the kernel's boot_id) these ids are skipped instead of routed again. After
// a reboot (maybe a power loss, which may have dropped the copies) the journal is ignored and
// the records are routed again: at least once, never lost.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

function bootId(): string {
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return '';
  }
}

export class RoutedJournal {
  private readonly fd: number;
  private readonly headerLen: number;
  private pos: number;
  private pending: number[] = [];
  /** Ids a crash on this boot left routed but unsettled: their queues hold the copies. */
  readonly recovered = new Set<number>();

  private constructor(private readonly path: string, boot: string) {
    if (existsSync(path)) {
      const buf = readFileSync(path);
      const nl = buf.indexOf(10);
      if (nl > 0 && buf.toString('utf8', 0, nl) === boot) {
        for (let p = nl + 1; p + 8 <= buf.length; p += 8) this.recovered.add(buf.readDoubleLE(p));
      }
    }
    const header = Buffer.from(`${boot}\n`);
    this.headerLen = header.length;
    this.fd = openSync(path, 'w');
    writeSync(this.fd, header, 0, header.length, 0);
    this.pos = header.length;
    // Still unsettled until they are routed (skipped) and settled again: keep them journaled.
    this.pending = [...this.recovered];
    this.write();
  }

  /** A journal in `path`, or null where the boot cannot be told (no /proc): records repeat as before. */
  static open(path: string): RoutedJournal | null {
    const boot = bootId();
    return boot === '' ? null : new RoutedJournal(path, boot);
  }

  add(seq: number): void {
    this.pending.push(seq);
  }

  get hasPending(): boolean {
    return this.pending.length !== 0;
  }

  /** Writes the ids added since the last call: call it only once their queue copies are written. */
  write(): void {
    const n = this.pending.length;
    if (n === 0) return;
    const buf = Buffer.allocUnsafe(n * 8);
    for (let i = 0; i < n; i++) buf.writeDoubleLE(this.pending[i], i * 8);
    this.pending.length = 0;
    try {
      writeSync(this.fd, buf, 0, buf.length, this.pos);
      this.pos += buf.length;
    } catch {
      // A full disk: those records may be routed again after a crash (at least once), never lost.
    }
  }

  /** Every routed record is settled (and those settles written): start over. */
  clear(): void {
    if (this.pos === this.headerLen) return;
    try {
      ftruncateSync(this.fd, this.headerLen);
      this.pos = this.headerLen;
    } catch {
      // Kept: at worst ids of settled records, which recovery no longer finds.
    }
  }

  /** `remove`: a clean shutdown settled everything, or the exchange is gone. */
  close(remove: boolean): void {
    closeSync(this.fd);
    if (remove) rmSync(this.path, { force: true });
  }
}
