// Failed logins: logged (one rate-limited line each, peer and user name), counted per protocol and
// per source as RabbitMQ's auth_attempt_metrics and auth_attempt_detailed_metrics, and harmless to
// everyone else. A flood of thousands of wrong-password logins from one address, over many
// concurrent sockets that never answer the broker's close (an attacker's habits), runs while a
// bystander publishes and consumes with confirms: its round trips keep flowing, a correct login
// during the flood is answered promptly, every refused socket is closed by the broker and the
// broker's open sockets go back to what they were.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { apiClient } from '../helpers/http.js';
import { eventually, sleep, withTimeout } from '../helpers/amqp.js';
import { parseExposition, valueOf, type MetricFamily } from '../helpers/exposition.js';
import { DEFAULT_CLIENT_PROPERTIES, M, methodFrame, plainResponse, PROTOCOL_HEADER } from '../helpers/raw-amqp.js';

/** Wrong-password logins in the flood, and how many sockets at once. */
const FLOOD = Number(process.env.WARREN_AUTH_FLOOD ?? 3000);
const CONCURRENCY = Number(process.env.WARREN_AUTH_FLOOD_SOCKETS ?? 100);
/** Generous bounds for a shared 2-core machine: a stall would be seconds to minutes. */
const MAX_ROUND_TRIP_MS = 3000;
const MAX_LOGIN_MS = 5000;

const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.stop();
});

async function scrape(b: TestBroker, path: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`${b.metricsUrl}${path}`);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

/** The header and a wrong-password start-ok in one write, as a client that does not wait for connection.start. */
function attackBytes(failureClose: boolean): Buffer {
  return Buffer.concat([PROTOCOL_HEADER, methodFrame(0, M.encodeConnectionStartOk, {
    clientProperties: failureClose ? DEFAULT_CLIENT_PROPERTIES : { product: 'flood' },
    mechanism: 'PLAIN', response: plainResponse('flood', 'not-the-password'), locale: 'en_US',
  })]);
}

/** One refused login: resolves once the broker closed the socket (we never send close-ok or close ourselves). */
function attack(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1');
    const timer = setTimeout(() => { s.destroy(); reject(new Error('the broker left a refused socket open for 15 s')); }, 15_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('end', () => s.end());
    s.on('close', () => { clearTimeout(timer); resolve(); });
  });
}

/** Server-side sockets of `port` that are not listening or in TIME_WAIT (Linux /proc/net/tcp), or null elsewhere. */
function openServerSockets(port: number): number | null {
  if (!existsSync('/proc/net/tcp')) return null;
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !f[1].endsWith(`:${hexPort}`)) continue;
    if (f[3] !== '0A' && f[3] !== '06') n++;
  }
  return n;
}

