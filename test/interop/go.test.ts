// Runs the Go interop checks (test/interop/go) with github.com/rabbitmq/amqp091-go and
// github.com/streadway/amqp against a broker. Needs the Debian packages golang-go,
// golang-github-rabbitmq-amqp091-go-dev and golang-github-streadway-amqp-dev.
import { describe, it, before, after } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { assertAllOk, buildGoChecks, comments, runChecks, type GoLib } from './support.js';

const GO_CHECKS = [
  'connect_close', 'wrong_password', 'declare_queue', 'declare_exchange', 'roundtrip_properties',
  'routing_direct', 'routing_fanout', 'routing_topic', 'routing_headers', 'confirms',
  'mandatory_unroutable', 'redelivery_after_close', 'basic_get', 'nack_reject_requeue', 'qos_prefetch',
  'passive_declare_missing_404', 'redeclare_different_args_406', 'exclusive_other_connection_405',
  'consumer_cancel_notify', 'large_message', 'tx_commit_rollback', 'heartbeat',
] as const;

describe('interop: Go clients', { timeout: 300_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  const libs: Array<[GoLib, string]> = [['amqp091', 'github.com/rabbitmq/amqp091-go'], ['streadway', 'github.com/streadway/amqp']];
  for (const [lib, importPath] of libs) {
    it(`${importPath} passes every check`, { timeout: 240_000 }, async (t) => {
      const bin = await buildGoChecks(lib);
      const run = await runChecks(bin, [`${broker.url}/`]);
      for (const line of comments(run)) t.diagnostic(line.slice(2));
      assertAllOk(run, GO_CHECKS);
    });
  }
});
