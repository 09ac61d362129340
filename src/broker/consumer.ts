// A subscription of a channel to a queue. The queue decides who gets the next message; the
// channel (through DeliverySink) decides whether it can take one now and writes it out.
import type { FieldTable } from '../amqp/field-table.js';
import type { Queue, QueueEntry } from './queue.js';

/** Results of DeliverySink.readiness. */
export const READY = 0;
/** Prefetch window full, or the channel is paused by channel.flow. */
export const NO_CREDIT = 1;
/** The connection cannot write now (socket full): delivery is bound by the network. */
export const SOCKET_FULL = 2;

export interface DeliverySink {
  readiness(consumer: Consumer): number;
  /** SOCKET_FULL, yet the consumer may take a message that would otherwise expire now. */
  canOverfill(): boolean;
  deliver(consumer: Consumer, entry: QueueEntry): void;
  /** The queue went away (deleted, or its node of ownership): send basic.cancel. */
  cancelledByBroker(consumer: Consumer): void;
}

export class Consumer {
  /** Deliveries not yet acked (only counted when acks are expected). */
  unacked = 0;
  /** x-consumer-timeout given at basic.consume, ms; -1: the queue's or the server's. */
  timeout = -1;

  constructor(
    readonly tag: string,
    readonly queue: Queue,
    readonly sink: DeliverySink,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** x-priority: higher goes first while it has credit. */
    readonly priority: number,
    /** Per-consumer prefetch (basic.qos global=false at consume time); 0 = unlimited. */
    readonly prefetch: number,
    readonly args: FieldTable,
    /** The consumer tag as a shortstr, encoded once for every delivery. */
    readonly tagBytes: Buffer,
  ) {}
}
