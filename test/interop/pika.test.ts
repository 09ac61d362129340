// Runs the pika interop checks (test/interop/python/pika_checks.py) against a broker with
// Debian's /usr/bin/python3 and python3-pika.
import { describe, it, before, after } from 'node:test';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CLIENT_CHECKS, INTEROP_DIR, assertAllOk, comments, orSkip, requireTool, runChecks } from './support.js';

const PYTHON = '/usr/bin/python3';
/** Checks only the pika program has: dead-lettering a 2^64-1 timestamp; the delayed-message exchange. */
const PIKA_ONLY_CHECKS = ['dead_letter_max_timestamp_ttl', 'dead_letter_max_timestamp_reject', 'delayed_exchange'];

describe('interop: pika (Python)', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  it('pika BlockingConnection passes every check', { timeout: 90_000 }, async (t) => {
    if (!await orSkip(t, () => { requireTool('Python 3 with pika', PYTHON, ['-c', 'import pika'], 'python3-pika'); return true; })) return;
    // PYTHONPATH etc. from a pyenv on PATH must not leak into Debian's interpreter
    const run = await runChecks(PYTHON, [join(INTEROP_DIR, 'python', 'pika_checks.py'), `${broker.url}/`],
      { PYTHONPATH: undefined, PYTHONHOME: undefined });
    for (const line of comments(run)) t.diagnostic(line.slice(2));
    assertAllOk(run, [...CLIENT_CHECKS, ...PIKA_ONLY_CHECKS]);
  });
});
