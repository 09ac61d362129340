// Runs the rabbitmq-c command-line checks (test/interop/c/amqp_tools_checks.sh) against a
// broker, and checks that message properties set by amqp-publish reach another client
// intact. Needs the Debian package amqp-tools.
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { INTEROP_DIR, assertAllOk, comments, orSkip, requireOnPath, runChecks } from './support.js';

const execFileP = promisify(execFile);
const TOOLS_CHECKS = [
  'connect_declare_delete', 'publish_get', 'publish_persistent_content_type', 'stdin_lines_publish',
  'consume_n', 'large_message_stdin', 'redeclare_durable_mismatch', 'missing_queue_404', 'wrong_password',
] as const;

/** False (and the test skipped, outside CI) when amqp-tools are not installed. */
const haveAmqpTools = (t: TestContext) => orSkip(t, () => {
  for (const tool of ['amqp-publish', 'amqp-get', 'amqp-consume', 'amqp-declare-queue', 'amqp-delete-queue']) {
    requireOnPath(tool, 'amqp-tools');
  }
  return true;
});

describe('interop: rabbitmq-c amqp-tools', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  before(async () => { broker = await startBroker(); });
  after(async () => { await broker?.stop(); });

  it('amqp-tools pass every check', { timeout: 90_000 }, async (t) => {
    if (!await haveAmqpTools(t)) return;
    const run = await runChecks('bash', [join(INTEROP_DIR, 'c', 'amqp_tools_checks.sh'), `${broker.url}/`]);
    for (const line of comments(run)) t.diagnostic(line.slice(2));
    assertAllOk(run, TOOLS_CHECKS);
  });

  it('properties set by amqp-publish arrive intact at another client (amqplib)', { timeout: 30_000 }, async (t) => {
    if (!await haveAmqpTools(t)) return;
    const conn = await amqp.connect(`${broker.url}/`);
    conn.on('error', () => { /* reported through the awaited calls */ });
    const queue = `interop-amqptools-props-${randomBytes(4).toString('hex')}`;
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { durable: false });
      // the tools' URL parser reads a trailing "/" as the vhost "", so pass none
      await execFileP('amqp-publish', ['-u', broker.url, '-r', queue, '-p', '-C', 'application/json', '-E', 'utf-8',
        '-t', 'reply-here', '-H', 'x-interop: yes', '-H', 'x-count: 3', '-b', '{"from":"rabbitmq-c"}'], { timeout: 10_000 });
      const msg = await ch.get(queue, { noAck: true });
      assert.ok(msg, 'amqp-publish message not in the queue');
      assert.equal(msg.content.toString(), '{"from":"rabbitmq-c"}');
      assert.equal(msg.properties.deliveryMode, 2);
      assert.equal(msg.properties.contentType, 'application/json');
      assert.equal(msg.properties.contentEncoding, 'utf-8');
      assert.equal(msg.properties.replyTo, 'reply-here');
      // amqp-publish -H sends every header value as a long string
      assert.deepEqual(msg.properties.headers, { 'x-interop': 'yes', 'x-count': '3' });
      assert.equal(msg.fields.routingKey, queue);
      assert.equal(msg.fields.exchange, '');
    } finally {
      await conn.createChannel().then((c) => c.deleteQueue(queue)).catch(() => {});
      await conn.close().catch(() => {});
    }
  });
});
