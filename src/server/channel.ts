// One AMQP channel: method dispatch, publish assembly (method + header + body), consumers,
// unacked deliveries, prefetch, confirms and transactions. Declarations live in
// channel-definitions.ts; this file keeps the message path together.
import { randomBytes } from 'node:crypto';
import type { Reader, Writer } from '../amqp/codec.js';
import * as M from '../amqp/methods.js';
import { Consumer, type DeliverySink, NO_CREDIT, READY, SOCKET_FULL } from '../broker/consumer.js';
import { accessRefused, type AmqpError, channelError, commandInvalid, describe, notAllowed, notFound, notImplemented, preconditionFailed } from '../broker/errors.js';
import type { Exchange } from '../broker/exchange.js';
import type { Message } from '../broker/message.js';
import { ccKeys, mayHaveCc, withoutBcc } from '../broker/sender-selected.js';
import { PUBLISH_FLOW, PUBLISH_REJECTED, type Queue, type QueueEntry, type ReturnKind } from '../broker/queue.js';
import { ConfirmTracker, NACK, NOW } from './confirms.js';
import type { AckTimeoutSubject } from './ack-timeouts.js';
import { ContentAssembler } from './content-assembler.js';
import type { Connection } from './connection.js';
import { handleDefinitionMethod } from './channel-definitions.js';
import { DIRECT_REPLY_TO, DirectReply } from './direct-reply.js';
import { MessageCounters, type MessageSizes } from './stats.js';
import { Transaction, type TxPublish } from './transaction.js';

export class Channel implements DeliverySink, AckTimeoutSubject {
  closing = false;
  /** Watched by the consumer-timeout checker. */
  ackWatched = false;
  /** channel.flow from the client: deliveries paused while false. */
  private flowActive = true;
  readonly consumers = new Map<string, Consumer>();
  /** Deliveries awaiting ack, by delivery tag, in tag order. */
  readonly unacked = new Map<number, QueueEntry>();
  private nextTag = 1;
  /** basic.qos global=false: prefetch given to consumers created afterwards. */
  private consumerPrefetch = 0;
  /** basic.qos global=true: limit across the channel. */
  private channelPrefetch = 0;
  /** The last queue declared on this channel, for methods that name queue "". */
  lastQueue = '';
  confirms: ConfirmTracker | null = null;
  tx: Transaction | null = null;
  readonly directReply: DirectReply;

  private readonly content = new ContentAssembler();
  /** The exchange of the publish being assembled, resolved and access-checked once per change. */
  private pubExchange: Exchange | null = null;
  private permVersion = -1;
  /** Whether this channel's user has topic permissions in its vhost (refreshed with permVersion). */
  private topicChecks = false;

  /** Counters for the management API and Prometheus (sampled, never reset). */
  readonly stats = new MessageCounters();
  /** The listener's message-size histogram, observed once per publish. */
  private readonly sizes: MessageSizes;

  constructor(readonly conn: Connection, readonly id: number) {
    this.directReply = new DirectReply(this);
    this.sizes = conn.ctx.messageSizes;
  }

  /** basic.qos prefetch for new consumers / across the channel (for the management API). */
  get prefetchCount(): number {
    return this.consumerPrefetch;
  }

  get globalPrefetchCount(): number {
    return this.channelPrefetch;
  }

  /** channel.flow from the client is active (deliveries not paused). */
  get flowing(): boolean {
    return this.flowActive;
  }

  get vhost() {
    return this.conn.vhost!;
  }

  get user(): string {
    return this.conn.userName;
  }

  send<A>(encode: (w: Writer, a: A) => void, args?: A): void {
    this.conn.send(this.id, encode, args);
  }

  // ----------------------------------------------------------- dispatching

