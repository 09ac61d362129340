// Assembles a published message from its frames: basic.publish, the content header, body frames.
// The message's bytes are built in one buffer as they will go out again (exchange and routing
// key shortstrs copied from the method frame, properties as received, body), and the strings of
// the exchange and routing key are reused while a publisher repeats them.
import { bytesEqual, copyBytes } from '../amqp/bytes.js';
import * as M from '../amqp/methods.js';
import { AmqpSyntaxError } from '../amqp/codec.js';
import { validateTable } from '../amqp/field-table.js';
import { PropertySummary, scanProperties } from '../amqp/properties.js';
import { AmqpError, internalError, notImplemented, preconditionFailed, unexpectedFrame } from '../broker/errors.js';
import { Message } from '../broker/message.js';

const enum Stage { Method, Header, Body }

const publishTruncated = () => new AmqpError(501, 'cannot decode basic.publish arguments: truncated');

/**
 * Bodies up to this size get their final buffer at the header; larger ones are gathered as they
 * arrive, so announcing a huge body costs nothing until it is actually sent.
 */
const PREALLOCATE_MAX = 1024 * 1024;

export class ContentAssembler {
  private stage = Stage.Method;
  /** Arguments of the basic.publish being assembled. */
  exchange = '';
  routingKey = '';
  mandatory = false;
  /** The last completed message had reply_to "amq.rabbitmq.reply-to". */
  replyToDirect = false;

  private readonly route = Buffer.allocUnsafe(2 + 255 + 255);
  private routeLen = 0;
  private data: Buffer | null = null;
  private propsEnd = 0;
  private pos = 0;
  /** Large bodies: the head (route and properties) and the body frames received so far. */
  private parts: Buffer[] | null = null;
  private expected = 0;
  /** Where the properties started in the header frame, to place the header offsets in `data`. */
  private headerBase = 0;
  private readonly props = new PropertySummary();
  private readonly lastExBytes = Buffer.alloc(256);
  private lastExLen = -1;
  private readonly lastKeyBytes = Buffer.alloc(256);
  private lastKeyLen = -1;

  /** Throws unless a method frame may come now (not in the middle of a message). */
  expectMethod(): void {
    // As RabbitMQ, the close names the basic.publish being assembled.
    if (this.stage === Stage.Header) throw unexpectedFrame('expected content header for class 60, got non content header frame instead').naming(M.BASIC_PUBLISH);
    if (this.stage === Stage.Body) throw unexpectedFrame('expected content body, got non content body frame instead').naming(M.BASIC_PUBLISH);
  }

  /** basic.publish: class(2) method(2) ticket(2) exchange(shortstr) routing-key(shortstr) bits(1). */
  publish(buf: Buffer, start: number, end: number): void {
    // Each length octet is checked to lie inside this frame before it is read.
    let p = start + 6;
    if (p >= end) throw publishTruncated();
    const exLen = buf[p];
    const exStart = p + 1;
    p = exStart + exLen;
    if (p >= end) throw publishTruncated();
    const keyLen = buf[p];
    const keyStart = p + 1;
    p = keyStart + keyLen;
    if (p >= end) throw publishTruncated();
    const bits = buf[p];
    if (bits & 2) throw notImplemented('immediate=true');
    // The two shortstrs as they are become the head of the message bytes.
    this.routeLen = p - start - 6;
    copyBytes(buf, start + 6, p, this.route, 0);
    if (exLen !== this.lastExLen || !bytesEqual(buf, exStart, this.lastExBytes, 0, exLen)) {
      this.exchange = buf.toString('utf8', exStart, exStart + exLen);
      copyBytes(buf, exStart, exStart + exLen, this.lastExBytes, 0);
      this.lastExLen = exLen;
    }
    if (keyLen !== this.lastKeyLen || !bytesEqual(buf, keyStart, this.lastKeyBytes, 0, keyLen)) {
      this.routingKey = buf.toString('utf8', keyStart, keyStart + keyLen);
      copyBytes(buf, keyStart, keyStart + keyLen, this.lastKeyBytes, 0);
      this.lastKeyLen = keyLen;
    }
    this.mandatory = (bits & 1) !== 0;
    this.stage = Stage.Header;
  }

