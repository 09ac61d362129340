// The scenarios both databases run: the whole mailing flow in one retry mode, and the ledger
// upsert's exact semantics (the seed's MySQL statement; SQLite must give the same rows).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestBroker } from '../helpers/broker.js';
import { Deployment, EXAMPLE_DIST, MailServer, sleep, until } from './user-notify-support.js';

export const FIRST_DELAY_MS = 200;
export const MAX_ATTEMPTS = 5;
/** The first n retry delays: 200, 400, 800, 1600 ms. */
const doubling = (n: number) => Array.from({ length: n }, (_, i) => FIRST_DELAY_MS * 2 ** i);

/**
 * The delays between attempts, two ways. Between the attempts at the mail server they are
 * never shorter than the retry delay; but they also hold the failed SMTP exchange, the ledger
 * write, the publish confirm and the redelivery, which on a loaded machine vary by hundreds of
 * ms. So the doubling itself is checked on what the broker alone was asked to wait: from the
 * moment the consumer published the retry (republish) or nacked (broker), as it logged, to the
 * next delivery it logged.
 */
export function assertDelays(app: Deployment, smtp: MailServer, address: string, userId: number, mode: 'republish' | 'broker', expected: number[]): string {
  const atServer = smtp.gaps(address);
  assert.equal(atServer.length, expected.length, `gaps ${atServer.join(', ')} vs expected ${expected.join(', ')}`);
  atServer.forEach((g, i) => assert.ok(g >= expected[i] - 15,
    `attempt ${i + 2} came ${g} ms after the one before, earlier than the ${expected[i]} ms delay (gaps ${atServer.join(', ')})`));
  const sends = app.all('sending welcome mail', userId).map((l) => Number(l.time));
  const handedBack = mode === 'republish'
    ? app.all('retry scheduled', userId).map((l) => Number(l.publishedAt))
    : app.all('welcome mail failed', userId).slice(0, expected.length).map((l) => Number(l.time));
  assert.equal(handedBack.length, expected.length);
  const waits = handedBack.map((t, i) => sends[i + 1] - t);
  waits.forEach((w, i) => assert.ok(w >= expected[i] - 30 && w <= expected[i] + 500,
    `the broker held retry ${i + 1} for ${w} ms, expected ${expected[i]} ms (held ${waits.join(', ')})`));
  return `${address.split('-')[0]}: ${atServer.join(', ')} ms between attempts, ${waits.join(', ')} ms held by the broker`;
}

/**
 * Registers three users against a service and a worker: one mailed at once, one whose mail
 * server fails twice, one that always fails. Checks mails, attempts, their delays (doubling
 * from FIRST_DELAY_MS), the give-up after MAX_ATTEMPTS and the ledger rows.
 */