  onMethod(id: number, r: Reader, buf: Buffer, start: number, end: number): void {
    if (this.closing) {
      // As RabbitMQ: a closing channel waits for close-ok and drops other methods, but a
      // channel.open on it is a connection error.
      if (id === M.CHANNEL_CLOSE_OK) this.conn.channelClosed(this);
      else if (id === M.CHANNEL_CLOSE) {
        this.send(M.encodeChannelCloseOk);
        this.conn.channelClosed(this, true);
      } else if (id === M.CHANNEL_OPEN) {
        throw channelError(`second 'channel.open' seen`);
      }
      return;
    }
    this.content.expectMethod();
    switch (id) {
      case M.BASIC_PUBLISH: return this.onPublish(buf, start, end);
      case M.BASIC_ACK: {
        const a = M.decodeBasicAck(r);
        return this.onAck(a.deliveryTag, a.multiple);
      }
      case M.BASIC_NACK: {
        const a = M.decodeBasicNack(r);
        return this.onReject(a.deliveryTag, a.multiple, a.requeue);
      }
      case M.BASIC_REJECT: {
        const a = M.decodeBasicReject(r);
        return this.onReject(a.deliveryTag, false, a.requeue);
      }
      case M.BASIC_CONSUME: return this.onConsume(M.decodeBasicConsume(r));
      case M.BASIC_CANCEL: {
        const a = M.decodeBasicCancel(r);
        this.cancelConsumer(a.consumerTag);
        if (!a.nowait) this.send(M.encodeBasicCancelOk, { consumerTag: a.consumerTag });
        return;
      }
      case M.BASIC_GET: return this.onGet(M.decodeBasicGet(r));
      case M.BASIC_QOS: return this.onQos(M.decodeBasicQos(r));
      case M.BASIC_RECOVER: {
        this.recover(M.decodeBasicRecover(r).requeue);
        this.send(M.encodeBasicRecoverOk);
        return;
      }
      case M.BASIC_RECOVER_ASYNC:
        this.recover(M.decodeBasicRecoverAsync(r).requeue);
        return;
      case M.CHANNEL_CLOSE: {
        M.decodeChannelClose(r);
        // Confirms already due go out before close-ok; after it the client knows no channel.
        this.writeConfirms();
        this.release();
        this.send(M.encodeChannelCloseOk);
        this.conn.channelClosed(this);
        return;
      }
      case M.CHANNEL_CLOSE_OK:
        // Only meaningful while we are closing the channel (handled above).
        throw commandInvalid('unimplemented method');
      case M.CHANNEL_FLOW: {
        const active = M.decodeChannelFlow(r).active;
        // RabbitMQ does not let clients pause deliveries with channel.flow.
        if (!active) throw notImplemented('active=false');
        this.flowActive = active;
        this.send(M.encodeChannelFlowOk, { active });
        if (active) this.resumeDeliveries();
        return;
      }
      case M.CHANNEL_OPEN:
        throw channelError(`second 'channel.open' seen`);
      case M.CONFIRM_SELECT: {
        const a = M.decodeConfirmSelect(r);
        if (this.tx) throw preconditionFailed('cannot switch from tx to confirm mode');
        this.confirms ??= new ConfirmTracker();
        if (!a.nowait) this.send(M.encodeConfirmSelectOk);
        return;
      }
      case M.TX_SELECT:
        if (this.confirms) throw preconditionFailed('cannot switch from confirm to tx mode');
        this.tx ??= new Transaction();
        this.send(M.encodeTxSelectOk);
        return;
      case M.TX_COMMIT: return this.onTxCommit();
      case M.TX_ROLLBACK: return this.onTxRollback();
      case M.ACCESS_REQUEST:
        M.decodeAccessRequest(r);
        this.send(M.encodeAccessRequestOk, { ticket: 1 });
        return;
    }
    if (handleDefinitionMethod(this, id, r)) return;
    if (M.METHOD_NAMES[id] === undefined) throw notImplemented(`unknown method ${id >>> 16}/${id & 0xffff}`);
    // Methods only a server sends (the -ok replies, deliveries): RabbitMQ's channel has no clause for them.
    throw commandInvalid('unimplemented method');
  }

  // ----------------------------------------------------------------- publish

