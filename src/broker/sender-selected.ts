// Sender-selected distribution (RabbitMQ's CC and BCC headers): a message is also routed with the
// routing keys listed in CC and BCC, and BCC is removed before anyone receives the message.
import { propertiesToBuffer } from '../amqp/properties.js';
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
  const props = msg.properties();
  delete props.headers!.BCC;
  return buildMessage(msg.exchange, msg.routingKey, propertiesToBuffer(props), msg.body);
}
