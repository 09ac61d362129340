// Connection-level behaviour: authentication, vhosts, negotiation of heartbeat/frame_max,
// large messages across many frames, client close, channels.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  Harness, consume, closedWith, nextEvent, openChannel, sleep, tracked, withTimeout,
  type ChannelModel,
} from '../helpers/amqp.js';

/** amqplib keeps the negotiated values on the underlying connection object. */
interface Negotiated { heartbeat: number; frameMax: number; channelMax: number; serverProperties: Record<string, any> }
const negotiated = (c: ChannelModel): Negotiated => c.connection as unknown as Negotiated;

describe('connection', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  /** The broker URL with other credentials and an optional vhost path. */
  const withCredentials = (user: string, pass: string, path = '') => {
    const u = new URL(broker.url);
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(pass);
    return `${u.toString().replace(/\/$/, '')}${path}`;
  };

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  it('connects as guest/guest and reports the RabbitMQ capabilities', async () => {
    const conn = await h.connect();
    const props = negotiated(conn).serverProperties;
    assert.equal(typeof props.product, 'string');
    assert.equal(typeof props.version, 'string');
    assert.deepEqual(props.capabilities, {
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      consumer_priorities: true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: true,
    });
    const ch = await openChannel(conn);
    const q = await ch.assertQueue('', { exclusive: true });
    assert.match(q.queue, /^amq\.gen-/);
  });

  it('refuses a wrong password with 403 ACCESS_REFUSED', async () => {
    await assert.rejects(h.connectUrl(withCredentials('guest', 'not-the-password')), (e: Error) => {
      assert.match(e.message, /403 \(ACCESS-REFUSED\)/);
      assert.match(e.message, /ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/);
      return true;
    });
  });

  it('refuses an unknown user with 403 ACCESS_REFUSED', async () => {
    await assert.rejects(h.connectUrl(withCredentials('no-such-user', 'x')), /403 \(ACCESS-REFUSED\)/);
  });

  it('refuses an unknown vhost with 530 NOT_ALLOWED', async () => {
    // amqplib does not expose the close reason here, it only fails the connect.
    await assert.rejects(h.connectUrl(h.brokerUrl('', 'no-such-vhost')));
    const client = new AMQPClient(withCredentials('guest', 'guest', '/no-such-vhost'));
    await assert.rejects(client.connect(), (e: Error) => {
      assert.equal(e.message, 'connection closed: NOT_ALLOWED - vhost no-such-vhost not found (530)');
      return true;
    });
  });

  it('accepts the default vhost spelled as "/" (%2F)', async () => {
    const conn = await h.connectUrl(h.brokerUrl('', '/'));
    const ch = await openChannel(conn);
    await ch.checkExchange('amq.direct');
  });

  it('negotiates the heartbeat interval', async () => {
    // The server proposes 60 s (RabbitMQ's default); the lower of the two wins, 0 disables.
    assert.equal(negotiated(await h.connect()).heartbeat, 60);
    assert.equal(negotiated(await h.connect('heartbeat=7')).heartbeat, 7);
    assert.equal(negotiated(await h.connect('heartbeat=600')).heartbeat, 60);
    assert.equal(negotiated(await h.connect('heartbeat=0')).heartbeat, 0);
  });

  it('sends heartbeats on an idle connection so the client does not time out', async () => {
    // amqplib drops the connection after two heartbeat intervals without any frame from the server.
    const conn = await h.connect('heartbeat=1');
    await sleep(3500);
    assert.equal(tracked(conn).closed, false, `connection closed: ${tracked(conn).error?.message}`);
    const ch = await openChannel(conn);
    await ch.checkExchange('amq.fanout');
  });

  it('negotiates frame_max and channel_max', async () => {
    const dflt = negotiated(await h.connect());
    assert.equal(dflt.frameMax, 131072);
    assert.equal(dflt.channelMax, 2047);
    assert.equal(negotiated(await h.connect('frameMax=4096')).frameMax, 4096);
    // Asking for more than the server's maximum gets the server's maximum.
    assert.equal(negotiated(await h.connect('frameMax=1048576')).frameMax, 131072);
  });

  const roundTrip = async (query: string, size: number) => {
    const conn = await h.connect(query);
    const ch = await openChannel(conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const payload = randomBytes(size);
    ch.sendToQueue(q, payload, { headers: { size } });
    const c = await consume(ch, q, { noAck: true });
    const [m] = await c.take(1, 10_000);
    assert.equal(m.content.length, size);
    assert.ok(m.content.equals(payload), 'body is byte-identical');
    assert.equal(m.properties.headers?.size, size);
  };

  it('round-trips a 1 MiB message byte-identical', () => roundTrip('', 1024 * 1024));

  // Warren gathers bodies over 1 MiB frame by frame instead of allocating them at the header.
  it('round-trips a 5 MiB + 1 byte message byte-identical', () => roundTrip('', 5 * 1024 * 1024 + 1));

  it('round-trips a 300 KiB message with frame_max 4096 (about 75 body frames)', () =>
    roundTrip('frameMax=4096', 300 * 1024));

  it('round-trips an empty body and a body of exactly one frame', async () => {
    const conn = await h.connect('frameMax=4096');
    const ch = await openChannel(conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const sizes = [0, 1, 4096 - 8, 4096 - 7, 4096, 8192];
    for (const n of sizes) ch.sendToQueue(q, Buffer.alloc(n, n % 251));
    const got = await (await consume(ch, q, { noAck: true })).take(sizes.length);
    assert.deepEqual(got.map((m) => m.content.length), sizes);
    for (const m of got) assert.ok(m.content.equals(Buffer.alloc(m.content.length, m.content.length % 251)));
  });

  it('closes cleanly when the client closes', async () => {
    const conn = await h.connect();
    const ch = await openChannel(conn);
    const chClosed = nextEvent(ch, 'close');
    await withTimeout(conn.close(), 'connection.close-ok');
    await chClosed;
    assert.equal(await closedWith(conn), undefined, 'no error on a client-initiated close');
    await assert.rejects(conn.createChannel(), /Connection closed/);
  });

  it('closes a channel and opens another on the same connection', async () => {
    const conn = await h.connect();
    const ch1 = await openChannel(conn);
    const q = (await ch1.assertQueue('', { exclusive: true })).queue;
    await ch1.close();
    assert.throws(() => ch1.sendToQueue(q, Buffer.from('x')), /Channel closed/);
    const ch2 = await openChannel(conn);
    ch2.sendToQueue(q, Buffer.from('after reopen'));
    const [m] = await (await consume(ch2, q, { noAck: true })).take(1);
    assert.equal(m.content.toString(), 'after reopen');
  });

  it('opens many channels on one connection, each usable', async () => {
    const conn = await h.connect();
    const channels = await Promise.all(Array.from({ length: 200 }, () => openChannel(conn)));
    const q = (await channels[0].assertQueue('', { exclusive: true })).queue;
    channels.forEach((ch, i) => ch.sendToQueue(q, Buffer.from(String(i))));
    // A queue.declare on each channel is a round trip that also proves each channel is open.
    const counts = await Promise.all(channels.map((ch) => ch.checkQueue(q)));
    assert.equal(counts.length, 200);
    await Promise.all(channels.slice(1).map((ch) => ch.close()));
    const c = await consume(channels[0], q, { noAck: true });
    const got = await c.take(200);
    assert.deepEqual(new Set(got.map((m) => m.content.toString())), new Set(channels.map((_, i) => String(i))));
  });

  it('keeps channels independent: closing one does not affect consumers on another', async () => {
    const conn = await h.connect();
    const a = await openChannel(conn);
    const b = await openChannel(conn);
    const q = (await a.assertQueue('', { exclusive: true })).queue;
    const c = await consume(a, q, { noAck: true });
    await b.close();
    const ch = await openChannel(conn);
    ch.sendToQueue(q, Buffer.from('still here'));
    assert.equal((await c.take(1))[0].content.toString(), 'still here');
  });
});
