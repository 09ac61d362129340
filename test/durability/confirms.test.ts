// A publisher confirm for a persistent message routed to a durable queue means "on disk": a kill -9
// right after the confirm loses nothing, and the order is kept.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertSequence, bodiesOf, channel, closeAll, confirmChannel, connect, drain, persistent, publishConfirmed,
  pollUntil, startWarren, type Conn, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];

describe('publisher confirms', { timeout: 90_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  it('loses none of 20000 confirmed persistent messages to a kill -9 right after the confirms', async (t) => {
    const broker = await startWarren();
    brokers.push(broker);
    const conn = await connect(broker.url);
    conns.push(conn);
    await (await channel(conn)).assertQueue('q', { durable: true });
    const n = 20_000;
    // ~200-byte bodies: enough to span many fsync rounds.
    const msgs = persistent('c', n).map((m) => ({ ...m, body: `${m.body}|${'.'.repeat(190)}` }));
    const t0 = Date.now();
    await publishConfirmed(await confirmChannel(conn), '', 'q', msgs);
    await broker.stop('SIGKILL');
    t.diagnostic(`published and confirmed ${n} persistent messages in ${Date.now() - t0} ms`);

    await broker.restart();
    const c2 = await connect(broker.url);
    conns.push(c2);
    assertSequence(bodiesOf(await drain(c2, 'q')), msgs.map((m) => String(m.body)), 'messages after the crash');
    await broker.stop();
  });

  it('has every message confirmed so far on disk when killed while confirms are still streaming in', async (t) => {
    const broker = await startWarren();
    brokers.push(broker);
    const conn = await connect(broker.url);
    conns.push(conn);
    await (await channel(conn)).assertQueue('q', { durable: true });
    const ch = await confirmChannel(conn);
    const n = 40_000;
    const confirmed = new Set<number>();
    let killedAt = -1;
    let published = 0;
    for (let i = 0; i < n && killedAt < 0; i++) {
      const ok = ch.publish('', 'q', Buffer.from(`s-${i}`), { persistent: true }, (err: unknown) => {
        if (err) return;
        confirmed.add(i);
        // Kill as soon as a quarter is confirmed, from inside the confirm handler: nothing the
        // broker does after sending this confirm can help it.
        if (killedAt < 0 && confirmed.size >= n / 4) {
          killedAt = confirmed.size;
          broker.child!.kill('SIGKILL');
        }
      });
      published++;
      if (!ok) await new Promise((r) => { ch.once('drain', r); conn.once('close', r); });
    }
    await pollUntil(() => killedAt, (k) => k >= 0, 'a quarter of the confirms', 30_000);
    await broker.stop('SIGKILL');
    t.diagnostic(`killed after ${killedAt} confirms (${published} published); ${confirmed.size} confirms arrived in all`);

    await broker.restart();
    const c2 = await connect(broker.url);
    conns.push(c2);
    const got = bodiesOf(await drain(c2, 'q')).map((b) => {
      assert.match(b, /^s-\d+$/, 'a message that was never published');
      return Number(b.slice(2));
    });
    for (let k = 1; k < got.length; k++) assert.ok(got[k] > got[k - 1], `out of order or duplicated: s-${got[k - 1]} then s-${got[k]}`);
    const present = new Set(got);
    const lost = [...confirmed].filter((i) => !present.has(i));
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} confirmed messages lost`);
    assert.ok(got.every((i) => i < published), 'a message beyond those published');
    t.diagnostic(`${got.length} recovered: ${confirmed.size} confirmed + ${got.length - confirmed.size} unconfirmed that made it to disk`);
    await broker.stop();
  });
});
