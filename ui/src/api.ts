// The one way the UI talks to Warren: the management HTTP API with the basic-auth header from the
// login form, kept in sessionStorage (gone when the tab closes), as RabbitMQ's UI does.
const AUTH_KEY = 'warren.auth';

export class ApiError extends Error {
  constructor(readonly status: number, readonly error: string, reason: string) {
    super(reason);
  }
}

export interface Me { name: string; tags: string[] }

let onLoggedOut: (why: string) => void = () => {};
export function whenLoggedOut(fn: (why: string) => void): void { onLoggedOut = fn; }

export function savedAuth(): string | null { return sessionStorage.getItem(AUTH_KEY); }
export function saveAuth(user: string, password: string): string {
  const h = 'Basic ' + btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
  sessionStorage.setItem(AUTH_KEY, h);
  return h;
}
export function forgetAuth(): void { sessionStorage.removeItem(AUTH_KEY); }

/** `path` without the /api prefix; resolves with the JSON body (undefined for 204). */
export async function api<T = unknown>(method: string, path: string, body?: unknown, opts: { auth?: string | null; headers?: Record<string, string> } = {}): Promise<T> {
  const auth = opts.auth === undefined ? savedAuth() : opts.auth;
  const headers: Record<string, string> = { ...opts.headers };
  if (auth !== null) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    // credentials 'omit': the Authorization header is ours; without this a refused login (401 with
    // a Basic challenge, as RabbitMQ sends) makes the browser pop up its own password dialog.
    res = await fetch(`api${path}`, { method, headers, credentials: 'omit', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network', `Warren did not answer (${(err as Error).message}); is it running? Retrying on the next refresh.`);
  }
  const text = await res.text();
  let json: unknown;
  try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: string; reason?: unknown };
    const reason = typeof e.reason === 'string' ? e.reason : e.reason !== undefined ? JSON.stringify(e.reason) : `${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, e.error ?? 'error', reason);
    // A login that stopped working (password changed, user deleted): back to the login form.
    if (res.status === 401 && e.error !== 'not_authorised' && auth === savedAuth()) onLoggedOut(reason);
    throw err;
  }
  return json as T;
}

export const enc = encodeURIComponent;
/** Query string from the defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | undefined>): string {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${enc(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export interface Page<T> { items: T[]; filtered_count: number; item_count: number; page: number; page_count: number; page_size: number; total_count: number }
