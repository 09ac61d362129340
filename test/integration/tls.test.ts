// TLS: amqps with amqplib (server verified against the test CA), client certificates
// (verify_peer, fail_if_no_peer_cert, a certificate from another CA), the EXTERNAL mechanism
// (common_name and distinguished_name), HTTPS management and Prometheus with curl-like fetches
// over node:https, plain listeners turned off, TLS versions, and certificates reloaded on SIGHUP
// while an old connection keeps working. Certificates: test/fixtures/tls (generate.sh).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import amqp from 'amqplib';
import { Reader } from '../../src/amqp/codec.js';
import { PROTOCOL_HEADER } from '../../src/amqp/frames.js';
import * as M from '../../src/amqp/methods.js';
import { WARREN_BIN, freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { waitFor, withTimeout, type ChannelModel } from '../helpers/amqp.js';
import { runCtl } from '../helpers/warrenctl.js';
import { CERT_USER_DEFINITIONS, TLS_FIXTURES as FIXTURES, mutualTlsBroker, pem } from '../helpers/tls.js';

const CA = pem('ca.pem');
const CLIENT = { cert: pem('client.pem'), key: pem('client.key') };
const OTHER_CLIENT = { cert: pem('other-client.pem'), key: pem('other-client.key') };
const REFUSED_EXTERNAL = 'ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.';

/** The certificate a TLS server presents and the protocol agreed, and what happened to the handshake. */
function handshake(port: number, opts: ConnectionOptions = {}): Promise<{ socket: TLSSocket; fingerprint: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: CA, ...opts }, () => {
      resolve({ socket, fingerprint: socket.getPeerX509Certificate()!.fingerprint256, protocol: socket.getProtocol() ?? '' });
    });
    socket.once('error', reject);
  });
}

/** Sends the protocol header over TLS and returns connection.start's mechanisms. */
async function offeredMechanisms(socket: import('node:net').Socket): Promise<string> {
  const frame = await new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 7 && buf.length >= 8 + buf.readUInt32BE(3)) resolve(buf);
    });
    socket.once('error', reject);
    socket.write(PROTOCOL_HEADER);
  });
  const size = frame.readUInt32BE(3);
  const r = new Reader().reset(frame, 7, 7 + size);
  assert.equal(r.u32(), M.CONNECTION_START);
  const start = M.decodeConnectionStart(r);
  socket.destroy();
  return start.mechanisms.toString();
}

/** GET over HTTPS, trusting only the test CA; Basic auth as guest. */
function httpsGet(url: string, auth = 'guest:guest'): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: CA, auth, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256;
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve({ status: res.statusCode!, body, fingerprint }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** amqplib over amqps; rejects as the client sees the failure. */
function amqps(port: number, opts: Record<string, unknown> = {}, user = 'guest:guest'): Promise<ChannelModel> {
  return withTimeout(amqp.connect(`amqps://${user}@127.0.0.1:${port}`, { ca: [CA], ...opts }), 'amqps connect', 15_000);
}

async function roundTrip(conn: ChannelModel, text: string): Promise<void> {
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from(text));
  const got = await withTimeout((async () => {
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (m !== false) return m;
      await new Promise((r) => setTimeout(r, 20));
    }
  })(), 'get');
  assert.equal(got.content.toString(), text);
  await ch.close();
}

const fingerprintOf = (file: string) => new X509Certificate(pem(file)).fingerprint256;

