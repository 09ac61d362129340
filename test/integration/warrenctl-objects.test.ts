// warrenctl end to end for users, vhosts and permissions, queues, exchanges, bindings,
// connections, channels and consumers, and definitions: each command's output and its effect,
// checked over the API and with amqplib, against Warren.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { suffix } from '../helpers/amqp.js';
import { ctlUntil, referenceTarget, referenceUnavailable, runCtl, tableRows, warrenTarget, type Target } from '../helpers/warrenctl.js';

/**
 * WARRENCTL_TEST_REFERENCE=1 runs this file against the reference RabbitMQ instead (management
 * 15673, AMQP 5673), to check that the tests and warrenctl hold for RabbitMQ's API too.
 */
const ON_REFERENCE = process.env.WARRENCTL_TEST_REFERENCE === '1';
const referenceDown = ON_REFERENCE ? await referenceUnavailable() : undefined;
const skip = referenceDown ?? false;
const targetFor = (vhostBase: string, users: string[] = []) =>
  (ON_REFERENCE ? referenceTarget(vhostBase, users) : warrenTarget(vhostBase));

describe('warrenctl: users, vhosts and permissions', { timeout: 180_000, skip }, () => {
  let t: Target;
  const user = `warrenctl-user-${suffix()}`;
  const vhost2 = `warrenctl-vh-${suffix()}`;
  before(async () => { t = await targetFor('warrenctl-acc', [user]); });
  after(async () => {
    await t?.api('DELETE', `/vhosts/${vhost2}`);
    await t?.close();
  });
  const ctl = (...args: string[]) => runCtl([...t.args, ...args]);

  it(`users: add, refuse a second add, tags, passwords, authenticate, list, delete`, async () => {
    const add = await ctl('add_user', user, 's3cret');
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, `Adding user "${user}" ...\n`);
    assert.deepEqual((await t.api('GET', `/users/${user}`)).json.tags, []);
    const again = await ctl('add_user', user, 'other');
    assert.equal(again.code, 70);
    assert.match(again.stderr, /already exists/);
    assert.equal((await ctl('authenticate_user', user, 'other')).code, 65, 'the second add_user changed nothing');

    const ok = await ctl('authenticate_user', user, 's3cret');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Success/);
    const tags = await ctl('set_user_tags', user, 'monitoring', 'policymaker');
    assert.equal(tags.code, 0, tags.stderr);
    assert.deepEqual([...(await t.api('GET', `/users/${user}`)).json.tags].sort(), ['monitoring', 'policymaker']);
    assert.equal((await ctl('authenticate_user', user, 's3cret')).code, 0, 'set_user_tags kept the password');

    assert.equal((await ctl('change_password', user, 'n3w')).code, 0);
    assert.equal((await ctl('authenticate_user', user, 's3cret')).code, 65);
    assert.equal((await ctl('authenticate_user', user, 'n3w')).code, 0);
    assert.deepEqual([...(await t.api('GET', `/users/${user}`)).json.tags].sort(), ['monitoring', 'policymaker'], 'change_password kept the tags');

    const list = JSON.parse((await ctl('list_users', '--formatter', 'json')).stdout) as { user: string; tags: string[] }[];
    assert.deepEqual(list.find((u) => u.user === user)?.tags.sort(), ['monitoring', 'policymaker']);
    const table = tableRows((await ctl('list_users', '-q')).stdout);
    assert.deepEqual(table[0], ['user', 'tags']);
    assert.ok(table.some((r) => r[0] === user && r[1] === 'monitoring,policymaker' || r[1] === 'policymaker,monitoring'));

    assert.equal((await ctl('delete_user', user)).code, 0);
    assert.equal((await t.api('GET', `/users/${user}`)).status, 404);
    const gone = await ctl('delete_user', user);
    assert.equal(gone.code, 65);
    assert.match(gone.stderr, new RegExp(`user "${user}" does not exist`));
  });

  it('vhosts and permissions: add_vhost, set/list/clear permissions and topic permissions, delete_vhost', async () => {
    await ctl('add_user', user, 'pw');
    const add = await ctl('add_vhost', vhost2, '--description', 'made by warrenctl');
    assert.equal(add.code, 0, add.stderr);
    assert.equal((await t.api('GET', `/vhosts/${vhost2}`)).json.description, 'made by warrenctl');
    assert.ok(tableRows((await ctl('list_vhosts', '-s', 'name', 'description')).stdout).some((r) => r[0] === vhost2 && r[1] === 'made by warrenctl'));

    const set = await ctl('-p', vhost2, 'set_permissions', user, '^app\\.', '.*', '^$');
    assert.equal(set.code, 0, set.stderr);
    const perm = (await t.api('GET', `/permissions/${vhost2}/${user}`)).json;
    assert.deepEqual([perm.configure, perm.write, perm.read], ['^app\\.', '.*', '^$']);
    assert.ok(tableRows((await ctl('-p', vhost2, 'list_permissions')).stdout).some((r) => r.join('|') === `${user}|^app\\.|.*|^$`));
    assert.deepEqual(JSON.parse((await ctl('list_user_permissions', user, '--formatter', 'json')).stdout),
      [{ vhost: vhost2, configure: '^app\\.', write: '.*', read: '^$' }]);
    const noUser = await ctl('-p', vhost2, 'set_permissions', 'warrenctl-nobody', '.*', '.*', '.*');
    assert.equal(noUser.code, 65);
    assert.match(noUser.stderr, /user "warrenctl-nobody" does not exist/);

    assert.equal((await ctl('-p', vhost2, 'set_topic_permissions', user, 'amq.topic', '^a', '^b')).code, 0);
    assert.equal((await ctl('-p', vhost2, 'set_topic_permissions', user, 'events', '^c', '^d')).code, 0);
    assert.deepEqual(tableRows((await ctl('list_user_topic_permissions', user, '-s')).stdout).sort(),
      [[vhost2, 'amq.topic', '^a', '^b'], [vhost2, 'events', '^c', '^d']]);
    assert.equal((await ctl('-p', vhost2, 'clear_topic_permissions', user, 'amq.topic')).code, 0);
    assert.deepEqual(tableRows((await ctl('-p', vhost2, 'list_topic_permissions', '-s')).stdout), [[user, 'events', '^c', '^d']]);
    assert.equal((await ctl('-p', vhost2, 'clear_topic_permissions', user)).code, 0);
    assert.equal((await ctl('-p', vhost2, 'list_topic_permissions', '-s')).stdout, '');

    assert.equal((await ctl('-p', vhost2, 'clear_permissions', user)).code, 0);
    assert.equal((await t.api('GET', `/permissions/${vhost2}/${user}`)).status, 404);
    assert.equal((await ctl('delete_vhost', vhost2)).code, 0);
    assert.equal((await t.api('GET', `/vhosts/${vhost2}`)).status, 404);
    const gone = await ctl('-p', vhost2, 'list_queues');
    assert.equal(gone.code, 65);
    assert.match(gone.stderr, new RegExp(`virtual host "${vhost2}" does not exist`));
  });
});

