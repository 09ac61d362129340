// warrenctl end to end against a real Warren: the built CLI run as a child process, its exit
// codes (rabbitmqctl's: 64 usage, 65 bad input / no such object, 69 unreachable, 70 refused,
// 75 timeout), its table and JSON output, and each command's effect checked over the API.
// Users, vhosts, queues, connections and definitions: warrenctl-objects.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import amqp from 'amqplib';
import { sleep, type ChannelModel } from '../helpers/amqp.js';
import { freePort, startBroker } from '../helpers/broker.js';
import { runCtl, tableRows, warrenTarget, type Target } from '../helpers/warrenctl.js';

describe('warrenctl: usage, connection and node commands', { timeout: 120_000 }, () => {
  let t: Target;
  before(async () => { t = await warrenTarget('warrenctl-node'); });
  after(async () => { await t?.close(); });

  it('exits 64 on usage errors, with a message on stderr', async () => {
    for (const args of [[], ['no_such_command'], ['list_queues', '--bogus'], ['add_user', 'only-name'], ['list_queues', 'name', 'bogus_column'],
      ['delete_user', 'a', 'b'], ['--formatter', 'xml', 'status']]) {
      const r = await runCtl([...t.args, ...args]);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr.trim(), '', args.join(' '));
    }
    const bad = await runCtl([...t.args, 'list_queues', 'name', 'bogus_column']);
    assert.match(bad.stderr, /invalid column for queues: bogus_column/);
    assert.equal((await runCtl(['--version'])).code, 0);
    assert.match((await runCtl(['help', 'list_queues'])).stdout, /Columns .*default: name messages/);
  });

  it('exits 69 with the URL and the cause when the API cannot be reached', async () => {
    const port = await freePort();
    const r = await runCtl(['--port', String(port), 'list_queues']);
    assert.equal(r.code, 69);
    assert.match(r.stderr, new RegExp(`^Error: unable to reach Warren's management API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\. Is Warren running\\? Is the management port right`));
    // Host and port from the environment, when no flag says otherwise.
    const env = await runCtl(['ping'], { env: { WARRENCTL_HOST: '127.0.0.1', WARRENCTL_PORT: String(port) } });
    assert.equal(env.code, 69);
    assert.match(env.stderr, new RegExp(`:${port}:`));
  });

  it('exits 75 when the API takes longer than --timeout to answer', async () => {
    // A listener that accepts and never answers: a broker stuck mid-request.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const r = await runCtl(['--port', String(port), '--timeout', '0.5', 'list_vhosts']);
      assert.equal(r.code, 75, r.stderr);
      assert.match(r.stderr, /^Error: GET \/api\/vhosts timed out after 0\.5 s/);
    } finally {
      silent.close();
    }
  });

  it('exits 70 with the API reason when the credentials are refused', async () => {
    const r = await runCtl([...t.args, '--password', 'wrong', 'list_vhosts']);
    assert.equal(r.code, 70);
    assert.match(r.stderr, /^Error: Login failed \(GET \/api\/vhosts: 401/);
    // The same credentials from the URL and the environment.
    const fromUrl = await runCtl(['--url', t.httpUrl.replace('://', '://guest:wrong@'), 'ping']);
    assert.equal(fromUrl.code, 70);
    const fromEnv = await runCtl(['ping'], { env: { WARRENCTL_URL: t.httpUrl, WARRENCTL_USER: 'guest', WARRENCTL_PASSWORD: 'guest' } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /Ping succeeded/);
  });

  it('status shows Warren, its node and listeners; --formatter json gives the overview', async () => {
    const r = await runCtl([...t.args, 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Status of node warren@/);
    assert.match(r.stdout, /Product: +Warren \S+ \(RabbitMQ 3\.13\.\d+ compatible\)/);
    assert.match(r.stdout, new RegExp(`Listener: +amqp on 127\\.0\\.0\\.1:${new URL(t.amqpUrl).port}`));
    assert.match(r.stdout, /Queues: +0/);
    assert.match(r.stdout, /Uptime: +\d+ s/);
    assert.match(r.stdout, /Memory used: +[\d.]+ MiB \(alarm at [\d.]+ MiB\)\n/);
    const j = await runCtl([...t.args, 'status', '--formatter', 'json']);
    assert.equal(j.code, 0);
    const o = JSON.parse(j.stdout);
    assert.equal(o.product_name, 'Warren');
    assert.equal(typeof o.object_totals.connections, 'number');
    assert.equal(typeof o.node_details.mem_used, 'number');
  });

  it('await_startup waits for a Warren that starts later, and gives up with 75 when none does', async () => {
    assert.equal((await runCtl([...t.args, 'await_startup'])).code, 0);
    const port = await freePort();
    const waiting = runCtl(['--port', String(port), '--timeout', '30', 'await_startup']);
    await sleep(700);
    const late = await startBroker({ args: ['--management-port', String(port)] });
    try {
      const r = await waiting;
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await late.stop();
    }
    const started = Date.now();
    const r = await runCtl(['--port', String(await freePort()), '--timeout', '1', 'await_startup']);
    assert.equal(r.code, 75, r.stderr);
    assert.ok(Date.now() - started >= 900, 'waited the whole timeout');
    assert.match(r.stderr, /did not start within 1 s/);
  });
});

describe('warrenctl: policies, operator policies and vhost limits on Warren', { timeout: 120_000 }, () => {
  let t: Target;
  let v: string;
  before(async () => { t = await warrenTarget('warrenctl-pol'); v = encodeURIComponent(t.vhost); });
  after(async () => { await t?.close(); });
  const ctl = (...args: string[]) => runCtl([...t.args, '-p', t.vhost, ...args]);

  it('set_policy takes --priority and --apply-to; list_policies shows it as a table and as JSON', async () => {
    const r = await ctl('set_policy', '--priority', '7', '--apply-to', 'queues', 'ttl', '^orders\\.', '{"message-ttl": 60000}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Setting policy "ttl" for pattern "^orders\\." to "{"message-ttl": 60000}" with priority "7" for vhost "${t.vhost}" ...\n`);
    const p = await t.api('GET', `/policies/${v}/ttl`);
    assert.equal(p.status, 200);
    assert.deepEqual({ pattern: p.json.pattern, definition: p.json.definition, priority: p.json.priority, applyTo: p.json['apply-to'] },
      { pattern: '^orders\\.', definition: { 'message-ttl': 60000 }, priority: 7, applyTo: 'queues' });

    const list = await ctl('list_policies');
    assert.equal(list.code, 0);
    const rows = tableRows(list.stdout);
    assert.equal(rows[0].join(' '), `Listing policies for vhost ${t.vhost} ...`);
    assert.deepEqual(rows[1], ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority']);
    assert.deepEqual(rows[2], [t.vhost, 'ttl', '^orders\\.', 'queues', '{"message-ttl":60000}', '7']);
    const quiet = await ctl('list_policies', '-q');
    assert.equal(tableRows(quiet.stdout)[0][0], 'vhost', '-q drops the informational line');
    const silent = await ctl('list_policies', '-s');
    assert.deepEqual(tableRows(silent.stdout), [[t.vhost, 'ttl', '^orders\\.', 'queues', '{"message-ttl":60000}', '7']]);
    const json = await ctl('list_policies', '--formatter', 'json');
    assert.deepEqual(JSON.parse(json.stdout), [{ vhost: t.vhost, name: 'ttl', pattern: '^orders\\.', 'apply-to': 'queues', definition: { 'message-ttl': 60000 }, priority: 7 }]);
  });

  it('refuses bad definitions: not JSON (65, before any request), and keys Warren rejects (65 with its reason)', async () => {
    const notJson = await ctl('set_policy', 'p1', '.*', '{message-ttl: 1}');
    assert.equal(notJson.code, 65);
    assert.match(notJson.stderr, /policy definition is not valid JSON/);
    const unknown = await ctl('set_policy', 'p1', '.*', '{"no-such-key": 1}');
    assert.equal(unknown.code, 65);
    assert.match(unknown.stderr, /not recognised policy settings/);
    assert.equal((await t.api('GET', `/policies/${v}/p1`)).status, 404);
    const noVhost = await runCtl([...t.args, '-p', 'warrenctl-missing', 'set_policy', 'p1', '.*', '{"message-ttl": 1}']);
    assert.equal(noVhost.code, 65);
    assert.match(noVhost.stderr, /virtual host "warrenctl-missing" does not exist/);
  });

  it('clear_policy removes it; clearing it again is 65', async () => {
    await ctl('set_policy', 'gone', '.*', '{"max-length": 5}');
    assert.equal((await ctl('clear_policy', 'gone')).code, 0);
    assert.equal((await t.api('GET', `/policies/${v}/gone`)).status, 404);
    const again = await ctl('clear_policy', 'gone');
    assert.equal(again.code, 65);
    assert.match(again.stderr, /policy "gone" does not exist/);
  });

  it('operator policies: set, list, clear', async () => {
    const r = await ctl('set_operator_policy', '--apply-to', 'queues', 'cap', '.*', '{"max-length": 1000}');
    assert.equal(r.code, 0, r.stderr);
    const p = await t.api('GET', `/operator-policies/${v}/cap`);
    assert.deepEqual(p.json.definition, { 'max-length': 1000 });
    const list = await ctl('list_operator_policies', '-q', 'pattern');
    assert.equal(list.code, 64, 'list_operator_policies takes no columns, as in rabbitmqctl');
    const rows = tableRows((await ctl('list_operator_policies', '-s')).stdout);
    assert.deepEqual(rows, [[t.vhost, 'cap', '.*', 'queues', '{"max-length":1000}', '0']]);
    assert.equal((await ctl('clear_operator_policy', 'cap')).code, 0);
    assert.equal((await t.api('GET', `/operator-policies/${v}/cap`)).status, 404);
  });

  it('set_vhost_limits replaces the whole set; list_vhost_limits shows it; clear_vhost_limits empties it', async () => {
    assert.equal((await ctl('set_vhost_limits', '{"max-connections": 10, "max-queues": 3}')).code, 0);
    let got = await t.api('GET', `/vhost-limits/${v}`);
    assert.deepEqual(got.json[0].value, { 'max-connections': 10, 'max-queues': 3 });
    assert.equal((await ctl('set_vhost_limits', '{"max-queues": 4}')).code, 0);
    got = await t.api('GET', `/vhost-limits/${v}`);
    assert.deepEqual(got.json[0].value, { 'max-queues': 4 }, 'max-connections no longer set');
    assert.deepEqual(tableRows((await ctl('list_vhost_limits', '-s')).stdout), [[t.vhost, '{"max-queues":4}']]);
    const global = JSON.parse((await runCtl([...t.args, 'list_vhost_limits', '--global', '--formatter', 'json'])).stdout);
    assert.deepEqual(global, [{ vhost: t.vhost, limits: { 'max-queues': 4 } }]);
    const bad = await ctl('set_vhost_limits', '[1]');
    assert.equal(bad.code, 65);
    assert.match(bad.stderr, /must be a JSON object/);
    assert.equal((await ctl('clear_vhost_limits')).code, 0);
    assert.deepEqual((await t.api('GET', `/vhost-limits/${v}`)).json, []);
  });
});

// The delayed-message endpoints are Warren's own: RabbitMQ has none to check these against.
describe('warrenctl: list_delayed and cancel_delayed', { timeout: 120_000 }, () => {
  let t: Target;
  let conn: ChannelModel;
  before(async () => {
    t = await warrenTarget('warrenctl-delayed');
    conn = await amqp.connect(`${t.amqpUrl}/${encodeURIComponent(t.vhost)}`);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('later', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('due', { durable: true });
    await ch.bindQueue('due', 'later', 'k');
    await ch.bindQueue('due', 'later', 'other');
    // Published out of due order; listed in due order.
    for (const [body, delay, key] of [['a', 60_000, 'k'], ['b', 30_000, 'other'], ['c', 90_000, 'k'], ['d', 45_000, 'other'], ['e', 120_000, 'k']] as const) {
      ch.publish('later', key, Buffer.from(body), { headers: { 'x-delay': delay }, persistent: true });
    }
    await ch.waitForConfirms();
  });
  after(async () => { await conn?.close().catch(() => {}); await t?.close(); });
  const ctl = (...args: string[]) => runCtl([...t.args, '-p', t.vhost, ...args]);
  const pending = async () => (JSON.parse((await ctl('list_delayed', 'later', '--all', 'id', 'payload', '--formatter', 'json')).stdout) as { id: string; payload: string }[]);

  it('lists pending messages in due order, a page at a time or --all, as a table and as JSON', async () => {
    const r = await ctl('list_delayed', 'later');
    assert.equal(r.code, 0, r.stderr);
    const rows = tableRows(r.stdout);
    assert.equal(rows[0].join(' '), `Listing delayed messages of exchange "later" in vhost "${t.vhost}" ...`);
    assert.deepEqual(rows[1], ['id', 'due', 'delay', 'routing_key', 'payload_bytes']);
    assert.deepEqual(rows.slice(2).map((x) => [x[2], x[3], x[4]]),
      [['30000', 'other', '1'], ['45000', 'other', '1'], ['60000', 'k', '1'], ['90000', 'k', '1'], ['120000', 'k', '1']]);
    const dues = rows.slice(2).map((x) => Date.parse(x[1]));
    assert.ok(dues.every((d, i) => !Number.isNaN(d) && (i === 0 || d >= dues[i - 1])), 'due times are ISO dates in order');

    const page = await ctl('list_delayed', 'later', '--page-size', '2', '--page', '3', 'payload', 'delay');
    assert.deepEqual(tableRows(page.stdout).slice(1), [['payload', 'delay'], ['e', '120000'], ['Page 3 of 3, 5 pending (--page N for another, --all for every page)']]);
    assert.deepEqual((await pending()).map((m) => m.payload), ['b', 'd', 'a', 'c', 'e']);
    const json = JSON.parse((await ctl('list_delayed', 'later', '--page-size', '1', '--formatter', 'json')).stdout);
    assert.equal(json.length, 1);
    assert.deepEqual(Object.keys(json[0]), ['id', 'due', 'delay', 'routing_key', 'payload_bytes']);
  });

  it('refuses a missing exchange and one of another type with 65', async () => {
    const missing = await ctl('list_delayed', 'nope');
    assert.equal(missing.code, 65);
    assert.match(missing.stderr, /exchange "nope" does not exist/);
    const direct = await ctl('list_delayed', 'amq.direct');
    assert.equal(direct.code, 65);
    assert.match(direct.stderr, /not of type x-delayed-message/);
  });

  it('cancels one by id, by routing key, then all; says what to cancel when nothing is given', async () => {
    assert.equal((await ctl('cancel_delayed', 'later')).code, 64);
    assert.equal((await ctl('cancel_delayed', 'later', '1', '--all')).code, 64);
    assert.equal((await ctl('cancel_delayed', 'later', '--all', '--routing-key', 'k')).code, 64);

    const first = (await pending())[0];
    const one = await ctl('cancel_delayed', 'later', first.id);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual((await pending()).map((m) => m.payload), ['d', 'a', 'c', 'e']);
    const again = await ctl('cancel_delayed', 'later', first.id);
    assert.equal(again.code, 65);
    assert.match(again.stderr, new RegExp(`no pending message with id ${first.id}`));

    const byKey = await ctl('cancel_delayed', 'later', '--routing-key', 'other');
    assert.equal(byKey.code, 0, byKey.stderr);
    assert.match(byKey.stdout, /Cancelled 1 delayed message\n/);
    assert.deepEqual((await pending()).map((m) => m.payload), ['a', 'c', 'e']);

    const all = await ctl('cancel_delayed', 'later', '--all', '--formatter', 'json');
    assert.deepEqual(JSON.parse(all.stdout), { cancelled: 3 });
    assert.deepEqual(await pending(), []);
    assert.equal((await ctl('list_delayed', 'later', '-s')).stdout, '');
  });
});
