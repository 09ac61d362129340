// Direct reply-to (amq.rabbitmq.reply-to): an RPC client consumes from the pseudo-queue with
// no-ack, publishes requests with reply_to "amq.rabbitmq.reply-to", and the broker rewrites that
// to a key naming the client's channel; replies published to that key go straight to it.
import { randomBytes } from 'node:crypto';
import { rewriteProperties } from '../amqp/properties.js';
import { preconditionFailed } from '../broker/errors.js';
import { buildMessage, type Message } from '../broker/message.js';
import type { Channel } from './channel.js';
import type { ServerContext } from './context.js';

export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

export class DirectReply {
  tag: string | null = null;
  tagBytes: Buffer | null = null;
  private key: string | null = null;

  constructor(private readonly channel: Channel) {}

  consume(tag: string, noAck: boolean, ctx: ServerContext): void {
    if (!noAck) throw preconditionFailed('reply consumer cannot acknowledge');
    if (this.tag !== null) throw preconditionFailed('reply consumer already set');
    this.tag = tag;
    this.tagBytes = Buffer.concat([Buffer.from([Buffer.byteLength(tag)]), Buffer.from(tag)]);
    this.key = randomBytes(18).toString('base64url');
    ctx.directReply.set(this.key, this);
  }

  cancel(ctx: ServerContext): void {
    if (this.key !== null) ctx.directReply.delete(this.key);
    this.tag = this.tagBytes = this.key = null;
  }

  /** A request published with reply_to amq.rabbitmq.reply-to: point reply_to at this channel. */
  rewriteReplyTo(msg: Message): Message {
    if (this.key === null) throw preconditionFailed('fast reply consumer does not exist');
    const props = rewriteProperties(msg.data, msg.routeEnd, msg.propsEnd, { replyTo: `${DIRECT_REPLY_TO}.${this.key}` });
    return buildMessage(msg.exchange, msg.routingKey, props, msg.body);
  }

  /** A reply published to amq.rabbitmq.reply-to.KEY; false when no such channel is listening. */
  route(routingKey: string, msg: Message, ctx: ServerContext): boolean {
    const target = ctx.directReply.get(routingKey.slice(DIRECT_REPLY_TO.length + 1));
    if (target === undefined || target.tagBytes === null || target.channel.closing) return false;
    target.channel.writeDelivery(target.tagBytes, target.channel.takeTag(), false, msg, true);
    return true;
  }
}
