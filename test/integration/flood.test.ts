// Slow consumers and a publisher flood at once, on a broker with a low memory high watermark
// and small queue windows (the short version of bench/load/flood.ts): the broker's memory stays
// under its watermark, nobody starves (the bystander's messages keep coming, the slow consumers
// get deliveries every second, the confirming publishers get confirms), and a consumer that
// stops reading does not make the broker buffer for it.
// Watches the broker process, so it needs Warren itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { runFlood } from '../helpers/flood.js';

const MiB = 1024 * 1024;
const WATERMARK = 300 * 1000 * 1000; // --memory-high-watermark 300MB
/** RSS is checked once a second by the broker; allow what a second of flood can add on top. */
const MARGIN = 64 * MiB;
/** Longest silence the bystander may see (it sends every 50 ms); generous for a shared machine. */
const MAX_GAP_MS = 3000;

describe('publisher flood with slow consumers', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startBroker({
      args: ['--memory-high-watermark', '300MB'],
      env: { WARREN_QUEUE_WINDOW_MESSAGES: '2048', WARREN_QUEUE_WINDOW_BYTES: String(4 * MiB) },
    });
  });
  after(async () => { await broker?.stop(); });

  it('memory stays under the watermark and nobody starves', async (t) => {
    assert.ok(!broker.external, 'this test watches the broker process: it needs Warren itself, not WARREN_TEST_URL');
    const r = await runFlood({
      port: broker.port, host: broker.host, pid: broker.child!.pid!,
      durationMs: 12_000, flooders: 4, confirmers: 2, confirmWindow: 500, slowConsumers: 3, slowAckMs: 50,
      bodySize: 2048, bystanderEveryMs: 50, warmupMs: 3000, prefix: 'flood-test-',
    });
    t.diagnostic(JSON.stringify(r));
    assert.deepEqual(r.errors, {}, r.errorSamples.join('; '));

    assert.ok(r.rssMiB !== null);
    assert.ok(r.rssMiB.max * MiB < WATERMARK + MARGIN,
      `broker RSS reached ${r.rssMiB.max} MiB (watermark ${(WATERMARK / MiB).toFixed(0)} MiB + ${MARGIN / MiB} MiB margin)`);

    // The flood was one: the publishers pushed far more than the slow consumers could take.
    const slowTotal = r.slow.delivered.reduce((a, b) => a + b, 0);
    assert.ok(r.published.flood > 5 * slowTotal, `flood of ${r.published.flood} messages against ${slowTotal} consumed`);

    // Nobody starved.
    assert.equal(r.bystander.received, r.bystander.sent, 'every bystander message arrived');
    assert.ok(r.bystander.maxGapMs < MAX_GAP_MS, `the bystander went ${r.bystander.maxGapMs} ms without a message`);
    assert.ok(r.slow.minPerSecond >= 1, `a slow consumer had a whole second without a delivery (per-second minimum ${r.slow.minPerSecond})`);
    assert.ok(r.published.confirmed >= 1000, `confirming publishers got only ${r.published.confirmed} confirms`);
    assert.equal(r.published.nacked, 0);

    // The stalled consumers: the one that acks nothing holds exactly its prefetch; the one that
    // stopped reading cost no broker memory (above). (That its publisher is then held back is
    // backpressure.test.ts's subject.)
    assert.equal(r.stalled.unackedDelivered, 100);
    assert.equal(r.stalled.noAckDelivered, 0, 'the stalled consumer read nothing, as it should not');
  });
});
