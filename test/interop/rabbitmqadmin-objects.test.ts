// rabbitmqadmin (v1, Debian's) on the object part of the management API: declare an exchange, a
// queue and a binding, publish and get a message, list queues, exchanges, bindings,
// connections, channels and consumers, close a connection, purge and delete. Skipped saying what
// to install when rabbitmqadmin or python3 is missing (support.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { orSkip, requireOnPath } from './support.js';

describe('rabbitmqadmin (Debian, v1): queues, exchanges, bindings, messages, connections', () => {
  let b: TestBroker;
  let port: string;
  const admin = (args: string[]) => {
    const r = spawnSync('rabbitmqadmin', ['-H', '127.0.0.1', '--port', port, '-u', 'guest', '-p', 'guest', ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const ok = (args: string[]): string => {
    const r = admin(args);
    assert.equal(r.code, 0, `rabbitmqadmin ${args.join(' ')} failed:\n${r.out}`);
    return r.out;
  };
  const json = (args: string[]): any[] => JSON.parse(ok(['-f', 'raw_json', ...args]));

  before(async () => {
    b = await startBroker();
    port = new URL(b.httpUrl).port;
  });
  after(async () => { await b.stop(); });

  it('declares, binds, publishes, gets, lists, purges and deletes', async (t) => {
    if (await orSkip(t, () => { requireOnPath('rabbitmqadmin', 'rabbitmq-server'); requireOnPath('python3', 'python3'); return true; }) === undefined) return;
    ok(['declare', 'exchange', 'name=ra-x', 'type=topic']);
    ok(['declare', 'queue', 'name=ra-q', 'durable=false', 'arguments={"x-max-length":100}']);
    ok(['declare', 'binding', 'source=ra-x', 'destination=ra-q', 'routing_key=ra.#']);
    assert.match(ok(['publish', 'exchange=ra-x', 'routing_key=ra.one', 'payload=hello']), /Message published/);
    assert.match(ok(['publish', 'exchange=ra-x', 'routing_key=nothing', 'payload=lost']), /Message published but NOT routed/);
    const q = json(['list', 'queues']).find((x) => x.name === 'ra-q');
    assert.equal(q.messages, 1);
    assert.deepEqual(q.arguments, { 'x-max-length': 100 });
    assert.ok(json(['list', 'exchanges']).some((x) => x.name === 'ra-x' && x.type === 'topic'));
    assert.ok(json(['list', 'bindings']).some((x) => x.source === 'ra-x' && x.destination === 'ra-q' && x.routing_key === 'ra.#'));
    const got = json(['get', 'queue=ra-q', 'ackmode=ack_requeue_true']);
    assert.equal(got[0].payload, 'hello');
    assert.equal(got[0].routing_key, 'ra.one');
    assert.match(ok(['get', 'queue=ra-q', 'ackmode=ack_requeue_false']), /hello/);
    assert.equal(json(['list', 'queues']).find((x) => x.name === 'ra-q').messages, 0);

    const conn = await amqp.connect(b.url, { clientProperties: { connection_name: 'ra-conn' } });
    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    await ch.consume('ra-q', () => {}, { consumerTag: 'ra-tag' });
    const c = json(['list', 'connections']).find((x) => x.user_provided_name === 'ra-conn');
    assert.ok(c, 'connection listed');
    assert.equal(json(['list', 'channels']).filter((x) => x.connection_details.name === c.name).length, 1);
    assert.deepEqual(json(['list', 'consumers']).map((x) => [x.consumer_tag, x.queue.name]), [['ra-tag', 'ra-q']]);
    assert.match(ok(['close', 'connection', `name=${c.name}`]), /connection closed/);
    const err = await closed;
    assert.equal(err?.code, 320);

    for (let i = 0; i < 3; i++) ok(['publish', 'exchange=amq.default', 'routing_key=ra-q', `payload=m${i}`]);
    assert.match(ok(['purge', 'queue', 'name=ra-q']), /queue purged/);
    assert.equal(json(['list', 'queues']).find((x) => x.name === 'ra-q').messages, 0);
    ok(['delete', 'binding', 'source=ra-x', 'destination_type=queue', 'destination=ra-q', 'properties_key=ra.%23']);
    assert.ok(!json(['list', 'bindings']).some((x) => x.source === 'ra-x'));
    ok(['delete', 'queue', 'name=ra-q']);
    ok(['delete', 'exchange', 'name=ra-x']);
    assert.ok(!json(['list', 'queues']).some((x) => x.name === 'ra-q'));
  });
});
