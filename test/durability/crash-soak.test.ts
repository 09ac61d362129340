// A short run of the mixed-load crash soak (test/durability/crash-soak.ts) for every test run;
// bench/crash-soak.mjs runs the long one (ROUNDS=100). WARREN_CRASH_SEED replays a run.
import { describe, it } from 'node:test';
import { runSoak } from './crash-soak.js';

describe('crash soak', { timeout: 180_000 }, () => {
  it('keeps confirmed messages, acks, delayed messages and definitions through kill -9 under mixed load', async (t) => {
    const seed = Number(process.env.WARREN_CRASH_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (WARREN_CRASH_SEED=${seed} replays the random choices)`);
    await runSoak({ rounds: 5, seed, log: (line) => t.diagnostic(line) });
  });
});
