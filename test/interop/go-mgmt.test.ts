// The management API closing a Go client's connection: a program on github.com/rabbitmq/amqp091-go
// (test/interop/go-mgmt) connects, the test finds it in GET /api/connections by its
// connection_name and DELETEs it, and the client's NotifyClose must report 320 CONNECTION_FORCED
// with the X-Reason text. Skipped like the other Go checks when Go or the library is missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/amqp.js';
import { apiClient, enc } from '../helpers/http.js';
import { buildGoProgram, orSkip } from './support.js';

describe('interop: management API closes a Go client', { timeout: 240_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  it('amqp091-go sees 320 CONNECTION_FORCED with the X-Reason text', { timeout: 200_000 }, async (t) => {
    const bin = await orSkip(t, () => buildGoProgram('go-mgmt', 'amqp091', 'mgmt'));
    if (bin === undefined) return;
    const name = `go-client-${process.pid}`;
    const child = spawn(bin, [`${broker.url}/`, name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const api = apiClient(broker.httpUrl);
      let conn: any;
      await eventually(async () => {
        conn = ((await api('GET', 'connections')).body as any[]).find((c) => c.user_provided_name === name);
        assert.ok(conn, `the Go client is listed (output so far: ${out})`);
      }, 'Go client connected', 15_000);
      assert.equal(conn.protocol, 'AMQP 0-9-1');
      assert.equal(conn.client_properties.connection_name, name);
      const r = await api('DELETE', `connections/${enc(conn.name)}`, undefined, { 'x-reason': 'closed by the Go interop test' });
      assert.equal(r.status, 204);
      const code = await exited;
      assert.equal(code, 0, out);
      assert.match(out, /^connected\nclosed 320 CONNECTION_FORCED - closed by the Go interop test\n$/);
    } finally {
      child.kill();
    }
  });
});
