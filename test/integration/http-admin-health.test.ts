// Health checks, the aliveness test, nodes, extensions, auth, rebalance, and runtime and global
// parameters, against a real Warren: RabbitMQ 3.13's paths, shapes and status codes (200 ok /
// 503 failed with a reason), and node figures that are the process's own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { api, apiOk } from '../helpers/admin-api.js';
import { eventually } from '../helpers/amqp.js';

describe('health checks, nodes and friends', () => {
  let b: TestBroker;
  let ports: { amqp: number; http: number; metrics: number };
  before(async () => {
    b = await startBroker();
    ports = { amqp: b.port, http: Number(new URL(b.httpUrl).port), metrics: Number(new URL(b.metricsUrl).port) };
  });
  after(async () => b.stop());

  it('alarms, local alarms, virtual hosts, quorum and mirror sync: ok on a healthy single node', async () => {
    for (const check of ['alarms', 'local-alarms', 'virtual-hosts']) {
      assert.deepEqual((await apiOk(b.httpUrl, 'GET', `health/checks/${check}`)).body, { status: 'ok' }, check);
    }
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'healthchecks/node')).body, { status: 'ok' });
    for (const check of ['node-is-quorum-critical', 'node-is-mirror-sync-critical']) {
      assert.deepEqual((await apiOk(b.httpUrl, 'GET', `health/checks/${check}`)).body, { status: 'ok', reason: 'single node cluster' }, check);
    }
  });

  it('port and protocol listener checks: ok for what listens, 503 naming what does not', async () => {
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', `health/checks/port-listener/${ports.amqp}`)).body, { status: 'ok', port: ports.amqp });
    const missing = await api(b.httpUrl, 'GET', 'health/checks/port-listener/1');
    assert.equal(missing.status, 503);
    assert.deepEqual(missing.body, { status: 'failed', reason: 'No active listener', missing: 1, ports: [ports.amqp, ports.http, ports.metrics] });
    assert.deepEqual((await api(b.httpUrl, 'GET', 'health/checks/port-listener/abc')).body, { error: 'bad_request', reason: 'Invalid port' });
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'health/checks/protocol-listener/amqp091')).body, { status: 'ok', protocol: 'amqp' });
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'health/checks/protocol-listener/http')).body, { status: 'ok', protocol: 'http' });
    const mqtt = await api(b.httpUrl, 'GET', 'health/checks/protocol-listener/mqtt');
    assert.equal(mqtt.status, 503);
    assert.deepEqual(mqtt.body, { status: 'failed', reason: 'No active listener', missing: 'mqtt', protocols: ['amqp', 'http', 'http/prometheus'] });
  });

  it('certificate expiration: ok (no TLS listeners), 400 for a bad unit or value', async () => {
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'health/checks/certificate-expiration/1/months')).body, { status: 'ok' });
    assert.deepEqual((await api(b.httpUrl, 'GET', 'health/checks/certificate-expiration/1/fortnights')).body,
      { error: 'bad_request', reason: 'Time unit not recognised. Supported units: days, weeks, months, years.' });
    assert.equal((await api(b.httpUrl, 'GET', 'health/checks/certificate-expiration/x/days')).status, 400);
  });

  it('aliveness test puts a message through the aliveness-test queue; 404 for a missing vhost', async () => {
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'aliveness-test/%2F')).body, { status: 'ok' });
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'aliveness-test/%2F')).body, { status: 'ok' });
    assert.equal((await api(b.httpUrl, 'GET', 'aliveness-test/nope')).status, 404);
  });

  it('nodes: one node with every field rabbitmqadmin v2 reads, honest figures', async () => {
    const nodes = (await apiOk(b.httpUrl, 'GET', 'nodes')).body as Record<string, any>[];
    assert.equal(nodes.length, 1);
    const n = nodes[0];
    const one = (await apiOk(b.httpUrl, 'GET', `nodes/${encodeURIComponent(n.name)}`)).body;
    assert.equal(one.name, n.name);
    for (const k of ['name', 'uptime', 'run_queue', 'processors', 'os_pid', 'fd_total', 'proc_total', 'mem_limit', 'mem_alarm',
      'disk_free_limit', 'disk_free_alarm', 'rates_mode', 'enabled_plugins', 'being_drained', 'mem_used', 'disk_free', 'fd_used',
      'sockets_used', 'proc_used', 'running', 'type', 'partitions', 'applications', 'contexts', 'listeners']) {
      assert.ok(k in n, `node has ${k}`);
    }
    assert.equal(n.os_pid, String(b.child!.pid));
    assert.equal(n.running, true);
    assert.equal(n.being_drained, false);
    assert.ok(n.mem_used > 10_000_000 && n.mem_used < n.mem_limit, `mem_used ${n.mem_used}`);
    assert.ok(n.disk_free > 0 && n.fd_used > 0 && n.fd_used < n.fd_total);
    assert.ok(Number.isInteger(n.uptime) && n.uptime > 0);
    assert.deepEqual(n.listeners.map((l: { port: number }) => l.port), [ports.amqp, ports.http, ports.metrics]);
    assert.equal((await api(b.httpUrl, 'GET', 'nodes/rabbit@nowhere')).status, 404);
  });

  it('vhost start: 204 for a known vhost on this node, 404 otherwise', async () => {
    const node = (await apiOk(b.httpUrl, 'GET', 'nodes')).body[0].name as string;
    assert.equal((await api(b.httpUrl, 'POST', `vhosts/%2F/start/${encodeURIComponent(node)}`)).status, 204);
    assert.equal((await api(b.httpUrl, 'POST', 'vhosts/%2F/start/rabbit%40elsewhere')).status, 404);
    assert.equal((await api(b.httpUrl, 'POST', `vhosts/nope/start/${encodeURIComponent(node)}`)).status, 404);
  });

  it('extensions, auth (no credentials needed) and rebalance', async () => {
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'extensions')).body, []);
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'auth', { as: null })).body, { oauth_enabled: false });
    assert.equal((await api(b.httpUrl, 'POST', 'rebalance/queues')).status, 204);
  });

  it('runtime parameters: create, show, list by component and vhost, update, delete; RabbitMQ errors', async () => {
    await apiOk(b.httpUrl, 'PUT', 'vhosts/pv', { body: {} });
    const value = { uri: 'amqp://upstream', 'max-hops': 1, 'trust-user-id': false };
    assert.equal((await api(b.httpUrl, 'PUT', 'parameters/federation-upstream/pv/up1', { body: { value } })).status, 201);
    assert.equal((await api(b.httpUrl, 'PUT', 'parameters/federation-upstream/pv/up1', { body: { value: { ...value, 'max-hops': 2 } } })).status, 204);
    await apiOk(b.httpUrl, 'PUT', 'parameters/shovel/%2F/sh1', { body: { value: { 'src-uri': 'amqp://' } } });
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'parameters/federation-upstream/pv/up1')).body,
      { value: { ...value, 'max-hops': 2 }, vhost: 'pv', component: 'federation-upstream', name: 'up1' });
    const names = async (path: string) => ((await apiOk(b.httpUrl, 'GET', path)).body as { name: string }[]).map((p) => p.name).sort();
    assert.deepEqual(await names('parameters'), ['sh1', 'up1']);
    assert.deepEqual(await names('parameters/shovel'), ['sh1']);
    assert.deepEqual(await names('parameters/federation-upstream/pv'), ['up1']);
    assert.deepEqual(await names('parameters/shovel/pv'), []);
    assert.equal((await api(b.httpUrl, 'GET', 'parameters/shovel/nope')).status, 404);
    assert.deepEqual((await api(b.httpUrl, 'PUT', 'parameters/bogus/pv/x', { body: { value: 1 } })).body,
      { error: 'bad_request', reason: 'Validation failed\n\ncomponent bogus not found\n' });
    assert.deepEqual((await api(b.httpUrl, 'PUT', 'parameters/shovel/nope/x', { body: { value: 1 } })).body,
      { error: 'not_found', reason: 'vhost_not_found' });
    assert.deepEqual((await api(b.httpUrl, 'PUT', 'parameters/shovel/pv/x', { body: {} })).body,
      { error: 'bad_request', reason: '[{key_missing,value}]' });
    assert.equal((await api(b.httpUrl, 'DELETE', 'parameters/federation-upstream/pv/up1')).status, 204);
    assert.equal((await api(b.httpUrl, 'GET', 'parameters/federation-upstream/pv/up1')).status, 404);
    // Deleting a vhost drops its parameters.
    await apiOk(b.httpUrl, 'PUT', 'parameters/shovel/pv/sh2', { body: { value: {} } });
    await apiOk(b.httpUrl, 'DELETE', 'vhosts/pv');
    assert.deepEqual(await names('parameters'), ['sh1']);
  });

  it('global parameters: create, show, list, update, delete', async () => {
    assert.equal((await api(b.httpUrl, 'PUT', 'global-parameters/cluster_tags', { body: { value: { az: 'a', n: 1 } } })).status, 201);
    assert.equal((await api(b.httpUrl, 'PUT', 'global-parameters/cluster_tags', { body: { value: { az: 'b', n: 2 } } })).status, 204);
    assert.deepEqual((await apiOk(b.httpUrl, 'GET', 'global-parameters/cluster_tags')).body, { name: 'cluster_tags', value: { az: 'b', n: 2 } });
    assert.ok(((await apiOk(b.httpUrl, 'GET', 'global-parameters')).body as { name: string }[]).some((p) => p.name === 'cluster_tags'));
    assert.equal((await api(b.httpUrl, 'DELETE', 'global-parameters/cluster_tags')).status, 204);
    assert.equal((await api(b.httpUrl, 'GET', 'global-parameters/cluster_tags')).status, 404);
  });
});