  /**
   * Content header: class(2) weight(2) body-size(8) properties. Returns the message when it has
   * no body, else null until the body frames complete it. `user`: the user_id the message may
   * carry, or null when any is allowed.
   */
  header(buf: Buffer, start: number, end: number, maxMessageSize: number, user: string | null): Message | null {
    if (this.stage === Stage.Method) throw unexpectedFrame('expected method frame, got non method frame instead').naming(0);
    if (this.stage === Stage.Body) throw unexpectedFrame('expected content body, got non content body frame instead').naming(M.BASIC_PUBLISH);
    if (end - start < 14) throw new AmqpError(502, 'content header too short');
    const classId = buf.readUInt16BE(start);
    if (classId !== M.CLASS_BASIC) throw unexpectedFrame(`expected content header for class 60, got one for class ${classId} instead`);
    if (buf.readUInt16BE(start + 2) !== 0) throw unexpectedFrame('expected content header for class 60 with weight 0');
    const bodySize = buf.readUInt32BE(start + 4) * 0x1_0000_0000 + buf.readUInt32BE(start + 8);
    const propsStart = start + 12;
    const props = this.props;
    try {
      scanProperties(buf, propsStart, end, props);
      // Headers are checked now, as RabbitMQ decodes them at publish, so that a malformed table
      // is refused here rather than stored and found when something decodes it later.
      if (props.headersStart >= 0) validateTable(buf, props.headersStart, props.headersEnd);
    } catch (err) {
      if (!(err instanceof AmqpSyntaxError)) throw err;
      this.stage = Stage.Method;
      // RabbitMQ's channel fails decoding the properties: connection.close 541.
      throw internalError(`malformed content header: ${err.message}`);
    }
    // Refusals below close the channel: the body frames that follow are dropped with it.
    this.stage = Stage.Method;
    if (bodySize > maxMessageSize) throw preconditionFailed(`message size ${bodySize} is larger than configured max size ${maxMessageSize}`);
    if (props.userId !== null && user !== null && props.userId !== user) {
      throw preconditionFailed(`user_id property set to '${props.userId}' but authenticated user was '${user}'`);
    }
    if (props.badExpiration !== null) throw preconditionFailed(`invalid expiration '${props.badExpiration}': {value_not_integer}`);
    const propsLen = end - propsStart;
    const routeLen = this.routeLen;
    this.headerBase = propsStart;
    this.propsEnd = routeLen + propsLen;
    this.expected = this.propsEnd + bodySize;
    const data = Buffer.allocUnsafe(bodySize <= PREALLOCATE_MAX ? this.expected : this.propsEnd);
    copyBytes(this.route, 0, routeLen, data, 0);
    copyBytes(buf, propsStart, end, data, routeLen);
    this.data = data;
    this.parts = bodySize <= PREALLOCATE_MAX ? null : [data];
    this.pos = this.propsEnd;
    if (bodySize === 0) return this.complete();
    this.stage = Stage.Body;
    return null;
  }

  /** A body frame; returns the message once the body is complete, else null. */
  body(buf: Buffer, start: number, end: number): Message | null {
    if (this.stage === Stage.Method) throw unexpectedFrame('expected method frame, got non method frame instead').naming(0);
    if (this.stage === Stage.Header) throw unexpectedFrame('expected content header for class 60, got non content header frame instead').naming(M.BASIC_PUBLISH);
    const n = end - start;
    if (this.pos + n > this.expected) throw unexpectedFrame('content body larger than declared in the content header');
    if (this.parts === null) copyBytes(buf, start, end, this.data!, this.pos);
    else this.parts.push(Buffer.from(buf.subarray(start, end)));
    this.pos += n;
    if (this.pos !== this.expected) return null;
    if (this.parts !== null) {
      this.data = Buffer.concat(this.parts, this.expected);
      this.parts = null;
    }
    return this.complete();
  }

  /** Drops a half-assembled message (the channel is closing). */
  reset(): void {
    this.stage = Stage.Method;
    this.data = null;
    this.parts = null;
  }

  private complete(): Message {
    const p = this.props;
    const routeEnd = this.routeLen;
    const shift = routeEnd - this.headerBase;
    const msg = new Message(this.exchange, this.routingKey, this.data!, routeEnd, this.propsEnd,
      p.deliveryMode === 2, p.priority, p.expiration,
      p.headersStart < 0 ? -1 : p.headersStart + shift, p.headersEnd < 0 ? -1 : p.headersEnd + shift);
    this.replyToDirect = p.replyToDirect;
    this.stage = Stage.Method;
    this.data = null;
    return msg;
  }
}
