// Broker-wide counters the Prometheus endpoint reads, kept as plain integers bumped when objects
// come and go, at logins and when messages are dead-lettered; never on the publish/deliver path.

/** Object churn since start, as RabbitMQ's connection_churn_metrics. */
export class ChurnCounters {
  connectionsOpened = 0;
  connectionsClosed = 0;
  channelsOpened = 0;
  channelsClosed = 0;
  /** queue.declare calls that were not passive (whether or not the queue existed). */
  queuesDeclared = 0;
  queuesCreated = 0;
  /** Queues deleted for any reason: delete, auto-delete, exclusive owner gone, vhost deleted. */
  queuesDeleted = 0;
}

/** AMQP logins, as RabbitMQ's auth_attempt_metrics. */
export class AuthCounters {
  attempts = 0;
  succeeded = 0;
  failed = 0;
}

/** Messages republished to a dead-letter exchange, by reason (RabbitMQ's at_most_once strategy). */
export class DeadLetterCounters {
  rejected = 0;
  expired = 0;
  maxlen = 0;
  delivery_limit = 0;
}
