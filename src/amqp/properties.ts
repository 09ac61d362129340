// Content-header properties of class basic. The broker keeps the property bytes exactly as the
// publisher sent them and forwards them unchanged; `scanProperties` picks out only what routing
// and queueing need, without decoding the rest.
import { AmqpSyntaxError, Reader, Writer } from './codec.js';
import type { FieldTable } from './field-table.js';
import { decodeTableAt } from './field-table.js';

export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: FieldTable;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  /** Seconds since the epoch; a bigint when beyond 2^53 (the field is unsigned 64-bit). */
  timestamp?: number | bigint;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

// Flag bits, first property in bit 15.
const F_CONTENT_TYPE = 1 << 15;
const F_CONTENT_ENCODING = 1 << 14;
const F_HEADERS = 1 << 13;
const F_DELIVERY_MODE = 1 << 12;
const F_PRIORITY = 1 << 11;
const F_CORRELATION_ID = 1 << 10;
const F_REPLY_TO = 1 << 9;
const F_EXPIRATION = 1 << 8;
const F_MESSAGE_ID = 1 << 7;
const F_TIMESTAMP = 1 << 6;
const F_TYPE = 1 << 5;
const F_USER_ID = 1 << 4;
const F_APP_ID = 1 << 3;
const F_CLUSTER_ID = 1 << 2;

/** What the broker needs from the properties of a published message. Reused per channel. */
export class PropertySummary {
  deliveryMode = 0;
  priority = -1;
  /** Per-message TTL in ms from `expiration`, or -1 when absent. */
  expiration = -1;
  /** Raw `expiration` text when it was not a valid TTL (the publish is then refused). */
  badExpiration: string | null = null;
  userId: string | null = null;
  /** Offsets of the headers table (its contents, without the length) in the scanned buffer, or -1. */
  headersStart = -1;
  headersEnd = -1;
  /** reply_to is "amq.rabbitmq.reply-to" (direct reply-to, rewritten by the broker). */
  replyToDirect = false;

  reset(): void {
    this.replyToDirect = false;
    this.deliveryMode = 0;
    this.priority = -1;
    this.expiration = -1;
    this.badExpiration = null;
    this.userId = null;
    this.headersStart = -1;
    this.headersEnd = -1;
  }
}

const DIRECT_REPLY_TO = Buffer.from('amq.rabbitmq.reply-to');

function skipShortstr(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) throw new AmqpSyntaxError('content header properties truncated');
  return pos + 1 + buf[pos];
}

/**
 * Walks the property list in buf[start, end) (flags first) and fills `out`.
 * Throws AmqpSyntaxError when the list is malformed.
 */
export function scanProperties(buf: Buffer, start: number, end: number, out: PropertySummary): void {
  out.reset();
  if (end - start < 2) throw new AmqpSyntaxError('content header too short');
  const truncated = () => new AmqpSyntaxError('content header properties truncated');
  const flags = buf.readUInt16BE(start);
  let pos = start + 2;
  // Continuation words (bit 0) are allowed by the spec but basic has only 14 properties.
  let last = flags;
  while (last & 1) {
    if (pos + 2 > end) throw truncated();
    last = buf.readUInt16BE(pos);
    pos += 2;
  }
  // Each step checks before it reads a length or fixed-size value; a shortstr's length byte
  // is checked by the next step or the final bound.
  if (flags & F_CONTENT_TYPE) pos = skipShortstr(buf, pos, end);
  if (flags & F_CONTENT_ENCODING) pos = skipShortstr(buf, pos, end);
  if (flags & F_HEADERS) {
    if (pos + 4 > end) throw truncated();
    const len = buf.readUInt32BE(pos);
    out.headersStart = pos + 4;
    out.headersEnd = pos + 4 + len;
    pos += 4 + len;
  }
  if (flags & F_DELIVERY_MODE) {
    if (pos >= end) throw truncated();
    out.deliveryMode = buf[pos++];
  }
  if (flags & F_PRIORITY) {
    if (pos >= end) throw truncated();
    out.priority = buf[pos++];
  }
  if (flags & F_CORRELATION_ID) pos = skipShortstr(buf, pos, end);
  if (flags & F_REPLY_TO) {
    if (pos >= end) throw truncated();
    const len = buf[pos];
    out.replyToDirect = len === DIRECT_REPLY_TO.length && pos + 1 + len <= end
      && buf.compare(DIRECT_REPLY_TO, 0, len, pos + 1, pos + 1 + len) === 0;
    pos += 1 + len;
  }
  if (flags & F_EXPIRATION) {
    if (pos >= end) throw truncated();
    const len = buf[pos];
    if (pos + 1 + len > end) throw truncated();
    const s = buf.toString('latin1', pos + 1, pos + 1 + len);
    const ttl = /^\d{1,15}$/.test(s) ? Number(s) : NaN;
    if (Number.isNaN(ttl)) out.badExpiration = s;
    else out.expiration = ttl;
    pos += 1 + len;
  }
  if (flags & F_MESSAGE_ID) pos = skipShortstr(buf, pos, end);
  if (flags & F_TIMESTAMP) pos += 8;
  if (flags & F_TYPE) pos = skipShortstr(buf, pos, end);
  if (flags & F_USER_ID) {
    if (pos >= end) throw truncated();
    const len = buf[pos];
    if (pos + 1 + len > end) throw truncated();
    out.userId = buf.toString('utf8', pos + 1, pos + 1 + len);
    pos += 1 + len;
  }
  if (flags & F_APP_ID) pos = skipShortstr(buf, pos, end);
  if (flags & F_CLUSTER_ID) pos = skipShortstr(buf, pos, end);
  if (pos > end) throw truncated();
}

