#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Usage: npm test [-- substring...]  (only files whose path contains one of the substrings)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
const filters = process.argv.slice(2);
const chosen = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
chosen.sort();
if (chosen.length === 0) { console.error('no test files matched'); process.exit(1); }
// --test-force-exit: a file whose suite timed out with a broker or connection still open exits
// anyway (its brokers are killed on exit) instead of hanging the whole run.
const r = spawnSync(process.execPath, ['--test', '--test-force-exit', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
