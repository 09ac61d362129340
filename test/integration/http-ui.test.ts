// The web UI's static files on the management port: the page at /, its assets under /assets/
// (gzipped when asked, revalidated by ETag), no login needed for them while /api/ still needs one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { request } from 'node:http';
import { startBroker, type TestBroker } from '../helpers/broker.js';

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b?.stop(); });

/** A raw GET (fetch would decompress and hide content-encoding). */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${b.httpUrl}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('/ serves the UI page without a login; it loads its script and styles from /assets/', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
  assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  const html = r.body.toString();
  assert.match(html, /<script type="module" src="assets\/app\.js">/);
  assert.match(html, /<link rel="stylesheet" href="assets\/app\.css">/);
  const js = await get('/assets/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  assert.ok(js.body.length > 10_000, 'the bundled script');
  const css = await get('/assets/app.css');
  assert.equal(css.status, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
});

test('assets are gzipped when the browser accepts it, and revalidated with their ETag', async () => {
  const plain = await get('/assets/app.js');
  const zipped = await get('/assets/app.js', { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.ok(zipped.body.length < plain.body.length / 2);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);
  assert.equal(plain.headers['cache-control'], 'no-cache');
  const etag = String(plain.headers.etag);
  assert.match(etag, /^"[\w-]+"$/);
  const again = await get('/assets/app.js', { 'if-none-match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
});

test('unknown assets are 404 in RabbitMQ\'s error shape; paths cannot leave the UI folder', async () => {
  for (const p of ['/assets/nope.js', '/assets/..%2F..%2Fpackage.json', '/assets/index.html']) {
    const r = await get(p);
    assert.equal(r.status, 404, p);
    assert.deepEqual(JSON.parse(r.body.toString()), { error: 'Object Not Found', reason: 'Not Found' });
  }
});

test('the API still needs a login', async () => {
  const r = await get('/api/overview');
  assert.equal(r.status, 401);
});