/** Decodes the headers table found by scanProperties. */
export function decodeHeaders(buf: Buffer, s: PropertySummary): FieldTable | null {
  return s.headersStart < 0 ? null : decodeTableAt(buf, s.headersStart, s.headersEnd);
}

/** Decodes every property in buf[start, end) (flags first). */
export function decodeProperties(buf: Buffer, start = 0, end = buf.length): BasicProperties {
  const r = new Reader().reset(buf, start, end);
  const flags = r.u16();
  let last = flags;
  while (last & 1) last = r.u16();
  // Property shortstrs are not checked for UTF-8 (RabbitMQ does not either).
  const str = () => {
    const len = r.u8();
    if (r.pos + len > r.end) throw new AmqpSyntaxError('content header properties truncated');
    r.pos += len;
    return buf.toString('utf8', r.pos - len, r.pos);
  };
  const p: BasicProperties = {};
  if (flags & F_CONTENT_TYPE) p.contentType = str();
  if (flags & F_CONTENT_ENCODING) p.contentEncoding = str();
  if (flags & F_HEADERS) p.headers = r.table();
  if (flags & F_DELIVERY_MODE) p.deliveryMode = r.u8();
  if (flags & F_PRIORITY) p.priority = r.u8();
  if (flags & F_CORRELATION_ID) p.correlationId = str();
  if (flags & F_REPLY_TO) p.replyTo = str();
  if (flags & F_EXPIRATION) p.expiration = str();
  if (flags & F_MESSAGE_ID) p.messageId = str();
  if (flags & F_TIMESTAMP) p.timestamp = r.u64Exact();
  if (flags & F_TYPE) p.type = str();
  if (flags & F_USER_ID) p.userId = str();
  if (flags & F_APP_ID) p.appId = str();
  if (flags & F_CLUSTER_ID) p.clusterId = str();
  return p;
}

/** Encodes properties as flags + list (the part of a content header after the body size). */
export function encodeProperties(w: Writer, p: BasicProperties): void {
  let flags = 0;
  if (p.contentType !== undefined) flags |= F_CONTENT_TYPE;
  if (p.contentEncoding !== undefined) flags |= F_CONTENT_ENCODING;
  if (p.headers !== undefined) flags |= F_HEADERS;
  if (p.deliveryMode !== undefined) flags |= F_DELIVERY_MODE;
  if (p.priority !== undefined) flags |= F_PRIORITY;
  if (p.correlationId !== undefined) flags |= F_CORRELATION_ID;
  if (p.replyTo !== undefined) flags |= F_REPLY_TO;
  if (p.expiration !== undefined) flags |= F_EXPIRATION;
  if (p.messageId !== undefined) flags |= F_MESSAGE_ID;
  if (p.timestamp !== undefined) flags |= F_TIMESTAMP;
  if (p.type !== undefined) flags |= F_TYPE;
  if (p.userId !== undefined) flags |= F_USER_ID;
  if (p.appId !== undefined) flags |= F_APP_ID;
  if (p.clusterId !== undefined) flags |= F_CLUSTER_ID;
  w.u16(flags);
  if (p.contentType !== undefined) w.shortstr(p.contentType);
  if (p.contentEncoding !== undefined) w.shortstr(p.contentEncoding);
  if (p.headers !== undefined) w.table(p.headers);
  if (p.deliveryMode !== undefined) w.u8(p.deliveryMode);
  if (p.priority !== undefined) w.u8(p.priority);
  if (p.correlationId !== undefined) w.shortstr(p.correlationId);
  if (p.replyTo !== undefined) w.shortstr(p.replyTo);
  if (p.expiration !== undefined) w.shortstr(p.expiration);
  if (p.messageId !== undefined) w.shortstr(p.messageId);
  if (p.timestamp !== undefined) w.u64(p.timestamp);
  if (p.type !== undefined) w.shortstr(p.type);
  if (p.userId !== undefined) w.shortstr(p.userId);
  if (p.appId !== undefined) w.shortstr(p.appId);
  if (p.clusterId !== undefined) w.shortstr(p.clusterId);
}