export async function mailingFlow(broker: TestBroker, databaseUrl: string, mode: 'republish' | 'broker'): Promise<string> {
  const smtp = new MailServer();
  await smtp.start();
  const tag = `${mode}-${Date.now()}`;
  const ok = `ok-${tag}@example.test`;
  const twice = `twice-${tag}@example.test`;
  const never = `never-${tag}@example.test`;
  smtp.plan(twice, { fail: 2 });
  smtp.plan(never, { fail: 1000 });
  const app = await Deployment.start({
    AMQP_URL: broker.url, SMTP_URL: smtp.url, DATABASE_URL: databaseUrl, RETRY_MODE: mode,
    FIRST_DELAY_MS: String(FIRST_DELAY_MS), MAX_ATTEMPTS: String(MAX_ATTEMPTS),
  }, 1).catch(async (err: unknown) => { await smtp.stop(); throw err; });
  try {
    const [okId, twiceId, neverId] = await Promise.all([app.register(ok, 'Olga'), app.register(twice, 'Tom'), app.register(never, 'Nina')]);
    await until(`mails to ${ok} and ${twice}\n${app.dump()}`, () => smtp.mailsTo(ok).length && smtp.mailsTo(twice).length, 10_000);
    // the last give-up comes after 200 + 400 + 800 + 1600 ms of delays
    const gaveUp = await app.waitLog(mode === 'broker' ? 'giving up: user will not be mailed (dead-lettered)' : 'giving up: user will not be mailed', neverId, 15_000);
    await sleep(300); // nothing more may arrive after the give-up

    assert.deepEqual(smtp.mailsTo(ok).map((m) => m.userId), [okId]);
    assert.deepEqual(smtp.mailsTo(twice).map((m) => m.userId), [twiceId]);
    assert.equal(smtp.mailsTo(never).length, 0);
    assert.equal(smtp.attempts.get(ok)?.length, 1);
    assert.equal(smtp.attempts.get(twice)?.length, 3);
    assert.equal(smtp.attempts.get(never)?.length, MAX_ATTEMPTS, `at most ${MAX_ATTEMPTS} failed sends`);
    const delays = [assertDelays(app, smtp, twice, twiceId, mode, doubling(2)),
      assertDelays(app, smtp, never, neverId, mode, doubling(MAX_ATTEMPTS - 1))];
    if (mode === 'broker') assert.equal(gaveUp.reason, 'rejected', 'the consumer stopped at the done ledger row');

    // the ledger, as GET /users/:id shows it
    const okUser = await app.user(okId);
    assert.equal(okUser.status, 200);
    assert.equal(okUser.body.email, ok);
    assert.equal(okUser.body.name, 'Olga');
    assert.equal(okUser.body.notify, null, 'no failure, no ledger row');
    const twiceUser = await app.user(twiceId);
    assert.deepEqual(pick(twiceUser.body.notify), { user_id: twiceId, notifynum: 2, isdone: 0 });
    const neverUser = await app.user(neverId);
    assert.deepEqual(pick(neverUser.body.notify), { user_id: neverId, notifynum: MAX_ATTEMPTS, isdone: 1 });
    // the failures really were spread over the consumers: both logged sends (prefetch 1 each)
    const senders = new Set(app.all('sending welcome mail').map((l) => l.pid));
    assert.equal(senders.size, 2, `both consumer processes took messages:\n${app.dump()}`);
    return delays.join('; ');
  } finally {
    await app.stop();
    await smtp.stop();
  }
}

function pick(row: unknown): Record<string, unknown> {
  assert.ok(row && typeof row === 'object', `ledger row expected, got ${JSON.stringify(row)}`);
  const r = row as Record<string, unknown>;
  assert.match(String(r.updatetime), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
  return { user_id: r.user_id, notifynum: r.notifynum, isdone: r.isdone };
}

interface LedgerRow { user_id: number; notifynum: number; isdone: number; updatetime: string }
interface Db {
  migrate(): Promise<void>;
  recordFailure(userId: number): Promise<LedgerRow>;
  getLedger(userId: number): Promise<LedgerRow | undefined>;
  close(): Promise<void>;
}

/**
 * The seed's upsert semantics with a limit of 3, through the example's own database module:
 * counts up, marks done at the limit, moves the time only while the row stays open (the
 * failure that closes it keeps the time, as MySQL's left-to-right SET gives), and leaves a
 * done row alone. Run against both databases, it pins SQLite to MySQL's behaviour.
 */
export async function ledgerSemantics(databaseUrl: string): Promise<void> {
  const { openDb } = await import(join(EXAMPLE_DIST, 'db.js')) as { openDb(url: string, limit: number): Db };
  const db = openDb(databaseUrl, 3);
  try {
    await db.migrate();
    await db.migrate(); // migrations run once
    const userId = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    const steps: LedgerRow[] = [];
    for (let i = 0; i < 5; i++) {
      steps.push(await db.recordFailure(userId));
      await sleep(15); // so that a moved time is a different time
    }
    assert.deepEqual(steps.map((r) => [r.user_id, r.notifynum, r.isdone]),
      [[userId, 1, 0], [userId, 2, 0], [userId, 3, 1], [userId, 3, 1], [userId, 3, 1]]);
    const t = steps.map((r) => r.updatetime);
    assert.ok(t[1] > t[0], `an open row's time moves: ${t}`);
    assert.equal(t[2], t[1], 'the failure that closes the row keeps the time (MySQL assigns isdone before updatetime)');
    assert.equal(t[3], t[2], 'a done row is left unchanged');
    assert.equal(t[4], t[2]);
    assert.deepEqual(await db.getLedger(userId), steps[4]);
  } finally {
    await db.close();
  }
}