describe('TLS: client certificates required, EXTERNAL by common name, HTTPS, SIGHUP reload', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let amqpsPort: number;
  let httpsPort: number;
  let metricsPort: number;
  let certDir: string;
  before(async () => {
    [amqpsPort, httpsPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    // Copies, so the reload test can replace them.
    certDir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
    copyFileSync(join(FIXTURES, 'server.pem'), join(certDir, 'cert.pem'));
    copyFileSync(join(FIXTURES, 'server.key'), join(certDir, 'key.pem'));
    broker = await startBroker({
      ...mutualTlsBroker({ amqps: amqpsPort, https: httpsPort, metrics: metricsPort }, join(certDir, 'cert.pem'), join(certDir, 'key.pem')),
      env: { WARREN_LOG_LEVEL: 'info' },
    });
  });
  after(async () => { await broker?.stop(); });

  it('amqplib publishes and gets over amqps, the server certificate verified against the CA', async () => {
    const conn = await amqps(amqpsPort, CLIENT);
    await roundTrip(conn, 'over tls');
    await conn.close();
  });

  it('offers EXTERNAL on TLS connections only', async () => {
    const tls = await handshake(amqpsPort, CLIENT);
    assert.equal(await offeredMechanisms(tls.socket), 'PLAIN AMQPLAIN EXTERNAL');
    const plain = netConnect(broker.port, '127.0.0.1');
    assert.equal(await offeredMechanisms(plain), 'PLAIN AMQPLAIN');
  });

  it('logs in with EXTERNAL as the certificate\'s common name; the API shows the TLS details', async () => {
    const conn = await amqps(amqpsPort, { ...CLIENT, credentials: amqp.credentials.external(), clientProperties: { connection_name: 'ext-cn' } }, '');
    await roundTrip(conn, 'external');
    let c: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && c === undefined; i++) {
      const res = await httpsGet(`https://127.0.0.1:${httpsPort}/api/connections`);
      c = (JSON.parse(res.body) as Record<string, unknown>[]).find((x) => x.user_provided_name === 'ext-cn');
      if (c === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(c, 'the EXTERNAL connection is listed');
    assert.equal(c.user, 'some user');
    assert.equal(c.auth_mechanism, 'EXTERNAL');
    assert.equal(c.ssl, true);
    assert.match(String(c.ssl_protocol), /^tlsv1\.[23]$/);
    assert.equal(c.peer_cert_subject, 'CN=some user,O=Warren tests');
    assert.equal(c.peer_cert_issuer, 'CN=Warren test CA,O=Warren tests');
    await conn.close();
  });

  it('refuses EXTERNAL with 403 when the certificate names no existing user', async () => {
    const del = await new Promise<number>((resolve, reject) => {
      const req = request(`https://127.0.0.1:${httpsPort}/api/users/${encodeURIComponent('some user')}`,
        { method: 'DELETE', ca: CA, auth: 'guest:guest', agent: false }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.once('error', reject);
      req.end();
    });
    assert.equal(del, 204);
    await assert.rejects(amqps(amqpsPort, { ...CLIENT, credentials: amqp.credentials.external() }, ''),
      (err: Error) => { assert.ok(err.message.includes(REFUSED_EXTERNAL), err.message); return true; });
    // The broker's log reaches us through a pipe, maybe after the client saw the refusal.
    await waitFor(() => /AMQP login refused from [^ ]+: user 'some user' - no such user \(named by the client certificate\) \(EXTERNAL\)/.test(broker.output()),
      'the refusal logged');
  });

  it('refuses a client without a certificate at the handshake (fail_if_no_peer_cert)', async () => {
    await assert.rejects(amqps(amqpsPort), (err: Error & { code?: string }) => {
      // TLS 1.3 reports the server's alert (116, certificate required) on the client's first read.
      assert.match(`${err.code} ${err.message}`, /certificate required/i);
      return true;
    });
    await waitFor(() => /TLS handshake failed: peer did not return a certificate/.test(broker.output()), 'the refusal logged');
  });

  it('refuses a client certificate signed by another CA', async () => {
    await assert.rejects(amqps(amqpsPort, OTHER_CLIENT), (err: Error & { code?: string }) => {
      assert.match(`${err.code} ${err.message}`, /unknown ca|Socket closed abruptly during opening handshake/i);
      return true;
    });
    await waitFor(() => /TLS handshake failed/.test(broker.output()), 'the refusal logged');
  });

  it('serves /api/overview and /metrics over HTTPS; listeners named as RabbitMQ names them', async () => {
    const overview = await httpsGet(`https://127.0.0.1:${httpsPort}/api/overview`);
    assert.equal(overview.status, 200);
    const listeners = (JSON.parse(overview.body) as { listeners: { protocol: string; port: number }[] }).listeners;
    const byProtocol = Object.fromEntries(listeners.map((l) => [l.protocol, l.port]));
    assert.equal(byProtocol.amqp, broker.port);
    assert.equal(byProtocol['amqp/ssl'], amqpsPort);
    assert.equal(byProtocol.https, httpsPort);
    assert.equal(byProtocol['https/prometheus'], metricsPort);
    assert.equal(byProtocol.http, Number(new URL(broker.httpUrl).port));
    // Basic auth still applies over HTTPS.
    assert.equal((await httpsGet(`https://127.0.0.1:${httpsPort}/api/overview`, 'guest:wrong')).status, 401);
    const nodes = JSON.parse((await httpsGet(`https://127.0.0.1:${httpsPort}/api/nodes`)).body) as { auth_mechanisms: { name: string; enabled: boolean }[] }[];
    assert.deepEqual(nodes[0].auth_mechanisms.filter((m) => m.enabled).map((m) => m.name), ['PLAIN', 'AMQPLAIN', 'EXTERNAL']);
    const metrics = await httpsGet(`https://127.0.0.1:${metricsPort}/metrics`, '');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^rabbitmq_connections \d+/m);
  });

  it('warrenctl reaches the HTTPS API with --cacert, refuses an untrusted certificate, and --insecure skips the check', async () => {
    const url = `https://127.0.0.1:${httpsPort}`;
    const ok = await runCtl(['--url', url, '--cacert', join(FIXTURES, 'ca.pem'), 'list_vhosts']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^\/$/m);
    const untrusted = await runCtl(['--url', url, 'list_vhosts']);
    assert.equal(untrusted.code, 69);
    assert.match(untrusted.stderr, /certificate warrenctl does not trust .*--cacert/);
    const insecure = await runCtl(['--url', url, '--insecure', 'list_vhosts']);
    assert.equal(insecure.code, 0, insecure.stderr);
  });

  it('the certificate-expiration health check sees the TLS certificate (valid for 100 years)', async () => {
    const soon = await httpsGet(`https://127.0.0.1:${httpsPort}/api/health/checks/certificate-expiration/1/years`);
    assert.equal(soon.status, 200);
    assert.deepEqual(JSON.parse(soon.body), { status: 'ok' });
    const late = await httpsGet(`https://127.0.0.1:${httpsPort}/api/health/checks/certificate-expiration/200/years`);
    assert.equal(late.status, 503);
    const body = JSON.parse(late.body) as { status: string; reason: string; expired: { protocol: string; port: number; certfile: string }[] };
    assert.equal(body.status, 'failed');
    assert.equal(body.reason, 'Certificates expiring');
    assert.deepEqual(body.expired.map((e) => e.protocol).sort(), ['amqp/ssl', 'https', 'https/prometheus']);
    assert.equal(body.expired.find((e) => e.protocol === 'amqp/ssl')?.port, amqpsPort);
    assert.equal(body.expired[0].certfile, join(certDir, 'cert.pem'));
  });

  it('reloads the certificate on SIGHUP: new connections get it, an open one keeps working', async () => {
    const old = await amqps(amqpsPort, CLIENT);
    const before = await handshake(amqpsPort, CLIENT);
    before.socket.destroy();
    assert.equal(before.fingerprint, fingerprintOf('server.pem'));

    copyFileSync(join(FIXTURES, 'server2.pem'), join(certDir, 'cert.pem'));
    copyFileSync(join(FIXTURES, 'server2.key'), join(certDir, 'key.pem'));
    broker.child!.kill('SIGHUP');
    await waitFor(() => /TLS certificates reloaded/.test(broker.output()), 'the reload logged', 10_000);
    const after = await handshake(amqpsPort, CLIENT);
    after.socket.destroy();
    assert.equal(after.fingerprint, fingerprintOf('server2.pem'));
    assert.equal((await httpsGet(`https://127.0.0.1:${httpsPort}/api/overview`)).fingerprint, fingerprintOf('server2.pem'));
    await roundTrip(old, 'still open');

    // A broken file changes nothing: the error is logged and the second certificate stays.
    writeFileSync(join(certDir, 'key.pem'), 'not a key');
    broker.child!.kill('SIGHUP');
    await waitFor(() => /TLS certificate reload failed, keeping the previous certificate/.test(broker.output()), 'the failure logged', 10_000);
    const still = await handshake(amqpsPort, CLIENT);
    still.socket.destroy();
    assert.equal(still.fingerprint, fingerprintOf('server2.pem'));
    await roundTrip(old, 'after a failed reload');
    await old.close();
  });
});

describe('TLS only: plain listeners off, verify_peer without fail_if_no_peer_cert, EXTERNAL by distinguished name', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  let amqpsPort: number;
  let httpsPort: number;
  before(async () => {
    [amqpsPort, httpsPort] = [await freePort(), await freePort()];
    broker = await startBroker({
      args: ['--port', 'off', '--management-port', 'off', '--prometheus-port', 'off',
        '--ssl-certfile', join(FIXTURES, 'server.pem'), '--ssl-keyfile', join(FIXTURES, 'server.key'),
        '--ssl-cacertfile', join(FIXTURES, 'ca.pem'), '--ssl-verify', 'verify_peer', '--ssl-versions', 'tlsv1.3',
        '--ssl-port', String(amqpsPort), '--management-ssl-port', String(httpsPort), '--auth-mechanisms', 'EXTERNAL,PLAIN',
        '--ssl-cert-login-from', 'distinguished_name'],
      readyPorts: [amqpsPort, httpsPort],
      definitions: CERT_USER_DEFINITIONS('CN=some user,O=Warren tests'),
    });
  });
  after(async () => { await broker?.stop(); });

  it('listens on amqps and https only', async () => {
    const res = await httpsGet(`https://127.0.0.1:${httpsPort}/api/overview`);
    const protocols = (JSON.parse(res.body) as { listeners: { protocol: string }[] }).listeners.map((l) => l.protocol).sort();
    assert.deepEqual(protocols, ['amqp/ssl', 'https']);
    await assert.rejects(new Promise((resolve, reject) => {
      const s = netConnect(broker.port, '127.0.0.1', () => { s.destroy(); resolve(undefined); });
      s.once('error', reject);
    }), /ECONNREFUSED/);
  });

  it('lets a client without a certificate log in with PLAIN, offering mechanisms in the configured order', async () => {
    const conn = await amqps(amqpsPort);
    await roundTrip(conn, 'no client cert');
    await conn.close();
    const tls = await handshake(amqpsPort);
    assert.equal(await offeredMechanisms(tls.socket), 'EXTERNAL PLAIN');
  });

  it('refuses EXTERNAL without a client certificate (403)', async () => {
    await assert.rejects(amqps(amqpsPort, { credentials: amqp.credentials.external() }, ''),
      (err: Error) => { assert.ok(err.message.includes(REFUSED_EXTERNAL), err.message); return true; });
  });

  it('still refuses a certificate from another CA', async () => {
    await assert.rejects(amqps(amqpsPort, OTHER_CLIENT));
    await waitFor(() => /TLS client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(broker.output()), 'the refusal logged');
  });

  it('logs in with EXTERNAL as the certificate\'s distinguished name, RabbitMQ\'s default', async () => {
    const conn = await amqps(amqpsPort, { ...CLIENT, credentials: amqp.credentials.external() }, '');
    await roundTrip(conn, 'by dn');
    await conn.close();
  });

  it('speaks only the configured TLS versions', async () => {
    const ok = await handshake(amqpsPort);
    ok.socket.destroy();
    assert.equal(ok.protocol, 'TLSv1.3');
    await assert.rejects(handshake(amqpsPort, { maxVersion: 'TLSv1.2' }), /protocol version|alert|ECONNRESET/i);
  });
});

