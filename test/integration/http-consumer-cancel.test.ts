// Warren-only: DELETE /api/channels/{channel}/consumers/{tag} cancels one consumer; the client gets
// basic.cancel, the queue stops delivering to it, and only those who may close the connection may.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b?.stop(); });

const basic = (user: string, pass: string) => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
const call = (method: string, path: string, body?: unknown, auth = basic('guest', 'guest')) =>
  fetch(`${b.httpUrl}/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

test('cancelling a consumer tells the client and stops deliveries to it', async (t) => {
  if (b.external) return t.skip('Warren-only endpoint');
  const conn = await amqp.connect(b.url);
  const ch = await conn.createChannel();
  await ch.assertQueue('cc-q', { durable: false });
  let cancelled = false;
  const got: string[] = [];
  await ch.consume('cc-q', (m) => { if (m === null) cancelled = true; else { got.push(m.content.toString()); ch.ack(m); } }, { consumerTag: 'cc-1' });
  await ch.consume('cc-q', () => {}, { consumerTag: 'cc-2', noAck: true });
  const channels = await (await call('GET', '/channels')).json() as { name: string }[];
  assert.equal(channels.length, 1);
  const name = encodeURIComponent(channels[0].name);

  const r = await call('DELETE', `/channels/${name}/consumers/cc-1`);
  assert.equal(r.status, 204);
  for (let i = 0; i < 50 && !cancelled; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(cancelled, true, 'basic.cancel reached the client');
  const q = await (await call('GET', '/queues/%2F/cc-q')).json() as { consumers: number; consumer_details: { consumer_tag: string }[] };
  assert.equal(q.consumers, 1);
  assert.deepEqual(q.consumer_details.map((c) => c.consumer_tag), ['cc-2']);
  ch.sendToQueue('cc-q', Buffer.from('after'));
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(got, [], 'the cancelled consumer gets nothing more');

  // Unknown tag or channel: 404 in RabbitMQ's shape.
  const missing = await call('DELETE', `/channels/${name}/consumers/nope`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: 'Object Not Found', reason: 'Not Found' });
  assert.equal((await call('DELETE', '/channels/nope/consumers/cc-2')).status, 404);

  // A management user who does not own the connection does not see it, so cannot cancel.
  assert.equal((await call('PUT', '/users/cc-mgmt', { password: 'pw', tags: 'management' })).status, 201);
  assert.equal((await call('PUT', '/permissions/%2F/cc-mgmt', { configure: '.*', write: '.*', read: '.*' })).status, 201);
  assert.equal((await call('DELETE', `/channels/${name}/consumers/cc-2`, undefined, basic('cc-mgmt', 'pw'))).status, 404);
  const q2 = await (await call('GET', '/queues/%2F/cc-q')).json() as { consumers: number };
  assert.equal(q2.consumers, 1);
  await conn.close();
});
