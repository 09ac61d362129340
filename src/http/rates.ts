// Rate history of one object: the values of its k counters at the sampler's last ticks, in a
// ring, and RabbitMQ's `X_details` built from it: {rate} always, and {samples, avg, avg_rate}
// when the request asks for a history (lengths_age/lengths_incr, msg_rates_age/..., data_rates_age/...).
// An object whose counters never changed keeps only its current values (no ring): at 100k idle
// queues that is the difference between a few MB and a few hundred.
import type { Query } from './paging.js';

/** The sampler's clock: when each of the last ticks happened (shared by every track). */
export class TickClock {
  readonly times: Float64Array;
  /** Ticks so far; tick t lives in slot t % capacity. */
  count = 0;

  constructor(readonly capacity: number) {
    this.times = new Float64Array(capacity);
  }

  advance(now: number): number {
    this.times[this.count % this.capacity] = now;
    return this.count++;
  }

  /** The time of tick `t`, or NaN when it is older than the ring holds. */
  timeOf(t: number): number {
    return t < 0 || t < this.count - this.capacity || t >= this.count ? NaN : this.times[t % this.capacity];
  }
}

export class Track {
  /** The values at the last tick this object was sampled. */
  readonly current: Float64Array;
  /** Values per tick, [slot * k + metric]; null until some value changed. */
  private ring: Float64Array | null = null;
  /** The last tick written (current holds its values). */
  lastTick = -1;
  /** Mark of the sampler's sweep: objects not seen in a pass are forgotten. */
  seen = 0;
  /** When a value last changed (ms since the epoch): RabbitMQ's idle_since. */
  changedAt = 0;

  constructor(readonly k: number, private readonly capacity: number) {
    this.current = new Float64Array(k);
  }

  /** Records the values (read through `get`) at tick `tick`, taken at `now`. */
  record(tick: number, now: number, get: (i: number) => number): void {
    const k = this.k;
    const cur = this.current;
    let changed = this.lastTick < 0;
    for (let i = 0; i < k; i++) {
      const v = get(i);
      if (v !== cur[i]) changed = true;
    }
    if (changed) this.changedAt = now;
    if (changed && this.ring === null && this.lastTick >= 0) {
      // First change: everything before was constant at `current`.
      this.ring = new Float64Array(k * this.capacity);
      for (let s = 0; s < this.capacity; s++) this.ring.set(cur, s * k);
    }
    for (let i = 0; i < k; i++) cur[i] = get(i);
    if (this.ring !== null) {
      const base = (tick % this.capacity) * k;
      // Ticks skipped (object not sampled) repeat the last values.
      for (let t = Math.max(this.lastTick + 1, tick - this.capacity + 1); t < tick; t++) {
        this.ring.copyWithin((t % this.capacity) * k, (this.lastTick % this.capacity) * k, (this.lastTick % this.capacity) * k + k);
      }
      this.ring.set(cur, base);
    }
    this.lastTick = tick;
  }

  /** The value of `metric` at tick `t` (the oldest known when `t` is older than the ring). */
  valueAt(metric: number, t: number): number {
    if (this.ring === null || t >= this.lastTick) return this.current[metric];
    const oldest = this.lastTick - this.capacity + 1;
    return this.ring[(Math.max(t, oldest, 0) % this.capacity) * this.k + metric];
  }

  /** Per second, between the last two ticks. */
  rate(metric: number, clock: TickClock): number {
    const t = this.lastTick;
    if (this.ring === null || t < 1) return 0;
    const dt = clock.timeOf(t) - clock.timeOf(t - 1);
    if (!(dt > 0)) return 0;
    return ((this.valueAt(metric, t) - this.valueAt(metric, t - 1)) * 1000) / dt;
  }
}

/** What history a request asks for, per kind of figure (RabbitMQ's *_age/*_incr parameters, in seconds). */
export interface HistoryRequest {
  lengths: { age: number; incr: number } | null;
  msgRates: { age: number; incr: number } | null;
  dataRates: { age: number; incr: number } | null;
}

export function historyRequest(q: Query): HistoryRequest {
  const one = (prefix: string) => {
    const age = Number(q[`${prefix}_age`]);
    const incr = Number(q[`${prefix}_incr`]);
    if (!(age > 0) || !(incr > 0)) return null;
    return { age, incr };
  };
  return { lengths: one('lengths'), msgRates: one('msg_rates'), dataRates: one('data_rates') };
}

export const NO_HISTORY: HistoryRequest = { lengths: null, msgRates: null, dataRates: null };

/** RabbitMQ's `X_details` for one metric of a track. */
export function details(track: Track | undefined, metric: number, clock: TickClock,
  history: { age: number; incr: number } | null): Record<string, unknown> {
  if (track === undefined) return history === null ? { rate: 0 } : { avg: 0, avg_rate: 0, rate: 0, samples: [] };
  const rate = track.rate(metric, clock);
  if (history === null) return { rate };
  // Samples at incr boundaries, newest first, each the value at the last tick at or before it.
  const incrMs = history.incr * 1000;
  const now = clock.timeOf(track.lastTick);
  const samples: { sample: number; timestamp: number }[] = [];
  if (!Number.isNaN(now)) {
    let t = track.lastTick;
    const oldestTick = Math.max(0, clock.count - clock.capacity);
    for (let ts = Math.floor(now / incrMs) * incrMs; ts > now - history.age * 1000 - incrMs / 2 && samples.length <= history.age / history.incr; ts -= incrMs) {
      while (t > oldestTick && clock.timeOf(t) > ts) t--;
      if (clock.timeOf(t) > ts) break;
      samples.push({ sample: track.valueAt(metric, t), timestamp: ts });
    }
  }
  let avg = 0;
  let avgRate = 0;
  if (samples.length !== 0) {
    avg = samples.reduce((s, x) => s + x.sample, 0) / samples.length;
    const first = samples[0];
    const last = samples[samples.length - 1];
    const span = (first.timestamp - last.timestamp) / 1000;
    avgRate = span > 0 ? (first.sample - last.sample) / span : 0;
  }
  return { avg, avg_rate: avgRate, rate, samples };
}

/** Adds `name` and `name_details` for each metric to `out`. */
export function withDetails(out: Record<string, unknown>, names: readonly string[], values: ArrayLike<number>,
  track: Track | undefined, clock: TickClock, history: { age: number; incr: number } | null, metricOffset = 0): void {
  for (let i = 0; i < names.length; i++) {
    out[names[i]] = values[i];
    out[`${names[i]}_details`] = details(track, metricOffset + i, clock, history);
  }
}
