// The management HTTP API from tests: one call with basic auth, JSON in and out.

export interface ApiResponse {
  status: number;
  body: any;
  headers: Headers;
}

export type Api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiResponse>;

/** An API client for `base` (http://host:port) as `user`. */
export function apiClient(base: string, user = 'guest', password = 'guest'): Api {
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`${base}/api/${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

export const enc = encodeURIComponent;
