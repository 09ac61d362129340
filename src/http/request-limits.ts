// What the management API refuses before any route sees a request, in RabbitMQ's words and
// {"error","reason"} shape: bodies past RabbitMQ's limit, JSON that does not parse or is nested
// deeper than any definitions file, URLs that do not decode, requests Node's parser rejects.
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export const BODY_TOO_LARGE = 'Exceeded HTTP request body size limit';

/** Deeper JSON is never a real request, and recursive code over it (tables, persistence) would overflow the stack. */
export const MAX_JSON_DEPTH = 1000;

/** The body as a JSON object (empty means {}), or RabbitMQ's 400 not_json: every body the API takes is an object. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad_request', 'not_json');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'bad_request', 'not_json');
  if (tooDeep(v, MAX_JSON_DEPTH)) throw new HttpError(400, 'bad_request', `not_json: nested deeper than ${MAX_JSON_DEPTH} levels`);
  return v;
}

/** The query string with each parameter's first value, as RabbitMQ reads a repeated one (?sort=a&sort=b sorts by a). */
export function parseQuery(qs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(qs)) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

/** Whether `v` nests arrays and objects more than `max` deep (without recursion). */
function tooDeep(v: unknown, max: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (d > max) return true;
    for (const c of Array.isArray(x) ? x : Object.values(x as object)) {
      if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
    }
  }
  return false;
}

/** Fastify's own refusals (a URL that does not decode, a parameter too long) in RabbitMQ's shape. */
export function frameworkErrors(err: Error & { statusCode?: number }, _req: FastifyRequest, reply: FastifyReply): void {
  reply.status(err.statusCode ?? 400).send({ error: 'bad_request', reason: err.message });
}

/** Requests Node's HTTP parser refuses (bad request line, headers too large) answered in the same shape. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, reason] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'Client Timeout']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'Exceeded maximum allowed HTTP header size']
      : [400, 'Bad Request', 'Client Error'];
  const body = JSON.stringify({ error: 'bad_request', reason });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}