  private onPublish(buf: Buffer, start: number, end: number): void {
    const content = this.content;
    content.publish(buf, start, end);
    const name = content.exchange;
    let x = this.pubExchange;
    const users = this.conn.broker.users;
    if (x === null || x.deleted || x.name !== name || this.permVersion !== users.version) {
      x = this.vhost.exchanges.get(name) ?? null;
      if (x === null) throw notFound(`no ${describe('exchange', name, this.vhost.name)}`);
      if (x.internal) throw accessRefused(`cannot publish to internal ${describe('exchange', name, this.vhost.name)}`);
      this.checkAccess('write', 'exchange', name);
      this.permVersion = users.version;
      this.topicChecks = users.hasTopicPermissions(this.user, this.vhost.name);
    }
    if (this.topicChecks && x.type === 'topic') this.checkTopicAccess('write', name, content.routingKey);
    this.pubExchange = x;
    this.conn.published();
  }

  onContentHeader(buf: Buffer, start: number, end: number): void {
    if (this.closing) return;
    // Users tagged impersonator may publish with any user_id (RabbitMQ's validated user-id exemption).
    const user = this.conn.impersonator ? null : this.user;
    const msg = this.content.header(buf, start, end, this.conn.ctx.config.maxMessageSize, user);
    if (msg !== null) this.publishAssembled(msg);
  }

  onContentBody(buf: Buffer, start: number, end: number): void {
    if (this.closing) return;
    const msg = this.content.body(buf, start, end);
    if (msg !== null) this.publishAssembled(msg);
  }

  private publishAssembled(assembled: Message): void {
    this.stats.publish++;
    if (this.confirms !== null) this.stats.receivedConfirm++;
    this.sizes.observe(assembled.bodySize);
    const msg = this.content.replyToDirect ? this.directReply.rewriteReplyTo(assembled) : assembled;
    const x = this.pubExchange!;
    const mandatory = this.content.mandatory;
    if (this.tx !== null) this.holdInTx(x, msg, mandatory);
    else this.routeAndEnqueue(x, msg, mandatory);
  }

  /**
   * Routes a complete message and enqueues it; settles its confirm and returns it if unroutable.
   * (Transactions route at publish time too, see holdInTx.)
   */
  private routeAndEnqueue(x: Exchange, published: Message, mandatory: boolean): void {
    const rk = published.routingKey;
    const tag = this.confirms === null ? 0 : this.confirms.next();
    if (rk.startsWith(DIRECT_REPLY_TO) && x.name === '') {
      const delivered = this.directReply.route(rk, published, this.conn.ctx);
      if (!delivered && mandatory) this.sendReturn(312, 'NO_ROUTE', published);
      if (this.confirms !== null && this.confirms.record(tag, NOW)) this.confirmsDue();
      return;
    }
    const extra = mayHaveCc(published) ? ccKeys(published) : null;
    const msg = extra === null ? published : withoutBcc(published);
    const vhost = this.vhost;
    const queues = vhost.route(x, msg, rk, extra);
    // A delayed exchange holds the message, unless `mandatory` and nothing could route it now.
    let held = -1;
    if (vhost.delayedHits.length !== 0 && (!mandatory || vhost.delayedRoutable || queues.length !== 0)) {
      held = vhost.scheduleDelayed(msg);
    }
    // Copy: enqueueing may route again (dead-lettering) and reuse the router's array.
    this.enqueue(msg, queues.length > 1 ? queues.slice() : queues, mandatory, tag, held);
  }

  /**
   * In a transaction, RabbitMQ routes when the message is published and delivers at commit to
   * those of its queues that still exist (by name); a mandatory message with none is returned then.
   */
  private holdInTx(x: Exchange, published: Message, mandatory: boolean): void {
    const rk = published.routingKey;
    // The default exchange routes to a queue name, whether or not it exists yet: that is
    // routing at commit. So is direct reply-to.
    if (x.name === '') {
      this.tx!.publishes.push({ exchange: x, msg: published, mandatory, queues: null });
      return;
    }
    const extra = mayHaveCc(published) ? ccKeys(published) : null;
    const msg = extra === null ? published : withoutBcc(published);
    const routed = this.vhost.route(x, msg, rk, extra);
    // A delayed exchange takes the message at commit.
    if (this.vhost.delayedHits.length !== 0) {
      this.tx!.publishes.push({ exchange: x, msg: published, mandatory, queues: null });
      return;
    }
    this.tx!.publishes.push({ exchange: x, msg, mandatory, queues: routed.map((q) => q.name) });
  }