/** Property bytes (flags + list) for the given properties, e.g. for messages the broker makes. */
export function propertiesToBuffer(p: BasicProperties): Buffer {
  const w = new Writer(256);
  encodeProperties(w, p);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Changes to a message's properties that the broker makes (dead-lettering, BCC, direct reply-to). */
export interface PropertyEdits {
  /** New headers table, encoded with its length prefix; null removes the headers property. */
  headers?: Buffer | null;
  /** Drop the expiration property. */
  dropExpiration?: boolean;
  /** New reply_to. */
  replyTo?: string;
}

// Flag bits in list order, with how each value is laid out: 's' shortstr, 't' table, 1 octet, 8 octets.
const LAYOUT: [number, 's' | 't' | 1 | 8][] = [
  [F_CONTENT_TYPE, 's'], [F_CONTENT_ENCODING, 's'], [F_HEADERS, 't'], [F_DELIVERY_MODE, 1], [F_PRIORITY, 1],
  [F_CORRELATION_ID, 's'], [F_REPLY_TO, 's'], [F_EXPIRATION, 's'], [F_MESSAGE_ID, 's'], [F_TIMESTAMP, 8],
  [F_TYPE, 's'], [F_USER_ID, 's'], [F_APP_ID, 's'], [F_CLUSTER_ID, 's'],
];

/**
 * The property bytes buf[start, end) (flags first) with `edits` applied. Every property not
 * edited is copied byte for byte, so whatever a publisher sent (any timestamp, any bytes in a
 * shortstr) reaches consumers unchanged.
 */
export function rewriteProperties(buf: Buffer, start: number, end: number, edits: PropertyEdits): Buffer {
  if (end - start < 2) throw new AmqpSyntaxError('content header too short');
  const flags = buf.readUInt16BE(start);
  let pos = start + 2;
  let last = flags;
  while (last & 1) {
    if (pos + 2 > end) throw new AmqpSyntaxError('content header properties truncated');
    last = buf.readUInt16BE(pos);
    pos += 2;
  }
  const w = new Writer(end - start + (edits.headers?.length ?? 0) + 256);
  // Continuation words are carried over as they are; only the first word's bits change.
  w.u16(0);
  w.bytes(buf, start + 2, pos);
  let outFlags = flags;
  for (const [bit, kind] of LAYOUT) {
    const present = (flags & bit) !== 0;
    let valueEnd = pos;
    if (present) {
      if (kind === 's') valueEnd = pos < end ? pos + 1 + buf[pos] : end + 1;
      else if (kind === 't') valueEnd = pos + 4 <= end ? pos + 4 + buf.readUInt32BE(pos) : end + 1;
      else valueEnd = pos + kind;
      if (valueEnd > end) throw new AmqpSyntaxError('content header properties truncated');
    }
    if (bit === F_HEADERS && edits.headers !== undefined) {
      if (edits.headers === null) outFlags &= ~bit;
      else {
        outFlags |= bit;
        w.bytes(edits.headers);
      }
    } else if (bit === F_REPLY_TO && edits.replyTo !== undefined) {
      outFlags |= bit;
      w.shortstr(edits.replyTo);
    } else if (bit === F_EXPIRATION && edits.dropExpiration) {
      outFlags &= ~bit;
    } else if (present) {
      w.bytes(buf, pos, valueEnd);
    }
    pos = valueEnd;
  }
  w.buf.writeUInt16BE(outFlags, 0);
  return Buffer.from(w.buf.subarray(0, w.pos));
}
