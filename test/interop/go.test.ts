// Runs the Go interop checks (test/interop/go) with github.com/rabbitmq/amqp091-go and
// github.com/streadway/amqp against a broker. Needs the Debian packages golang-go,
// golang-github-rabbitmq-amqp091-go-dev and golang-github-streadway-amqp-dev.
import { describe, it, before, after } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CLIENT_CHECKS, assertAllOk, buildGoChecks, comments, orSkip, runChecks, type GoLib } from './support.js';

describe('interop: Go clients', { timeout: 300_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  const libs: Array<[GoLib, string]> = [['amqp091', 'github.com/rabbitmq/amqp091-go'], ['streadway', 'github.com/streadway/amqp']];
  for (const [lib, importPath] of libs) {
    it(`${importPath} passes every check`, { timeout: 240_000 }, async (t) => {
      const bin = await orSkip(t, () => buildGoChecks(lib));
      if (bin === undefined) return;
      const run = await runChecks(bin, [`${broker.url}/`]);
      for (const line of comments(run)) t.diagnostic(line.slice(2));
      assertAllOk(run, [...CLIENT_CHECKS, 'channel_exception_close_race', 'delayed_exchange']);
    });
  }
});
