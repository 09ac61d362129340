#!/usr/bin/env node
// The long crash soak: ROUNDS (default 100) kill -9s at random moments under mixed load, checked
// as test/durability/crash-soak.ts describes. Needs `npm run build` first.
//   ROUNDS=100 SEED=12345 node bench/crash-soak.mjs
// Prints a line per round and a summary; exits 1 if any rule was broken (the first problems are
// printed). Record runs in bench/RESULTS.md. KEEP_DATA=1 keeps the broker's data directory (its
// path is printed) to look at the files after a failure.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from '../dist/test/durability/crash-soak.js';

const rounds = Number(process.env.ROUNDS ?? 100);
const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`crash soak: ${rounds} rounds, seed ${seed} (SEED=${seed} replays the random choices)`);
try {
  const dataDir = process.env.KEEP_DATA ? mkdtempSync(join(tmpdir(), 'warren-crash-soak-')) : undefined;
  if (dataDir) console.log(`data directory (kept): ${dataDir}`);
  const r = await runSoak({ rounds, seed, dataDir, log: (line) => console.log(line) });
  const { verdict, ...rest } = r;
  console.log(`PASS ${JSON.stringify({ ...rest, lost: verdict.lost.length, unexplainedDuplicates: verdict.unexplained.length })}`);
  process.exit(0);
} catch (e) {
  console.log(`FAIL seed ${seed}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
