// RabbitMQ's answers (Cowboy's REST rules) for a path that exists asked with a method it does not
// take: 405 with an `allow` header; OPTIONS: 200 with `allow`; a method HTTP does not define: 501.
// Fastify only knows "no such route" (404), so the paths routes were registered with are kept here.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { methodNotAllowed } from './errors.js';

/** Methods Cowboy knows; any other is 501 Not Implemented. */
const KNOWN = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface AllowedMethods {
  /** The methods some route takes for `path`, in Cowboy's order (HEAD with GET, OPTIONS always); empty if none. */
  of(path: string): string[];
}

/** Records every route registered after it on `app` (call before registering them). */
export function trackRoutes(app: FastifyInstance): AllowedMethods {
  const routes: { re: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (r) => {
    // ':name' is one path segment, ':name?' an optional one.
    const pattern = r.url.split('/').slice(1).map((seg) => (seg.startsWith(':') ? (seg.endsWith('?') ? '(?:/[^/]+)?' : '/[^/]+')
      : `/${seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)).join('');
    const re = new RegExp(`^${pattern}/?$`);
    const methods = new Set((Array.isArray(r.method) ? r.method : [r.method]).map((m) => m.toUpperCase()));
    const same = routes.find((x) => x.re.source === re.source);
    if (same) for (const m of methods) same.methods.add(m);
    else routes.push({ re, methods });
  });
  return {
    of(path) {
      const found = new Set<string>();
      for (const r of routes) if (r.re.test(path)) for (const m of r.methods) found.add(m);
      if (found.size === 0) return [];
      if (found.has('GET')) found.add('HEAD');
      found.add('OPTIONS');
      return ['HEAD', 'GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => found.has(m));
    },
  };
}

/** Answers a request no route took: true if it did (405, OPTIONS or 501), false to leave it to the 404. */
export function answerMethod(allowed: AllowedMethods, req: FastifyRequest, reply: FastifyReply): boolean {
  if (!KNOWN.has(req.method)) {
    reply.status(501).send({ error: 'not_implemented', reason: `Method ${req.method} is not implemented` });
    return true;
  }
  const path = req.url.split('?')[0];
  const methods = allowed.of(path);
  if (methods.length === 0 || methods.includes(req.method) && req.method !== 'OPTIONS') return false;
  reply.header('allow', methods.join(', '));
  if (req.method === 'OPTIONS') reply.status(200).send();
  else {
    const e = methodNotAllowed();
    reply.status(e.status).send({ error: e.error, reason: e.reason });
  }
  return true;
}