describe('failed logins', () => {
  it('are logged with peer and user name, counted per protocol and per source, AMQP and HTTP', async (t) => {
    const b = await startBroker();
    brokers.push(b);
    if (b.external) return t.skip("needs Warren's log and a broker of its own (the counts of a shared one move)");
    for (const caps of [true, false]) await attack(b.port, attackBytes(caps));
    await assert.rejects(amqp.connect(`amqp://guest:nope@127.0.0.1:${b.port}`), /ACCESS.REFUSED/);
    const ok = await amqp.connect(b.url);
    await ok.close();
    assert.equal((await apiClient(b.httpUrl, 'guest', 'nope')('GET', 'overview')).status, 401);
    assert.equal((await apiClient(b.httpUrl, 'nobody', 'x')('GET', 'overview')).status, 401);
    assert.equal((await apiClient(b.httpUrl)('GET', 'overview')).status, 200);

    const m = await scrape(b, '/metrics');
    const P = { protocol: 'amqp091' };
    const H = { protocol: 'http' };
    assert.deepEqual([valueOf(m, 'rabbitmq_auth_attempts_total', P), valueOf(m, 'rabbitmq_auth_attempts_succeeded_total', P),
      valueOf(m, 'rabbitmq_auth_attempts_failed_total', P)], [4, 1, 3]);
    assert.deepEqual([valueOf(m, 'rabbitmq_auth_attempts_total', H), valueOf(m, 'rabbitmq_auth_attempts_succeeded_total', H),
      valueOf(m, 'rabbitmq_auth_attempts_failed_total', H)], [3, 1, 2]);
    assert.equal(valueOf(m, 'rabbitmq_auth_attempts_detailed_total', { remote_address: '127.0.0.1', username: 'flood', protocol: 'amqp091' }),
      undefined, 'per source only on the per-object and detailed endpoints, as RabbitMQ');

    const d = await scrape(b, '/metrics/detailed?family=auth_attempt_detailed_metrics&family=auth_attempt_metrics');
    const src = (username: string, protocol: string) => ({ remote_address: '127.0.0.1', username, protocol });
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_detailed_failed_total', src('flood', 'amqp091')), 2);
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_detailed_total', src('guest', 'amqp091')), 2);
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_detailed_succeeded_total', src('guest', 'amqp091')), 1);
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_detailed_failed_total', src('nobody', 'http')), 1);
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_detailed_succeeded_total', src('guest', 'http')), 1);
    assert.equal(valueOf(d, 'rabbitmq_detailed_auth_attempts_failed_total', P), 3);
    const perObject = await scrape(b, '/metrics/per-object');
    assert.equal(valueOf(perObject, 'rabbitmq_auth_attempts_detailed_failed_total', src('flood', 'amqp091')), 2);

    await eventually(async () => {
      const lines = b.output().split('\n').filter((l) => l.includes('login refused'));
      assert.equal(lines.length, 5, 'one line per refused login');
      assert.equal(lines.filter((l) => l.includes("AMQP login refused from 127.0.0.1:") && l.includes("user 'flood' - invalid credentials")).length, 2);
      assert.equal(lines.filter((l) => l.includes("HTTP login refused from 127.0.0.1:") && l.includes("user 'nobody' - invalid credentials")).length, 1);
      assert.ok(!b.output().includes('not-the-password') && !b.output().includes('nope'), 'no password tried is logged');
    }, 'the log');
  });

  it('a flood of wrong passwords from one address does not slow other clients, and its sockets are closed', async (t) => {
    const b = await startBroker();
    brokers.push(b);
    if (b.external) return t.skip('needs a broker of its own to flood');

    // The bystander: publish with confirms, consume, one message in flight, round trips timed.
    const conn = await amqp.connect(b.url);
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    let waiting: (() => void) | null = null;
    await ch.consume(queue, () => { waiting?.(); }, { noAck: true });
    const trips: number[] = [];
    let stop = false;
    const bystander = (async () => {
      while (!stop) {
        const t0 = Date.now();
        const delivered = new Promise<void>((r) => { waiting = r; });
        const confirmed = new Promise<void>((resolve, reject) => ch.publish('', queue, Buffer.from('tick'), {}, (err) => (err ? reject(err) : resolve())));
        await withTimeout(Promise.all([confirmed, delivered]), 'a bystander round trip', 30_000);
        trips.push(Date.now() - t0);
        await sleep(5);
      }
    })();
    await sleep(500);
    const baselineTrips = trips.length;
    const baselineSockets = openServerSockets(b.port);

    const bytes = [attackBytes(true), attackBytes(false)];
    let sent = 0;
    let loginMs = -1;
    let login: Promise<void> = Promise.resolve();
    const started = Date.now();
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (sent < FLOOD) {
        const i = sent++;
        if (i === Math.floor(FLOOD / 3)) {
          // A correct login in the thick of it.
          login = (async () => {
            const t0 = Date.now();
            const c = await amqp.connect(b.url);
            await (await c.createChannel()).checkExchange('amq.direct');
            loginMs = Date.now() - t0;
            await c.close();
          })();
        }
        await attack(b.port, bytes[i % 2]);
      }
    });
    await Promise.all(workers);
    await login;
    const floodMs = Date.now() - started;
    stop = true;
    await bystander;
    await conn.close();

    const during = trips.slice(baselineTrips);
    const sorted = [...during].sort((x, y) => x - y);
    const before = trips.slice(0, baselineTrips).sort((x, y) => x - y);
    t.diagnostic(`bystander round trips before the flood: ${before.length}, median ${before[Math.floor(before.length / 2)]} ms, max ${before[before.length - 1]} ms`);
    t.diagnostic(`${FLOOD} refused logins over ${CONCURRENCY} sockets at once in ${floodMs} ms (${Math.round(FLOOD / (floodMs / 1000))}/s); bystander round trips during: `
      + `${during.length}, median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms; correct login took ${loginMs} ms`);
    assert.ok(during.length >= 10, `the bystander kept going (${during.length} round trips)`);
    assert.ok(sorted[sorted.length - 1] < MAX_ROUND_TRIP_MS, `longest bystander round trip ${sorted[sorted.length - 1]} ms`);
    assert.ok(loginMs >= 0 && loginMs < MAX_LOGIN_MS, `a correct login during the flood took ${loginMs} ms`);

    const m = await scrape(b, '/metrics/detailed?family=auth_attempt_detailed_metrics');
    assert.equal(valueOf(m, 'rabbitmq_detailed_auth_attempts_detailed_failed_total', { remote_address: '127.0.0.1', username: 'flood', protocol: 'amqp091' }), FLOOD);
    assert.equal(valueOf(m, 'rabbitmq_detailed_auth_attempts_detailed_succeeded_total', { remote_address: '127.0.0.1', username: 'guest', protocol: 'amqp091' }), 2);

    // The log: a burst of lines per 10 s window and a summary, not a line per attempt.
    await eventually(async () => {
      const refused = b.output().split('\n').filter((l) => l.includes('login refused from')).length;
      const windows = Math.ceil(floodMs / 10_000) + 1;
      assert.ok(refused > 0 && refused <= 20 * windows, `${refused} refusal lines for ${FLOOD} refusals`);
      assert.match(b.output(), /more logins were refused in 10 s/);
    }, 'the log summarises the flood', 15_000);

    if (baselineSockets !== null) {
      await eventually(async () => {
        assert.equal(openServerSockets(b.port), baselineSockets! - 1, "the broker's sockets are back to the baseline (the bystander gone)");
      }, 'refused sockets closed', 10_000);
    }
  });
});