describe('health checks under a resource alarm', () => {
  it('alarms and local-alarms fail with 503 naming the alarm; nodes show it', async () => {
    const b = await startBroker({ args: ['--memory-high-watermark', '1MB'] });
    try {
      let r = await api(b.httpUrl, 'GET', 'health/checks/alarms');
      await eventually(async () => {
        r = await api(b.httpUrl, 'GET', 'health/checks/alarms');
        assert.equal(r.status, 503);
      }, 'memory alarm');
      const node = (await apiOk(b.httpUrl, 'GET', 'nodes')).body[0];
      assert.deepEqual(r.body, { status: 'failed', reason: 'There are alarms in effect in the cluster', alarms: [{ node: node.name, resource: 'memory' }] });
      const local = await api(b.httpUrl, 'GET', 'health/checks/local-alarms');
      assert.deepEqual([local.status, local.body.reason], [503, 'There are alarms in effect on the node']);
      assert.equal(node.mem_alarm, true);
      const old = await api(b.httpUrl, 'GET', `healthchecks/node/${encodeURIComponent(node.name)}`);
      assert.deepEqual([old.status, old.body], [503, { status: 'failed', reason: `resource alarm(s) in effect:[{resource_limit,memory,'${node.name}'}]` }]);
      assert.equal(node.mem_limit, 1_000_000, "1MB as Warren reads it");
    } finally {
      await b.stop();
    }
  });
});
