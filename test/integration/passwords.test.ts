// Passwords are stored as RabbitMQ stores them, salted hashes and never in clear: not in any file
// of the data directory, not in GET /api/definitions, not in the log. Whichever way a password
// arrives (default user from the environment, definitions file at boot, the users API, a change
// of password, a definitions import through the API), the clear text must not reach the disk.
// With password_hashing_module sha512, new passwords are hashed with sha512 and older sha256
// hashes still log in; a hash computed the way RabbitMQ computes it logs in over AMQP and HTTP.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { apiClient } from '../helpers/http.js';

const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.stop();
});

/** A password nobody could find by accident, so any occurrence is a leak. */
const secret = (what: string) => `pw-${what}-${randomBytes(6).toString('hex')}`;

/** RabbitMQ's hash: base64(salt(4) + H(salt + password)). */
function rabbitHash(password: string, digest: 'sha256' | 'sha512'): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash(digest).update(salt).update(password, 'utf8').digest()]).toString('base64');
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Every file in the data directory holding any of the secrets, with the secret found. */
function leaksOnDisk(dir: string, secrets: string[]): string[] {
  const leaks: string[] = [];
  for (const f of filesUnder(dir)) {
    const bytes = readFileSync(f);
    for (const s of secrets) if (bytes.includes(Buffer.from(s, 'utf8'))) leaks.push(`${f}: ${s}`);
  }
  return leaks;
}

async function amqpLogin(b: TestBroker, user: string, password: string): Promise<boolean> {
  try {
    const c = await amqp.connect(`amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${b.host}:${b.port}`);
    await c.close();
    return true;
  } catch (err) {
    assert.match((err as Error).message, /ACCESS-REFUSED|403/, 'a refused login, not another failure');
    return false;
  }
}

