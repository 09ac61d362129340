// The user-notify example (examples/user-notify) against a real Warren, a real SMTP server and
// SQLite: the ledger upsert and the whole flow in both retry modes (failures: user-notify-failures).
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { EXTERNAL_SKIP, sqliteUrl } from './user-notify-support.js';
import { ledgerSemantics, mailingFlow } from './user-notify-scenarios.js';

let broker: TestBroker;

describe('examples/user-notify on SQLite', { skip: EXTERNAL_SKIP }, () => {
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker.stop(); });

  test('ledger upsert: the seed statement semantics on SQLite', async () => {
    await ledgerSemantics(sqliteUrl());
  });

  test('RETRY_MODE=republish: mails, doubling delays, give-up after MAX_ATTEMPTS, ledger rows', async (t) => {
    t.diagnostic(await mailingFlow(broker, sqliteUrl(), 'republish'));
  });

  test('RETRY_MODE=broker: the queue delays, dead-letters the give-up, same mails and ledger', async (t) => {
    t.diagnostic(await mailingFlow(broker, sqliteUrl(), 'broker'));
  });
});
