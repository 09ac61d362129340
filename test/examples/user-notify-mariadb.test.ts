// The user-notify example on MariaDB/MySQL (WARREN_TEST_MYSQL_URL): the seed's
// INSERT ... ON DUPLICATE KEY UPDATE and the whole flow in both retry modes. Without a
// database the tests skip saying how to get one; under CI=true that is a failure.
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { orSkip } from '../interop/support.js';
import { EXTERNAL_SKIP, MYSQL_MISSING, mysqlUrl } from './user-notify-support.js';
import { ledgerSemantics, mailingFlow } from './user-notify-scenarios.js';

let broker: TestBroker;

// no database outside CI: one skip line for the whole suite (under CI the tests run and fail)
const skip = EXTERNAL_SKIP || (process.env.WARREN_TEST_MYSQL_URL || process.env.CI ? false : `skipped: ${MYSQL_MISSING}`);

describe('examples/user-notify on MariaDB', { skip }, () => {
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker.stop(); });

  test('ledger upsert: the seed statement, ON DUPLICATE KEY UPDATE', async (t) => {
    await orSkip(t, async () => ledgerSemantics(mysqlUrl()));
  });

  test('RETRY_MODE=republish on MariaDB', async (t) => {
    const gaps = await orSkip(t, async () => mailingFlow(broker, mysqlUrl(), 'republish'));
    if (gaps) t.diagnostic(gaps);
  });

  test('RETRY_MODE=broker on MariaDB', async (t) => {
    const gaps = await orSkip(t, async () => mailingFlow(broker, mysqlUrl(), 'broker'));
    if (gaps) t.diagnostic(gaps);
  });
});
