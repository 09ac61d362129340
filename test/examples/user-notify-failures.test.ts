// The user-notify example (examples/user-notify) when things break: a consumer killed
// mid-message, a message the broker returns, bad input, a broker outage.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Deployment, ExampleProcess, MailServer, EXTERNAL_SKIP, sqliteUrl, until } from './user-notify-support.js';

let broker: TestBroker;

async function post(app: Deployment, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${app.baseUrl}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function health(app: Deployment): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${app.baseUrl}/health`);
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

/** The .eml files the outbox mailer wrote for a user (no SMTP_URL). */
function outbox(app: Deployment, userId: number): string[] {
  const dir = join(app.env.DATA_DIR, 'outbox');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith(`user-${userId}-`)).map((f) => readFileSync(join(dir, f), 'utf8'));
}

describe('examples/user-notify: failures around the mail', { skip: EXTERNAL_SKIP }, () => {
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker.stop(); });

  test('a consumer killed (SIGKILL) mid-message: redelivered at once to another consumer, mailed once', async () => {
    const smtp = new MailServer();
    await smtp.start();
    const addr = `killed-${Date.now()}@example.test`;
    smtp.plan(addr, 'hang-once');
    const app = await Deployment.start({ AMQP_URL: broker.url, SMTP_URL: smtp.url, DATABASE_URL: sqliteUrl(), RETRY_MODE: 'broker', FIRST_DELAY_MS: '5000' }, 2);
    try {
      const id = await app.register(addr);
      await until(`the mail server holding ${addr}`, () => smtp.hanging.has(addr));
      const holder = app.processes.find((p) => p.find('sending welcome mail', id));
      assert.ok(holder, app.dump());
      await holder.kill('SIGKILL');
      const killedAt = Date.now();
      await until(`the mail to ${addr} after the kill\n${app.dump()}`, () => smtp.mailsTo(addr).length > 0);
      // a returned (not failed) message is not held back by the queue's delayed retry (5 s here)
      assert.ok(Date.now() - killedAt < 3000, `redelivered ${Date.now() - killedAt} ms after the kill`);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(smtp.mailsTo(addr).map((m) => m.userId), [id], 'mailed exactly once');
      assert.equal(smtp.attempts.get(addr)?.length, 2);
      const sends = app.all('sending welcome mail', id);
      assert.equal(sends.length, 2);
      assert.notEqual(sends[1].pid, holder.pid);
      assert.equal(sends[1].redelivered, true);
      if (holder.role === 'main') await app.spawn('main').waitLog('consumer started');
      await until('the service answering', async () => (await health(app).catch(() => ({ status: 0 }))).status === 200);
      assert.equal((await app.user(id)).body.notify, null, 'a crash is not a failed send: no ledger row');
    } finally {
      await app.stop();
      await smtp.stop();
    }
  });

  test('a returned (unroutable) message is an error answer and logged with its user id; outbox mailer; validation', async () => {
    const app = await Deployment.start({ AMQP_URL: broker.url, DATABASE_URL: sqliteUrl(), RETRY_MODE: 'republish' });
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createChannel();
      const queue = `${app.env.NAME_PREFIX}.republish`;
      const exchange = `${app.env.NAME_PREFIX}.delayed`;
      await ch.unbindQueue(queue, exchange, 'user.registered');
      const lost = await post(app, { email: 'lost@example.test', name: 'Lost' });
      assert.equal(lost.status, 503);
      assert.equal(lost.body.error, 'unroutable');
      const logged = await app.waitLog('message returned by the broker (unroutable): user not queued for mailing');
      assert.equal(logged.replyCode, 312);
      const lostId = Number(logged.userId);
      assert.ok(lostId > 0);
      assert.equal((await app.user(lostId)).status, 404, 'the registration was undone');

      await ch.bindQueue(queue, exchange, 'user.registered');
      const id = await app.register('found@example.test', 'Found');
      const mails = await until('the .eml in the outbox', () => { const m = outbox(app, id); return m.length ? m : undefined; });
      assert.equal(mails.length, 1);
      assert.match(mails[0], /^To: found@example\.test$/m);
      assert.match(mails[0], /^Subject: Welcome, Found!$/m);

      // input validation: 400 with a reason
      for (const bad of [{ email: 'not-an-address', name: 'X' }, { email: 'a@example.test' }, { email: 'a@example.test', name: '' },
        { email: 'a@example.test', name: 'X', admin: true }]) {
        const r = await post(app, bad);
        assert.equal(r.status, 400, JSON.stringify(bad));
        assert.equal(r.body.error, 'bad_request');
        assert.ok(String(r.body.reason).length > 0);
      }
      const notJson = await fetch(`${app.baseUrl}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":' });
      assert.equal(notJson.status, 400);
      assert.equal((await fetch(`${app.baseUrl}/users/abc`)).status, 400);
      const missing = await app.user(987654321);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
      assert.deepEqual(await health(app), { status: 200, body: { status: 'ok', broker: 'ok', database: 'ok' } });
    } finally {
      await conn.close();
      await app.stop();
    }
  });

  test('a broker outage: 503 at once (no hang), health says so, and after the restart it all works again', async () => {
    const own = await startBroker();
    const app = await Deployment.start({ AMQP_URL: own.url, DATABASE_URL: sqliteUrl(), RETRY_MODE: 'broker' });
    try {
      await own.stop();
      await app.waitLog('broker connection lost, reconnecting');
      const t0 = Date.now();
      const r = await post(app, { email: 'outage@example.test', name: 'Out' });
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'broker_unavailable');
      assert.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms`);
      assert.deepEqual(await health(app), { status: 503, body: { status: 'unavailable', broker: 'down', database: 'ok' } });
      await own.restart();
      await until('health ok after the restart', async () => (await health(app)).status === 200, 10_000);
      const id = await app.register('back@example.test', 'Back');
      await until('the mail after the restart (the consumer came back too)', () => outbox(app, id).length > 0);
    } finally {
      await app.stop();
      await own.stop();
    }
  });

  test('bad settings: the process exits 2 naming the variable', async () => {
    for (const [name, value] of [['RETRY_MODE', 'sometimes'], ['MAX_ATTEMPTS', '0'], ['FIRST_DELAY_MS', 'soon']]) {
      const p = new ExampleProcess('worker', { AMQP_URL: broker.url, DATABASE_URL: sqliteUrl(), [name]: value });
      await p.exited;
      assert.equal(p.child.exitCode, 2, p.dump());
      assert.ok(p.logs.some((l) => l.level === 60 && String(l.msg).startsWith(`${name} must be`)), p.dump());
    }
  });
});
