// Many connections at once, the small version of bench/load/connections.ts (which holds 10,000
// for a minute): 1,000 connections with a channel each, held with light traffic and heartbeats,
// then closed cleanly. No connection may be refused, time out, miss heartbeats or be closed by
// the broker; every message published is delivered; the broker counts all of them while held
// and none once closed. Runs against any broker (WARREN_TEST_URL for the reference RabbitMQ).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { apiClient } from '../helpers/http.js';
import { sleep } from '../helpers/amqp.js';
import { LoadPool, type LoadConnection } from '../helpers/load-client.js';

const N = 1000;
const QUEUES = 10;
const CONSUMER_EVERY = 10;
/** Short, so that the hold spans several heartbeat intervals. */
const HEARTBEAT_S = 3;
const HOLD_MS = 10_000;

describe('many connections', { timeout: 90_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  it(`${N} connections with a channel each are held with light traffic and closed cleanly`, async (t) => {
    const api = apiClient(broker.httpUrl);
    const connectionCount = async (): Promise<number> => {
      const r = await api('GET', 'overview');
      assert.equal(r.status, 200);
      return r.body.object_totals.connections as number;
    };
    const pool = new LoadPool({ port: broker.port, host: broker.host, heartbeat: HEARTBEAT_S, openTimeoutMs: 30_000 });
    const admin = await pool.open();
    const prefix = `many-conn-${process.pid}-`;
    for (let q = 0; q < QUEUES; q++) await admin.declareQueue(`${prefix}${q}`);
    const before = await connectionCount();

    const conns: LoadConnection[] = [];
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < N) {
        const i = next++;
        const c = await pool.open();
        if (i % CONSUMER_EVERY === 0) {
          await c.qos(10);
          await c.consume(`${prefix}${(i / CONSUMER_EVERY) % QUEUES}`);
        }
        conns.push(c);
      }
    }));
    const openMs = Date.now() - started;
    assert.equal(conns.length, N);
    assert.deepEqual(pool.errors.toJSON(), {}, pool.errors.samples.join('; '));

    // The broker's stats may lag (RabbitMQ's do): wait until it counts all of them.
    let held = 0;
    for (let i = 0; i < 50 && held < before + N; i++) {
      held = await connectionCount();
      if (held < before + N) await sleep(200);
    }
    assert.equal(held, before + N, 'the broker counts every open connection');

    // Light traffic: one 16-byte message per connection every 2 s, spread over the seconds.
    const body = Buffer.alloc(16, 0x6d);
    let tick = 0;
    const timer = setInterval(() => {
      const slot = tick++ % 2;
      for (let i = slot; i < N; i += 2) if (conns[i].isOpen) conns[i].publish(`${prefix}${i % QUEUES}`, body);
    }, 1000);
    await sleep(HOLD_MS);
    clearInterval(timer);

    const total = (f: (c: LoadConnection) => number) => conns.reduce((n, c) => n + f(c), 0);
    const published = total((c) => c.published);
    for (let i = 0; i < 100 && total((c) => c.delivered) < published; i++) await sleep(200);
    const delivered = total((c) => c.delivered);
    // Connections that only publish hear nothing from the broker but its heartbeats (consumers
    // get deliveries often enough that the broker need not send any).
    const silent = conns.filter((c) => c.delivered === 0 && c.heartbeats === 0).length;
    t.diagnostic(`opened ${N} in ${openMs} ms; held ${HOLD_MS} ms: published ${published}, delivered ${delivered}; `
      + `publishing-only connections without a server heartbeat: ${silent}`);
    assert.ok(published >= N * 4, `only ${published} messages published`);
    assert.equal(delivered, published, 'every message published was delivered');
    assert.equal(silent, 0, `${silent} connections never received a heartbeat from the broker`);
    assert.deepEqual(pool.errors.toJSON(), {}, pool.errors.samples.join('; '));

    const closeStarted = Date.now();
    let k = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (k < conns.length) await conns[k++].close();
    }));
    t.diagnostic(`closed ${N} in ${Date.now() - closeStarted} ms`);
    assert.deepEqual(pool.errors.toJSON(), {}, pool.errors.samples.join('; '));

    let after = -1;
    for (let i = 0; i < 50 && after !== before; i++) {
      after = await connectionCount();
      if (after !== before) await sleep(200);
    }
    assert.equal(after, before, 'the broker counts no connection of ours once they are closed');
    for (let q = 0; q < QUEUES; q++) {
      const ok = await admin.deleteQueue(`${prefix}${q}`);
      assert.equal(ok.messageCount, 0, `queue ${q} still holds messages`);
    }
    await admin.close();
    pool.stop();
    assert.deepEqual(pool.errors.toJSON(), {}, pool.errors.samples.join('; '));
  });
});
