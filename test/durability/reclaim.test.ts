// Disk space of fully acked messages is given back: segments whose records are all settled are
// deleted, and the current one is truncated once emptied. Run twice: with the default in-memory
// window (50 MB of messages page through disk), and with a window large enough to hold them all
// (so a failure of the space accounting shows apart from one of paging).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertOpen, channel, closeAll, confirmChannel, connect, dirSize, pollUntil, publishConfirmed, queueDir, segments,
  startWarren, type Conn, type Outgoing, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
const MiB = 1024 * 1024;

describe('reclaiming disk space', { timeout: 120_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  const windows: [string, Record<string, string>][] = [
    ['the default in-memory window (paging)', {}],
    ['a window holding every message', { WARREN_QUEUE_WINDOW_MESSAGES: '100000', WARREN_QUEUE_WINDOW_BYTES: '256MiB' }],
  ];
  for (const [what, env] of windows) {
    it(`shrinks the queue directory below 1 MiB once 50,000 1 KiB persistent messages are acked, with ${what}`, async (t) => {
      const broker = await startWarren({ env });
      brokers.push(broker);
      const conn = await connect(broker.url);
      conns.push(conn);
      await (await channel(conn)).assertQueue('big', { durable: true });
      const n = 50_000;
      const pad = 'x'.repeat(1024 - 11);
      const msgs: Outgoing[] = Array.from({ length: n }, (_, i) => ({ body: `${String(i).padStart(10, '0')}|${pad}`, options: { persistent: true } }));
      const pub = await confirmChannel(conn);
      for (let i = 0; i < n; i += 10_000) await publishConfirmed(pub, '', 'big', msgs.slice(i, i + 10_000));

      const dir = queueDir(broker.dataDir);
      const full = dirSize(dir);
      t.diagnostic(`queue directory after publishing: ${(full / MiB).toFixed(1)} MiB in ${segments(dir).length} segments`);
      assert.ok(full >= n * 1024, `the queue directory holds only ${full} bytes for ${n} KiB of persistent messages`);

      const ch = await channel(conn);
      await ch.prefetch(500);
      let got = 0;
      let outOfOrder = 0;
      await ch.consume('big', (m) => {
        if (!m) return;
        if (Number(m.content.subarray(0, 10).toString()) !== got) outOfOrder++;
        got++;
        if (got % 250 === 0) ch.ack(m, true);
      });
      await pollUntil(() => { assertOpen(conn); return got; }, (g) => g >= n, `${n} deliveries`, 60_000);
      assert.equal(outOfOrder, 0, 'deliveries out of order');
      assert.equal((await ch.checkQueue('big')).messageCount, 0);

      const size = await pollUntil(() => dirSize(dir), (s) => s < MiB, 'the queue directory to shrink below 1 MiB', 5000)
        .catch((e: Error) => assert.fail(`${e.message}; files: ${JSON.stringify(segments(dir))}`));
      t.diagnostic(`queue directory after acking everything: ${size} bytes`);

      // Nothing acked comes back after a crash, and the space stays reclaimed.
      await broker.stop('SIGKILL');
      await broker.restart();
      const c2 = await connect(broker.url);
      conns.push(c2);
      assert.equal((await (await channel(c2)).checkQueue('big')).messageCount, 0, 'acked messages came back after the crash');
      assert.ok(dirSize(dir) < MiB, `queue directory after the restart: ${dirSize(dir)} bytes`);
      await broker.stop();
    });
  }
});
