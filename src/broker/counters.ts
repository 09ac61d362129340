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

export type AuthProtocol = 'amqp091' | 'http';

export interface AuthTally {
  attempts: number;
  succeeded: number;
  failed: number;
}

/** One row of auth_attempt_detailed_metrics. */
export interface AuthSource extends AuthTally {
  remoteAddress: string;
  username: string;
  protocol: AuthProtocol;
}

/**
 * Most (remote address, user name, protocol) rows kept: a flood of made-up user names must not
 * grow the heap. Past it, the row seen least recently is dropped (the per-protocol totals keep
 * counting everything).
 */
const MAX_SOURCES = 1000;

const tally = (): AuthTally => ({ attempts: 0, succeeded: 0, failed: 0 });

/**
 * Logins (AMQP and management HTTP), as RabbitMQ's auth_attempt_metrics, and per source as its
 * auth_attempt_detailed_metrics (which RabbitMQ keeps only with track_auth_attempt_source; Warren
 * always keeps them, bounded).
 */
export class AuthCounters {
  readonly byProtocol: ReadonlyMap<AuthProtocol, AuthTally> = new Map([['amqp091', tally()], ['http', tally()]]);
  /** Least recently seen first. */
  readonly bySource = new Map<string, AuthSource>();

  record(protocol: AuthProtocol, remoteAddress: string, username: string, ok: boolean): void {
    const t = this.byProtocol.get(protocol)!;
    const key = `${protocol}\u0000${remoteAddress}\u0000${username}`;
    let source = this.bySource.get(key);
    if (source === undefined) {
      if (this.bySource.size >= MAX_SOURCES) this.bySource.delete(this.bySource.keys().next().value!);
      source = { remoteAddress, username, protocol, ...tally() };
    } else {
      this.bySource.delete(key);
    }
    this.bySource.set(key, source);
    for (const x of [t, source]) {
      x.attempts++;
      if (ok) x.succeeded++;
      else x.failed++;
    }
  }
}

/** Messages republished to a dead-letter exchange, by reason (RabbitMQ's at_most_once strategy). */
export class DeadLetterCounters {
  rejected = 0;
  expired = 0;
  maxlen = 0;
  delivery_limit = 0;
}
