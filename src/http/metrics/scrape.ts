// What one scrape reads from the broker, gathered once and shared by every series of the scrape:
// the lists of queues, channels, connections and exchanges (filtered by vhost where asked),
// the message counters summed over channels, and the node readings. Nothing here is kept
// between scrapes, so deleted objects disappear from the next one.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Exchange } from '../../broker/exchange.js';
import type { Queue } from '../../broker/queue.js';
import type { Channel } from '../../server/channel.js';
import type { Connection } from '../../server/connection.js';
import { plainAddress } from '../../server/listen.js';
import { MessageCounters } from '../../server/stats.js';
import type { ManagementContext } from '../context.js';
import { type NodeInfo, readNodeInfo } from './node-info.js';

/** Queues summed between two turns of the event loop. */
const QUEUE_SLICE = 10_000;

export type Labels = Record<string, string>;

/** An object of a per-object family with its labels, computed once per scrape. */
export interface Row<T> {
  labels: Labels;
  of: T;
  /** The labels as exposition text, filled in when first written. */
  text?: string;
}

/** A connection's name as RabbitMQ shows it: "client address:port -> server address:port". */
export function connectionName(c: Connection): string {
  return `${c.remote} -> ${plainAddress(c.socket.localAddress)}:${c.socket.localPort ?? ''}`;
}

/** A channel's name as RabbitMQ's management API shows it: "<connection name> (<channel number>)". */
export function channelName(ch: Channel): string {
  return `${connectionName(ch.conn)} (${ch.id})`;
}

export class Scrape {
  private queueRows: Row<Queue>[] | null = null;
  private channelRows: Row<Channel>[] | null = null;
  private connectionRows: Row<Connection>[] | null = null;
  private exchangeRows: Row<Exchange>[] | null = null;
  private totalsCache: MessageCounters | null = null;
  private nodeCache: NodeInfo | null = null;

  /** `vhosts`: only queues of these vhosts (RabbitMQ's vhost filter applies to queue families only). */
  constructor(readonly ctx: ManagementContext, readonly vhosts: ReadonlySet<string> | null = null) {}

  queues(): Row<Queue>[] {
    if (this.queueRows !== null) return this.queueRows;
    const rows: Row<Queue>[] = [];
    for (const v of this.ctx.broker.vhosts.values()) {
      if (this.vhosts !== null && !this.vhosts.has(v.name)) continue;
      for (const q of v.queues.values()) rows.push({ labels: { vhost: v.name, queue: q.name }, of: q });
    }
    return (this.queueRows = rows);
  }

  /**
   * Visits every queue without building per-object rows (the aggregated endpoint), yielding to
   * the event loop every few thousand queues (a queue deleted meanwhile is simply not visited).
   */
  async eachQueue(visit: (q: Queue) => void): Promise<void> {
    let n = 0;
    for (const v of this.ctx.broker.vhosts.values()) {
      if (this.vhosts !== null && !this.vhosts.has(v.name)) continue;
      for (const q of v.queues.values()) {
        visit(q);
        if (++n % QUEUE_SLICE === 0) await nextTurn();
      }
    }
  }

  channels(): Row<Channel>[] {
    if (this.channelRows !== null) return this.channelRows;
    const rows: Row<Channel>[] = [];
    for (const c of this.ctx.amqp.connections) {
      for (const ch of c.channels.values()) if (!ch.closing) rows.push({ labels: { channel: channelName(ch) }, of: ch });
    }
    return (this.channelRows = rows);
  }

  /** RabbitMQ labels a connection's series `channel` (its collector names any process that way). */
  connections(): Row<Connection>[] {
    if (this.connectionRows !== null) return this.connectionRows;
    const rows: Row<Connection>[] = [];
    for (const c of this.ctx.amqp.connections) rows.push({ labels: { channel: connectionName(c) }, of: c });
    return (this.connectionRows = rows);
  }

  exchanges(): Row<Exchange>[] {
    if (this.exchangeRows !== null) return this.exchangeRows;
    const rows: Row<Exchange>[] = [];
    for (const v of this.ctx.broker.vhosts.values()) {
      for (const x of v.exchanges.values()) rows.push({ labels: { vhost: v.name, exchange: x.name }, of: x });
    }
    return (this.exchangeRows = rows);
  }

  /** Message counters of every channel since start: open channels plus those closed (kept per vhost). */
  messageTotals(): MessageCounters {
    if (this.totalsCache !== null) return this.totalsCache;
    const t = new MessageCounters();
    for (const closed of this.ctx.amqp.closedChannels.values()) t.add(closed);
    for (const c of this.ctx.amqp.connections) for (const ch of c.channels.values()) if (!ch.closing) t.add(ch.stats);
    return (this.totalsCache = t);
  }

  /** Open channels that have published at least once (RabbitMQ's publishers gauge). */
  publishers(): number {
    let n = 0;
    for (const c of this.ctx.amqp.connections) for (const ch of c.channels.values()) if (!ch.closing && ch.stats.publish > 0) n++;
    return n;
  }

  node(): NodeInfo {
    return (this.nodeCache ??= readNodeInfo(this.ctx));
  }
}
