// tx.select mode: publishes and acks are held until tx.commit, dropped (acks returned to
// unacked) on tx.rollback.
import type { Exchange } from '../broker/exchange.js';
import type { Message } from '../broker/message.js';
import type { QueueEntry } from '../broker/queue.js';

export interface TxPublish {
  exchange: Exchange;
  msg: Message;
  mandatory: boolean;
  /** Names of the queues it was routed to when published; null: route at commit (default exchange). */
  queues: string[] | null;
}

export class Transaction {
  publishes: TxPublish[] = [];
  acks: QueueEntry[] = [];
  rejects: { entry: QueueEntry; requeue: boolean }[] = [];

  /** Returns what was pending and starts a new transaction. */
  take(): { publishes: TxPublish[]; acks: QueueEntry[]; rejects: { entry: QueueEntry; requeue: boolean }[] } {
    const out = { publishes: this.publishes, acks: this.acks, rejects: this.rejects };
    this.publishes = [];
    this.acks = [];
    this.rejects = [];
    return out;
  }
}
