// Memory and disk alarms, as RabbitMQ's: above the memory high watermark, or below the disk free
// limit on the data directory's filesystem, publishers are blocked until the alarm clears.
// A write the store could not make (disk full between two checks, or space eaten by another
// process) raises the disk alarm at once; it clears only once there is room above the limit and
// the store has written what it held back.
import { statfs } from 'node:fs';
import type { Logger } from 'pino';
import type { Broker } from './broker.js';

export interface MonitorOptions {
  memoryHighWatermark: number;
  diskFreeLimit: number;
  dataDir: string;
  /** Check interval, ms. */
  intervalMs?: number;
  /** The message store's writes held back by a failure: the disk alarm stays up while any are. */
  store?: { readonly writesHeld: boolean; retryWrites(): boolean };
}

export class ResourceMonitor {
  private timer: NodeJS.Timeout | null = null;
  memoryUsed = 0;
  diskFree = Number.POSITIVE_INFINITY;

  constructor(private readonly broker: Broker, private readonly opts: MonitorOptions, private readonly log: Logger) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** A write to the data directory failed: block publishers now rather than at the next check. */
  diskWriteFailed(): void {
    this.set('disk', true, { free: this.diskFree, limit: this.opts.diskFreeLimit });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    this.memoryUsed = process.memoryUsage.rss();
    this.set('memory', this.memoryUsed > this.opts.memoryHighWatermark,
      { used: this.memoryUsed, limit: this.opts.memoryHighWatermark });
    {
      statfs(this.opts.dataDir, (err, s) => {
        if (err) return;
        this.diskFree = s.bavail * s.bsize;
        const low = this.diskFree < this.opts.diskFreeLimit;
        const store = this.opts.store;
        // With room again, the store writes what it held; the alarm waits for that to succeed.
        const held = store !== undefined && store.writesHeld && (low || !store.retryWrites());
        this.set('disk', low || held, { free: this.diskFree, limit: this.opts.diskFreeLimit });
      });
    }
  }

  private set(resource: 'memory' | 'disk', on: boolean, detail: Record<string, number>): void {
    if (on === this.broker.alarms.has(resource)) return;
    if (on) {
      this.log.warn(detail, `${resource} resource limit alarm set: publishers are blocked until it clears`
        + (resource === 'memory' ? ' (consume messages or raise the memory high watermark)' : ' (free disk space or lower the disk free limit)'));
    } else {
      this.log.warn(detail, `${resource} resource limit alarm cleared: publishers may continue`);
    }
    this.broker.setAlarm(resource, on);
  }
}
