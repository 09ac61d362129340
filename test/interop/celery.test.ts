// Celery end to end (test/interop/python/celery_batches.py with Debian's /usr/bin/python3 and
// python3-celery): a real prefork worker (-c 2, task_acks_late, worker_prefetch_multiplier=1,
// rpc:// results) and a client that sends batches of 200 tasks, then .get()s each result in order.
//
// Why batch times are the thing to watch: Celery's rpc result consumer calls
// drain_events(timeout=1) before it looks at a result it already holds, so every result that
// overtook an earlier one costs one 1 s wait once the socket has nothing more to read. A batch
// takes about 0.3 s + k s, k = how far out of order the results came back (usually 1, on
// RabbitMQ as on Warren, because the pool's two processes race).
//
// The timing check is on the lower quartile of the batch times, not the median: on a loaded
// machine a pool process that loses the CPU for a few ms lets the other overtake it by several
// tasks, which adds seconds to single batches against RabbitMQ too. It is marked todo while the
// issue it was written for is open: on the shared 2-core test VM Warren still gets >= 2 stalls
// in more batches than RabbitMQ 3.10 does (41 % against 8 % in alternating runs), and this check
// then fails in about one run in five. Results must be right in any case.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { INTEROP_DIR, orSkip, requireTool, runChecks } from './support.js';

const PYTHON = '/usr/bin/python3';
const BATCH = 200;
/** One 1 s drain stall over a batch that runs in ~0.3-0.7 s stays below this; two do not. */
const BOUND_S = 2.0;
const MIN_BATCHES = 6;

interface CeleryRun {
  batch: number;
  batches: number[];
  wrong: number;
  error: string | null;
  cut?: number;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

describe('interop: Celery (Python)', { timeout: 120_000 }, () => {
  let broker: TestBroker | undefined;
  after(async () => { await broker?.stop(); });

  it(`a prefork worker and an rpc:// client get every result of ${BATCH}-task batches right`, { timeout: 100_000 }, async (t) => {
    // Skipped with one line outside CI, a failure under CI (support.ts's rule for every interop tool).
    if (!await orSkip(t, () => { requireTool('Python 3 with Celery', PYTHON, ['-c', 'import celery, kombu, amqp'], 'python3-celery'); return true; })) return;
    broker = await startBroker();
    // PYTHONPATH etc. from a pyenv on PATH must not leak into Debian's interpreter
    const run = await runChecks(PYTHON, [join(INTEROP_DIR, 'python', 'celery_batches.py'), `${broker.url}/`],
      { PYTHONPATH: undefined, PYTHONHOME: undefined, CELERY_BATCH: String(BATCH), CELERY_MIN_BATCHES: String(MIN_BATCHES) });
    for (const l of run.output.split('\n')) if (l.startsWith('# ')) t.diagnostic(l.slice(2));
    const line = run.output.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `celery_batches.py printed no RESULT line (exit ${run.code}):\n${run.output}`);
    const result = JSON.parse(line.slice('RESULT '.length)) as CeleryRun;
    assert.equal(result.error, null, `the Celery run failed: ${result.error}\n${run.output}`);
    assert.equal(result.wrong, 0, `${result.wrong} task results were wrong\n${run.output}`);
    assert.equal(run.code, 0, `celery_batches.py exited ${run.code}\n${run.output}`);
    assert.ok(result.batches.length >= MIN_BATCHES, `only ${result.batches.length} batches ran (want ${MIN_BATCHES})\n${run.output}`);

    await t.test(`most batches finish within ${BOUND_S} s (no extra 1 s drain stalls)`, {
      todo: 'Warren gets >= 2 drain stalls per batch more often than RabbitMQ on a loaded 2-core VM; cause not found yet',
    }, (st) => {
      const q1 = quantile(result.batches, 0.25);
      const median = quantile(result.batches, 0.5);
      st.diagnostic(`batch times (s): ${result.batches.join(' ')}; lower quartile ${q1.toFixed(2)}, median ${median.toFixed(2)}`);
      assert.ok(q1 < BOUND_S,
        `the lower quartile of the batch times is ${q1.toFixed(2)} s (median ${median.toFixed(2)} s), not below ${BOUND_S} s: ` +
        `most batches waited >= 2 s longer for their results than it took to run them (Celery's 1 s drain interval), ` +
        `batches: ${result.batches.join(' ')}`);
    });
  });
});
