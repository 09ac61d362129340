// What the management API fuzz test (http-fuzz.test.ts) found, one focused check each: each of
// these answered 500 (or in Fastify's own error shape, or took a body of any size) before.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { apiClient, type Api } from '../helpers/http.js';
import { deepJson, MAX_BODY, rawRequest } from '../helpers/http-fuzz.js';

const AUTH = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' };

describe('management API: hostile requests', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let api: Api;
  let port = 0;

  before(async () => {
    broker = await startBroker();
    api = apiClient(broker.httpUrl);
    port = Number(new URL(broker.httpUrl).port);
  });
  after(async () => { await broker?.stop(); });

  const expect400 = (r: { status: number; body: any }, reason: RegExp) => {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'bad_request');
    assert.match(String(r.body.reason), reason);
  };

  it("refuses a body past RabbitMQ's 20,000,000-byte limit with its 400, and takes one just under it", async () => {
    const over = await rawRequest(port, 'POST', '/api/definitions', AUTH, Buffer.alloc(MAX_BODY + 1, 0x20));
    assert.equal(over.status, 400);
    assert.deepEqual(JSON.parse(over.body.toString()), { error: 'bad_request', reason: 'Exceeded HTTP request body size limit' });
    // A definitions file and a published message just under the limit still go through.
    const pad = (head: string, tail: string) => Buffer.from(`${head}${'x'.repeat(MAX_BODY - 1000 - head.length - tail.length)}${tail}`);
    const defs = await rawRequest(port, 'POST', '/api/definitions', AUTH, pad('{"queues":[{"name":"hostile-big","durable":false}],"padding":"', '"}'));
    assert.equal(defs.status, 204, defs.body.toString());
    const pub = await rawRequest(port, 'POST', '/api/exchanges/%2F/amq.default/publish', AUTH,
      pad('{"properties":{},"routing_key":"hostile-big","payload_encoding":"string","payload":"', '"}'));
    assert.equal(pub.status, 200, pub.body.toString());
    assert.deepEqual(JSON.parse(pub.body.toString()), { routed: true });
    assert.equal((await api('DELETE', 'queues/%2F/hostile-big')).status, 204);
  });

  it('refuses JSON nested 100,000 deep, in the body or in one field', async () => {
    expect400(await api('PUT', 'queues/%2F/hostile-deep', deepJson(100_000, 'array')), /not_json/);
    expect400(await api('PUT', 'queues/%2F/hostile-deep', `{"arguments":${deepJson(100_000, 'object')}}`), /nested deeper/);
    expect400(await api('POST', 'exchanges/%2F/amq.default/publish',
      `{"properties":{"headers":${deepJson(20_000, 'object')}},"routing_key":"x","payload":"","payload_encoding":"string"}`), /nested deeper/);
    assert.equal((await api('GET', 'queues/%2F/hostile-deep')).status, 404);
  });

  it('refuses a body that is not a JSON object with 400 not_json', async () => {
    for (const body of ['1', '"x"', 'true', 'null', '[]', '[{}]']) {
      expect400(await api('PUT', 'vhosts/hostile-scalar', body), /^not_json$/);
      expect400(await api('POST', 'users/bulk-delete', body), /^not_json$/);
    }
    assert.equal((await api('GET', 'vhosts/hostile-scalar')).status, 404);
  });

  it('takes the first of a repeated query parameter, as RabbitMQ does', async () => {
    for (const q of ['hostile-sort-a', 'hostile-sort-b']) assert.equal((await api('PUT', `queues/%2F/${q}`, {})).status, 201);
    const r = await api('GET', `queues?${'sort=name&'.repeat(50)}sort=vhost&sort_reverse=true&sort_reverse=false&columns=name&columns=vhost`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, [{ name: 'hostile-sort-b' }, { name: 'hostile-sort-a' }]);
    for (const q of ['hostile-sort-a', 'hostile-sort-b']) await api('DELETE', `queues/%2F/${q}`);
  });

  it('refuses a pattern too large to compile (V8 compiles lazily), so it cannot break every later declare', async () => {
    const huge = 'a'.repeat(70_000);
    const pol = await api('PUT', 'policies/%2F/hostile-pol', { pattern: huge, definition: { 'max-length': 5 } });
    assert.equal(pol.status, 400, JSON.stringify(pol.body).slice(0, 200));
    assert.match(String(pol.body.reason), /pattern should be regular expression but is invalid/);
    const perm = await api('PUT', 'permissions/%2F/guest', { configure: huge, write: '.*', read: '.*' });
    assert.equal(perm.status, 400);
    assert.equal((await api('PUT', 'queues/%2F/hostile-after-pattern', {})).status, 201);
    await api('DELETE', 'queues/%2F/hostile-after-pattern');
  });

  it('refuses tags of the wrong type with 400', async () => {
    expect400(await api('PUT', 'users/hostile-u', { password: 'x', tags: 7 }), /tags must be/);
    expect400(await api('PUT', 'vhosts/hostile-v', { tags: { a: 1 } }), /tags must be/);
    assert.equal((await api('GET', 'users/hostile-u')).status, 404);
  });

  it('refuses a definitions document of the wrong shape with 400, applying none of it', async () => {
    expect400(await api('POST', 'definitions', { users: 7 }), /users must be a list/);
    expect400(await api('POST', 'definitions', { queues: [true] }), /queues\[0\] must be an object/);
    expect400(await api('POST', 'definitions', { parameters: [1] }), /parameters\[0\]/);
    expect400(await api('POST', 'definitions', { queues: [{ name: 'hostile-half' }], bindings: [{ source: 'amq.direct', destination: 5, destination_type: 'queue' }] }),
      /bindings\[0\]: destination must be of type string/);
    assert.equal((await api('GET', 'queues/%2F/hostile-half')).status, 404, 'the valid part of a refused file was applied');
  });

  it('refuses a published property or routing key longer than a short string', async () => {
    const publish = (properties: unknown, routingKey: string) => api('POST', 'exchanges/%2F/amq.default/publish',
      { properties, routing_key: routingKey, payload: 'x', payload_encoding: 'string' });
    expect400(await publish({ message_id: 'm'.repeat(256) }, 'x'), /message_id is longer than 255 bytes/);
    expect400(await publish({}, 'é'.repeat(128)), /routing_key is longer than 255 bytes/);
  });

  it("answers a method a path does not take as RabbitMQ does: 405 with allow, OPTIONS 200, an unknown method 501", async () => {
    const overview = await rawRequest(port, 'PATCH', '/api/overview', AUTH, null);
    assert.equal(overview.status, 405);
    assert.equal(overview.headers.allow, 'HEAD, GET, OPTIONS');
    assert.deepEqual(JSON.parse(overview.body.toString()), { error: 'Method Not Allowed', reason: 'Method Not Allowed' });
    const queue = await rawRequest(port, 'POST', '/api/queues/%2F/some-queue', AUTH, Buffer.from('{}'));
    assert.equal(queue.status, 405);
    assert.equal(queue.headers.allow, 'HEAD, GET, PUT, DELETE, OPTIONS');
    const options = await rawRequest(port, 'OPTIONS', '/api/queues/%2F/some-queue', AUTH, null);
    assert.equal(options.status, 200);
    assert.equal(options.headers.allow, 'HEAD, GET, PUT, DELETE, OPTIONS');
    assert.equal((await rawRequest(port, 'TRACE', '/api/overview', AUTH, null)).status, 501);
    assert.equal((await rawRequest(port, 'PATCH', '/api/no-such-thing', AUTH, null)).status, 404);
  });

  it("answers URLs that do not decode and requests Node's parser refuses in RabbitMQ's shape", async () => {
    for (const path of ['/api/queues/%', '/api/queues/%2F/%zz', '/api/queues/%c0%af/x']) {
      const r = await rawRequest(port, 'GET', path, AUTH, null);
      assert.equal(r.status, 400, path);
      assert.equal(JSON.parse(r.body.toString()).error, 'bad_request', path);
    }
    const nul = await rawRequest(port, 'GET', '/api/queues/%2F/a\u0000b', AUTH, null);
    assert.equal(nul.status, 400);
    assert.deepEqual(JSON.parse(nul.body.toString()), { error: 'bad_request', reason: 'Client Error' });
  });
});
