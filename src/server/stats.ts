// Message counters the hot path keeps per channel (plain increments, no allocation), in RabbitMQ's
// message_stats terms. The management API and the Prometheus endpoint sample them; a closing
// channel adds its counts to its vhost's totals, so vhost and global figures never go backwards.
export class MessageCounters {
  /** Messages published by the client (basic.publish). */
  publish = 0;
  /** Of those, published on a channel in confirm mode (RabbitMQ's received_confirm). */
  receivedConfirm = 0;
  /** Publisher confirms sent (basic.ack to a publisher in confirm mode). */
  confirm = 0;
  /** Published messages routed to at least one queue (or held by a delayed exchange). */
  routed = 0;
  /** Deliveries to consumers with manual ack / with no-ack. */
  deliver = 0;
  deliverNoAck = 0;
  /** basic.get answered with a message, manual ack / no-ack; and answered empty. */
  get = 0;
  getNoAck = 0;
  getEmpty = 0;
  /** Deliveries and gets of messages delivered before. */
  redeliver = 0;
  /** Acks from consumers. */
  ack = 0;
  /** Unroutable messages returned (mandatory) / dropped. */
  returnUnroutable = 0;
  dropUnroutable = 0;

  add(o: MessageCounters): void {
    this.publish += o.publish;
    this.receivedConfirm += o.receivedConfirm;
    this.confirm += o.confirm;
    this.routed += o.routed;
    this.deliver += o.deliver;
    this.deliverNoAck += o.deliverNoAck;
    this.get += o.get;
    this.getNoAck += o.getNoAck;
    this.getEmpty += o.getEmpty;
    this.redeliver += o.redeliver;
    this.ack += o.ack;
    this.returnUnroutable += o.returnUnroutable;
    this.dropUnroutable += o.dropUnroutable;
  }
}

/** Upper bounds (bytes) of the message-size histogram's buckets, as rabbit_msg_size_metrics; a last bucket takes the rest. */
export const MESSAGE_SIZE_BOUNDS: readonly number[] = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000];

/**
 * Sizes of published message bodies, one count per bucket (not cumulative) and their sum. The
 * publish path calls observe() once per message: a few compares and two additions, no allocation.
 */
export class MessageSizes {
  readonly counts = new Float64Array(MESSAGE_SIZE_BOUNDS.length + 1);
  sum = 0;

  observe(size: number): void {
    this.sum += size;
    const i = size <= 100 ? 0 : size <= 1_000 ? 1 : size <= 10_000 ? 2 : size <= 100_000 ? 3 : size <= 1_000_000 ? 4
      : size <= 10_000_000 ? 5 : size <= 50_000_000 ? 6 : size <= 100_000_000 ? 7 : 8;
    this.counts[i]++;
  }
}