  private commitPublish(p: TxPublish): void {
    if (p.queues === null) {
      this.routeAndEnqueue(p.exchange, p.msg, p.mandatory);
      return;
    }
    const live: Queue[] = [];
    for (const name of p.queues) {
      const q = this.vhost.queues.get(name);
      if (q !== undefined) live.push(q);
    }
    this.enqueue(p.msg, live, p.mandatory, 0);
  }

  /** `held`: a delayed exchange kept the message (the store epoch its confirm waits for, or 0); -1 if none did. */
  private enqueue(msg: Message, queues: readonly Queue[], mandatory: boolean, tag: number, held = -1): void {
    const confirms = this.confirms;
    const n = queues.length;
    let epoch = held > 0 ? held : NOW;
    if (n === 0) {
      if (held >= 0) this.stats.routed++;
      else if (mandatory) this.stats.returnUnroutable++;
      else this.stats.dropUnroutable++;
      if (mandatory && held < 0) this.sendReturn(312, 'NO_ROUTE', msg);
      if (confirms !== null) {
        if (confirms.record(tag, epoch)) this.confirmsDue();
        else if (epoch > NOW) this.waitForSync(epoch);
      }
      return;
    }
    this.stats.routed++;
    for (let i = 0; i < n; i++) {
      const q = queues[i];
      const r = q.publish(msg);
      if (r !== 0) {
        if (r & PUBLISH_FLOW) this.conn.holdFlow(q);
        if (r & PUBLISH_REJECTED) {
          epoch = NACK;
          continue;
        }
      }
      if (confirms !== null && epoch !== NACK) {
        const e = q.messages.lastPushSyncEpoch();
        if (e > epoch) epoch = e;
      }
    }
    if (confirms !== null) {
      if (confirms.record(tag, epoch)) this.confirmsDue();
      else if (epoch > NOW) this.waitForSync(epoch);
    }
  }

  private sendReturn(code: number, text: string, msg: Message): void {
    this.conn.out.basicReturn(this.id, this.conn.frameMax, code, text, msg.data, msg.routeEnd, msg.propsEnd);
    this.conn.wrote();
  }

  private waitForSync(epoch: number): void {
    this.conn.ctx.syncWaiters.add(this);
    this.conn.ctx.requestSync(epoch);
  }

  /** The store synced: confirm what waited for it. */
  onSynced(epoch: number): boolean {
    const c = this.confirms;
    if (c === null || this.closing) return false;
    if (c.advance(epoch)) this.confirmsDue();
    return c.pendingSync;
  }

  /** The store could not make epochs `from`..`to` durable: nack the publishes waiting for them. */
  onSyncFailed(from: number, to: number): boolean {
    const c = this.confirms;
    if (c === null || this.closing) return false;
    if (c.fail(from, to)) this.confirmsDue();
    return c.pendingSync;
  }

  private confirmsDue(): void {
    this.conn.confirmsDirty.push(this);
    this.conn.scheduleFlush();
  }

  writeConfirms(): void {
    if (!this.closing && this.confirms !== null) this.stats.confirm += this.confirms.write(this);
  }

  ack(tag: number, multiple: boolean): void {
    this.send(M.encodeBasicAck, { deliveryTag: tag, multiple });
  }

  nack(tag: number, multiple: boolean): void {
    this.send(M.encodeBasicNack, { deliveryTag: tag, multiple, requeue: false });
  }

  // ---------------------------------------------------------------- consume

