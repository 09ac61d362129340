// A small client for the management HTTP API (RabbitMQ's paths and shapes): basic auth, JSON in
// and out, and failures turned into warrenctl's errors with rabbitmqctl's exit codes.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CtlError, dataError, EXIT_DATAERR, EXIT_SOFTWARE, EXIT_TEMPFAIL, EXIT_UNAVAILABLE } from './errors.js';

export interface ApiTarget {
  /** Base URL without credentials or trailing slash, e.g. http://127.0.0.1:15672 */
  url: string;
  user: string;
  password: string;
  /** Per-request timeout in ms. */
  timeoutMs: number;
  /** For https: CA certificates (PEM) to trust besides the system's, and whether to skip verification. */
  ca?: Buffer;
  insecure?: boolean;
}

/** The API answered with an error status; `reason` is RabbitMQ's text. */
export class ApiError extends CtlError {
  constructor(readonly status: number, readonly error: string, readonly reason: string, readonly method: string, readonly path: string) {
    // 400 and 404 mean the input was wrong or named something missing (rabbitmqctl's
    // no_such_vhost and bad-argument cases: 65); refusals and failures are 70.
    super(`${reason || error} (${method} ${path}: ${status}${error && error !== reason ? ` ${error}` : ''})`,
      status === 400 || status === 404 ? EXIT_DATAERR : EXIT_SOFTWARE);
  }
}

/** `encodeURIComponent` for path segments: vhost "/" becomes %2F as the API expects. */
export const enc = (s: string) => encodeURIComponent(s);

// RabbitMQ HTML-escapes some reasons (policy validation); print them as written.
const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'" };
const unescapeHtml = (s: string) => s.replace(/&(lt|gt|amp|quot|#39);/g, (m) => ENTITIES[m]);

interface RawResponse {
  status: number;
  statusText: string;
  text: string;
}

/**
 * One HTTP exchange with node:http(s). Not fetch(): loading undici costs a CLI about half a
 * second a run, more than the request itself.
 */
function exchange(url: URL, method: string, headers: Record<string, string>, body: string | undefined, target: ApiTarget): Promise<RawResponse> {
  const tls = url.protocol === 'https:';
  const send = tls ? httpsRequest : httpRequest;
  const timeoutMs = target.timeoutMs;
  const options = {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    ...(tls && target.ca !== undefined ? { ca: target.ca } : {}),
    ...(tls && target.insecure === true ? { rejectUnauthorized: false } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT_WARRENCTL' })));
    req.on('error', reject);
    req.end(body);
  });
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Credentials other than the target's (authenticate_user). */
  auth?: { user: string; password: string };
}

export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const fullPath = `/api${path}${qs.size ? `?${qs}` : ''}`;
    const { user, password } = opts.auth ?? this.target;
    // No Accept header: RabbitMQ 3.10's vhost-limits answers 406 to "application/json".
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      ...opts.headers,
    };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: RawResponse;
    try {
      res = await exchange(new URL(this.target.url + fullPath), method, headers, body, this.target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ETIMEDOUT_WARRENCTL') {
        throw new CtlError(`${method} ${fullPath} timed out after ${this.target.timeoutMs / 1000} s (use --timeout to wait longer)`, EXIT_TEMPFAIL);
      }
      if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
        throw new CtlError(`the management API at ${this.target.url} presented a certificate warrenctl does not trust (${code}); `
          + 'pass its CA with --cacert FILE (or WARRENCTL_CACERT), or --insecure to skip the check', EXIT_UNAVAILABLE);
      }
      throw new CtlError(`unable to reach Warren's management API at ${this.target.url}: ${code ?? (err as Error).message}. ` +
        'Is Warren running? Is the management port right (--port, --url or WARRENCTL_URL)?', EXIT_UNAVAILABLE);
    }
    const text = res.text;
    let json: unknown;
    if (text !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
    }
    if (res.status < 200 || res.status > 299) {
      const e = (json ?? {}) as { error?: unknown; reason?: unknown };
      const reason = typeof e.reason === 'string' ? unescapeHtml(e.reason).trim().replace(/\s*\n\s*/g, ' ') : typeof json === 'string' ? json : res.statusText;
      throw new ApiError(res.status, typeof e.error === 'string' ? e.error : res.statusText, reason, method, fullPath);
    }
    return json;
  }

  get<T = unknown>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request('GET', path, opts) as Promise<T>;
  }

  put(path: string, body: unknown): Promise<unknown> {
    return this.request('PUT', path, { body });
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.request('POST', path, { body });
  }

  delete(path: string, opts?: RequestOptions): Promise<unknown> {
    return this.request('DELETE', path, opts);
  }

  /** GET that answers undefined for a 404 instead of failing (does this object exist?). */
  async find<T = unknown>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}

/** Runs `p`, turning a 404 into a data error that says what was missing (the API only says "Not Found"). */
export async function orMissing<T>(p: Promise<T>, missing: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) throw dataError(`${missing} (${err.method} ${err.path}: 404)`);
    throw err;
  }
}

export const noVhost = (vhost: string) => `virtual host "${vhost}" does not exist`;
export const noUser = (user: string) => `user "${user}" does not exist`;
