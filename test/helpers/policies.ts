// Management API calls for the policy and vhost-limit tests: one fetch wrapper returning status and
// parsed body, and setters that fail loudly when the broker refuses.
import assert from 'node:assert/strict';

export interface ApiResult {
  status: number;
  body: any;
}

/** Calls `path` (below /api/) on the broker's management API as `user` (user:password). */
export async function api(httpUrl: string, method: string, path: string, body?: unknown, user = 'guest:guest'): Promise<ApiResult> {
  const res = await fetch(`${httpUrl}/api/${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(user).toString('base64')}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

export interface PolicyBody {
  pattern: string;
  definition: Record<string, unknown>;
  priority?: number;
  'apply-to'?: string;
}

/** A client for one broker's policy endpoints (vhost '/' unless told). */
export class Policies {
  constructor(private readonly httpUrl: () => string) {}

  call(method: string, path: string, body?: unknown, user?: string): Promise<ApiResult> {
    return api(this.httpUrl(), method, path, body, user);
  }

  async set(name: string, body: PolicyBody, vhost = '/', kind: 'policies' | 'operator-policies' = 'policies'): Promise<void> {
    const r = await this.call('PUT', `${kind}/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`, body);
    assert.ok(r.status === 201 || r.status === 204, `PUT ${kind} ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async clear(name: string, vhost = '/', kind: 'policies' | 'operator-policies' = 'policies'): Promise<void> {
    const r = await this.call('DELETE', `${kind}/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`);
    assert.equal(r.status, 204, `DELETE ${kind} ${name}: ${JSON.stringify(r.body)}`);
  }

  async setLimit(vhost: string, name: string, value: number): Promise<void> {
    const r = await this.call('PUT', `vhost-limits/${encodeURIComponent(vhost)}/${name}`, { value });
    assert.equal(r.status, 204, `PUT vhost-limits ${name}: ${JSON.stringify(r.body)}`);
  }
}
