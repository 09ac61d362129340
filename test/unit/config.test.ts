// loadConfig: defaults < JSON file < environment < flags; parseSize and parseWatermark.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ENV_VARS, loadConfig, parseSize, parseWatermark } from '../../src/config.js';

function withConfigFile<T>(content: object, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'warren-config-test-'));
  try {
    const path = join(dir, 'warren.json');
    writeFileSync(path, JSON.stringify(content));
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({}, {});
    assert.equal(c.amqpPort, 5672);
    assert.equal(c.bind, '::');
    assert.equal(c.dataDir, './data');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.defaultUser, 'guest');
    assert.equal(c.defaultPass, 'guest');
    assert.equal(c.defaultVhost, '/');
    assert.deepEqual(c.loopbackUsers, ['guest']);
    assert.equal(c.definitionsFile, null);
    assert.equal(c.frameMax, 131072);
    assert.equal(c.channelMax, 2047);
    assert.equal(c.heartbeat, 60);
    assert.equal(c.maxMessageSize, 128 * 1024 * 1024);
    assert.equal(c.memoryHighWatermark, Math.floor(totalmem() * 0.4));
    assert.equal(c.diskFreeLimit, 50_000_000);
  });

  test('WARREN_* environment variables, coerced to their types', () => {
    const c = loadConfig({}, {
      WARREN_AMQP_PORT: '5673', WARREN_BIND: '127.0.0.1', WARREN_DATA_DIR: '/var/lib/warren', WARREN_LOG_LEVEL: 'debug',
      WARREN_DEFINITIONS: '/etc/defs.json', WARREN_FRAME_MAX: '8192', WARREN_CHANNEL_MAX: '100', WARREN_HEARTBEAT: '0',
      WARREN_MAX_MESSAGE_SIZE: '1MB', WARREN_MEMORY_HIGH_WATERMARK: '2GB', WARREN_DISK_FREE_LIMIT: '1GiB',
      WARREN_QUEUE_WINDOW_MESSAGES: '10', WARREN_QUEUE_WINDOW_BYTES: '64KiB', WARREN_DEFAULT_VHOST: 'prod',
    });
    assert.equal(c.amqpPort, 5673);
    assert.equal(c.bind, '127.0.0.1');
    assert.equal(c.dataDir, '/var/lib/warren');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.definitionsFile, '/etc/defs.json');
    assert.equal(c.frameMax, 8192);
    assert.equal(c.channelMax, 100);
    assert.equal(c.heartbeat, 0);
    assert.equal(c.maxMessageSize, 1_000_000);
    assert.equal(c.memoryHighWatermark, 2_000_000_000);
    assert.equal(c.diskFreeLimit, 1024 ** 3);
    assert.equal(c.queueWindowMessages, 10);
    assert.equal(c.queueWindowBytes, 65536);
    assert.equal(c.defaultVhost, 'prod');
    assert.equal(loadConfig({}, { WARREN_PORT: '5999' }).amqpPort, 5999);
    assert.equal(loadConfig({}, { WARREN_MEMORY_HIGH_WATERMARK: '0.5' }).memoryHighWatermark, Math.floor(totalmem() * 0.5));
  });

  test('empty environment variables are ignored', () => {
    const c = loadConfig({}, { WARREN_AMQP_PORT: '', RABBITMQ_DEFAULT_USER: '', WARREN_BIND: '' });
    assert.equal(c.amqpPort, 5672);
    assert.equal(c.defaultUser, 'guest');
    assert.equal(c.bind, '::');
  });

  test('RABBITMQ_DEFAULT_USER/PASS: the custom default user is not loopback-only', () => {
    const c = loadConfig({}, { RABBITMQ_DEFAULT_USER: 'admin', RABBITMQ_DEFAULT_PASS: 's3cret', RABBITMQ_DEFAULT_VHOST: 'v' });
    assert.equal(c.defaultUser, 'admin');
    assert.equal(c.defaultPass, 's3cret');
    assert.equal(c.defaultVhost, 'v');
    assert.ok(!c.loopbackUsers.includes('admin'));
    const w = loadConfig({}, { WARREN_DEFAULT_USER: 'ops', WARREN_DEFAULT_PASS: 'pw' });
    assert.equal(w.defaultUser, 'ops');
    assert.equal(w.defaultPass, 'pw');
    assert.ok(!w.loopbackUsers.includes('ops'));
    // also when the default user comes from flags
    const f = loadConfig({ defaultUser: 'flaguser' }, {});
    assert.ok(!f.loopbackUsers.includes('flaguser'));
  });

  test('WARREN_LOOPBACK_USERS sets the list (comma separated; empty means none)', () => {
    assert.deepEqual(loadConfig({}, { WARREN_LOOPBACK_USERS: 'a, b,,c' }).loopbackUsers, ['a', 'b', 'c']);
    assert.deepEqual(loadConfig({}, { WARREN_LOOPBACK_USERS: '' }).loopbackUsers, []);
    // an explicit list keeps a custom default user in it
    assert.deepEqual(loadConfig({}, { RABBITMQ_DEFAULT_USER: 'admin', WARREN_LOOPBACK_USERS: 'admin' }).loopbackUsers, ['admin']);
    assert.deepEqual(loadConfig({ defaultUser: 'admin', loopbackUsers: ['admin'] }, {}).loopbackUsers, ['admin']);
  });

  test('flags override the environment', () => {
    const env = { WARREN_AMQP_PORT: '5673', WARREN_BIND: '127.0.0.1', RABBITMQ_DEFAULT_USER: 'envuser', WARREN_MAX_MESSAGE_SIZE: '1MB' };
    const c = loadConfig({ amqpPort: '6000', bind: '::', defaultUser: 'flaguser', maxMessageSize: '2MB' }, env);
    assert.equal(c.amqpPort, 6000);
    assert.equal(c.bind, '::');
    assert.equal(c.defaultUser, 'flaguser');
    assert.equal(c.maxMessageSize, 2_000_000);
    // undefined flags (options not given on the command line) do not hide the environment
    const d = loadConfig({ amqpPort: undefined, bind: undefined }, env);
    assert.equal(d.amqpPort, 5673);
    assert.equal(d.bind, '127.0.0.1');
  });

  test('flags override the environment for loopbackUsers too', () => {
    const c = loadConfig({ loopbackUsers: ['fromflag'] }, { WARREN_LOOPBACK_USERS: 'fromenv' });
    assert.deepEqual(c.loopbackUsers, ['fromflag']);
  });

  test('config file < environment < flags', () => {
    withConfigFile({ amqpPort: 7000, bind: '10.0.0.1', dataDir: '/from/file', heartbeat: 30, memoryHighWatermark: 0.25 }, (path) => {
      const fileOnly = loadConfig({}, {}, path);
      assert.equal(fileOnly.amqpPort, 7000);
      assert.equal(fileOnly.bind, '10.0.0.1');
      assert.equal(fileOnly.heartbeat, 30);
      assert.equal(fileOnly.memoryHighWatermark, Math.floor(totalmem() * 0.25));
      const viaEnvPath = loadConfig({}, { WARREN_CONFIG: path });
      assert.equal(viaEnvPath.dataDir, '/from/file');
      const envWins = loadConfig({}, { WARREN_AMQP_PORT: '7001', WARREN_CONFIG: path });
      assert.equal(envWins.amqpPort, 7001);
      assert.equal(envWins.bind, '10.0.0.1');
      const flagsWin = loadConfig({ amqpPort: 7002 }, { WARREN_AMQP_PORT: '7001' }, path);
      assert.equal(flagsWin.amqpPort, 7002);
      assert.equal(flagsWin.dataDir, '/from/file');
    });
  });

  test('invalid values are rejected', () => {
    assert.throws(() => loadConfig({}, { WARREN_AMQP_PORT: 'abc' }), /amqpPort/);
    assert.throws(() => loadConfig({ heartbeat: -1 }, {}), /heartbeat/);
    assert.throws(() => loadConfig({ channelMax: 1.5 }, {}), /channelMax/);
    assert.throws(() => loadConfig({}, { WARREN_FRAME_MAX: '4095' }), /frameMax/);
    assert.equal(loadConfig({}, { WARREN_FRAME_MAX: '4096' }).frameMax, 4096);
    assert.throws(() => loadConfig({}, { WARREN_MAX_MESSAGE_SIZE: 'huge' }), /not a size/);
  });

  test('max message size: at most 512MiB, as RabbitMQ refuses larger settings', () => {
    assert.equal(loadConfig({ maxMessageSize: '512MiB' }, {}).maxMessageSize, 536_870_912);
    assert.throws(() => loadConfig({ maxMessageSize: '513MiB' }, {}), /maxMessageSize must be at most 536870912 bytes/);
    assert.throws(() => loadConfig({}, { WARREN_MAX_MESSAGE_SIZE: '1GB' }), /at most 536870912/);
  });

  test('consumer timeout: 30 minutes by default; milliseconds, or off', () => {
    assert.equal(loadConfig({}, {}).consumerTimeout, 1_800_000);
    assert.equal(loadConfig({ consumerTimeout: '5000' }, {}).consumerTimeout, 5000);
    assert.equal(loadConfig({}, { WARREN_CONSUMER_TIMEOUT: '60000' }).consumerTimeout, 60_000);
    for (const off of ['off', 'false', 'undefined', '0', false]) assert.equal(loadConfig({ consumerTimeout: off }, {}).consumerTimeout, 0, String(off));
    assert.throws(() => loadConfig({ consumerTimeout: '-1' }, {}), /consumerTimeout/);
    assert.throws(() => loadConfig({ consumerTimeout: 'soon' }, {}), /consumerTimeout/);
  });

  test('connection max: no limit by default; a number, or infinity', () => {
    assert.equal(loadConfig({}, {}).connectionMax, null);
    assert.equal(loadConfig({}, { WARREN_CONNECTION_MAX: '100' }).connectionMax, 100);
    assert.equal(loadConfig({ connectionMax: 'infinity' }, { WARREN_CONNECTION_MAX: '100' }).connectionMax, null);
    assert.throws(() => loadConfig({ connectionMax: 'lots' }, {}), /connectionMax/);
  });

  test('ENV_VARS lists the environment variables', () => {
    for (const v of ['RABBITMQ_DEFAULT_USER', 'RABBITMQ_DEFAULT_PASS', 'WARREN_AMQP_PORT', 'WARREN_BIND', 'WARREN_DATA_DIR']) {
      assert.ok(ENV_VARS.includes(v), v);
    }
  });
});

