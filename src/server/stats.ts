// Message counters the hot path keeps per channel (plain increments, no allocation), in RabbitMQ's
// message_stats terms. The management API and the Prometheus endpoint sample them; a closing
// channel adds its counts to its vhost's totals, so vhost and global figures never go backwards.
export class MessageCounters {
  /** Messages published by the client (basic.publish). */
  publish = 0;
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

/** Connections and channels opened and closed (RabbitMQ's churn_rates), bumped once per open/close. */
export class ChurnCounters {
  connectionCreated = 0;
  connectionClosed = 0;
  channelCreated = 0;
  channelClosed = 0;
}
