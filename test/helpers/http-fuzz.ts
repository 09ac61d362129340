// The machinery of the management API fuzz test (test/integration/http-fuzz.test.ts): a raw HTTP
// client over node:net (fetch would normalise the very paths and headers under test), cases
// generated from a seed and a case number (bad JSON, wrong types for every field, huge bodies,
// path tricks, odd methods, bad credentials), and the oracle every answer must pass.
import { connect } from 'node:net';
import { Gen } from './fuzz-grammar.js';
import { rng } from './random.js';
import { caseSeed } from './fuzz-runner.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The socket closed (or timed out) before a complete status line arrived. */
  error?: string;
}

/** RabbitMQ's body limit (management.http.max_body_size, 20,000,000 bytes by default). */
export const MAX_BODY = 20_000_000;

/** One request on a connection of its own ("Connection: close"); the whole answer. */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body: Buffer | null, ms = 20_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(parseResponse(Buffer.concat(chunks), error));
    };
    const timer = setTimeout(() => finish(`no complete answer within ${ms} ms`), ms);
    s.on('data', (d) => {
      chunks.push(d);
      // A server may answer before reading a huge body; the answer is complete once its length arrived.
      const r = parseResponse(Buffer.concat(chunks));
      if (!r.error && (method === 'HEAD' || r.headers['content-length'] === undefined || r.body.length >= Number(r.headers['content-length']))) {
        if (r.headers['content-length'] !== undefined || method === 'HEAD') finish();
      }
    });
    s.on('error', () => finish());
    s.on('close', () => finish());
    s.on('connect', () => {
      const hs: Record<string, string> = { host: '127.0.0.1', connection: 'close', ...headers };
      if (body !== null && hs['content-length'] === undefined) hs['content-length'] = String(body.length);
      const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(hs).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
      s.write(Buffer.from(head, 'latin1'));
      // A server refuses a huge body by its Content-Length and closes: the client, still writing,
      // would see the reset before the answer. So a huge body waits for an early answer first.
      if (body !== null && body.length > (1 << 20)) setTimeout(() => { if (!done) send(body); }, 2000);
      else if (body !== null && body.length > 0) send(body);
    });
    const send = (body: Buffer) => {
      {
        // Huge bodies in pieces, stopping once the server answered and closed.
        const piece = 1 << 20;
        let at = 0;
        const more = () => {
          while (at < body.length && !done && !s.destroyed) {
            const ok = s.write(body.subarray(at, at + piece));
            at += piece;
            if (!ok) { s.once('drain', more); return; }
          }
        };
        more();
      }
    };
  });
}

export function parseResponse(buf: Buffer, error?: string): RawResponse {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), error: error ?? `incomplete answer: ${JSON.stringify(buf.subarray(0, 200).toString('latin1'))}` };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return { status: 0, headers: {}, body: Buffer.alloc(0), error: `bad status line ${JSON.stringify(lines[0])}` };
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = buf.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status: Number(m[1]), headers, body };
}

function unchunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let p = 0;
  while (p < b.length) {
    const eol = b.indexOf('\r\n', p);
    if (eol < 0) break;
    const n = parseInt(b.subarray(p, eol).toString('latin1'), 16);
    if (!(n > 0)) break;
    out.push(b.subarray(eol + 2, eol + 2 + n));
    p = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}

// ------------------------------------------------------------------ cases

export interface HttpCase {
  id: string;
  kind: HttpKind;
  title: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** Statuses the answer must have (any below 500 when absent). */
  status?: number[];
  /** The reason the error body must give (prefix). */
  reason?: string;
  /** A refused request must not have changed anything: the name it would have created. */
  mustNotExist?: string;
}

export type HttpKind = 'json' | 'types' | 'huge' | 'path' | 'method' | 'auth';

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const GUEST = basic('guest', 'guest');
const JSON_HEADERS = { authorization: GUEST, 'content-type': 'application/json' };

/** Users the test creates: one with the management tag and no permissions, one without any tag. */
export const USERS = { mgmt: { name: 'fz-mgmt', password: 'fz-mgmt-pw' }, plain: { name: 'fz-plain', password: 'fz-plain-pw' } };