describe('passwords', () => {
  it('are never stored, exported or logged in clear, however they arrive', async (t) => {
    const pw = {
      defaultUser: secret('default'), file: secret('file'), api: secret('api'), changed: secret('changed'),
      imported: secret('imported'), wrong: secret('wrong'),
    };
    const all = Object.values(pw);
    const b = await startBroker({
      env: { WARREN_DEFAULT_USER: 'boss', WARREN_DEFAULT_PASS: pw.defaultUser, WARREN_LOG_LEVEL: 'debug' },
      definitions: {
        users: [{ name: 'fromfile', password: pw.file, tags: '' }],
        permissions: [{ user: 'fromfile', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
      },
    });
    brokers.push(b);
    if (b.external) return t.skip('needs a Warren started by the test (its data directory and log)');
    const api = apiClient(b.httpUrl, 'boss', pw.defaultUser);

    assert.equal((await api('PUT', 'users/apiuser', { password: pw.api, tags: '' })).status, 201);
    assert.equal((await api('PUT', 'permissions/%2F/apiuser', { configure: '.*', write: '.*', read: '.*' })).status, 201);
    assert.equal(await amqpLogin(b, 'apiuser', pw.api), true);
    assert.equal((await api('PUT', 'users/apiuser', { password: pw.changed, tags: '' })).status, 204);
    assert.equal((await api('POST', 'definitions', {
      users: [{ name: 'imported', password: pw.imported, tags: 'management' }],
      permissions: [{ user: 'imported', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    })).status, 204);

    // Every way in logs in, the changed password replaces the old one.
    assert.equal(await amqpLogin(b, 'boss', pw.defaultUser), true);
    assert.equal(await amqpLogin(b, 'fromfile', pw.file), true);
    assert.equal(await amqpLogin(b, 'apiuser', pw.changed), true);
    assert.equal(await amqpLogin(b, 'apiuser', pw.api), false);
    assert.equal(await amqpLogin(b, 'imported', pw.imported), true);
    assert.equal(await amqpLogin(b, 'imported', pw.wrong), false);
    assert.equal((await apiClient(b.httpUrl, 'imported', pw.wrong)('GET', 'overview')).status, 401);

    const defs = await api('GET', 'definitions');
    assert.equal(defs.status, 200);
    const exported = JSON.stringify(defs.body);
    for (const s of all) assert.ok(!exported.includes(s), `GET /api/definitions holds a clear password (${s})`);
    const users = defs.body.users as { name: string; password_hash: string; hashing_algorithm: string }[];
    assert.deepEqual(users.map((u) => u.name).sort(), ['apiuser', 'boss', 'fromfile', 'imported']);
    for (const u of users) {
      assert.equal(u.hashing_algorithm, 'rabbit_password_hashing_sha256', u.name);
      assert.equal(Buffer.from(u.password_hash, 'base64').length, 4 + 32, `${u.name}: salt + sha256`);
    }

    // The journal is on disk already (written before the API answered); after a clean stop the
    // data directory holds everything it will hold.
    assert.deepEqual(leaksOnDisk(b.dataDir, all), []);
    // The search itself works: the stored hash is found where the clear password is not.
    const apiHash = users.find((u) => u.name === 'apiuser')!.password_hash;
    assert.equal(leaksOnDisk(b.dataDir, [apiHash]).length > 0, true, 'the hash of apiuser is in the data directory');
    await b.restart();
    assert.equal(await amqpLogin(b, 'apiuser', pw.changed), true, 'the stored hash logs in after a restart');
    await b.stop();
    assert.deepEqual(leaksOnDisk(b.dataDir, all), []);
    for (const s of all) assert.ok(!b.output().includes(s), `the log holds a clear password (${s})`);
    // The failed logins above were logged (peer and user name), without the password tried.
    assert.match(b.output(), /imported/);
  });

  it('password_hashing_module sha512: new passwords hashed with sha512; RabbitMQ sha512 and sha256 hashes log in', async (t) => {
    const pw = { defaultUser: secret('default'), api: secret('api'), sha512: secret('sha512'), sha256: secret('sha256') };
    const b = await startBroker({
      args: ['--password-hashing-module', 'rabbit_password_hashing_sha512'],
      env: { WARREN_DEFAULT_USER: 'boss', WARREN_DEFAULT_PASS: pw.defaultUser },
    });
    brokers.push(b);
    if (b.external) return t.skip('needs a Warren started with --password-hashing-module');
    const api = apiClient(b.httpUrl, 'boss', pw.defaultUser);
    assert.equal((await api('PUT', 'users/apiuser', { password: pw.api, tags: 'management' })).status, 201);
    // As exported by a RabbitMQ configured with rabbit_password_hashing_sha512, and by a default one.
    assert.equal((await api('PUT', 'users/from512', {
      password_hash: rabbitHash(pw.sha512, 'sha512'), hashing_algorithm: 'rabbit_password_hashing_sha512', tags: 'management',
    })).status, 201);
    assert.equal((await api('PUT', 'users/from256', {
      password_hash: rabbitHash(pw.sha256, 'sha256'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'management',
    })).status, 201);
    assert.equal((await api('PUT', 'users/bogus', { password_hash: rabbitHash('x', 'sha256'), hashing_algorithm: 'rabbit_password_hashing_bcrypt', tags: '' })).status, 400);
    for (const u of ['apiuser', 'from512', 'from256']) {
      assert.equal((await api('PUT', `permissions/%2F/${u}`, { configure: '.*', write: '.*', read: '.*' })).status, 201);
    }

    const shown = async (name: string) => (await api('GET', `users/${name}`)).body as { password_hash: string; hashing_algorithm: string };
    for (const name of ['boss', 'apiuser', 'from512']) {
      const u = await shown(name);
      assert.equal(u.hashing_algorithm, 'rabbit_password_hashing_sha512', name);
      assert.equal(Buffer.from(u.password_hash, 'base64').length, 4 + 64, `${name}: salt + sha512`);
    }
    assert.equal((await shown('from256')).hashing_algorithm, 'rabbit_password_hashing_sha256');

    assert.equal(await amqpLogin(b, 'boss', pw.defaultUser), true);
    assert.equal(await amqpLogin(b, 'apiuser', pw.api), true);
    assert.equal(await amqpLogin(b, 'from512', pw.sha512), true);
    assert.equal(await amqpLogin(b, 'from256', pw.sha256), true);
    assert.equal(await amqpLogin(b, 'from512', pw.sha256), false);
    assert.equal((await apiClient(b.httpUrl, 'from512', pw.sha512)('GET', 'whoami')).status, 200);
    assert.equal((await apiClient(b.httpUrl, 'from256', pw.sha256)('GET', 'whoami')).status, 200);

    const defs = (await api('GET', 'definitions')).body as { users: { name: string; hashing_algorithm: string }[] };
    assert.deepEqual(Object.fromEntries(defs.users.map((u) => [u.name, u.hashing_algorithm])), {
      boss: 'rabbit_password_hashing_sha512', apiuser: 'rabbit_password_hashing_sha512',
      from512: 'rabbit_password_hashing_sha512', from256: 'rabbit_password_hashing_sha256',
    });
    await b.stop();
    assert.deepEqual(leaksOnDisk(b.dataDir, Object.values(pw)), []);
  });
});
