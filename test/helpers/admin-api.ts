// A small client for the management HTTP API in tests: one call, basic auth, JSON in and out,
// the status and parsed body back (no assertions here, so tests assert on exactly what matters).
export interface ApiResponse {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export interface Credentials {
  user: string;
  password: string;
}

export const GUEST: Credentials = { user: 'guest', password: 'guest' };

export function basicAuth(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

/** `path` starts after /api/ and is used as given (encode vhost names with encodeURIComponent). */
export async function api(base: string, method: string, path: string, opts: { as?: Credentials | null; body?: unknown } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const as = opts.as === undefined ? GUEST : opts.as;
  if (as !== null) headers.authorization = basicAuth(as);
  const res = await fetch(`${base}/api/${path}`, {
    method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** The same call, failing the test unless the status is one of `ok`. */
export async function apiOk(base: string, method: string, path: string, opts: { as?: Credentials | null; body?: unknown } = {},
  ok: number[] = [200, 201, 204]): Promise<ApiResponse> {
  const r = await api(base, method, path, opts);
  if (!ok.includes(r.status)) throw new Error(`${method} /api/${path} answered ${r.status}: ${r.text}`);
  return r;
}

export const enc = encodeURIComponent;
