// The object part of the management API against a real Warren: queues, exchanges, bindings,
// connections, channels and consumers in RabbitMQ's shapes, /get in every ackmode, purge,
// publishing through amq.default, binding properties keys, closing a connection (320 seen by
// the client), who sees what, list paging, and rates from the stats sampler.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBrokerWithAccess, type AccessBroker } from '../helpers/access.js';
import { eventually, openChannel, sleep, suffix, type ChannelModel } from '../helpers/amqp.js';
import { apiClient, enc, type Api } from '../helpers/http.js';

const sfx = suffix();
const V = `http-obj-${sfx}`;
const PW = 'http-obj-secret';
const MON = `mon-${sfx}`;
const MGMT = `mgmt-${sfx}`;
const OUT = `outsider-${sfx}`;
const NOT_FOUND = { error: 'Object Not Found', reason: 'Not Found' };

describe('management API: objects', { timeout: 60_000 }, () => {
  let ab: AccessBroker;
  let api: Api;
  const conns: ChannelModel[] = [];
  const connect = async (user = 'guest', pass = 'guest', vhost = V, name?: string) => {
    const c = await amqp.connect(ab.url(user, pass, vhost), name ? { clientProperties: { connection_name: name } } : undefined);
    c.on('error', () => {});
    conns.push(c);
    return c;
  };

  before(async () => {
    ab = await startBrokerWithAccess({
      users: [{ name: MON, password: PW, tags: 'monitoring' }, { name: MGMT, password: PW, tags: 'management' }, { name: OUT, password: PW, tags: 'management' }],
      vhosts: [V],
      permissions: [
        { user: 'guest', vhost: V, configure: '.*', write: '.*', read: '.*' },
        { user: MGMT, vhost: V, configure: '.*', write: '.*', read: '.*' },
        { user: OUT, vhost: '/', configure: '.*', write: '.*', read: '.*' },
      ],
    }, { env: { WARREN_STATS_INTERVAL_MS: '100' } });
    api = apiClient(ab.broker.httpUrl);
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) await c.close().catch(() => {});
  });
  after(async () => { await ab?.teardown(); });

  it('declares, shows and deletes a queue with RabbitMQ\'s fields and argument types', async () => {
    let r = await api('PUT', `queues/${enc(V)}/q-shape`, { durable: true, arguments: { 'x-max-length': 10, 'x-queue-mode': 'lazy', 'x-single-active-consumer': false } });
    assert.equal(r.status, 201);
    assert.equal((await api('PUT', `queues/${enc(V)}/q-shape`, { durable: true, arguments: { 'x-max-length': 10, 'x-queue-mode': 'lazy', 'x-single-active-consumer': false } })).status, 204);
    r = await api('PUT', `queues/${enc(V)}/q-shape`, { durable: false });
    assert.equal(r.status, 400);
    assert.match(r.body.reason, /inequivalent arg 'durable'/);
    r = await api('GET', `queues/${enc(V)}/q-shape`);
    assert.equal(r.status, 200);
    const q = r.body;
    for (const k of ['messages', 'messages_ready', 'messages_unacknowledged', 'message_bytes', 'message_bytes_ready', 'message_bytes_unacknowledged',
      'message_bytes_ram', 'message_bytes_paged_out', 'consumers', 'consumer_utilisation', 'memory', 'state', 'head_message_timestamp', 'idle_since',
      'arguments', 'message_stats', 'messages_details', 'messages_ready_details', 'messages_unacknowledged_details', 'durable', 'auto_delete',
      'exclusive', 'name', 'vhost', 'node', 'type', 'consumer_details', 'exclusive_consumer_tag', 'single_active_consumer_tag']) {
      assert.ok(k in q, `queue field ${k}`);
    }
    assert.deepEqual([q.policy, q.operator_policy, q.effective_policy_definition], [null, null, {}], 'no policy applies');
    assert.deepEqual(q.arguments, { 'x-max-length': 10, 'x-queue-mode': 'lazy', 'x-single-active-consumer': false });
    assert.equal(q.durable, true);
    assert.equal(q.type, 'classic');
    assert.equal(q.state, 'running');
    assert.deepEqual(q.messages_details, { rate: 0 });
    assert.equal((await api('PUT', `queues/${enc(V)}/q-bad`, { durable: 'yes' })).status, 400);
    assert.equal((await api('PUT', `queues/${enc(V)}/q-bad`, 'not json')).status, 400);
    assert.deepEqual((await api('GET', `queues/${enc(V)}/nope`)).body, NOT_FOUND);
    assert.deepEqual((await api('GET', `queues/no-such-vhost-${sfx}/q`)).body, NOT_FOUND);
    assert.equal((await api('GET', `queues/no-such-vhost-${sfx}`)).status, 404);
    // Names with slashes and spaces travel URL-encoded, like the vhost.
    assert.equal((await api('PUT', `queues/${enc(V)}/${enc('a/b c')}`, {})).status, 201);
    assert.equal((await api('GET', `queues/${enc(V)}/${enc('a/b c')}`)).body.name, 'a/b c');
    assert.equal((await api('GET', `queues/${enc(V)}/${enc('a/b c')}/bindings`)).body[0].properties_key, 'a%2Fb+c', 'RabbitMQ\'s quote_plus');
    assert.equal((await api('DELETE', `queues/${enc(V)}/${enc('a/b c')}`)).status, 204);
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-shape`)).status, 204);
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-shape`)).status, 404);
  });

  it('publishes through amq.default and gets messages in every ackmode, with encodings and truncation', async () => {
    await api('PUT', `queues/${enc(V)}/q-get`, {});
    const pub = (payload: string, extra: Record<string, unknown> = {}) => api('POST', `exchanges/${enc(V)}/amq.default/publish`,
      { routing_key: 'q-get', payload, payload_encoding: 'string', properties: { headers: { n: 1 }, content_type: 'text/plain', ...extra } });
    for (const m of ['one', 'two', 'three']) assert.deepEqual((await pub(m)).body, { routed: true });
    assert.deepEqual((await api('POST', `exchanges/${enc(V)}/amq.default/publish`, { routing_key: 'nowhere', payload: 'x', payload_encoding: 'string', properties: {} })).body, { routed: false });
    const missing = await api('POST', `exchanges/${enc(V)}/amq.default/publish`, { routing_key: 'q-get' });
    assert.equal(missing.status, 400);
    const binary = await api('POST', `exchanges/${enc(V)}/amq.default/publish`, { routing_key: 'q-get', payload: Buffer.from([0xff, 0xfe, 1]).toString('base64'), payload_encoding: 'base64', properties: {} });
    assert.deepEqual(binary.body, { routed: true });

    const get = (ackmode: string, count: number, extra: Record<string, unknown> = {}) =>
      api('POST', `queues/${enc(V)}/q-get/get`, { count, ackmode, encoding: 'auto', ...extra });
    let r = await get('ack_requeue_true', 2, { truncate: 2 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.map((m: any) => [m.payload, m.payload_bytes, m.redelivered, m.message_count]), [['on', 3, false, 3], ['tw', 3, false, 2]]);
    assert.deepEqual(r.body[0].properties, { headers: { n: 1 }, content_type: 'text/plain' });
    assert.equal(r.body[0].exchange, '');
    assert.equal(r.body[0].routing_key, 'q-get');
    assert.equal(r.body[0].payload_encoding, 'string');
    r = await get('reject_requeue_true', 1);
    assert.deepEqual(r.body.map((m: any) => [m.payload, m.redelivered]), [['one', true]]);
    r = await get('ack_requeue_false', 1);
    assert.deepEqual(r.body.map((m: any) => m.payload), ['one']);
    r = await get('reject_requeue_false', 2);
    assert.deepEqual(r.body.map((m: any) => m.payload), ['two', 'three']);
    r = await get('ack_requeue_false', 5, { encoding: 'auto' });
    assert.deepEqual(r.body.map((m: any) => [m.payload, m.payload_encoding]), [['//4B', 'base64']]);
    assert.deepEqual((await get('ack_requeue_false', 1)).body, []);
    assert.equal((await api('POST', `queues/${enc(V)}/q-get/get`, { count: 1, encoding: 'auto' })).status, 400);
    assert.equal((await get('bogus', 1)).status, 400);
    assert.equal((await get('ack_requeue_false', 1, { encoding: 'utf16' })).status, 400);
    const q = (await api('GET', `queues/${enc(V)}/q-get`)).body;
    assert.equal(q.messages, 0);
    assert.equal(q.message_stats.get, 7, 'every message taken by /get counts as a get (2 + 1 + 1 + 2 + 1)');
    assert.equal(q.message_stats.publish, 4);
  });

  it('purges with DELETE contents; if-empty and if-unused refuse with 400', async () => {
    const c = await connect();
    const ch = await openChannel(c);
    await ch.assertQueue('q-purge', { durable: false });
    for (let i = 0; i < 5; i++) ch.sendToQueue('q-purge', Buffer.from(`m${i}`));
    await eventually(async () => assert.equal((await api('GET', `queues/${enc(V)}/q-purge`)).body.messages, 5), 'messages in');
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-purge?if-empty=true`)).status, 400);
    const q = (await api('GET', `queues/${enc(V)}/q-purge`)).body;
    assert.equal(q.message_bytes_ready, 10);
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-purge/contents`)).status, 204);
    assert.equal((await ch.checkQueue('q-purge')).messageCount, 0);
    await ch.consume('q-purge', () => {});
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-purge?if-unused=true`)).status, 400);
    assert.equal((await api('DELETE', `queues/${enc(V)}/q-purge?if-empty=true`)).status, 204);
  });

  it('exchanges: list, show, declare, delete with if-unused, bindings by source and destination', async () => {
    assert.equal((await api('PUT', `exchanges/${enc(V)}/x-src`, { type: 'topic', durable: false, arguments: { 'alternate-exchange': 'ae' } })).status, 201);
    assert.equal((await api('PUT', `exchanges/${enc(V)}/x-dst`, { type: 'fanout' })).status, 201);
    assert.equal((await api('PUT', `exchanges/${enc(V)}/x-bad`, { type: 'bogus' })).status, 400);
    const x = (await api('GET', `exchanges/${enc(V)}/x-src`)).body;
    assert.deepEqual({ ...x, message_stats: undefined }, {
      arguments: { 'alternate-exchange': 'ae' }, auto_delete: false, durable: false, internal: false, name: 'x-src', type: 'topic', vhost: V, message_stats: undefined,
    });
    assert.deepEqual(x.message_stats, { publish_in: 0, publish_in_details: { rate: 0 }, publish_out: 0, publish_out_details: { rate: 0 } });
    const all = (await api('GET', `exchanges/${enc(V)}`)).body;
    assert.deepEqual(all.map((e: any) => e.name), ['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.match', 'amq.topic', 'x-dst', 'x-src']);
    assert.equal((await api('GET', `exchanges/${enc(V)}/amq.default`)).body.name, '');
    assert.equal((await api('POST', `bindings/${enc(V)}/e/x-src/e/x-dst`, { routing_key: 'a.*' })).status, 201);
    const src = (await api('GET', `exchanges/${enc(V)}/x-src/bindings/source`)).body;
    assert.deepEqual(src, [{ source: 'x-src', vhost: V, destination: 'x-dst', destination_type: 'exchange', routing_key: 'a.*', arguments: {}, properties_key: 'a.%2A' }]);
    assert.deepEqual((await api('GET', `exchanges/${enc(V)}/x-dst/bindings/destination`)).body, src);
    assert.equal((await api('DELETE', `exchanges/${enc(V)}/x-src?if-unused=true`)).status, 400);
    assert.deepEqual((await api('DELETE', `exchanges/${enc(V)}/amq.direct`)).body, { error: 'not_authorised', reason: 'Access refused.' });
    assert.equal((await api('PUT', `exchanges/${enc(V)}/amq.mine`, { type: 'direct' })).status, 401);
    assert.equal((await api('DELETE', `exchanges/${enc(V)}/x-src`)).status, 204);
    assert.equal((await api('DELETE', `exchanges/${enc(V)}/x-dst?if-unused=true`)).status, 204);
    assert.deepEqual((await api('GET', `exchanges/${enc(V)}/x-src`)).body, NOT_FOUND);
  });

  it('bindings: 201 with Location, properties keys from the routing key and arguments, show and delete by key', async () => {
    await api('PUT', `queues/${enc(V)}/q-bind`, {});
    await api('PUT', `exchanges/${enc(V)}/x-bind`, { type: 'direct' });
    const base = `bindings/${enc(V)}/e/x-bind/q/q-bind`;
    let r = await api('POST', base, { routing_key: 'a#b', arguments: {} });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('location'), 'q-bind/a%2523b', 'the properties key a%23b, URL-encoded');
    r = await api('POST', base, { routing_key: 'k', arguments: { x: 1 } });
    assert.equal(r.status, 201);
    const withArgs = decodeURIComponent(r.headers.get('location')!.slice('q-bind/'.length));
    assert.match(withArgs, /^k~[A-Za-z0-9_-]{6}$/);
    await api('POST', base, { routing_key: '' });
    const list = (await api('GET', base)).body;
    assert.deepEqual(list.map((b: any) => b.properties_key).sort(), ['a%23b', withArgs, '~'].sort());
    r = await api('GET', `${base}/${enc(withArgs)}`);
    assert.deepEqual(r.body, { source: 'x-bind', vhost: V, destination: 'q-bind', destination_type: 'queue', routing_key: 'k', arguments: { x: 1 }, properties_key: withArgs });
    assert.equal((await api('GET', `${base}/${enc('a%23b')}`)).body.routing_key, 'a#b');
    const qb = (await api('GET', `queues/${enc(V)}/q-bind/bindings`)).body;
    assert.deepEqual(qb[0], { source: '', vhost: V, destination: 'q-bind', destination_type: 'queue', routing_key: 'q-bind', arguments: {}, properties_key: 'q-bind' });
    assert.equal(qb.length, 4);
    assert.equal((await api('DELETE', `${base}/${enc(withArgs)}`)).status, 204);
    assert.equal((await api('DELETE', `${base}/${enc(withArgs)}`)).status, 404);
    assert.equal((await api('GET', `${base}/nope`)).status, 404);
    assert.equal((await api('POST', `bindings/${enc(V)}/e/x-bind/q/missing`, {})).status, 404);
    const vb = (await api('GET', `bindings/${enc(V)}`)).body;
    assert.ok(vb.some((b: any) => b.source === 'x-bind' && b.routing_key === 'a#b'));
  });

  it('connections, channels and consumers carry RabbitMQ\'s fields; DELETE closes with 320 and the X-Reason text', async () => {
    const c = await connect('guest', 'guest', V, 'my-app');
    const ch = await openChannel(c);
    await ch.prefetch(7);
    await ch.assertQueue('q-cons', { durable: false });
    await ch.consume('q-cons', () => {}, { consumerTag: 'tag-1', arguments: { 'x-priority': 2 } });
    const list = (await api('GET', `connections`)).body;
    const conn = list.find((x: any) => x.user_provided_name === 'my-app');
    assert.ok(conn, 'the connection is listed');
    assert.match(conn.name, /^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);
    assert.equal(conn.vhost, V);
    assert.equal(conn.user, 'guest');
    assert.equal(conn.protocol, 'AMQP 0-9-1');
    assert.equal(conn.auth_mechanism, 'PLAIN');
    assert.equal(conn.type, 'network');
    assert.equal(conn.state, 'running');
    assert.equal(conn.channels, 1);
    assert.equal(conn.ssl, false);
    assert.equal(conn.client_properties.product, 'amqplib');
    assert.equal(conn.port, ab.broker.port);
    for (const k of ['channel_max', 'frame_max', 'timeout', 'recv_oct', 'recv_oct_details', 'send_oct', 'send_oct_details', 'peer_host', 'peer_port', 'host', 'connected_at', 'node']) assert.ok(k in conn, k);
    assert.deepEqual((await api('GET', `connections/${enc(conn.name)}`)).body.name, conn.name);
    assert.equal((await api('GET', `vhosts/${enc(V)}/connections`)).body.length, 1);
    const chans = (await api('GET', `connections/${enc(conn.name)}/channels`)).body;
    assert.equal(chans.length, 1);
    const chan = (await api('GET', `channels/${enc(chans[0].name)}`)).body;
    assert.equal(chan.name, `${conn.name} (1)`);
    assert.equal(chan.number, 1);
    assert.equal(chan.prefetch_count, 7);
    assert.equal(chan.global_prefetch_count, 0);
    assert.equal(chan.consumer_count, 1);
    assert.equal(chan.confirm, false);
    assert.equal(chan.transactional, false);
    assert.deepEqual(chan.connection_details, { name: conn.name, peer_host: conn.peer_host, peer_port: conn.peer_port });
    for (const k of ['messages_unacknowledged', 'messages_unconfirmed', 'acks_uncommitted', 'message_stats', 'state', 'user', 'vhost']) assert.ok(k in chan, k);
    const consumers = (await api('GET', `consumers/${enc(V)}`)).body;
    assert.deepEqual(consumers, [{
      arguments: { 'x-priority': 2 }, ack_required: true, active: true, activity_status: 'up',
      channel_details: { connection_name: conn.name, name: chan.name, node: conn.node, number: 1, peer_host: conn.peer_host, peer_port: conn.peer_port, user: 'guest' },
      consumer_timeout: 1800000, consumer_tag: 'tag-1', exclusive: false, prefetch_count: 7, queue: { name: 'q-cons', vhost: V },
    }]);
    assert.equal((await api('GET', `queues/${enc(V)}/q-cons`)).body.consumer_details[0].consumer_tag, 'tag-1');
    const closed = new Promise<any>((resolve) => c.once('close', resolve));
    const r = await api('DELETE', `connections/${enc(conn.name)}`, undefined, { 'x-reason': 'maintenance now' });
    assert.equal(r.status, 204);
    const err = await closed;
    assert.equal(err?.code, 320);
    assert.match(err!.message, /CONNECTION_FORCED - maintenance now/);
    await eventually(async () => assert.equal((await api('GET', `connections/${enc(conn.name)}`)).status, 404), 'connection gone');
  });

  it('visibility: monitoring sees every connection, management users their own and vhosts they have permissions for', async () => {
    await connect('guest', 'guest', V, 'guest-conn');
    await openChannel(await connect(MGMT, PW, V, 'mgmt-conn'));
    const names = async (user: string) => ((await apiClient(ab.broker.httpUrl, user, PW)('GET', 'connections')).body as any[]).map((c) => c.user_provided_name).sort();
    assert.deepEqual(await names(MON), ['guest-conn', 'mgmt-conn']);
    assert.deepEqual(await names(MGMT), ['mgmt-conn']);
    assert.deepEqual(await names(OUT), []);
    const guestConn = ((await api('GET', 'connections')).body as any[]).find((c) => c.user_provided_name === 'guest-conn');
    const mgmt = apiClient(ab.broker.httpUrl, MGMT, PW);
    assert.equal((await mgmt('GET', `connections/${enc(guestConn.name)}`)).status, 404);
    assert.equal((await mgmt('DELETE', `connections/${enc(guestConn.name)}`)).status, 404);
    assert.equal((await mgmt('GET', 'channels')).body.length, 1);
    await api('PUT', `queues/${enc(V)}/q-vis`, {});
    const out = apiClient(ab.broker.httpUrl, OUT, PW);
    const denied = await out('GET', `queues/${enc(V)}`);
    assert.equal(denied.status, 401);
    assert.deepEqual(denied.body, { error: 'not_authorised', reason: 'User not authorised to access virtual host' });
    assert.equal((await out('GET', `queues/${enc(V)}/q-vis`)).status, 401);
    assert.ok(!((await out('GET', 'queues')).body as any[]).some((q) => q.vhost === V));
    assert.ok(((await mgmt('GET', 'queues')).body as any[]).some((q) => q.name === 'q-vis'));
    const mon = apiClient(ab.broker.httpUrl, MON, PW);
    assert.equal((await mon('GET', `queues/${enc(V)}/q-vis`)).status, 200);
    assert.equal((await mon('PUT', `queues/${enc(V)}/q-mon`, {})).status, 401, 'monitoring is read-only where it has no permissions');
    assert.equal((await out('PUT', `queues/${enc(V)}/q-out`, {})).status, 401);
  });

  it('list parameters: page, page_size, name, use_regex, sort, sort_reverse, columns; bad pages are 400', async () => {
    const c = await connect();
    const ch = await openChannel(c);
    for (let i = 0; i < 12; i++) {
      const name = `page-${String(i).padStart(2, '0')}`;
      await ch.assertQueue(name, { durable: false });
      for (let j = 0; j < i % 4; j++) ch.sendToQueue(name, Buffer.from('x'));
    }
    await eventually(async () => assert.equal((await api('GET', `queues/${enc(V)}/page-11`)).body.messages, 3), 'published');
    let r = await api('GET', `queues/${enc(V)}?page=2&page_size=5&name=page-&columns=name,messages`);
    assert.deepEqual({ ...r.body, items: undefined }, { filtered_count: 12, item_count: 5, items: undefined, page: 2, page_count: 3, page_size: 5, total_count: r.body.total_count });
    assert.deepEqual(r.body.items, ['05', '06', '07', '08', '09'].map((n) => ({ name: `page-${n}`, messages: Number(n) % 4 })));
    r = await api('GET', `queues/${enc(V)}?page=1&page_size=4&name=${enc('^page-0[0-3]$')}&use_regex=true&sort=messages&sort_reverse=true&columns=name`);
    assert.deepEqual(r.body.items, [{ name: 'page-03' }, { name: 'page-02' }, { name: 'page-01' }, { name: 'page-00' }]);
    r = await api('GET', `queues/${enc(V)}?name=page-1&sort=message_stats.publish&columns=name,message_stats.publish`);
    assert.deepEqual(r.body, [{ name: 'page-10', message_stats: { publish: 2 } }, { name: 'page-11', message_stats: { publish: 3 } }]);
    r = await api('GET', `queues/${enc(V)}?name=page-0&disable_stats=true&columns=name,messages,message_stats`);
    assert.equal(r.body.length, 10);
    assert.ok(!('message_stats' in r.body[0]));
    for (const bad of ['page=0', 'page=1&page_size=1000', 'page=99&page_size=5', 'page=x']) {
      const e = await api('GET', `queues/${enc(V)}?${bad}`);
      assert.equal(e.status, 400, bad);
      assert.equal(e.body.error, 'invalid_pagination_parameters');
    }
    assert.equal((await api('GET', `queues?name=${enc('(')}&use_regex=true`)).status, 400);
  });

  it('an unpaged list longer than one slice comes whole, as one JSON array', async () => {
    const c = await connect();
    const ch = await openChannel(c);
    await Promise.all(Array.from({ length: 600 }, (_, i) => ch.assertQueue(`bulk-${i}`, { durable: false })));
    const r = await api('GET', `queues/${enc(V)}?name=bulk-`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.body.length, 600);
    assert.deepEqual(r.body.map((q: any) => q.name), Array.from({ length: 600 }, (_, i) => `bulk-${i}`).sort());
    const all = (await api('GET', 'queues')).body;
    assert.ok(all.filter((q: any) => q.name.startsWith('bulk-')).length === 600);
  });

  it('rates become non-zero under traffic; totals keep counting closed channels; samples on request', async () => {
    const c = await connect();
    const ch = await openChannel(c);
    await ch.assertQueue('q-rate', { durable: false });
    const stop = Date.now() + 1200;
    while (Date.now() < stop) {
      for (let i = 0; i < 20; i++) ch.sendToQueue('q-rate', Buffer.from('r'));
      await sleep(20);
    }
    const q = (await api('GET', `queues/${enc(V)}/q-rate?lengths_age=5&lengths_incr=1&msg_rates_age=5&msg_rates_incr=1`)).body;
    assert.ok(q.message_stats.publish_details.rate > 0, `queue publish rate ${q.message_stats.publish_details.rate}`);
    assert.ok(q.messages_details.rate > 0, 'queue length grows');
    assert.ok(Array.isArray(q.messages_details.samples) && q.messages_details.samples.length >= 2, 'samples');
    assert.ok(q.messages_details.samples[0].timestamp > q.messages_details.samples[1].timestamp, 'newest first');
    for (const k of ['avg', 'avg_rate']) assert.equal(typeof q.messages_details[k], 'number');
    const vh = (await api('GET', `vhosts/${enc(V)}`)).body;
    assert.ok(vh.message_stats.publish_details.rate > 0, `vhost publish rate ${vh.message_stats.publish_details.rate}`);
    assert.ok(vh.messages_details.rate > 0, 'vhost queue totals grow');
    const ov = (await api('GET', 'overview')).body;
    assert.ok(ov.message_stats.publish_details.rate > 0, 'overview publish rate');
    assert.ok(ov.message_stats.publish > 0);
    assert.ok(ov.queue_totals.messages >= q.messages);
    assert.ok(ov.churn_rates.queue_declared >= 1 && ov.churn_rates.connection_created >= 1 && 'channel_created_details' in ov.churn_rates);
    await api('PUT', `exchanges/${enc(V)}/x-rate`, { type: 'fanout' });
    await ch.bindQueue('q-rate', 'x-rate', '');
    for (let i = 0; i < 5; i++) { ch.publish('x-rate', '', Buffer.from('e')); await sleep(60); }
    await eventually(async () => {
      const x = (await api('GET', `exchanges/${enc(V)}/x-rate`)).body;
      assert.equal(x.message_stats.publish_in, 5);
      assert.equal(x.message_stats.publish_out, 5);
      assert.ok(x.message_stats.publish_in_details.rate > 0);
    }, 'exchange rates', 1000);
    const before = ov.message_stats.publish;
    await c.close();
    conns.length = 0;
    await sleep(300);
    const afterClose = (await api('GET', 'overview')).body;
    assert.ok(afterClose.message_stats.publish >= before, `publish total ${afterClose.message_stats.publish} >= ${before} after the channel closed`);
    assert.ok(afterClose.churn_rates.connection_closed >= 1);
  });
});