describe('warrenctl: queues, exchanges, bindings, connections, channels, consumers', { timeout: 180_000, skip }, () => {
  let t: Target;
  before(async () => { t = await targetFor('warrenctl-obj'); });
  after(async () => { await t?.close(); });
  const ctl = (...args: string[]) => runCtl([...t.args, '-p', t.vhost, ...args]);
  const connect = () => amqp.connect(`${t.amqpUrl}/${encodeURIComponent(t.vhost)}`);

  it('lists what amqplib declared, with rabbitmqctl columns; purges and deletes queues', async () => {
    const conn = await connect();
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('orders', 'topic', { durable: true });
      await ch.assertQueue('orders.new', { durable: true });
      await ch.bindQueue('orders.new', 'orders', 'order.*');
      for (let i = 0; i < 3; i++) ch.publish('orders', 'order.created', Buffer.from(`m${i}`));
      await ch.assertQueue('work', { durable: false });
      await ch.prefetch(5);
      await ch.consume('work', () => {}, { consumerTag: 'ctl-consumer' });

      const queues = await ctlUntil(['-p', t.vhost, ...t.args, 'list_queues', 'name', 'messages', 'consumers', 'durable', '-s'],
        (r) => tableRows(r.stdout).some((row) => row.join('|') === 'orders.new|3|0|true'));
      assert.deepEqual(tableRows(queues.stdout).sort(), [['orders.new', '3', '0', 'true'], ['work', '0', '1', 'false']]);
      const def = await ctl('list_queues');
      assert.deepEqual(tableRows(def.stdout).slice(0, 2), [[`Listing queues for vhost ${t.vhost} ...`], ['name', 'messages']]);

      const xs = JSON.parse((await ctl('list_exchanges', 'name', 'type', 'durable', '--formatter', 'json')).stdout) as Record<string, unknown>[];
      assert.deepEqual(xs.find((x) => x.name === 'orders'), { name: 'orders', type: 'topic', durable: true });
      assert.ok(xs.some((x) => x.name === 'amq.direct' && x.type === 'direct'));
      const bindings = tableRows((await ctl('list_bindings', '-s')).stdout);
      assert.ok(bindings.some((r) => r.join('|') === 'orders|exchange|orders.new|queue|order.*|{}'), JSON.stringify(bindings));

      const consumers = await ctlUntil(['-p', t.vhost, ...t.args, 'list_consumers', '--formatter', 'json'], (r) => r.stdout.includes('ctl-consumer'));
      const c = (JSON.parse(consumers.stdout) as Record<string, unknown>[]).find((x) => x.consumer_tag === 'ctl-consumer');
      assert.equal(c?.queue_name, 'work');
      assert.equal(c?.ack_required, true);
      assert.equal(c?.prefetch_count, 5);
      assert.match(String(c?.channel_pid), /\(1\)$/);

      const purge = await ctl('purge_queue', 'orders.new');
      assert.equal(purge.code, 0, purge.stderr);
      assert.equal((await ch.checkQueue('orders.new')).messageCount, 0);
      ch.publish('orders', 'order.created', Buffer.from('again'));
      await ctlUntil(['-p', t.vhost, ...t.args, 'list_queues', '-s', 'name', 'messages'], (r) => r.stdout.includes('orders.new  1'));
      const notEmpty = await ctl('delete_queue', 'orders.new', '--if-empty');
      assert.equal(notEmpty.code, 65);
      assert.match(notEmpty.stderr, /not empty/);
      const del = await ctl('delete_queue', 'orders.new');
      assert.equal(del.code, 0, del.stderr);
      assert.match(del.stdout, /Queue was successfully deleted with 1 messages/);
      assert.equal((await t.api('GET', `/queues/${encodeURIComponent(t.vhost)}/orders.new`)).status, 404);
      const missing = await ctl('purge_queue', 'orders.new');
      assert.equal(missing.code, 65);
      assert.match(missing.stderr, /queue "orders.new" does not exist/);
    } finally {
      await conn.close().catch(() => {});
    }
  });

  it('lists connections and channels; close_connection and close_all_connections close them with the reason', async () => {
    const a = await connect();
    const b = await connect();
    await a.createChannel();
    // amqplib reports CONNECTION_FORCED on 'close' only (it is not a fatal 'error').
    const closedA = new Promise<Error>((resolve) => a.on('close', resolve));
    const closedB = new Promise<Error>((resolve) => b.on('close', resolve));
    const conns = await ctlUntil([...t.args, 'list_connections', 'name', 'user', 'vhost', 'channels', '--formatter', 'json'],
      (r) => r.code === 0 && (JSON.parse(r.stdout) as { vhost: string; channels: number }[]).filter((c) => c.vhost === t.vhost && c.channels === 1).length === 1);
    const mine = (JSON.parse(conns.stdout) as { name: string; user: string; vhost: string; channels: number }[]).filter((c) => c.vhost === t.vhost);
    assert.equal(mine.length, 2);
    assert.ok(mine.every((c) => c.user === 'guest'));
    const chans = await ctlUntil([...t.args, 'list_channels', 'connection', 'number', 'user', '-s'], (r) => r.stdout.includes(mine.find((c) => c.channels === 1)!.name));
    assert.ok(tableRows(chans.stdout).some((r) => r[1] === '1' && r[2] === 'guest'));

    const target = mine.find((c) => c.channels === 1)!;
    const close = await runCtl([...t.args, 'close_connection', target.name, 'maintenance window']);
    assert.equal(close.code, 0, close.stderr);
    assert.match((await closedA).message, /CONNECTION_FORCED - maintenance window/);
    const all = await ctl('close_all_connections', 'going down');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Closed 1 connection\n/);
    assert.match((await closedB).message, /CONNECTION_FORCED - going down/);
    const none = await runCtl([...t.args, 'close_connection', 'no such connection', 'x']);
    assert.equal(none.code, 65);
  });
});

