// What every connection of one listener shares: configuration, logger, server properties,
// the set of open connections and the output flusher.
import type { MessageCounters, MessageSizes } from './stats.js';
import type { Logger } from 'pino';
import type { FieldTable } from '../amqp/field-table.js';
import type { Connection } from './connection.js';
import type { Mechanisms } from './sasl.js';
import type { FailedLogins } from './failed-logins.js';
import type { AckTimeouts } from './ack-timeouts.js';

export interface ServerConfig {
  frameMax: number;
  channelMax: number;
  /** Heartbeat interval proposed to clients, seconds (0 = off). */
  heartbeat: number;
  handshakeTimeoutMs: number;
  /** Largest message body accepted, bytes. */
  maxMessageSize: number;
  /** Default ack timeout of deliveries, ms (RabbitMQ's consumer_timeout); 0: none. */
  consumerTimeout: number;
  /** Most connections served at once; null: no limit. */
  connectionMax: number | null;
}

/** Flushes connections' output once per turn of the event loop, after all input was handled. */
export class Flusher {
  private pending: Connection[] = [];
  private scheduled = false;
  /** Called before any connection writes to its socket (the store writes pending acks first). */
  beforeWrite: (() => void) | null = null;

  add(c: Connection): void {
    this.pending.push(c);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const list = this.pending;
    this.pending = [];
    for (let i = 0; i < list.length; i++) list[i].flush();
  };
}

/** A channel waiting for the store to sync before it can confirm. */
export interface SyncWaiter {
  /** Returns whether it still waits for a later epoch. */
  onSynced(epoch: number): boolean;
  /** Epochs `from`..`to` cannot be made durable: nack what waits for them. Returns whether it still waits. */
  onSyncFailed(from: number, to: number): boolean;
}

export interface ServerContext {
  config: ServerConfig;
  log: Logger;
  serverProperties: FieldTable;
  /** SASL mechanisms offered in connection.start (EXTERNAL on TLS connections only). */
  mechanisms: Mechanisms;
  connections: Set<Connection>;
  flusher: Flusher;
  syncWaiters: Set<SyncWaiter>;
  /** Checks channels' oldest unacked deliveries against their consumer timeout. */
  ackTimeouts: AckTimeouts;
  /** Asks the store to sync through `epoch` now (a confirm waits for it) rather than lazily. */
  requestSync(epoch: number): void;
  /** Sizes of every message published on this listener (rabbitmq_message_size_bytes). */
  messageSizes: MessageSizes;
  /** Message counters of the closed channels of a vhost (created on first use). */
  closedChannelStats(vhost: string): MessageCounters;
  /** Every vhost's closed-channel counters, deleted vhosts' included (global totals never go back). */
  closedChannels: ReadonlyMap<string, MessageCounters>;
  /** Where refused logins are logged (rate-limited); the management API's too. */
  failedLogins: FailedLogins;
  /** Channels consuming from amq.rabbitmq.reply-to, by their reply key. */
  directReply: Map<string, import('./direct-reply.js').DirectReply>;
}
