// The broker connection: declares the topology, publishes with confirms and `mandatory`, and
// reconnects in the background after an outage (callers fail fast meanwhile, never hang).
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import type { Logger } from 'pino';
import type { Config } from './config.js';

/** The broker is unreachable or did not confirm in time: the caller should answer 503. */
export class BrokerUnavailable extends Error {}
/** The broker returned the message (no queue bound for it): it was not stored anywhere. */
export class Unroutable extends Error {}

const CONFIRM_TIMEOUT_MS = 5000;
const RECONNECT_MS = 1000;

type Setup = (conn: amqp.ChannelModel) => Promise<void>;

export class Broker {
  private conn: amqp.ChannelModel | null = null;
  private channel: amqp.ConfirmChannel | null = null;
  private readonly returned = new Set<string>();
  private readonly setups: Setup[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly config: Config, private readonly log: Logger) {}

  /** Runs `setup` (e.g. starting a consumer) on every (re)connection. */
  onConnect(setup: Setup): void {
    this.setups.push(setup);
  }

  get connected(): boolean {
    return this.channel !== null;
  }

  /** Connects once; on failure keeps retrying in the background and resolves anyway. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    let conn: amqp.ChannelModel | null = null;
    try {
      conn = await amqp.connect(this.config.amqpUrl);
      conn.on('error', (err: Error) => this.log.warn({ err: err.message }, 'broker connection error'));
      conn.on('close', () => this.lost(conn!));
      const ch = await conn.createConfirmChannel();
      ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'publish channel error'));
      ch.on('return', (msg: amqp.Message) => {
        const fields = msg.fields as unknown as { replyCode: number; replyText: string };
        // basic.return comes before the ack of the same publish: the confirm callback sees this mark
        const id = msg.properties.messageId as string;
        this.returned.add(id);
        this.log.error({ userId: msg.content.toString(), replyCode: fields.replyCode, replyText: fields.replyText },
          'message returned by the broker (unroutable): user not queued for mailing');
      });
      await declareTopology(ch, this.config);
      for (const setup of this.setups) await setup(conn);
      this.conn = conn;
      this.channel = ch;
      this.log.info({ url: redact(this.config.amqpUrl), retryMode: this.config.retryMode }, 'connected to the broker');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'broker not reachable, retrying');
      if (conn) conn.close().catch(() => undefined);
      this.schedule();
    }
  }

  private lost(conn: amqp.ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.channel = null;
    if (!this.stopped) {
      this.log.warn('broker connection lost, reconnecting');
      this.schedule();
    }
  }

  private schedule(): void {
    if (!this.stopped && !this.timer) this.timer = setTimeout(() => void this.connect(), RECONNECT_MS);
  }

  /**
   * Publishes a user id to the delayed exchange (persistent, mandatory) and resolves once the
   * broker confirmed it. Rejects with Unroutable if it came back, BrokerUnavailable otherwise.
   */
  async publish(userId: number, delayMs: number, headers: Record<string, unknown> = {}): Promise<void> {
    const ch = this.channel;
    if (!ch) throw new BrokerUnavailable('not connected to the broker');
    const messageId = randomUUID();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BrokerUnavailable(`no confirm within ${CONFIRM_TIMEOUT_MS} ms`)), CONFIRM_TIMEOUT_MS);
      const done = (err: unknown) => {
        clearTimeout(timer);
        const wasReturned = this.returned.delete(messageId);
        if (err) reject(new BrokerUnavailable(`broker refused the message: ${String((err as Error).message ?? err)}`));
        else if (wasReturned) reject(new Unroutable(`message for user ${userId} was returned as unroutable`));
        else resolve();
      };
      try {
        ch.publish(this.config.exchange, this.config.routingKey, Buffer.from(String(userId)), {
          persistent: true,
          mandatory: true,
          messageId,
          contentType: 'text/plain',
          headers: delayMs > 0 ? { ...headers, 'x-delay': delayMs } : headers,
        }, done);
      } catch (err) { // the channel closed under us
        done(err);
      }
    });
  }

  /** Checks the broker really answers (a passive declare of our exchange on a fresh channel). */
  async check(): Promise<void> {
    if (!this.conn) throw new BrokerUnavailable('not connected to the broker');
    const ch = await this.conn.createChannel();
    try {
      await ch.checkExchange(this.config.exchange);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const conn = this.conn;
    this.conn = null;
    this.channel = null;
    if (conn) await conn.close().catch(() => undefined);
  }
}

/**
 * The durable delayed exchange and the queue bound to it. In broker mode the queue itself
 * delays returned messages (doubling from FIRST_DELAY_MS), gives up after MAX_ATTEMPTS
 * deliveries and dead-letters the give-ups into a queue of their own.
 */
export async function declareTopology(ch: amqp.Channel, c: Config): Promise<void> {
  await ch.assertExchange(c.exchange, 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
  if (c.retryMode === 'broker') {
    await ch.assertQueue(c.deadLetterQueue, { durable: true });
    await ch.assertQueue(c.queue, {
      durable: true,
      arguments: {
        'x-delayed-retry-type': 'failed',
        'x-delayed-retry-min': c.firstDelayMs,
        'x-delayed-retry-multiplier': 2,
        'x-delivery-limit': c.maxAttempts - 1, // delivered at most MAX_ATTEMPTS times
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': c.deadLetterQueue,
      },
    });
  } else {
    await ch.assertQueue(c.queue, { durable: true });
  }
  await ch.bindQueue(c.queue, c.exchange, c.routingKey);
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
