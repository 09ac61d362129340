// RabbitMQ's rabbitmq.conf as Warren's config file: every setting Warren has is read under
// RabbitMQ's name, lists by index, listeners as [ip:]port, and the rest is named, not fatal.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { parseRabbitmqConf } from '../../src/rabbitmq-conf.js';

function inDir<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'warren-rabbitmq-conf-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const PRODUCTION = `
# A typical production rabbitmq.conf
listeners.tcp.default = 5680
listeners.ssl.default = 5681
ssl_options.cacertfile = /etc/rabbitmq/ca.pem
ssl_options.certfile   = /etc/rabbitmq/server.pem
ssl_options.keyfile    = /etc/rabbitmq/server.key
ssl_options.verify     = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.2 = tlsv1.2
ssl_options.versions.1 = tlsv1.3
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = EXTERNAL
ssl_cert_login_from = distinguished_name
management.tcp.port = 15680
management.ssl.port = 15681
management.ssl.certfile = /etc/rabbitmq/server.pem
prometheus.tcp.port = 15690
default_user = admin
default_pass = s3cr=t with spaces
default_vhost = prod
default_user_tags.administrator = true
loopback_users.guest = false
vm_memory_high_watermark.relative = 0.5
disk_free_limit.absolute = 2GB
consumer_timeout = 3600000
max_message_size = 16777216
channel_max = 128
heartbeat = 30
connection_max = 5000
password_hashing_module = rabbit_password_hashing_sha512
load_definitions = /etc/rabbitmq/definitions.json
log.console.level = warning
log.file.level = debug
cluster_formation.peer_discovery_backend = rabbit_peer_discovery_classic_config
collect_statistics_interval = 5000
`;

describe('rabbitmq.conf', () => {
  test('a production file: every Warren setting under its RabbitMQ name, the rest named as ignored', () => {
    inDir({ 'rabbitmq.conf': PRODUCTION }, (dir) => {
      const notices: string[] = [];
      const c = loadConfig({}, {}, join(dir, 'rabbitmq.conf'), notices);
      assert.equal(c.amqpPort, 5680);
      assert.equal(c.amqpsPort, 5681);
      assert.equal(c.bind, '::');
      assert.equal(c.sslCaCertFile, '/etc/rabbitmq/ca.pem');
      assert.equal(c.sslCertFile, '/etc/rabbitmq/server.pem');
      assert.equal(c.sslKeyFile, '/etc/rabbitmq/server.key');
      assert.equal(c.sslVerify, 'verify_peer');
      assert.equal(c.sslFailIfNoPeerCert, true);
      assert.deepEqual(c.sslVersions, ['tlsv1.3', 'tlsv1.2'], 'list items in index order');
      assert.deepEqual(c.authMechanisms, ['PLAIN', 'EXTERNAL']);
      assert.equal(c.sslCertLoginFrom, 'distinguished_name');
      assert.equal(c.managementPort, 15680);
      assert.equal(c.managementSslPort, 15681);
      assert.equal(c.prometheusPort, 15690);
      assert.equal(c.defaultUser, 'admin');
      assert.equal(c.defaultPass, 's3cr=t with spaces', 'the value is everything after the first =');
      assert.equal(c.defaultVhost, 'prod');
      assert.deepEqual(c.loopbackUsers, []);
      assert.equal(c.memoryHighWatermark, Math.floor(totalmem() * 0.5));
      assert.equal(c.diskFreeLimit, 2_000_000_000);
      assert.equal(c.consumerTimeout, 3_600_000);
      assert.equal(c.maxMessageSize, 16_777_216);
      assert.equal(c.channelMax, 128);
      assert.equal(c.heartbeat, 30);
      assert.equal(c.connectionMax, 5000);
      assert.equal(c.passwordHashingModule, 'rabbit_password_hashing_sha512');
      assert.equal(c.definitionsFile, '/etc/rabbitmq/definitions.json');
      assert.equal(c.logLevel, 'warn', "the console's level, in pino's name");
      assert.deepEqual(notices.map((n) => n.slice(n.indexOf('ignored ') + 8, n.indexOf(' ('))).sort(),
        ['cluster_formation.peer_discovery_backend', 'collect_statistics_interval']);
      assert.ok(notices.every((n) => n.startsWith(join(dir, 'rabbitmq.conf'))), 'each notice names the file');
    });
  });

  test('environment and flags still win over the file', () => {
    inDir({ 'rabbitmq.conf': 'listeners.tcp.default = 5680\ndefault_user = admin\nheartbeat = 30\n' }, (dir) => {
      const c = loadConfig({ heartbeat: '10' }, { WARREN_AMQP_PORT: '5690' }, join(dir, 'rabbitmq.conf'));
      assert.equal(c.amqpPort, 5690);
      assert.equal(c.heartbeat, 10);
      assert.equal(c.defaultUser, 'admin');
      assert.deepEqual(c.loopbackUsers, ['guest'], 'a custom default user may connect from anywhere, as with RabbitMQ');
    });
  });

  test('RABBITMQ_CONFIG_FILE, with or without .conf; RABBITMQ_NODE_PORT', () => {
    inDir({ 'rabbitmq.conf': 'heartbeat = 7\n' }, (dir) => {
      assert.equal(loadConfig({}, { RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq') }).heartbeat, 7);
      assert.equal(loadConfig({}, { RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf') }).heartbeat, 7);
      assert.equal(loadConfig({}, { WARREN_CONFIG: join(dir, 'rabbitmq.conf') }).heartbeat, 7);
    });
    assert.equal(loadConfig({}, { RABBITMQ_NODE_PORT: '5699' }).amqpPort, 5699);
    assert.equal(loadConfig({}, { RABBITMQ_NODE_PORT: '5699', WARREN_AMQP_PORT: '5698' }).amqpPort, 5698);
  });

  test('a JSON file is still read as JSON', () => {
    inDir({ 'warren.json': JSON.stringify({ heartbeat: 9 }) }, (dir) => {
      assert.equal(loadConfig({}, {}, join(dir, 'warren.json')).heartbeat, 9);
    });
  });

  test('listeners: [ip:]port, IPv6, "none", and extra named listeners reported', () => {
    const v4 = parseRabbitmqConf('listeners.tcp.local = 127.0.0.1:5673\n');
    assert.deepEqual(v4.input, { amqpPort: '5673', bind: '127.0.0.1', managementBind: '::' }, 'management stays on every interface');
    const v6 = parseRabbitmqConf('listeners.tcp.default = [::1]:5674\nmanagement.tcp.ip = 127.0.0.1\n');
    assert.deepEqual(v6.input, { amqpPort: '5674', bind: '::1', managementBind: '127.0.0.1' });
    assert.equal(parseRabbitmqConf('listeners.tcp.default = ::1:5675\n').input.bind, '::1');
    const two = parseRabbitmqConf('listeners.tcp.other = 5676\nlisteners.tcp.default = 5677\n');
    assert.equal(two.input.amqpPort, '5677', 'the default listener wins');
    assert.match(two.ignored.join('\n'), /listeners\.tcp\.other/);
    assert.deepEqual(parseRabbitmqConf('listeners.tcp = none\nlisteners.ssl.default = 5671\n').input, { amqpPort: 'off', amqpsPort: '5671' });
  });

  test('loopback users, relative disk limit, log level fallbacks', () => {
    assert.deepEqual(parseRabbitmqConf('loopback_users = none\n').input.loopbackUsers, []);
    assert.deepEqual(parseRabbitmqConf('loopback_users.ops = true\n').input.loopbackUsers, ['guest', 'ops']);
    assert.equal(parseRabbitmqConf('disk_free_limit.relative = 1.0\n').input.diskFreeLimit, String(totalmem()));
    assert.equal(parseRabbitmqConf('log.file.level = error\n').input.logLevel, 'error');
    assert.equal(parseRabbitmqConf('log.console.level = none\n').input.logLevel, 'silent');
  });

  test('the HTTPS listeners\' own certificate: management.ssl.* and prometheus.ssl.*', () => {
    const own = parseRabbitmqConf('ssl_options.certfile = /a.pem\nssl_options.keyfile = /a.key\nssl_options.cacertfile = /ca.pem\n'
      + 'management.ssl.certfile = /b.pem\nmanagement.ssl.keyfile = /b.key\nmanagement.ssl.cacertfile = /ca.pem\nprometheus.ssl.certfile = /b.pem\n');
    assert.equal(own.input.sslCertFile, '/a.pem');
    assert.equal(own.input.managementSslCertFile, '/b.pem');
    assert.equal(own.input.managementSslKeyFile, '/b.key');
    assert.deepEqual(own.ignored, [], 'the same CA file as ssl_options\' is no news');
    const same = parseRabbitmqConf('ssl_options.certfile = /a.pem\nssl_options.keyfile = /a.key\nmanagement.ssl.certfile = /a.pem\nmanagement.ssl.keyfile = /a.key\n');
    assert.equal(same.input.managementSslCertFile, undefined, 'the same files as ssl_options are no certificate of their own');
    assert.match(parseRabbitmqConf('management.ssl.cacertfile = /other-ca.pem\n').ignored.join(), /management\.ssl\.cacertfile \(HTTPS clients are not asked/);
    assert.throws(() => parseRabbitmqConf('management.ssl.certfile = /b.pem\nprometheus.ssl.certfile = /c.pem\n'),
      /prometheus\.ssl\.certfile differs from the other HTTPS listener's certfile \(\/b\.pem\)/);
    inDir({ 'rabbitmq.conf': 'management.ssl.port = 15671\nmanagement.ssl.certfile = /b.pem\n' }, (dir) => {
      assert.throws(() => loadConfig({}, {}, join(dir, 'rabbitmq.conf')), /the HTTPS listeners' own certificate needs its key/);
    });
  });

  test('refused: a line that is not key = value, an unknown log level', () => {
    assert.throws(() => parseRabbitmqConf('heartbeat 30\n'), /line 1 is not "key = value"/);
    assert.throws(() => parseRabbitmqConf('# ok\nlog.console.level = loud\n'), /log\.console\.level must be one of/);
  });
});
