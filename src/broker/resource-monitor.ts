// Memory and disk alarms, as RabbitMQ's: above the memory high watermark, or below the disk free
// limit on the data directory's filesystem, publishers are blocked until the alarm clears.
import { statfs } from 'node:fs';
import type { Logger } from 'pino';
import type { Broker } from './broker.js';

export interface MonitorOptions {
  memoryHighWatermark: number;
  diskFreeLimit: number;
  dataDir: string;
  /** Check interval, ms. */
  intervalMs?: number;
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
        this.set('disk', this.diskFree < this.opts.diskFreeLimit, { free: this.diskFree, limit: this.opts.diskFreeLimit });
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
