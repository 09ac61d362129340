// Other languages' clients over amqps: github.com/rabbitmq/amqp091-go (test/interop/go-tls) and
// pika (test/interop/python/pika_tls.py), each logging in with PLAIN and with EXTERNAL (the
// client certificate), and refused with a certificate from another CA. curl fetches
// /api/overview and /metrics over HTTPS. Needs the Debian packages golang-go,
// golang-github-rabbitmq-amqp091-go-dev, python3-pika and curl; skipped without them (failed under CI).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { TLS_FIXTURES as FIXTURES, mutualTlsBroker } from '../helpers/tls.js';
import { INTEROP_DIR, assertAllOk, buildGoProgram, comments, orSkip, requireOnPath, requireTool, runChecks } from './support.js';

const PYTHON = '/usr/bin/python3';
const CHECKS = ['tls_plain_login', 'tls_external_login', 'tls_wrong_ca_refused'];

describe('interop: clients over TLS', { timeout: 300_000 }, () => {
  let broker: TestBroker;
  let amqpsPort: number;
  let httpsPort: number;
  let metricsPort: number;
  before(async () => {
    [amqpsPort, httpsPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    broker = await startBroker(mutualTlsBroker({ amqps: amqpsPort, https: httpsPort, metrics: metricsPort }));
  });
  after(async () => { await broker?.stop(); });

  it('amqp091-go over amqps: PLAIN, EXTERNAL, another CA refused', { timeout: 240_000 }, async (t) => {
    const bin = await orSkip(t, () => buildGoProgram('go-tls', 'amqp091', 'tls'));
    if (bin === undefined) return;
    const run = await runChecks(bin, [`amqps://guest:guest@127.0.0.1:${amqpsPort}/`, FIXTURES]);
    for (const line of comments(run)) t.diagnostic(line.slice(2));
    assertAllOk(run, CHECKS);
  });

  it('pika over TLS: PLAIN, EXTERNAL, another CA refused', { timeout: 90_000 }, async (t) => {
    if (!await orSkip(t, () => { requireTool('Python 3 with pika', PYTHON, ['-c', 'import pika'], 'python3-pika'); return true; })) return;
    const run = await runChecks(PYTHON, [join(INTEROP_DIR, 'python', 'pika_tls.py'), '127.0.0.1', String(amqpsPort), FIXTURES],
      { PYTHONPATH: undefined, PYTHONHOME: undefined });
    for (const line of comments(run)) t.diagnostic(line.slice(2));
    assertAllOk(run, CHECKS);
  });

  it('curl over HTTPS: /api/overview with Basic auth, /metrics', async (t) => {
    if (!await orSkip(t, () => { requireOnPath('curl', 'curl'); return true; })) return;
    const curl = (url: string, ...args: string[]) => {
      const r = spawnSync('curl', ['-sS', '--cacert', join(FIXTURES, 'ca.pem'), '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `curl ${url}: ${r.stderr}`);
      const i = r.stdout.lastIndexOf('\n');
      return { body: r.stdout.slice(0, i), status: Number(r.stdout.slice(i + 1)) };
    };
    // localhost: curl checks the name against the certificate (DNS:localhost, IP:127.0.0.1, IP:::1).
    const overview = curl(`https://localhost:${httpsPort}/api/overview`, '-u', 'guest:guest', '--resolve', `localhost:${httpsPort}:127.0.0.1`);
    assert.equal(overview.status, 200);
    const protocols = (JSON.parse(overview.body) as { listeners: { protocol: string }[] }).listeners.map((l) => l.protocol);
    assert.deepEqual(protocols.sort(), ['amqp', 'amqp/ssl', 'http', 'http/prometheus', 'https', 'https/prometheus']);
    assert.equal(curl(`https://127.0.0.1:${httpsPort}/api/overview`).status, 401);
    const metrics = curl(`https://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^rabbitmq_build_info\{/m);
    // Without the CA, curl must refuse the certificate: the server is not trusted by accident.
    const untrusted = spawnSync('curl', ['-sS', `https://127.0.0.1:${metricsPort}/metrics`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(untrusted.status, 60, untrusted.stderr); // CURLE_PEER_FAILED_VERIFICATION
  });
});
