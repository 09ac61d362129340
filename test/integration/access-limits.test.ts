// Access rules and server limits with amqplib: the validated user_id property and the
// impersonator tag's exemption, max_message_size's 406 with RabbitMQ's text and its 512 MiB cap,
// and connection_max, where connections over the limit wait unserved (as ranch's
// max_connections makes them) until a served one closes.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import amqp, { type ChannelModel } from 'amqplib';
import { startBroker, WARREN_BIN, type TestBroker } from '../helpers/broker.js';
import { Harness, closedWith, consume, openChannel, sleep, suffix, withTimeout } from '../helpers/amqp.js';
import { apiClient } from '../helpers/http.js';

describe('user_id property and the impersonator tag; max_message_size', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const plain = `plain-${suffix()}`;
  const imp = `imp-${suffix()}`;
  const as = (u: string) => broker.url.replace('guest:guest', `${u}:pw`);

  before(async () => {
    broker = await startBroker({ args: ['--max-message-size', '1000'] });
    const api = apiClient(broker.httpUrl);
    await api('PUT', `users/${plain}`, { password: 'pw', tags: '' });
    await api('PUT', `users/${imp}`, { password: 'pw', tags: 'impersonator' });
    for (const u of [plain, imp]) await api('PUT', `permissions/%2F/${u}`, { configure: '.*', write: '.*', read: '.*' });
  });
  afterEach(() => h.closeConnections());
  after(async () => {
    await h.cleanup();
    await broker?.stop();
  });

  it('a user_id other than the user\'s is refused with 406; the user\'s own passes', async () => {
    const { ch: reader } = await h.channel();
    const q = await h.declareQueue(reader, 'uid');
    const ch = await openChannel(await h.connectUrl(as(plain)));
    ch.sendToQueue(q, Buffer.from('mine'), { userId: plain });
    const c = await consume(reader, q, { noAck: true });
    const [m] = await c.take(1);
    assert.equal(m.properties.userId, plain);
    ch.sendToQueue(q, Buffer.from('theirs'), { userId: 'bob' });
    const err = await closedWith(ch);
    assert.equal(err?.code, 406);
    assert.ok(err.message.includes(`PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was '${plain}'`), err.message);
    await sleep(200);
    assert.equal(c.messages.length, 1, 'the refused message was not routed');
  });

  it('a user tagged impersonator may publish with any user_id', async () => {
    const { ch: reader } = await h.channel();
    const q = await h.declareQueue(reader, 'uid-imp');
    const ch = await openChannel(await h.connectUrl(as(imp)));
    ch.sendToQueue(q, Buffer.from('as bob'), { userId: 'bob' });
    ch.sendToQueue(q, Buffer.from('as self'), { userId: imp });
    const got = await (await consume(reader, q, { noAck: true })).take(2);
    assert.deepEqual(got.map((m) => [m.content.toString(), m.properties.userId]), [['as bob', 'bob'], ['as self', imp]]);
  });

  it('a body over max_message_size is refused with 406 and RabbitMQ\'s text; one at the limit passes', async () => {
    const { ch } = await h.channel();
    const q = await h.declareQueue(ch, 'size');
    ch.sendToQueue(q, Buffer.alloc(1000, 'a'));
    assert.equal((await ch.checkQueue(q)).messageCount, 1);
    ch.sendToQueue(q, Buffer.alloc(1001, 'b'));
    const err = await closedWith(ch);
    assert.equal(err?.code, 406);
    assert.ok(err.message.includes('PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000'), err.message);
  });
});

describe('max_message_size above 512 MiB', { timeout: 30_000 }, () => {
  it('warren refuses to start with it, saying why', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [WARREN_BIN, '--port', '0', '--management-port', 'off', '--prometheus-port', 'off',
        '--data-dir', '/nonexistent-never-used', '--max-message-size', '600MiB'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid configuration: maxMessageSize must be at most 536870912 bytes \(512MiB, RabbitMQ's limit\), got 600MiB/);
  });
});

describe('connection_max', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => {
    broker = await startBroker({ args: ['--connection-max', '2'] });
  });
  afterEach(() => h.closeConnections());
  after(async () => {
    await h.cleanup();
    await broker?.stop();
  });

  it('a connection over the limit waits unserved until a served one closes', async (t) => {
    if (broker.external) return t.skip('needs a Warren started with --connection-max 2');
    const first = await h.connect();
    await h.connect();
    let third: ChannelModel | null = null;
    const pending = amqp.connect(broker.url).then((c) => { third = c; return c; });
    await sleep(1500);
    assert.equal(third, null, 'no handshake while two connections are served');
    const api = apiClient(broker.httpUrl);
    assert.equal(((await api('GET', 'connections')).body as unknown[]).length, 2);
    await first.close();
    const c = await withTimeout(pending, 'the waiting connection to be served');
    try {
      const ch = await c.createChannel();
      await ch.checkQueue((await ch.assertQueue('', { exclusive: true })).queue);
    } finally {
      await c.close();
    }
  });
});
