// rabbitmqadmin (v1, the Python script Debian ships in rabbitmq-server) against Warren's
// management API: list users, vhosts and permissions; declare and delete a user, a vhost and a
// permission; declare a parameter; export definitions to a file and import them back; errors and
// refusals printed as RabbitMQ's would be. Exchanges, queues and messages through rabbitmqadmin
// belong to another part of the API and are not tested here.
// Without rabbitmqadmin (or python3) the test is skipped saying what to install; under CI=true
// that is a failure (support.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { api, apiOk } from '../helpers/admin-api.js';
import { orSkip, requireOnPath } from './support.js';

interface Run {
  code: number | null;
  out: string;
}

describe('rabbitmqadmin (Debian, v1) against Warren', () => {
  let b: TestBroker;
  let port: string;
  let dir: string;
  const admin = (args: string[], user = 'guest', password = 'guest'): Run => {
    const r = spawnSync('rabbitmqadmin', ['-H', '127.0.0.1', '--port', port, '-u', user, '-p', password, ...args],
      { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const ok = (args: string[]): string => {
    const r = admin(args);
    assert.equal(r.code, 0, `rabbitmqadmin ${args.join(' ')} failed:\n${r.out}`);
    return r.out;
  };
  const json = (args: string[]): Record<string, any>[] => JSON.parse(ok(['-f', 'raw_json', ...args])) as Record<string, any>[];

  before(async () => {
    b = await startBroker();
    port = new URL(b.httpUrl).port;
    dir = mkdtempSync(join(tmpdir(), 'warren-rabbitmqadmin-'));
  });
  after(async () => {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists users, vhosts and permissions', async (t) => {
    if (await orSkip(t, () => { requireOnPath('rabbitmqadmin', 'rabbitmq-server'); requireOnPath('python3', 'python3'); return true; }) === undefined) return;
    const users = json(['list', 'users']);
    assert.deepEqual(users.map((u) => [u.name, u.tags, u.hashing_algorithm]), [['guest', ['administrator'], 'rabbit_password_hashing_sha256']]);
    assert.deepEqual(json(['list', 'vhosts']).map((v) => v.name), ['/']);
    assert.deepEqual(json(['list', 'permissions']), [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }]);
    // The table form names the columns rabbitmqadmin asks for.
    assert.match(ok(['list', 'users']), /\|\s*name\s*\|\s*hashing_algorithm\s*\|\s*password_hash\s*\|\s*tags\s*\|/);
  });

  it('declares and deletes a vhost, a user and a permission; a parameter', async (t) => {
    if (await orSkip(t, () => { requireOnPath('rabbitmqadmin', 'rabbitmq-server'); return true; }) === undefined) return;
    assert.match(ok(['declare', 'vhost', 'name=ra-v']), /vhost declared/);
    assert.match(ok(['declare', 'user', 'name=ra-u', 'password=ra-pw', 'tags=monitoring,policymaker']), /user declared/);
    assert.match(ok(['declare', 'permission', 'vhost=ra-v', 'user=ra-u', 'configure=^ra-', 'write=.*', 'read=.*']), /permission declared/);
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'permissions/ra-v/ra-u')).body,
      { user: 'ra-u', vhost: 'ra-v', configure: '^ra-', write: '.*', read: '.*' });
    const u = json(['list', 'users']).find((x) => x.name === 'ra-u')!;
    assert.deepEqual(u.tags, ['monitoring', 'policymaker']);
    assert.ok(json(['list', 'vhosts']).some((v) => v.name === 'ra-v'));
    // (rabbitmqadmin lists permissions of every vhost whatever -V says)
    assert.deepEqual(json(['list', 'permissions']).filter((p) => p.vhost === 'ra-v').map((p) => p.user).sort(), ['guest', 'ra-u']);
    // The new user can use the API with its tags.
    const mine = admin(['-f', 'raw_json', 'list', 'vhosts'], 'ra-u', 'ra-pw');
    assert.equal(mine.code, 0, mine.out);
    assert.match(ok(['-V', 'ra-v', 'declare', 'parameter', 'component=federation-upstream', 'name=up', 'value={"uri":"amqp://x"}']), /parameter declared/);
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'parameters/federation-upstream/ra-v/up')).body.value, { uri: 'amqp://x' });
    assert.match(ok(['-V', 'ra-v', 'delete', 'parameter', 'component=federation-upstream', 'name=up']), /parameter deleted/);
    assert.match(ok(['delete', 'permission', 'vhost=ra-v', 'user=ra-u']), /permission deleted/);
    assert.match(ok(['delete', 'user', 'name=ra-u']), /user deleted/);
    assert.match(ok(['delete', 'vhost', 'name=ra-v']), /vhost deleted/);
    assert.equal((await api(b.httpUrl, 'GET', 'users/ra-u')).status, 404);
    assert.equal((await api(b.httpUrl, 'GET', 'vhosts/ra-v')).status, 404);
  });

  it('prints RabbitMQ-style errors: unknown user, refused tag', async (t) => {
    if (await orSkip(t, () => { requireOnPath('rabbitmqadmin', 'rabbitmq-server'); return true; }) === undefined) return;
    const missing = admin(['declare', 'permission', 'vhost=/', 'user=nobody', 'configure=.', 'write=.', 'read=.']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /vhost_or_user_not_found/);
    ok(['declare', 'user', 'name=ra-m', 'password=pw', 'tags=management']);
    const refused = admin(['list', 'users'], 'ra-m', 'pw');
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /Access refused: \/api\/users/);
  });

  it('exports definitions to a file and imports them back', async (t) => {
    if (await orSkip(t, () => { requireOnPath('rabbitmqadmin', 'rabbitmq-server'); return true; }) === undefined) return;
    ok(['declare', 'vhost', 'name=ex-v']);
    ok(['declare', 'user', 'name=ex-u', 'password=ex-pw', 'tags=']);
    ok(['declare', 'permission', 'vhost=ex-v', 'user=ex-u', 'configure=.*', 'write=.*', 'read=.*']);
    await apiOk(b.httpUrl, 'PUT', 'topic-permissions/ex-v/ex-u', { body: { exchange: 'amq.topic', write: '^a', read: '.*' } });
    const file = join(dir, 'defs.json');
    assert.match(ok(['export', file]), /Exported definitions/);
    const exported = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    assert.ok(exported.users.some((u: { name: string }) => u.name === 'ex-u'));
    assert.ok(exported.vhosts.some((v: { name: string }) => v.name === 'ex-v'));
    ok(['delete', 'user', 'name=ex-u']);
    ok(['delete', 'vhost', 'name=ex-v']);
    assert.match(ok(['import', file]), /Uploaded definitions/);
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'permissions/ex-v/ex-u')).body,
      { user: 'ex-u', vhost: 'ex-v', configure: '.*', write: '.*', read: '.*' });
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'topic-permissions/ex-v/ex-u')).body,
      [{ user: 'ex-u', vhost: 'ex-v', exchange: 'amq.topic', write: '^a', read: '.*' }]);
    const again = (await apiOk(b.httpUrl, 'GET', 'definitions')).body;
    assert.deepEqual(again.users, exported.users, 'the same password hashes came back');
  });
});