/** Every route that takes a body, with a valid body and the fields RabbitMQ reads from it. */
interface WriteRoute { method: 'PUT' | 'POST'; path: (p: string) => string; body: Record<string, unknown> }
const WRITE_ROUTES: WriteRoute[] = [
  { method: 'PUT', path: (p) => `/api/queues/%2F/${p}q`, body: { durable: false, auto_delete: true, arguments: { 'x-message-ttl': 1000, 'x-max-length': 10 } } },
  { method: 'PUT', path: (p) => `/api/exchanges/%2F/${p}x`, body: { type: 'direct', durable: false, auto_delete: true, internal: false, arguments: {} } },
  { method: 'POST', path: () => '/api/bindings/%2F/e/amq.direct/q/fz-http-q', body: { routing_key: 'rk', arguments: { a: 1 } } },
  { method: 'POST', path: () => '/api/bindings/%2F/e/amq.direct/e/amq.fanout', body: { routing_key: 'rk', arguments: {} } },
  { method: 'PUT', path: (p) => `/api/users/${p}u`, body: { password: 'pw', tags: 'management' } },
  { method: 'PUT', path: (p) => `/api/users/${p}u2`, body: { password_hash: 'AAAA', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring'] } },
  { method: 'PUT', path: () => `/api/permissions/%2F/${USERS.mgmt.name}`, body: { configure: '^$', write: '^$', read: '^$' } },
  { method: 'PUT', path: () => `/api/topic-permissions/%2F/${USERS.mgmt.name}`, body: { exchange: 'amq.topic', write: '^$', read: '^$' } },
  { method: 'PUT', path: (p) => `/api/policies/%2F/${p}pol`, body: { pattern: '^fz-none$', definition: { 'max-length': 5 }, priority: 0, 'apply-to': 'queues' } },
  { method: 'PUT', path: (p) => `/api/operator-policies/%2F/${p}op`, body: { pattern: '^fz-none$', definition: { 'max-length': 5 }, priority: 0, 'apply-to': 'queues' } },
  { method: 'PUT', path: (p) => `/api/vhosts/${p}vh`, body: { description: 'd', tags: 'a,b', default_queue_type: 'classic', tracing: false } },
  { method: 'PUT', path: () => '/api/vhost-limits/%2F/max-connections', body: { value: 1000 } },
  { method: 'PUT', path: (p) => `/api/parameters/federation-upstream/%2F/${p}up`, body: { value: { uri: 'amqp://localhost' } } },
  { method: 'PUT', path: (p) => `/api/global-parameters/${p}gp`, body: { value: { a: 1 } } },
  { method: 'POST', path: () => '/api/definitions', body: { queues: [], exchanges: [], bindings: [], users: [], vhosts: [], permissions: [], policies: [], parameters: [] } },
  { method: 'POST', path: () => '/api/exchanges/%2F/amq.default/publish', body: { properties: { headers: { a: 1 } }, routing_key: 'fz-http-q', payload: 'x', payload_encoding: 'string' } },
  { method: 'POST', path: () => '/api/queues/%2F/fz-http-q/get', body: { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 100 } },
  { method: 'POST', path: () => '/api/users/bulk-delete', body: { users: ['fz-nobody'] } },
  { method: 'PUT', path: () => '/api/cluster-name', body: { name: 'warren-fuzz' } },
];

/** Routes to fetch with odd methods and odd paths (the names exist: the test declares them). */
export const READ_ROUTES = [
  '/api/overview', '/api/nodes', '/api/nodes/x', '/api/definitions', '/api/definitions/%2F', '/api/connections', '/api/channels', '/api/consumers',
  '/api/consumers/%2F', '/api/exchanges', '/api/exchanges/%2F', '/api/exchanges/%2F/amq.direct', '/api/exchanges/%2F/amq.direct/bindings/source',
  '/api/exchanges/%2F/amq.direct/bindings/destination', '/api/queues', '/api/queues/%2F', '/api/queues/%2F/fz-http-q', '/api/queues/%2F/fz-http-q/bindings',
  '/api/queues/%2F/fz-http-q/contents', '/api/bindings', '/api/bindings/%2F', '/api/bindings/%2F/e/amq.direct/q/fz-http-q', '/api/vhosts', '/api/vhosts/%2F',
  '/api/vhosts/%2F/connections', '/api/vhosts/%2F/channels', '/api/vhosts/%2F/permissions', '/api/users', '/api/users/guest', '/api/users/guest/permissions',
  '/api/users/without-permissions', '/api/whoami', '/api/permissions', '/api/permissions/%2F/guest', '/api/topic-permissions', '/api/parameters',
  '/api/parameters/federation-upstream', '/api/global-parameters', '/api/policies', '/api/policies/%2F', '/api/operator-policies', '/api/vhost-limits',
  '/api/vhost-limits/%2F', '/api/extensions', '/api/cluster-name', '/api/auth', '/api/aliveness-test/%2F', '/api/healthchecks/node',
  '/api/health/checks/alarms', '/api/health/checks/local-alarms', '/api/health/checks/virtual-hosts', '/api/health/checks/port-listener/1',
  '/api/health/checks/protocol-listener/amqp', '/api/health/checks/certificate-expiration/1/days', '/api/health/checks/node-is-quorum-critical',
  '/api/all-configuration', '/api/rebalance/queues', '/api/users/bulk-delete', '/', '/api/', '/api', '/api/nope',
];

const METHODS = ['GET', 'HEAD', 'OPTIONS', 'PATCH', 'PUT', 'POST', 'DELETE', 'TRACE', 'PROPFIND', 'get', 'M-SEARCH'];

/** Values of a wrong type (and odd values of the right one) for any field. */
function oddValue(g: Gen): unknown {
  return g.pick<() => unknown>([
    () => null, () => true, () => false, () => 0, () => -1, () => 1.5, () => 2 ** 64, () => -(2 ** 63), () => Number.MAX_VALUE, () => 1e-300,
    () => '', () => 'x', () => 'true', () => '1', () => '\u0000', () => '\ud800', () => 'é'.repeat(300), () => 'a'.repeat(g.pick([256, 70_000])),
    () => [], () => [1, 'a', null], () => [[[]]], () => ({}), () => ({ a: { b: [1] } }), () => ({ __proto__: { x: 1 } }),
    () => ({ 'x-message-ttl': 'soon', 'x-max-length': -5, 'x-queue-type': 'nope', 'x-dead-letter-exchange': 7 }),
  ])();
}

/** JSON text with numbers no double holds. */
const HUGE_NUMBERS = ['1e400', '-1e400', '123456789012345678901234567890', '1e-400', '-0', '0.0000000000000000000000000001', '9007199254740993', '1E+308'];

/** A nested JSON text, `depth` deep, built without recursion. */
export function deepJson(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Generated case number k of a seed (of one kind only if `only` is given). */
export function generateHttpCase(seed: number, k: number, port: number, only?: HttpKind): HttpCase {
  const g = new Gen(rng(caseSeed(seed ^ 0x48545450, k)));
  const prefix = `fz-http-${k}-`;
  const picked = g.weighted<HttpKind>([[25, 'json'], [30, 'types'], [2, 'huge'], [18, 'path'], [12, 'method'], [13, 'auth']]);
  const kind = only ?? picked;
  const id = String(k);
  const route = g.pick(WRITE_ROUTES);
  const base = { id, kind, method: route.method, path: route.path(prefix), headers: { ...JSON_HEADERS } as Record<string, string> };
  void port;
  switch (kind) {
    case 'json': {
      const valid = JSON.stringify(route.body);
      const variant = g.pick(['truncated', 'deep', 'deep-field', 'numbers', 'garbage', 'bom', 'duplicate', 'proto', 'scalar', 'content-type'] as const);
      let text: string;
      let status: number[] | undefined = [400];
      switch (variant) {
        case 'truncated': text = valid.slice(0, g.between(1, valid.length - 1)); break;
        case 'deep': text = deepJson(g.pick([2000, 100_000, 500_000]), g.pick(['array', 'object'] as const)); break;
        case 'deep-field': {
          // A valid object whose one field is nested very deep: the handler, not the parser, meets it.
          const field = g.pick([...Object.keys(route.body), 'arguments', 'definition', 'value', 'properties']);
          text = `{${JSON.stringify(field)}:${deepJson(g.pick([1000, 20_000, 100_000]), g.pick(['array', 'object'] as const))}}`;
          status = undefined;
          break;
        }
        case 'numbers': {
          const fields = Object.keys(route.body);
          const f = g.pick(fields);
          text = valid.replace(`"${f}":`, `"${f}":${g.pick(HUGE_NUMBERS)},"${f}-was":`);
          status = undefined;
          break;
        }
        case 'garbage': text = g.pick(['{', '}', '[', '{"a"', '{"a":}', "{'a':1}", 'undefined', 'NaN', '{"a":1,}', '\u0000', '{"a":"\\x"}', 'nul', '{"a":01}', '\u00ff\u00fe{}']); break;
        case 'bom': text = `\ufeff${valid}`; status = undefined; break;
        case 'duplicate': text = valid.replace(/^\{/, `{${Object.keys(route.body).map((f) => `"${f}":null`).join(',')},`); status = undefined; break;
        case 'proto': text = valid.replace(/^\{/, '{"__proto__":{"durable":true,"tags":"administrator"},"constructor":{"prototype":{"x":1}},'); status = undefined; break;
        case 'scalar': text = g.pick(['1', '"x"', 'true', 'null', '[]', '[{}]', '""']); break;
        default: {
          text = valid;
          base.headers['content-type'] = g.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '']);
          status = undefined;
        }
      }
      return { ...base, title: `${route.method} ${base.path} with ${variant} JSON (${text.length} bytes)`, body: Buffer.from(text), status };
    }
    case 'types': {
      const body: Record<string, unknown> = { ...route.body };
      const fields = [...Object.keys(route.body), ...g.chance(0.2) ? ['name', 'vhost', 'destination_type', 'props', 'user'] : []];
      const changed: string[] = [];
      for (let i = g.between(1, 2); i > 0; i--) {
        const f = g.pick(fields);
        body[f] = oddValue(g);
        changed.push(`${f}=${JSON.stringify(body[f])?.slice(0, 40)}`);
      }
      return { ...base, title: `${route.method} ${base.path} with ${changed.join(', ')}`, body: Buffer.from(JSON.stringify(body)) };
    }
    case 'huge': {
      // Just past RabbitMQ's limit (refused whatever the content), or just under it (must not fail).
      const over = g.chance(0.7);
      const size = over ? MAX_BODY + g.pick([1, 1000, 5_000_000]) : MAX_BODY - 1000;
      const target = g.pick([route, WRITE_ROUTES[15], WRITE_ROUTES[14]]);
      const [head, tail] = target === WRITE_ROUTES[15]
        ? ['{"properties":{},"routing_key":"fz-http-nowhere","payload_encoding":"string","payload":"', '"}'] : ['{"padding":"', '"}'];
      const json = `${head}${'x'.repeat(size - head.length - tail.length)}${tail}`;
      const path = target.path(prefix);
      return {
        ...base, method: target.method, path, title: `${target.method} ${path} with a ${json.length}-byte body`, body: Buffer.from(json),
        ...over ? { status: [400], reason: 'Exceeded HTTP request body size limit' } : {},
      };
    }
    case 'path': return pathCase(g, id, prefix);
    case 'method': {
      const method = g.pick(METHODS);
      const path = g.pick(READ_ROUTES);
      return {
        id, kind, method, path, title: `${method} ${path}`, headers: { authorization: GUEST, ...g.chance(0.2) ? { 'x-http-method-override': 'DELETE' } : {} },
        body: ['PUT', 'POST', 'PATCH'].includes(method) ? Buffer.from('{}') : null,
      };
    }
    default: return authCase(g, id);
  }
}

/** Paths that try to reach another resource, break the decoder or the router. */
function pathCase(g: Gen, id: string, prefix: string): HttpCase {
  const name = `${prefix}p`;
  const trick = g.pick<[string, string, number[] | undefined]>([
    ['dot-dot', '/api/queues/%2F/../../users', undefined],
    ['encoded dot-dot', '/api/queues/%2F/%2e%2e%2f%2e%2e%2fusers', undefined],
    ['double-encoded', '/api/vhosts/%252F', undefined],
    ['slash vhost', '/api/queues///fz-http-q', undefined],
    ['encoded slash in name', `/api/queues/%2F/${name}%2Fsub`, undefined],
    ['null byte', `/api/queues/%2F/${name}%00evil`, undefined],
    ['raw null byte', `/api/queues/%2F/${name}\u0000x`, [400]],
    ['bad percent', `/api/queues/%2F/${name}%zz`, [400]],
    ['lone percent', '/api/queues/%', [400]],
    ['overlong utf-8', '/api/queues/%c0%af/x', undefined],
    ['invalid utf-8', '/api/queues/%2F/%ff%fe', undefined],
    ['unicode', `/api/queues/%2F/${encodeURIComponent(`${name}🐇é`)}`, undefined],
    ['long name', `/api/queues/%2F/${'n'.repeat(g.pick([255, 256, 2049, 8000]))}`, undefined],
    ['very long path', `/api/${'a/'.repeat(g.pick([5000, 40_000]))}`, undefined],
    ['long query', `/api/queues?${'sort=name&'.repeat(g.pick([100, 2000]))}`, undefined],
    ['trailing junk', `/api/overview${g.pick([';x', '%20', '/.', '/..', '#frag', '?', '??', '&', '/%2e'])}`, undefined],
    ['double slashes', '//api//overview', undefined],
    ['absolute form', 'http://127.0.0.1/api/overview', undefined],
    ['asterisk', '*', undefined],
    ['backslashes', '/api\\users', undefined],
    ['query tricks', `/api/queues?page=${g.pick(['-1', '0', '1e9', 'x', '99999999999999999999'])}&page_size=${g.pick(['0', '-5', '100000', 'NaN'])}&sort=${g.pick(['__proto__', 'constructor', 'message_stats.x.y.z', ''])}`, undefined],
    ['columns', `/api/queues?columns=${g.pick(['__proto__', 'a.b.c.d.e', ',,,', 'name,'.repeat(500)])}`, undefined],
    ['regex filter', `/api/queues?name=${encodeURIComponent(g.pick(['(a+)+$', '[', '*', '\\', '(?<x>', 'a{99999999}']))}&use_regex=true`, undefined],
  ]);
  // As a management-only user: a trick must never reach what only administrators may read.
  const asMgmt = g.chance(0.4);
  // A request line past Node's 16 kB is refused before the body is read: a body would race the reset.
  const method = trick[1].length > 16_000 ? 'GET' : g.pick(['GET', 'GET', 'PUT', 'DELETE']);
  return {
    id, kind: 'path', method, path: trick[1], title: `${method} ${trick[0]}: ${trick[1].slice(0, 100)}${asMgmt ? ' as a management user' : ''}`,
    headers: { authorization: asMgmt ? basic(USERS.mgmt.name, USERS.mgmt.password) : GUEST, 'content-type': 'application/json' },
    body: method === 'PUT' ? Buffer.from('{}') : null, status: trick[2],
  };
}

/** Credentials gone wrong: each must be refused with RabbitMQ's 401 (431 for a header past Node's limit). */
function authCase(g: Gen, id: string): HttpCase {
  const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
  const [what, header, status] = g.pick<[string, string | null, number[]]>([
    ['no header', null, [401]],
    ['malformed base64', 'Basic !!!!****', [401]],
    ['no colon', `Basic ${b64('guestguest')}`, [401]],
    ['empty user', `Basic ${b64(':guest')}`, [401]],
    ['empty password', `Basic ${b64('guest:')}`, [401]],
    ['both empty', `Basic ${b64(':')}`, [401]],
    ['wrong password', basic('guest', 'nope'), [401]],
    ['unknown user', basic('fz-nobody', 'x'), [401]],
    ['user without management tag', basic(USERS.plain.name, USERS.plain.password), [401]],
    ['bearer', 'Bearer abc.def.ghi', [401]],
    ['scheme only', 'Basic', [401]],
    ['lower-case scheme, padding', `basic    ${b64('guest:nope')}==`, [401]],
    ['null byte in user', `Basic ${b64('guest\u0000:guest')}`, [401]],
    ['latin-1 user', `Basic ${b64('gü€st:guest')}`, [401]],
    ['long user (8 kB)', `Basic ${b64(`${'u'.repeat(6000)}:x`)}`, [401]],
    ['huge header (64 kB)', `Basic ${b64(`${'u'.repeat(48_000)}:x`)}`, [431]],
    ['two colons', `Basic ${b64('guest:guest:guest')}`, [401]],
  ]);
  const path = g.pick(['/api/overview', '/api/users', '/api/queues/%2F', '/api/definitions', '/api/whoami']);
  const method = g.pick(['GET', 'GET', 'PUT', 'DELETE', 'POST']);
  return {
    id, kind: 'auth', method, path: method === 'GET' ? path : `/api/queues/%2F/fz-http-auth-${id}`, title: `${method} with ${what}`,
    headers: header === null ? {} : { authorization: header, 'content-type': 'application/json' },
    body: method === 'GET' || method === 'DELETE' ? null : Buffer.from('{}'), status,
    ...method === 'PUT' ? { mustNotExist: `fz-http-auth-${id}` } : {},
  };
}

/**
 * The oracle: never a 5xx (the health checks excepted, which answer 503 when they fail), never
 * no answer; an error from /api/ is RabbitMQ's {"error", "reason"}; the status and reason the
 * case names, if it names them; nothing only administrators may read reaches another user.
 */
export function judge(c: HttpCase, r: RawResponse): string[] {
  const out: string[] = [];
  if (r.error) return [`no answer: ${r.error}`];
  const health = /^\/api\/(health|aliveness)/.test(c.path);
  // Cowboy's 501 for a method HTTP does not define is RabbitMQ's answer too.
  const unknownMethod = !['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].includes(c.method);
  if (r.status >= 500 && !(health && r.status === 503) && !(unknownMethod && r.status === 501)) out.push(`answered ${r.status}: ${r.body.subarray(0, 300).toString()}`);
  if (c.status && !c.status.includes(r.status)) out.push(`answered ${r.status}, expected ${c.status.join(' or ')}: ${r.body.subarray(0, 200).toString()}`);
  const isApi = /^\/+api/i.test(c.path);
  // Node's own parser refusals (400 on a malformed request line, 431 on huge headers) come before any route.
  const fromParser = r.status === 431 || (r.status === 400 && r.body.length === 0 && r.headers['content-type'] === undefined);
  let json: any;
  if (r.status >= 400 && isApi && !fromParser && c.method !== 'HEAD') {
    try {
      json = JSON.parse(r.body.toString('utf8'));
    } catch {
      out.push(`error answer ${r.status} is not JSON: ${JSON.stringify(r.body.subarray(0, 200).toString())}`);
    }
    // RabbitMQ's reason is a string, or a list for some refusals (["no_such_user","x"]); a failed
    // health check says {"status":"failed","reason"}.
    const shaped = typeof json === 'object' && json !== null && (typeof json.error === 'string' || (health && json.status === 'failed'))
      && (typeof json.reason === 'string' || Array.isArray(json.reason));
    if (json !== undefined && !shaped) {
      out.push(`error answer ${r.status} is not {"error","reason"}: ${r.body.subarray(0, 200).toString()}`);
    }
    if (c.reason && json && typeof json.reason === 'string' && !json.reason.startsWith(c.reason)) out.push(`reason "${json.reason}", expected "${c.reason}"`);
    if (r.status === 401 && json && !['not_authorized', 'not_authorised'].includes(json.error)) out.push(`401 with error "${json.error}"`);
  }
  if (r.status === 200 && c.headers.authorization !== GUEST && /password_hash/.test(r.body.toString('latin1'))) {
    out.push('a non-administrator read password hashes');
  }
  return out;
}