describe('warrenctl: export_definitions and import_definitions', { timeout: 180_000, skip }, () => {
  let t: Target;
  let dir: string;
  before(async () => { t = await targetFor('warrenctl-defs'); dir = mkdtempSync(join(tmpdir(), 'warrenctl-')); });
  after(async () => { await t?.close(); });
  const ctl = (...args: string[]) => runCtl([...t.args, ...args]);

  it('exports to a file and to stdout, imports from a file and from stdin', async () => {
    const file = join(dir, 'defs.json');
    const out = await ctl('export_definitions', file);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `Exporting definitions in JSON to a file at "${file}" ...\n`);
    const defs = JSON.parse(readFileSync(file, 'utf8'));
    assert.ok(defs.vhosts.some((v: { name: string }) => v.name === t.vhost));
    const stdout = await ctl('export_definitions', '-');
    assert.equal(stdout.code, 0);
    assert.ok(JSON.parse(stdout.stdout).vhosts.some((v: { name: string }) => v.name === t.vhost), 'stdout holds the JSON alone');

    const importFile = join(dir, 'import.json');
    writeFileSync(importFile, JSON.stringify({ queues: [{ name: 'imported', vhost: t.vhost, durable: true, auto_delete: false, arguments: {} }] }));
    const imp = await ctl('import_definitions', importFile);
    assert.equal(imp.code, 0, imp.stderr);
    const conn = await amqp.connect(`${t.amqpUrl}/${encodeURIComponent(t.vhost)}`);
    const ch = await conn.createChannel();
    await ch.checkQueue('imported');
    const viaStdin = await runCtl([...t.args, 'import_definitions', '-'], { input: '' });
    assert.equal(viaStdin.code, 65, 'empty stdin is not JSON');
    const piped = await runCtl([...t.args, 'import_definitions'], {
      input: JSON.stringify({ exchanges: [{ name: 'imported-x', vhost: t.vhost, type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} }] }),
    });
    assert.equal(piped.code, 0, piped.stderr);
    // Redeclaring with the same type and flags passes only if the import made it so (406 otherwise).
    await ch.assertExchange('imported-x', 'fanout', { durable: true, autoDelete: false, internal: false });
    await conn.close();
    const bad = await ctl('import_definitions', join(dir, 'missing.json'));
    assert.equal(bad.code, 65);
    assert.match(bad.stderr, /could not read/);
  });
});
