// The user-notify example (examples/user-notify) against a real Warren, a real SMTP server and
// SQLite: both retry modes, a consumer killed mid-message, a returned message, a broker outage.
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ledgerSemantics, mailingFlow } from './user-notify-scenarios.js';

let broker: TestBroker;
const sqlite = () => `sqlite:${join(tmpdir(), `user-notify-test-${process.pid}-${Math.random().toString(36).slice(2)}.sqlite`)}`;

describe('examples/user-notify on SQLite', () => {
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker.stop(); });

  test('ledger upsert: the seed statement semantics on SQLite', async () => {
    await ledgerSemantics(sqlite());
  });

  test('RETRY_MODE=republish: mails, doubling delays, give-up after MAX_ATTEMPTS, ledger rows', async () => {
    await mailingFlow(broker, sqlite(), 'republish');
  });

  test('RETRY_MODE=broker: the queue delays, dead-letters the give-up, same mails and ledger', async () => {
    await mailingFlow(broker, sqlite(), 'broker');
  });
});