describe('parseSize', () => {
  test('decimal and binary units', () => {
    const cases: [string | number, number][] = [
      ['50MB', 50e6], ['1GiB', 2 ** 30], ['512', 512], [512, 512], ['1.5GB', 1.5e9], ['512MiB', 512 * 2 ** 20],
      ['10k', 10_000], ['10KB', 10_000], ['10KiB', 10_240], ['10kib', 10_240], [' 2 gb ', 2e9], ['1TB', 1e12],
      ['1TiB', 2 ** 40], ['100B', 100], ['0', 0], ['1.5KiB', 1536], ['2m', 2e6],
    ];
    for (const [input, want] of cases) assert.equal(parseSize(input), want, String(input));
  });

  test('non-sizes throw', () => {
    for (const bad of ['', 'lots', '-5', '1PB', '1 M B', 'MB', '1..5MB']) {
      assert.throws(() => parseSize(bad), /not a size/, bad);
    }
  });
});

describe('parseWatermark', () => {
  test('a fraction of RAM', () => {
    const ram = totalmem();
    assert.equal(parseWatermark('0.4'), Math.floor(ram * 0.4));
    assert.equal(parseWatermark(0.4), Math.floor(ram * 0.4));
    assert.equal(parseWatermark('.5'), Math.floor(ram * 0.5));
    assert.equal(parseWatermark(' 0.25 '), Math.floor(ram * 0.25));
    assert.equal(parseWatermark('1'), ram);
    assert.equal(parseWatermark('1.0'), ram);
  });

  test('an absolute size', () => {
    assert.equal(parseWatermark('2GB'), 2e9);
    assert.equal(parseWatermark('512MiB'), 512 * 2 ** 20);
    assert.equal(parseWatermark('1073741824'), 2 ** 30);
    assert.throws(() => parseWatermark('half'), /not a size/);
  });
});
