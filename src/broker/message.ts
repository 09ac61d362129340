// A published message. One instance is shared by every queue it is routed to. Its bytes live in
// one buffer laid out as they go on the wire, so a delivery copies ranges and encodes nothing:
//   data = [exchange shortstr][routing-key shortstr][properties: flags + list][body]
import type { FieldTable } from '../amqp/field-table.js';
import { decodeTableAt } from '../amqp/field-table.js';
import { decodeProperties, PropertySummary, scanProperties, type BasicProperties } from '../amqp/properties.js';

export class Message {
  /** Decoded headers, filled on first use (headers exchange, dead-lettering). */
  private headersCache: FieldTable | null | undefined = undefined;

  constructor(
    readonly exchange: string,
    readonly routingKey: string,
    readonly data: Buffer,
    /** End of the exchange and routing-key shortstrs (start of the properties). */
    readonly routeEnd: number,
    /** End of the properties (start of the body). */
    readonly propsEnd: number,
    /** delivery-mode 2. */
    readonly persistent: boolean,
    /** 0-255 from the priority property, or -1 when absent. */
    readonly priority: number,
    /** Per-message TTL in ms from the expiration property, or -1. */
    readonly ttl: number,
    /** Offsets of the headers table contents in `data`, or -1. */
    readonly headersStart: number,
    readonly headersEnd: number,
  ) {}

  get bodySize(): number {
    return this.data.length - this.propsEnd;
  }

  get body(): Buffer {
    return this.data.subarray(this.propsEnd);
  }

  headers(): FieldTable | null {
    if (this.headersCache === undefined) {
      this.headersCache = this.headersStart < 0 ? null : decodeTableAt(this.data, this.headersStart, this.headersEnd);
    }
    return this.headersCache;
  }

  properties(): BasicProperties {
    return decodeProperties(this.data, this.routeEnd, this.propsEnd);
  }
}

/** Writes exchange and routing key as two shortstrs at `pos` of `buf`; returns the end. */
export function writeRoute(buf: Buffer, pos: number, exchange: string, routingKey: string): number {
  const e = buf.write(exchange, pos + 1, 'utf8');
  buf[pos] = e;
  pos += 1 + e;
  const r = buf.write(routingKey, pos + 1, 'utf8');
  buf[pos] = r;
  return pos + 1 + r;
}

/** Builds a message from parts (messages the broker makes: dead-lettering, direct reply-to). */
export function buildMessage(exchange: string, routingKey: string, props: Buffer, body: Buffer): Message {
  const routeLen = 2 + Buffer.byteLength(exchange) + Buffer.byteLength(routingKey);
  const data = Buffer.allocUnsafe(routeLen + props.length + body.length);
  const routeEnd = writeRoute(data, 0, exchange, routingKey);
  props.copy(data, routeEnd);
  body.copy(data, routeEnd + props.length);
  return messageFromStored(data, routeEnd + props.length);
}

const storedProps = new PropertySummary();

/** Rebuilds a message from its stored bytes (same layout as Message.data). */
export function messageFromStored(data: Buffer, propsEnd: number): Message {
  const exLen = data[0];
  const exchange = data.toString('utf8', 1, 1 + exLen);
  const keyAt = 1 + exLen;
  const keyLen = data[keyAt];
  const routingKey = data.toString('utf8', keyAt + 1, keyAt + 1 + keyLen);
  const routeEnd = keyAt + 1 + keyLen;
  const p = storedProps;
  scanProperties(data, routeEnd, propsEnd, p);
  return new Message(exchange, routingKey, data, routeEnd, propsEnd, p.deliveryMode === 2, p.priority, p.expiration,
    p.headersStart, p.headersEnd);
}
