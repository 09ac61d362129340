// Object churn since start, as RabbitMQ's connection_churn_metrics: how many connections,
// channels and queues came and went. Bumped when objects open or close, never per message.
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
