// The consumer: mails each registered user, and on a failed send counts the failure in the
// ledger and retries later, with a delay that doubles each time, until the ledger row is done.
import type amqp from 'amqplib';
import type { Logger } from 'pino';
import type { Broker } from './broker.js';
import type { Config } from './config.js';
import type { Db } from './db.js';
import type { Mailer } from './mailer.js';

export interface ConsumerDeps {
  config: Config;
  db: Db;
  mailer: Mailer;
  broker: Broker;
  log: Logger;
}

/** Delay before the retry that follows the n-th failed send: FIRST_DELAY_MS, doubling. */
export function retryDelay(firstDelayMs: number, failures: number): number {
  return firstDelayMs * 2 ** (failures - 1);
}

/** Starts one consumer (prefetch 1) on the connection; called again after every reconnect. */
export function startConsumer(deps: ConsumerDeps): (conn: amqp.ChannelModel) => Promise<void> {
  return async (conn) => {
    const ch = await conn.createChannel();
    ch.on('error', (err: Error) => deps.log.warn({ err: err.message }, 'consumer channel error'));
    await ch.prefetch(1);
    await ch.consume(deps.config.queue, (msg) => {
      if (msg) void handle(deps, ch, msg);
    }, { noAck: false });
    deps.log.info({ queue: deps.config.queue }, 'consumer started');
  };
}

async function handle(deps: ConsumerDeps, ch: amqp.Channel, msg: amqp.ConsumeMessage): Promise<void> {
  const { config, db, mailer, log } = deps;
  const userId = Number(msg.content.toString());
  const broker = config.retryMode === 'broker';
  const attempt = broker ? Number(msg.properties.headers?.['x-delivery-count'] ?? 0) + 1 : undefined;
  try {
    const user = Number.isInteger(userId) ? await db.getUser(userId) : undefined;
    if (!user) {
      log.error({ body: msg.content.toString() }, 'message for an unknown user dropped');
      ch.ack(msg);
      return;
    }
    const before = await db.getLedger(userId);
    if (before?.isdone) { // a redelivery after we gave up: never mail past the limit
      giveUp(deps, ch, msg, userId, before.notifynum);
      return;
    }
    log.info({ userId, attempt, redelivered: msg.fields.redelivered }, 'sending welcome mail');
    try {
      await mailer.sendWelcome(user);
    } catch (err) {
      const row = await db.recordFailure(userId);
      log.warn({ userId, failures: row.notifynum, err: (err as Error).message }, 'welcome mail failed');
      if (row.isdone) giveUp(deps, ch, msg, userId, row.notifynum);
      else if (broker) ch.nack(msg, false, true); // the queue holds it back, doubling each time
      else await republish(deps, ch, msg, userId, row.notifynum);
      return;
    }
    ch.ack(msg);
    log.info({ userId, email: user.email }, 'welcome mail sent');
  } catch (err) {
    // database or broker trouble: put the message back (after a pause, not in a tight loop)
    log.error({ userId, err: (err as Error).message }, 'could not process message, requeueing');
    setTimeout(() => { try { ch.nack(msg, false, true); } catch { /* channel gone: redelivered anyway */ } }, 1000);
  }
}

/**
 * RETRY_MODE=republish: publish a copy with x-delay doubled and drop the original. The delay
 * comes from the failure count, not from the message: the broker hands x-delay out negated.
 * The copy is confirmed before the original is rejected, so a crash in between can only
 * duplicate, never lose.
 */
async function republish(deps: ConsumerDeps, ch: amqp.Channel, msg: amqp.ConsumeMessage, userId: number, failures: number): Promise<void> {
  const delay = retryDelay(deps.config.firstDelayMs, failures);
  const publishedAt = Date.now();
  await deps.broker.publish(userId, delay, { 'x-failures': failures }); // for whoever inspects the queue
  ch.reject(msg, false);
  deps.log.info({ userId, failures, delayMs: delay, publishedAt }, 'retry scheduled');
}

function giveUp(deps: ConsumerDeps, ch: amqp.Channel, msg: amqp.ConsumeMessage, userId: number, failures: number): void {
  if (deps.config.retryMode === 'broker') {
    ch.nack(msg, false, false); // into the dead-letter queue, where the service logs it
  } else {
    ch.ack(msg);
    deps.log.error({ userId, failures }, 'giving up: user will not be mailed');
  }
}

/** RETRY_MODE=broker: logs the messages the queue gave up on (dead-lettered) and drops them. */
export function startDeadLetterLogger(deps: ConsumerDeps): (conn: amqp.ChannelModel) => Promise<void> {
  return async (conn) => {
    const ch = await conn.createChannel();
    await ch.consume(deps.config.deadLetterQueue, (msg) => {
      if (!msg) return;
      const death = (msg.properties.headers?.['x-death'] as Array<{ reason?: string }> | undefined)?.[0];
      deps.log.error({ userId: Number(msg.content.toString()), reason: death?.reason },
        'giving up: user will not be mailed (dead-lettered)');
      ch.ack(msg);
    }, { noAck: false });
  };
}
