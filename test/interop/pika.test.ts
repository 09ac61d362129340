// Runs the pika interop checks (test/interop/python/pika_checks.py) against a broker with
// Debian's /usr/bin/python3 and python3-pika.
import { describe, it, before, after } from 'node:test';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { INTEROP_DIR, assertAllOk, comments, requireTool, runChecks } from './support.js';

const PYTHON = '/usr/bin/python3';
const PIKA_CHECKS = [
  'connect_close', 'wrong_password', 'declare_queue', 'declare_exchange', 'roundtrip_properties',
  'routing_direct', 'routing_fanout', 'routing_topic', 'routing_headers', 'confirms',
  'mandatory_unroutable', 'redelivery_after_close', 'basic_get', 'nack_reject_requeue', 'qos_prefetch',
  'passive_declare_missing_404', 'redeclare_different_args_406', 'exclusive_other_connection_405',
  'consumer_cancel_notify', 'large_message', 'tx_commit_rollback', 'heartbeat',
] as const;

describe('interop: pika (Python)', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  it('pika BlockingConnection passes every check', { timeout: 90_000 }, async (t) => {
    requireTool('Python 3 with pika', PYTHON, ['-c', 'import pika'], 'python3-pika');
    // PYTHONPATH etc. from a pyenv on PATH must not leak into Debian's interpreter
    const run = await runChecks(PYTHON, [join(INTEROP_DIR, 'python', 'pika_checks.py'), `${broker.url}/`],
      { PYTHONPATH: undefined, PYTHONHOME: undefined });
    for (const line of comments(run)) t.diagnostic(line.slice(2));
    assertAllOk(run, PIKA_CHECKS);
  });
});
