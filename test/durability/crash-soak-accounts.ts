// The crash soak's management-API definitions: a vhost, a user with a password and tags, its
// permissions and topic permissions, and policies in two vhosts, created once before the
// rounds. After every restart they must read back exactly as created, and the user must still
// log in with its password (the stored hash survived).
import { api, apiOk, enc } from '../helpers/admin-api.js';

const VHOST = 'soak-vhost';
const USER = { user: 'soak-user', password: 'soak-secret-1' };

const policies = [
  { vhost: '/', name: 'soak-policy', body: { pattern: '^soak-policy-target$', definition: { 'max-length': 1000 }, priority: 3, 'apply-to': 'queues' } },
  { vhost: VHOST, name: 'soak-ttl', body: { pattern: '.*', definition: { 'message-ttl': 60000, 'dead-letter-exchange': 'dlx' }, priority: 0, 'apply-to': 'all' } },
];
const permissions = { configure: '^soak-.*', write: '.*', read: '^(soak|amq)\\..*' };
const topicPermissions = { exchange: 'amq.topic', write: '^soak\\.', read: '.*' };

export async function createAccounts(base: string): Promise<void> {
  await apiOk(base, 'PUT', `vhosts/${enc(VHOST)}`, { body: { description: 'crash soak', tags: 'soak' } });
  await apiOk(base, 'PUT', `users/${enc(USER.user)}`, { body: { password: USER.password, tags: 'monitoring' } });
  await apiOk(base, 'PUT', `permissions/${enc(VHOST)}/${enc(USER.user)}`, { body: permissions });
  await apiOk(base, 'PUT', `topic-permissions/${enc(VHOST)}/${enc(USER.user)}`, { body: topicPermissions });
  for (const p of policies) await apiOk(base, 'PUT', `policies/${enc(p.vhost)}/${enc(p.name)}`, { body: p.body });
}

/** What differs from what createAccounts made (empty when intact). */
export async function checkAccounts(base: string): Promise<string[]> {
  const out: string[] = [];
  const expect = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  };
  const vhost = await api(base, 'GET', `vhosts/${enc(VHOST)}`);
  expect(`vhost ${VHOST}`, [vhost.status, vhost.body?.description], [200, 'crash soak']);
  const user = await api(base, 'GET', `users/${enc(USER.user)}`);
  const tags = user.body?.tags;
  expect(`user ${USER.user}`, [user.status, Array.isArray(tags) ? tags.join(',') : tags], [200, 'monitoring']);
  const login = await api(base, 'GET', 'whoami', { as: USER });
  expect(`${USER.user} logging in with its password`, [login.status, login.body?.name], [200, USER.user]);
  const perm = await api(base, 'GET', `permissions/${enc(VHOST)}/${enc(USER.user)}`);
  expect('permissions', [perm.status, perm.body?.configure, perm.body?.write, perm.body?.read],
    [200, permissions.configure, permissions.write, permissions.read]);
  const topic = await api(base, 'GET', `topic-permissions/${enc(VHOST)}/${enc(USER.user)}`);
  const tp = Array.isArray(topic.body) ? topic.body[0] : undefined;
  expect('topic permissions', [topic.status, tp?.exchange, tp?.write, tp?.read],
    [200, topicPermissions.exchange, topicPermissions.write, topicPermissions.read]);
  for (const p of policies) {
    const r = await api(base, 'GET', `policies/${enc(p.vhost)}/${enc(p.name)}`);
    expect(`policy ${p.vhost}/${p.name}`, [r.status, r.body?.pattern, r.body?.definition, r.body?.priority, r.body?.['apply-to']],
      [200, p.body.pattern, p.body.definition, p.body.priority, p.body['apply-to']]);
  }
  return out;
}
