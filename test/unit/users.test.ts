// Users: RabbitMQ password hashes and permission regexes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DEFAULT_HASHING_ALGORITHM, UserStore, checkPassword, hashPassword, type User } from '../../src/broker/users.js';

const user = (passwordHash: string, hashingAlgorithm = 'rabbit_password_hashing_sha256'): User =>
  ({ name: 'u', passwordHash, hashingAlgorithm, tags: [], limits: {} });

describe('password hashes', () => {
  test("RabbitMQ's documented example: salt 908DC60A, password test12", () => {
    const h = hashPassword('test12', DEFAULT_HASHING_ALGORITHM, Buffer.from('908DC60A', 'hex'));
    assert.equal(h, 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR');
    assert.equal(checkPassword(user(h), 'test12'), true);
    assert.equal(checkPassword(user(h), 'test13'), false);
  });

  test('format: base64(salt(4) + sha256(salt + utf8 password))', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const h = hashPassword('pässwörd', DEFAULT_HASHING_ALGORITHM, salt);
    const expected = Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from('pässwörd', 'utf8')])).digest()]).toString('base64');
    assert.equal(h, expected);
    assert.equal(h, 'AQIDBPwtq5ZIwNBPpzi5rjcenzm3jkMbdjQ9/km2mOuj20ER');
    assert.equal(Buffer.from(h, 'base64').length, 36);
  });

  test('random salts: different hashes for the same password, all of which check', () => {
    const a = hashPassword('guest');
    const b = hashPassword('guest');
    assert.notEqual(a, b);
    for (const h of [a, b]) {
      assert.equal(checkPassword(user(h), 'guest'), true);
      assert.equal(checkPassword(user(h), 'Guest'), false);
      assert.equal(checkPassword(user(h), ''), false);
    }
  });

  test('empty password hashes to something that checks', () => {
    const h = hashPassword('');
    assert.equal(checkPassword(user(h), ''), true);
    assert.equal(checkPassword(user(h), 'x'), false);
  });

  test('sha512 and md5 hashes from RabbitMQ definitions', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const sha512 = 'AQIDBANSvkE51MvG7pNDq4NjmP8SFay7rWsolg//30q7jnApCiuE049JxchapptDh7ryvu/VdvUXYHbwdpa9veVAv14=';
    assert.equal(Buffer.concat([salt, createHash('sha512').update(salt).update('guest').digest()]).toString('base64'), sha512);
    assert.equal(checkPassword(user(sha512, 'rabbit_password_hashing_sha512'), 'guest'), true);
    assert.equal(checkPassword(user(sha512, 'rabbit_password_hashing_sha512'), 'guesT'), false);
    assert.equal(checkPassword(user(sha512), 'guest'), false, 'a sha512 hash under the sha256 algorithm');
    const md5 = 'AQIDBH/JkOf0oGZ5yhQgSBXkHS0=';
    assert.equal(checkPassword(user(md5, 'rabbit_password_hashing_md5'), 'guest'), true);
  });

  test('no hash, or a too short hash, never checks', () => {
    assert.equal(checkPassword(user(''), ''), false);
    assert.equal(checkPassword(user('AQID'), ''), false);
    assert.equal(checkPassword(user(Buffer.from([1, 2, 3, 4]).toString('base64')), ''), false);
  });

  test('UserStore.authenticate and passwordless users', () => {
    const s = new UserStore();
    s.putUser('alice', 'secret', ['administrator']);
    s.putUser('nopass', null);
    s.putUser('imported', null, [], 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR', 'rabbit_password_hashing_sha256');
    assert.equal(s.authenticate('alice', 'secret')?.name, 'alice');
    assert.equal(s.authenticate('alice', 'wrong'), null);
    assert.equal(s.authenticate('bob', 'secret'), null);
    assert.equal(s.authenticate('nopass', ''), null);
    assert.equal(s.authenticate('imported', 'test12')?.name, 'imported');
    assert.equal(s.users.get('alice')!.hashingAlgorithm, 'rabbit_password_hashing_sha256');
  });

  test('password_hashing_module sha512: new passwords hashed with sha512, older sha256 hashes still check', () => {
    const s = new UserStore();
    s.putUser('old', 'before');
    s.hashingAlgorithm = 'rabbit_password_hashing_sha512';
    s.putUser('new', 'after');
    s.putUser('given', null, [], 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR', 'rabbit_password_hashing_sha256');
    s.putUser('unnamed', null, [], hashPassword('x', 'rabbit_password_hashing_sha512'));
    const fresh = s.users.get('new')!;
    assert.equal(fresh.hashingAlgorithm, 'rabbit_password_hashing_sha512');
    assert.equal(Buffer.from(fresh.passwordHash, 'base64').length, 4 + 64);
    assert.equal(s.authenticate('new', 'after')?.name, 'new');
    assert.equal(s.authenticate('old', 'before')?.name, 'old');
    assert.equal(s.users.get('old')!.hashingAlgorithm, 'rabbit_password_hashing_sha256');
    assert.equal(s.authenticate('given', 'test12')?.name, 'given');
    // A hash given without its algorithm is taken to be of the configured one, as RabbitMQ does.
    assert.equal(s.users.get('unnamed')!.hashingAlgorithm, 'rabbit_password_hashing_sha512');
    assert.equal(s.authenticate('unnamed', 'x')?.name, 'unnamed');
  });

  test('an unknown hashing algorithm never checks', () => {
    assert.equal(checkPassword(user(hashPassword('p'), 'rabbit_password_hashing_bcrypt'), 'p'), false);
  });
});

