// Broker operations fail with RabbitMQ's reply codes and texts; the server turns an AmqpError
// into channel.close (soft errors) or connection.close (hard errors).
import { HARD_ERROR_CODES, REPLY_NAMES } from '../amqp/methods.js';

export class AmqpError extends Error {
  /** Set by the server to the method that failed, for the close frame. */
  classId = 0;
  methodId = 0;
  /** classId/methodId were chosen where the error arose and must be kept (0/0 names no method). */
  methodNamed = false;

  /** Names the method the close frame reports, instead of the one being handled. */
  naming(methodId: number): this {
    this.classId = methodId >>> 16;
    this.methodId = methodId & 0xffff;
    this.methodNamed = true;
    return this;
  }

  constructor(readonly code: number, detail: string) {
    super(`${REPLY_NAMES[code] ?? 'INTERNAL_ERROR'} - ${detail}`);
  }

  get hard(): boolean {
    return HARD_ERROR_CODES.has(this.code);
  }
}

export const accessRefused = (detail: string) => new AmqpError(403, detail);
export const notFound = (detail: string) => new AmqpError(404, detail);
export const resourceLocked = (detail: string) => new AmqpError(405, detail);
export const preconditionFailed = (detail: string) => new AmqpError(406, detail);
export const frameError = (detail: string) => new AmqpError(501, detail);
export const syntaxError = (detail: string) => new AmqpError(502, detail);
export const commandInvalid = (detail: string) => new AmqpError(503, detail);
export const channelError = (detail: string) => new AmqpError(504, detail);
export const unexpectedFrame = (detail: string) => new AmqpError(505, detail);
export const resourceError = (detail: string) => new AmqpError(506, detail);
export const notAllowed = (detail: string) => new AmqpError(530, detail);
export const notImplemented = (detail: string) => new AmqpError(540, detail);
export const internalError = (detail: string) => new AmqpError(541, detail);

/** "queue 'q' in vhost '/'" — the way RabbitMQ names resources in reply texts. */
export const describe = (kind: 'queue' | 'exchange', name: string, vhost: string) =>
  `${kind} '${name}' in vhost '${vhost}'`;
