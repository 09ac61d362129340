// Sender-selected distribution (RabbitMQ's CC and BCC headers): a message is also routed with the
// routing keys listed in CC and BCC, and BCC is removed before anyone receives the message.
import { Writer } from '../amqp/codec.js';
import { tableEntries } from '../amqp/field-table.js';
import { rewriteProperties } from '../amqp/properties.js';
import { buildMessage, type Message } from './message.js';

const CC_KEY = Buffer.from('\x02CC');
const BCC_KEY = Buffer.from('\x03BCC');

/** A cheap byte search of the raw headers before decoding them: most messages have no CC/BCC. */
export function mayHaveCc(msg: Message): boolean {
  if (msg.headersStart < 0) return false;
  const h = msg.data.subarray(msg.headersStart, msg.headersEnd);
  return h.indexOf(CC_KEY) >= 0 || h.indexOf(BCC_KEY) >= 0;
}

/** Extra routing keys from the CC and BCC headers, or null. */
export function ccKeys(msg: Message): string[] | null {
  const h = msg.headers();
  if (h === null) return null;
  const keys: string[] = [];
  for (const v of [h.CC, h.BCC]) if (Array.isArray(v)) for (const k of v) if (typeof k === 'string') keys.push(k);
  return keys.length ? keys : null;
}

/** The message without its BCC header (the same message when it has none). */
export function withoutBcc(msg: Message): Message {
  if (msg.headers()?.BCC === undefined) return msg;
  // The other headers are copied as they are.
  const data = msg.data;
  const w = new Writer(msg.headersEnd - msg.headersStart + 4);
  w.u32(0);
  for (const e of tableEntries(data, msg.headersStart, msg.headersEnd)) if (e.key !== 'BCC') w.bytes(data, e.at, e.end);
  w.buf.writeUInt32BE(w.pos - 4, 0);
  const props = rewriteProperties(data, msg.routeEnd, msg.propsEnd, { headers: w.buf.subarray(0, w.pos) });
  return buildMessage(msg.exchange, msg.routingKey, props, msg.body);
}
