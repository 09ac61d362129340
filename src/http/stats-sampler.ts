// Turns the counters the hot path keeps into rates: every WARREN_STATS_INTERVAL_MS (5 s by
// default, as RabbitMQ's collect_statistics_interval) it reads the counters of every channel,
// connection, queue and exchange once and records them in a short per-object history (see
// rates.ts). A tick is O(objects) of plain field reads, done in slices that yield to the event
// loop, so 100k queues never hold AMQP traffic up for more than a slice.
import type { Connection } from '../server/connection.js';
import type { Channel } from '../server/channel.js';
import type { MessageCounters } from '../server/stats.js';
import type { Exchange } from '../broker/exchange.js';
import type { Queue } from '../broker/queue.js';
import type { ManagementContext } from './context.js';
import { TickClock, Track } from './rates.js';

/** RabbitMQ's message_stats names for a channel's counters, in `counterValue` order. */
export const MESSAGE_STATS = ['publish', 'confirm', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'get_empty',
  'redeliver', 'ack', 'return_unroutable', 'drop_unroutable', 'deliver_get'] as const;

export function counterValue(c: MessageCounters, i: number): number {
  switch (i) {
    case 0: return c.publish;
    case 1: return c.confirm;
    case 2: return c.deliver;
    case 3: return c.deliverNoAck;
    case 4: return c.get;
    case 5: return c.getNoAck;
    case 6: return c.getEmpty;
    case 7: return c.redeliver;
    case 8: return c.ack;
    case 9: return c.returnUnroutable;
    case 10: return c.dropUnroutable;
    default: return c.deliver + c.deliverNoAck + c.get + c.getNoAck;
  }
}

export const QUEUE_STATS = ['publish', 'deliver', 'get', 'deliver_get', 'ack', 'redeliver'] as const;
export const QUEUE_LENGTHS = ['messages', 'messages_ready', 'messages_unacknowledged'] as const;

/** A queue's sampled figures, message_stats first then lengths. */
export function queueValue(q: Queue, i: number): number {
  switch (i) {
    case 0: return q.publishCount;
    case 1: return q.deliverCount - q.getCount;
    case 2: return q.getCount;
    case 3: return q.deliverCount;
    case 4: return q.ackCount;
    case 5: return q.redeliverCount;
    case 6: return q.messageCount + q.unackedCount;
    case 7: return q.messageCount;
    default: return q.unackedCount;
  }
}

export const EXCHANGE_STATS = ['publish_in', 'publish_out'] as const;
export const CONNECTION_STATS = ['recv_oct', 'send_oct'] as const;
export const CHURN = ['channel_closed', 'channel_created', 'connection_closed', 'connection_created',
  'queue_created', 'queue_declared', 'queue_deleted'] as const;

/** Message counters plus queue lengths: what a vhost and the whole broker are sampled for. */
export class Totals {
  readonly values = new Float64Array(MESSAGE_STATS.length + QUEUE_LENGTHS.length);
}

/** Queues sampled between yields to the event loop (a few ms each). */
const QUEUE_SLICE = 5_000;
/** Ticks kept per object (a minute at 5 s) and for vhosts and the broker (10 minutes, RabbitMQ's basic retention). */
const OBJECT_TICKS = 12;
const TOTAL_TICKS = 120;

export class StatsSampler {
  readonly clock = new TickClock(TOTAL_TICKS);
  /** Per-object tracks share the totals' clock; they keep fewer ticks. */
  readonly queues = new Map<Queue, Track>();
  readonly exchanges = new Map<Exchange, Track>();
  readonly channels = new Map<Channel, Track>();
  readonly connections = new Map<Connection, Track>();
  readonly vhosts = new Map<string, Track>();
  readonly overall = new Track(MESSAGE_STATS.length + QUEUE_LENGTHS.length, TOTAL_TICKS);
  readonly churn = new Track(CHURN.length, TOTAL_TICKS);
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  readonly intervalMs: number;