describe('TLS: a broker that cannot use its certificate does not start, and says why', { timeout: 60_000 }, () => {
  /** Runs warren to its exit; resolves its exit code and output. */
  const run = (args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-tls-start-'));
    const child = spawn(process.execPath, [WARREN_BIN, '--bind', '127.0.0.1', '--data-dir', dir, '--management-port', 'off',
      '--prometheus-port', 'off', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => { clearTimeout(timer); rmSync(dir, { recursive: true, force: true }); resolve({ code, out }); });
  });

  it('an unreadable certificate file: exit 1 naming the file', async () => {
    const port = await freePort();
    const r = await run(['--port', String(port), '--ssl-port', String(await freePort()), '--ssl-certfile', '/nonexistent/cert.pem',
      '--ssl-keyfile', join(FIXTURES, 'server.key')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /could not start: cannot read the TLS certificate \/nonexistent\/cert\.pem/);
    assert.doesNotMatch(r.out, /"stack"/);
  });

  it('a key that is not the certificate\'s: exit 1 naming both files', async () => {
    const r = await run(['--port', String(await freePort()), '--ssl-port', String(await freePort()),
      '--ssl-certfile', join(FIXTURES, 'server.pem'), '--ssl-keyfile', join(FIXTURES, 'client.key')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /could not start: the TLS certificate \S+server\.pem and key \S+client\.key cannot be used: .*key values mismatch/);
  });

  it('fail_if_no_peer_cert without verify_peer: exit 2, invalid configuration', async () => {
    const r = await run(['--ssl-certfile', join(FIXTURES, 'server.pem'), '--ssl-keyfile', join(FIXTURES, 'server.key'),
      '--ssl-fail-if-no-peer-cert', 'true']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /invalid configuration: sslFailIfNoPeerCert needs sslVerify verify_peer/);
  });
});
