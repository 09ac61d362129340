// The web UI's static files (built from ui/ into dist/ui by `npm run build`), served from the
// management port: `/` is the page, `/assets/*` its script, styles and icon. Read once and kept
// gzipped in memory: a few hundred kilobytes at most. The API's auth hook applies to /api/ only.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

// compiled to dist/src/http/ui.js; the built UI is dist/ui
const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset { type: string; body: Buffer; gzipped: Buffer; etag: string }

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { type, body, gzipped: gzipSync(body), etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  // no-cache: the browser revalidates with the ETag, so a rebuilt UI is picked up at once
  reply.header('content-type', a.type).header('cache-control', 'no-cache').header('etag', a.etag).header('vary', 'accept-encoding');
  // The page loads only its own script and styles and talks only to this origin; no framing.
  reply.header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    .header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(a.gzipped);
  return reply.send(a.body);
}

export function uiRoutes(app: FastifyInstance, dir = UI_DIR): void {
  const assets = loadAssets(dir);
  const page = assets.get('index.html');
  app.get('/', async (req, reply) => {
    if (page === undefined) {
      return reply.status(503).type('text/plain; charset=utf-8').send(`Warren's web UI is not built (no ${dir}/index.html): run \`npm run build\`. The HTTP API is under /api/.\n`);
    }
    return send(req, reply, page);
  });
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const a = req.params.file === 'index.html' ? undefined : assets.get(req.params.file);
    if (a === undefined) return reply.status(404).send({ error: 'Object Not Found', reason: 'Not Found' });
    return send(req, reply, a);
  });
}