  constructor(private readonly ctx: ManagementContext, intervalMs?: number) {
    const env = Number(process.env.WARREN_STATS_INTERVAL_MS);
    this.intervalMs = intervalMs ?? (env > 0 ? env : 5000);
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** A vhost's per-second rate of a message_stats field or a queue length (messages, messages_ready, ...), 0 when unknown. */
  vhostRate(vhost: string, field: string): number {
    const tr = this.vhosts.get(vhost);
    if (tr === undefined) return 0;
    let i = (MESSAGE_STATS as readonly string[]).indexOf(field);
    if (i < 0) {
      const l = (QUEUE_LENGTHS as readonly string[]).indexOf(field);
      if (l < 0) return 0;
      i = MESSAGE_STATS.length + l;
    }
    return tr.rate(i, this.clock);
  }

  /** The message counters of a vhost now: open channels plus those closed before (never going backwards). */
  vhostCounters(vhost: string, out: Float64Array): void {
    out.fill(0);
    const add = (c: MessageCounters) => { for (let i = 0; i < MESSAGE_STATS.length; i++) out[i] += counterValue(c, i); };
    add(this.ctx.amqp.closedChannelStats(vhost));
    for (const conn of this.ctx.amqp.connections) {
      if (conn.vhost?.name !== vhost) continue;
      for (const ch of conn.channels.values()) if (!ch.closing) add(ch.stats);
    }
  }

  private async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const now = Date.now();
      const tick = this.clock.advance(now);
      const mark = tick + 1;
      this.sampleConnections(tick, now, mark);
      const perVhost = new Map<string, Float64Array>();
      const n = MESSAGE_STATS.length;
      for (const v of this.ctx.broker.vhosts.values()) {
        const t = new Float64Array(n + QUEUE_LENGTHS.length);
        this.vhostCounters(v.name, t);
        perVhost.set(v.name, t);
        for (const x of v.exchanges.values()) this.sample(this.exchanges, x, EXCHANGE_STATS.length + 1, OBJECT_TICKS, tick, now, mark, exchangeValue);
      }
      // Queues in slices: the lengths of a vhost are summed as its queues are sampled.
      let done = 0;
      for (const v of this.ctx.broker.vhosts.values()) {
        const t = perVhost.get(v.name)!;
        for (const q of v.queues.values()) {
          const tr = this.sample(this.queues, q, QUEUE_STATS.length + QUEUE_LENGTHS.length, OBJECT_TICKS, tick, now, mark, queueValue);
          t[n] += tr.current[6];
          t[n + 1] += tr.current[7];
          t[n + 2] += tr.current[8];
          if (++done % QUEUE_SLICE === 0) {
            await new Promise((r) => setImmediate(r));
            if (this.stopped) return;
          }
        }
      }
      const all = new Float64Array(n + QUEUE_LENGTHS.length);
      for (const [name, t] of perVhost) {
        let tr = this.vhosts.get(name);
        if (tr === undefined) this.vhosts.set(name, (tr = new Track(t.length, TOTAL_TICKS)));
        tr.seen = mark;
        tr.record(tick, now, (i) => t[i]);
        for (let i = 0; i < t.length; i++) all[i] += t[i];
      }
      // Vhosts deleted keep counting in the broker's totals through their closed channels' counts.
      for (const [name, c] of this.ctx.amqp.closedChannels) {
        if (!perVhost.has(name)) for (let i = 0; i < n; i++) all[i] += counterValue(c, i);
      }
      this.overall.record(tick, now, (i) => all[i]);
      const c = this.ctx.broker.churn;
      const churn = [c.channelsClosed, c.channelsOpened, c.connectionsClosed, c.connectionsOpened, c.queuesCreated, c.queuesDeclared, c.queuesDeleted];
      this.churn.record(tick, now, (i) => churn[i]);
      sweep(this.queues, mark);
      sweep(this.exchanges, mark);
      sweep(this.channels, mark);
      sweep(this.connections, mark);
      sweep(this.vhosts, mark);
    } catch (err) {
      this.ctx.log.error({ err }, 'stats sampling failed; this is a bug in Warren, please report it');
    } finally {
      this.running = false;
    }
  }

  private sampleConnections(tick: number, now: number, mark: number): void {
    for (const conn of this.ctx.amqp.connections) {
      this.sample(this.connections, conn, CONNECTION_STATS.length, OBJECT_TICKS, tick, now, mark, connectionValue);
      for (const ch of conn.channels.values()) {
        this.sample(this.channels, ch, MESSAGE_STATS.length, OBJECT_TICKS, tick, now, mark, channelValue);
      }
    }
  }

  private sample<T>(map: Map<T, Track>, o: T, k: number, cap: number, tick: number, now: number, mark: number,
    value: (o: T, i: number) => number): Track {
    let tr = map.get(o);
    if (tr === undefined) map.set(o, (tr = new Track(k, cap)));
    tr.seen = mark;
    tr.record(tick, now, (i) => value(o, i));
    return tr;
  }
}

function sweep<K>(map: Map<K, Track>, mark: number): void {
  for (const [k, t] of map) if (t.seen !== mark) map.delete(k);
}

function exchangeValue(x: Exchange, i: number): number {
  if (i === 0) return x.publishInCount;
  if (i === 1) return x.publishOutCount;
  return x.delays?.routedCount ?? 0;
}

function connectionValue(c: Connection, i: number): number {
  return i === 0 ? c.recvOct : c.sendOct;
}

function channelValue(ch: Channel, i: number): number {
  return counterValue(ch.stats, i);
}

const samplers = new WeakMap<ManagementContext, StatsSampler>();

/** The sampler of a management context (created and started on first use). */
export function samplerOf(ctx: ManagementContext): StatsSampler {
  let s = samplers.get(ctx);
  if (s === undefined) {
    s = new StatsSampler(ctx);
    samplers.set(ctx, s);
    s.start();
  }
  return s;
}
