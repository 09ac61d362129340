// A RabbitMQ operator's rabbitmq.conf starts Warren unchanged: the default user, limits, the amqps
// listener with its ssl_options, all read under RabbitMQ's names and seen working by real clients;
// settings Warren has no use for are named in the log, and the broker starts anyway.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { closedWith, openChannel, withTimeout } from '../helpers/amqp.js';
import { TLS_FIXTURES, pem } from '../helpers/tls.js';

describe('rabbitmq.conf as the config file', { timeout: 60_000, skip: process.env.WARREN_TEST_URL ? 'starts its own broker' : false }, () => {
  let broker: TestBroker;
  let amqpsPort: number;
  let httpsPort: number;
  const dir = mkdtempSync(join(tmpdir(), 'warren-rabbitmq-conf-'));

  before(async () => {
    [amqpsPort, httpsPort] = [await freePort(), await freePort()];
    const conf = join(dir, 'rabbitmq.conf');
    writeFileSync(conf, [
      '# as an operator would have it for RabbitMQ',
      `listeners.ssl.default = ${amqpsPort}`,
      `ssl_options.cacertfile = ${join(TLS_FIXTURES, 'ca.pem')}`,
      `ssl_options.certfile = ${join(TLS_FIXTURES, 'server.pem')}`,
      `ssl_options.keyfile = ${join(TLS_FIXTURES, 'server.key')}`,
      'ssl_options.verify = verify_none',
      // The management UI with a certificate of its own.
      `management.ssl.port = ${httpsPort}`,
      `management.ssl.certfile = ${join(TLS_FIXTURES, 'server2.pem')}`,
      `management.ssl.keyfile = ${join(TLS_FIXTURES, 'server2.key')}`,
      'default_user = ops',
      'default_pass = conf-secret',
      'default_user_tags.administrator = true',
      'channel_max = 16',
      'max_message_size = 4096',
      'management.http.max_body_size = 2000',
      'collect_statistics_interval = 5000',
      '',
    ].join('\n'));
    broker = await startBroker({ args: ['--config', conf], readyPorts: [amqpsPort, httpsPort] });
  });
  after(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `amqp://ops:conf-secret@127.0.0.1:${broker.port}`;

  it('the default user from the file logs in; guest was never created', async () => {
    const conn = await amqp.connect(url());
    try {
      assert.equal((conn as unknown as { connection: { channelMax: number } }).connection.channelMax, 16, 'channel_max as tuned');
    } finally {
      await conn.close();
    }
    await assert.rejects(amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`), /ACCESS_REFUSED|403/);
  });

  it('max_message_size from the file: a larger body is refused with 406', async () => {
    const conn = await amqp.connect(url());
    try {
      const ch = await openChannel(conn);
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      ch.sendToQueue(q, Buffer.alloc(4097, 'x'));
      const err = await closedWith(ch);
      assert.equal(err?.code, 406);
      assert.match(err!.message, /message size 4097 is larger than configured max size 4096/);
    } finally {
      await conn.close().catch(() => {});
    }
  });

  it('amqps on listeners.ssl.default with the ssl_options certificate', async () => {
    const conn = await withTimeout(amqp.connect(`amqps://ops:conf-secret@127.0.0.1:${amqpsPort}`, { ca: [pem('ca.pem')], servername: 'localhost' }), 'amqps connect', 15_000);
    try {
      const ch = await conn.createChannel();
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      ch.sendToQueue(q, Buffer.from('over tls, configured by rabbitmq.conf'));
      await ch.checkQueue(q);
      const m = await ch.get(q, { noAck: true });
      assert.equal(m && m.content.toString(), 'over tls, configured by rabbitmq.conf');
    } finally {
      await conn.close();
    }
  });

  it('management.http.max_body_size: a larger body gets RabbitMQ\'s 400, a smaller one goes through', async () => {
    const post = (body: string) => fetch(`${broker.httpUrl}/api/definitions`, {
      method: 'POST', body, headers: { authorization: `Basic ${Buffer.from('ops:conf-secret').toString('base64')}`, 'content-type': 'application/json' },
    });
    const small = JSON.stringify({ queues: [{ name: 'from-conf-test', vhost: '/', durable: false }] });
    assert.equal((await post(small)).status, 204);
    const big = await post(JSON.stringify({ queues: [], padding: 'x'.repeat(2000) }));
    assert.equal(big.status, 400);
    assert.deepEqual(await big.json(), { error: 'bad_request', reason: 'Exceeded HTTP request body size limit' });
  });

  it('management.ssl.certfile: HTTPS serves its own certificate, amqps ssl_options\' one; the expiry check names each', async () => {
    const presented = (port: number) => new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: [pem('ca.pem')], servername: 'localhost' }, () => {
        resolve(socket.getPeerX509Certificate()!.fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    });
    const fingerprint = (name: string) => new X509Certificate(pem(name)).fingerprint256;
    assert.equal(await presented(amqpsPort), fingerprint('server.pem'));
    assert.equal(await presented(httpsPort), fingerprint('server2.pem'));
    // The test certificates are valid for 100 years: both expire within 200.
    const check = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      request(`https://127.0.0.1:${httpsPort}/api/health/checks/certificate-expiration/200/years`,
        { ca: [pem('ca.pem')], auth: 'ops:conf-secret', agent: false, servername: 'localhost' }, (res) => {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
        }).once('error', reject).end();
    });
    assert.equal(check.status, 503);
    const files = Object.fromEntries(check.body.expired.map((e: { protocol: string; certfile: string }) => [e.protocol, e.certfile]));
    assert.deepEqual(files, { 'amqp/ssl': join(TLS_FIXTURES, 'server.pem'), https: join(TLS_FIXTURES, 'server2.pem') });
  });

  it('a setting Warren has no use for is named in the log, not fatal', () => {
    assert.match(broker.output(), /rabbitmq\.conf: ignored collect_statistics_interval \(not a setting Warren uses\)/);
    assert.doesNotMatch(broker.output(), /ignored (default_user|ssl_options|listeners|channel_max|max_message_size|default_user_tags)/);
  });
});