  // Checks in RabbitMQ's order: tag reuse (530), read permission, the queue (404/405), the
  // consumer arguments (406), then exclusive use (403).
  private onConsume(a: M.BasicConsume): void {
    const tag = a.consumerTag || generateTag('amq.ctag-');
    this.checkTagFree(tag);
    if (a.queue === DIRECT_REPLY_TO) {
      this.directReply.consume(tag, a.noAck, this.conn.ctx);
      if (!a.nowait) this.send(M.encodeBasicConsumeOk, { consumerTag: tag });
      return;
    }
    const vhost = this.vhost;
    const qname = this.queueName(a.queue);
    this.checkAccess('read', 'queue', qname);
    const q = vhost.queue(qname);
    vhost.checkExclusive(q, this.conn);
    const priority = a.arguments['x-priority'];
    if (priority !== undefined && (typeof priority !== 'number' || !Number.isInteger(priority))) {
      throw preconditionFailed(`invalid arg 'x-priority' for consumer: must be an integer`);
    }
    const timeout = a.arguments['x-consumer-timeout'];
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)) {
      throw preconditionFailed(`invalid arg 'x-consumer-timeout' for consumer: must be a non-negative integer`);
    }
    // A single-active-consumer queue never grants an exclusive consumer.
    if (q.hasExclusiveConsumer() || (a.exclusive && (q.consumerCount > 0 || q.singleActive))) {
      throw accessRefused(`${describe('queue', qname, vhost.name)} in exclusive use`);
    }
    const tagBytes = Buffer.allocUnsafe(1 + Buffer.byteLength(tag));
    tagBytes[0] = tagBytes.write(tag, 1, 'utf8');
    const c = new Consumer(tag, q, this, a.noAck, a.exclusive, (priority as number | undefined) ?? 0,
      this.consumerPrefetch, a.arguments, tagBytes);
    if (timeout !== undefined) c.timeout = timeout as number;
    this.consumers.set(tag, c);
    // consume-ok goes out before the first delivery.
    if (!a.nowait) this.send(M.encodeBasicConsumeOk, { consumerTag: tag });
    q.addConsumer(c);
  }

  private checkTagFree(tag: string): void {
    if (this.consumers.has(tag) || this.directReply.tag === tag) {
      throw notAllowed(`attempt to reuse consumer tag '${tag}'`);
    }
  }

  private cancelConsumer(tag: string): void {
    if (this.directReply.tag === tag) {
      this.directReply.cancel(this.conn.ctx);
      return;
    }
    const c = this.consumers.get(tag);
    if (c === undefined) return;
    this.consumers.delete(tag);
    c.queue.removeConsumer(c);
  }

  readiness(c: Consumer): number {
    if (!this.flowActive || this.closing) return NO_CREDIT;
    if (!c.noAck) {
      if (c.prefetch !== 0 && c.unacked >= c.prefetch) return NO_CREDIT;
      if (this.channelPrefetch !== 0 && this.unacked.size >= this.channelPrefetch) return NO_CREDIT;
    }
    return this.conn.writable ? READY : SOCKET_FULL;
  }

  canOverfill(): boolean {
    return this.conn.mayOverfill;
  }

  deliver(c: Consumer, entry: QueueEntry): void {
    const tag = this.nextTag++;
    if (!this.conn.writable) this.conn.overfilled++;
    // Written before it is recorded: if writing fails, the queue takes the message back whole.
    this.writeDelivery(c.tagBytes, tag, entry.deliveries > 0, entry.msg, c.noAck);
    if (!c.noAck) {
      this.trackUnacked(tag, entry);
      c.unacked++;
    }
  }

  /** A delivery that awaits its ack (consumer timeout included). */
  private trackUnacked(tag: number, entry: QueueEntry): void {
    entry.deliveryTag = tag;
    entry.deliveredAt = Date.now();
    this.unacked.set(tag, entry);
    if (!this.ackWatched) this.watchAckTimeout(entry);
  }

  takeTag(): number {
    return this.nextTag++;
  }

  /** basic.deliver of `msg`, counted for the management API. */
  writeDelivery(tagBytes: Buffer, tag: number, redelivered: boolean, msg: Message, noAck: boolean): void {
    const out = this.conn.out;
    const mark = out.pos;
    try {
      out.deliver(this.id, this.conn.frameMax, tagBytes, tag, redelivered, msg.data, msg.routeEnd, msg.propsEnd);
    } catch (err) {
      out.pos = mark; // no half-written frame goes out
      throw err;
    }
    if (noAck) this.stats.deliverNoAck++;
    else this.stats.deliver++;
    if (redelivered) this.stats.redeliver++;
    this.conn.wrote();
  }

  /** An operator cancels consumer `tag` (management API): as if by the broker, basic.cancel to clients that take it. */
  cancelByOperator(tag: string): boolean {
    const c = this.consumers.get(tag);
    if (c === undefined) return false;
    c.queue.removeConsumer(c);
    this.cancelledByBroker(c);
    return true;
  }

  cancelledByBroker(c: Consumer): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    if (this.conn.cancelNotify && !this.closing) this.send(M.encodeBasicCancel, { consumerTag: c.tag, nowait: true });
  }

  /** The connection can write again, or credit appeared: let our queues dispatch. */
  resumeDeliveries(): void {
    if (this.consumers.size === 0) return;
    for (const c of this.consumers.values()) c.queue.dispatch();
  }

  // -------------------------------------------------------------------- get

  private onGet(a: M.BasicGet): void {
    const vhost = this.vhost;
    const qname = this.queueName(a.queue);
    const q = vhost.queue(qname);
    vhost.checkExclusive(q, this.conn);
    this.checkAccess('read', 'queue', qname);
    const entry = q.get(a.noAck);
    if (entry === null) {
      this.stats.getEmpty++;
      this.send(M.encodeBasicGetEmpty, { clusterId: '' });
      return;
    }
    if (a.noAck) this.stats.getNoAck++;
    else this.stats.get++;
    if (entry.deliveries > 0) this.stats.redeliver++;
    const tag = this.nextTag++;
    if (!a.noAck) this.trackUnacked(tag, entry);
    const msg = entry.msg;
    this.conn.out.getOk(this.id, this.conn.frameMax, tag, entry.deliveries > 0, q.messageCount, msg.data, msg.routeEnd, msg.propsEnd);
    this.conn.wrote();
    if (a.noAck) q.settleNoAck(entry);
    else entry.deliveries++;
  }

  // ------------------------------------------------------------ acks, qos

  private onQos(a: M.BasicQos): void {
    if (a.prefetchSize !== 0) throw notImplemented(`prefetch_size!=0 (${a.prefetchSize})`);
    if (a.global) this.channelPrefetch = a.prefetchCount;
    else this.consumerPrefetch = a.prefetchCount;
    this.send(M.encodeBasicQosOk);
    this.resumeDeliveries();
  }

  /** Removes and returns the entries an ack/nack/reject names; 406 for an unknown tag. */
  private takeUnacked(tag: number, multiple: boolean): QueueEntry[] {
    const unacked = this.unacked;
    if (multiple) {
      const out: QueueEntry[] = [];
      if (tag === 0) {
        for (const e of unacked.values()) out.push(e);
        unacked.clear();
        return out;
      }
      // As RabbitMQ: the tag named must itself be unacked, even with multiple.
      if (!unacked.has(tag)) throw preconditionFailed(`unknown delivery tag ${tag}`);
      for (const [t, e] of unacked) {
        if (t > tag) break;
        out.push(e);
        unacked.delete(t);
      }
      return out;
    }
    const e = unacked.get(tag);
    if (e === undefined) throw preconditionFailed(`unknown delivery tag ${tag}`);
    unacked.delete(tag);
    return [e];
  }

  private onAck(tag: number, multiple: boolean): void {
    if (!multiple) {
      // The common case without an array.
      const e = this.unacked.get(tag);
      if (e === undefined) throw preconditionFailed(`unknown delivery tag ${tag}`);
      this.unacked.delete(tag);
      if (this.tx !== null) this.tx.acks.push(e);
      else this.settleAck(e);
      return;
    }
    const entries = this.takeUnacked(tag, true);
    if (this.tx !== null) {
      this.tx.acks.push(...entries);
      return;
    }
    for (const e of entries) this.settleAck(e);
  }

  private settleAck(e: QueueEntry): void {
    const c = e.consumer;
    this.stats.ack++;
    e.queue.ack(e);
    this.creditReturned(e.queue, c);
  }

  /** An ack or a discard freed prefetch credit: the consumer's queue may have more for it. */
  private creditReturned(q: Queue, c: Consumer | null): void {
    if (c !== null && q.messageCount !== 0) q.dispatch();
    else if (this.channelPrefetch !== 0) this.resumeDeliveries();
  }

  private onReject(tag: number, multiple: boolean, requeue: boolean): void {
    const entries = this.takeUnacked(tag, multiple);
    if (this.tx !== null) {
      for (const e of entries) this.tx.rejects.push({ entry: e, requeue });
      return;
    }
    this.settleReject(entries, requeue);
  }

  private settleReject(entries: QueueEntry[], requeue: boolean): void {
    if (!requeue) {
      for (const e of entries) {
        const c = e.consumer;
        e.queue.discard(e);
        this.creditReturned(e.queue, c);
      }
      return;
    }
    requeueByQueue(entries);
    if (this.channelPrefetch !== 0) this.resumeDeliveries();
  }

  private recover(requeue: boolean): void {
    if (!requeue) throw notImplemented('requeue=false');
    const entries = [...this.unacked.values()];
    this.unacked.clear();
    requeueByQueue(entries, 'returned');
  }

  // -------------------------------------------------------- consumer timeout

  private watchAckTimeout(first: QueueEntry): void {
    this.conn.ctx.ackTimeouts.watch(this, this.timeoutFor(first.consumer, first.queue));
  }

  get holdsUnacked(): boolean {
    return this.unacked.size !== 0 && !this.closing;
  }

  /**
   * The ack timeout a consumer's deliveries get (basic.get's: `c` null), ms, or -1 for none: its
   * x-consumer-timeout, else its queue's (argument or policy, the lower), else the server's
   * consumer_timeout (0 there: none).
   */
  timeoutFor(c: Consumer | null, queue: Queue): number {
    if (c !== null && c.timeout >= 0) return c.timeout;
    const q = queue.limits.consumerTimeout;
    if (q >= 0) return q;
    const t = this.conn.ctx.config.consumerTimeout;
    return t > 0 ? t : -1;
  }

  /** As RabbitMQ: only the oldest unacked delivery is checked; overdue, the channel is closed with 406. */
  checkAckTimeout(now: number): number {
    if (this.closing) return -1;
    const oldest: QueueEntry | undefined = this.unacked.values().next().value;
    if (oldest === undefined) return -1;
    const timeout = this.timeoutFor(oldest.consumer, oldest.queue);
    if (timeout < 0 || now - oldest.deliveredAt <= timeout) return timeout;
    const q = oldest.queue;
    this.conn.log.warn({ channel: this.id, queue: q.name, vhost: q.vhost, deliveryTag: oldest.deliveryTag, timeout },
      `consumer on channel ${this.id} and ${describe('queue', q.name, q.vhost)} did not acknowledge delivery ${oldest.deliveryTag} `
      + `within ${timeout} ms; closing the channel and requeueing its unacked messages (raise consumer_timeout or x-consumer-timeout if the consumer needs longer)`);
    const err = preconditionFailed(`delivery acknowledgement on channel ${this.id} timed out. Timeout value used: ${timeout} ms. `
      + 'This timeout value can be configured, see consumers doc guide to learn more');
    this.closeWithError(err);
    this.conn.flush();
    return -1;
  }

  // ------------------------------------------------------------ transactions

  private onTxCommit(): void {
    const tx = this.tx;
    if (tx === null) throw preconditionFailed('channel is not transactional');
    const { publishes, acks, rejects } = tx.take();
    for (const p of publishes) this.commitPublish(p);
    for (const e of acks) this.settleAck(e);
    for (const { entry, requeue } of rejects) this.settleReject([entry], requeue);
    this.send(M.encodeTxCommitOk);
  }

  private onTxRollback(): void {
    const tx = this.tx;
    if (tx === null) throw preconditionFailed('channel is not transactional');
    const { acks, rejects } = tx.take();
    // Acked-in-transaction deliveries become unacked again, in tag order.
    const back = [...acks, ...rejects.map((r) => r.entry)];
    if (back.length !== 0) {
      const all = [...this.unacked.values(), ...back].sort((a, b) => a.deliveryTag - b.deliveryTag);
      this.unacked.clear();
      for (const e of all) this.unacked.set(e.deliveryTag, e);
      if (!this.ackWatched) this.watchAckTimeout(all[0]);
    }
    this.send(M.encodeTxRollbackOk);
  }

  // ------------------------------------------------------------------ helpers

  /** "" means the last queue declared on this channel. */
  queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === '') throw notFound('no previously declared queue');
    return this.lastQueue;
  }

  checkAccess(access: 'configure' | 'write' | 'read', kind: 'queue' | 'exchange', name: string): void {
    const resource = kind === 'exchange' && name === '' ? 'amq.default' : name;
    if (!this.conn.broker.allowed(this.user, this.vhost.name, access, resource)) {
      throw accessRefused(`access to ${describe(kind, resource, this.vhost.name)} refused for user '${this.user}'`);
    }
  }

  /** RabbitMQ's topic authorisation on a topic exchange: `write` when publishing, `read` when binding. */
  checkTopicAccess(access: 'write' | 'read', exchange: string, routingKey: string): void {
    if (!this.conn.broker.users.topicAllowed(this.user, this.vhost.name, exchange, access, routingKey)) {
      throw accessRefused(`access to topic '${routingKey}' in ${describe('exchange', exchange, this.vhost.name)} refused for user '${this.user}'`);
    }
  }

  // ----------------------------------------------------------------- closing

  /** Channel exception: release everything, send channel.close, drop frames until close-ok. */
  closeWithError(e: AmqpError): void {
    if (this.closing) return;
    this.conn.log.info({ channel: this.id, code: e.code, text: e.message }, 'closing channel on error');
    // Publishes before the failing one are confirmed first, as RabbitMQ's channel does in order.
    this.writeConfirms();
    this.release();
    this.send(M.encodeChannelClose, { replyCode: e.code, replyText: replyText(e.message), classId: e.classId, methodId: e.methodId });
  }

  /** Cancels consumers and requeues unacked messages (channel or connection closing). */
  release(): void {
    if (this.closing) return;
    this.closing = true;
    this.content.reset();
    this.conn.ctx.syncWaiters.delete(this);
    this.conn.ctx.closedChannelStats(this.conn.vhost?.name ?? '').add(this.stats);
    this.conn.broker.churn.channelsClosed++;
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    this.directReply.cancel(this.conn.ctx);
    const pending = this.tx?.take();
    const entries = [...this.unacked.values()];
    if (pending) entries.push(...pending.acks, ...pending.rejects.map((r) => r.entry));
    this.unacked.clear();
    requeueByQueue(entries, 'returned');
  }
}

/** Requeues entries, grouped per queue so each queue restores its order in one go. */
function requeueByQueue(entries: QueueEntry[], kind: ReturnKind = 'failed'): void {
  if (entries.length === 0) return;
  if (entries.length === 1) {
    entries[0].queue.requeue(entries, kind);
    return;
  }
  const byQueue = new Map<Queue, QueueEntry[]>();
  for (const e of entries) {
    const list = byQueue.get(e.queue);
    if (list) list.push(e);
    else byQueue.set(e.queue, [e]);
  }
  for (const [q, list] of byQueue) q.requeue(list, kind);
}

/** Reply texts are shortstrs: RabbitMQ cuts long ones to 252 bytes and adds "...". */
export function replyText(text: string): string {
  if (Buffer.byteLength(text) <= 255) return text;
  let cut = Buffer.from(text).subarray(0, 252).toString('utf8');
  while (Buffer.byteLength(cut) > 252) cut = cut.slice(0, -1);
  return `${cut}...`;
}

export function generateTag(prefix: string): string {
  return prefix + randomBytes(16).toString('base64url');
}