describe('permissions', () => {
  test('regexes are unanchored', () => {
    const s = new UserStore();
    s.setPermission('u', '/', { configure: 'foo', write: '^amq\\.', read: '^q-\\d+$' });
    assert.equal(s.allowed('u', '/', 'configure', 'foo'), true);
    assert.equal(s.allowed('u', '/', 'configure', 'xfoox'), true);
    assert.equal(s.allowed('u', '/', 'configure', 'fo'), false);
    assert.equal(s.allowed('u', '/', 'write', 'amq.topic'), true);
    assert.equal(s.allowed('u', '/', 'write', 'x.amq.topic'), false);
    assert.equal(s.allowed('u', '/', 'write', 'amqXtopic'), false);
    assert.equal(s.allowed('u', '/', 'read', 'q-12'), true);
    assert.equal(s.allowed('u', '/', 'read', 'q-12x'), false);
  });

  test('".*" allows everything including the empty name (the default exchange)', () => {
    const s = new UserStore();
    s.setPermission('u', '/', { configure: '.*', write: '.*', read: '.*' });
    for (const access of ['configure', 'write', 'read'] as const) {
      assert.equal(s.allowed('u', '/', access, ''), true);
      assert.equal(s.allowed('u', '/', access, 'anything'), true);
    }
  });

  test('an empty regex denies, even the empty name', () => {
    const s = new UserStore();
    s.setPermission('u', '/', { configure: '', write: '.*', read: '' });
    assert.equal(s.allowed('u', '/', 'configure', ''), false);
    assert.equal(s.allowed('u', '/', 'configure', 'q'), false);
    assert.equal(s.allowed('u', '/', 'read', 'q'), false);
    assert.equal(s.allowed('u', '/', 'write', 'q'), true);
  });

  test('^$ allows only the empty name', () => {
    const s = new UserStore();
    s.setPermission('u', '/', { configure: '^$', write: '^$', read: '^$' });
    assert.equal(s.allowed('u', '/', 'write', ''), true);
    assert.equal(s.allowed('u', '/', 'write', 'x'), false);
  });

  test('permissions are per user and vhost; clearing removes access', () => {
    const s = new UserStore();
    s.setPermission('u', 'v1', { configure: '.*', write: '.*', read: '.*' });
    assert.equal(s.hasVhostAccess('u', 'v1'), true);
    assert.equal(s.hasVhostAccess('u', 'v2'), false);
    assert.equal(s.hasVhostAccess('other', 'v1'), false);
    assert.equal(s.allowed('u', 'v2', 'read', 'q'), false);
    assert.equal(s.allowed('other', 'v1', 'read', 'q'), false);
    const p = s.permission('u', 'v1')!;
    assert.deepEqual([p.configure, p.write, p.read], ['.*', '.*', '.*']);
    assert.equal(s.permission('u', 'v2'), undefined);
    assert.deepEqual(s.listPermissions(), [{ user: 'u', vhost: 'v1', configure: '.*', write: '.*', read: '.*' }]);
    const v = s.version;
    s.clearPermission('u', 'v1');
    assert.ok(s.version > v, 'version bumped');
    assert.equal(s.allowed('u', 'v1', 'read', 'q'), false);
    s.setPermission('u', 'v1', { configure: '.*', write: '.*', read: '.*' });
    s.deleteUser('u');
    assert.equal(s.hasVhostAccess('u', 'v1'), false);
    s.setPermission('w', 'v3', { configure: '.*', write: '.*', read: '.*' });
    s.clearVhost('v3');
    assert.equal(s.hasVhostAccess('w', 'v3'), false);
  });

  test('an invalid regex is rejected when the permission is set', () => {
    const s = new UserStore();
    assert.throws(() => s.setPermission('u', '/', { configure: '(', write: '.*', read: '.*' }));
  });
});
