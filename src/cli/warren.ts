#!/usr/bin/env node
// `warren`: starts the broker. Flags override environment variables, which override the
// optional config file (--config, WARREN_CONFIG or RABBITMQ_CONFIG_FILE; JSON or rabbitmq.conf).
import { Command } from 'commander';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { ENV_VARS, loadConfig, type ConfigInput } from '../config.js';
import { DataDirError } from '../store/data-dir.js';
import { Warren, VERSION } from '../warren.js';

const program = new Command('warren')
  .description('Warren: an AMQP 0-9-1 message broker that RabbitMQ clients use unmodified')
  .version(VERSION)
  .option('-p, --port <port|off>', 'AMQP port (default 5672; off: amqps only)')
  .option('-b, --bind <address>', 'address to listen on (default ::, every IPv4 and IPv6 interface)')
  .option('-d, --data-dir <dir>', 'data directory (default ./data)')
  .option('--management-port <port|off>', 'management HTTP API port (default 15672)')
  .option('--management-bind <address>', 'address the management API listens on (default: --bind)')
  .option('--management-max-body-size <size>', 'largest management API request body (default 20000000 bytes)')
  .option('--prometheus-port <port|off>', 'Prometheus metrics port (default 15692)')
  .option('--ssl-port <port|off>', 'amqps port (default 5671 once --ssl-certfile and --ssl-keyfile are given)')
  .option('--management-ssl-port <port|off>', 'management API over HTTPS (e.g. 15671; default off)')
  .option('--prometheus-ssl-port <port|off>', 'Prometheus metrics over HTTPS (e.g. 15691; default off)')
  .option('--ssl-certfile <file>', 'TLS server certificate, PEM (with any intermediates after it)')
  .option('--ssl-keyfile <file>', 'TLS private key, PEM (passphrase: WARREN_SSL_KEY_PASSWORD)')
  .option('--management-ssl-certfile <file>', 'the HTTPS listeners\' own certificate, PEM (default: --ssl-certfile)')
  .option('--management-ssl-keyfile <file>', 'the key of --management-ssl-certfile, PEM')
  .option('--ssl-cacertfile <file>', 'CA certificates that client certificates must chain to, PEM')
  .option('--ssl-verify <mode>', 'verify_peer (ask amqps clients for a certificate) or verify_none (default)')
  .option('--ssl-fail-if-no-peer-cert <bool>', 'with verify_peer: refuse amqps clients without a certificate (default false)')
  .option('--ssl-versions <list>', 'TLS versions, e.g. tlsv1.3,tlsv1.2 (default: TLS 1.2 and 1.3)')
  .option('--ssl-ciphers <list>', 'OpenSSL cipher names, comma or colon separated (default: Node\'s)')
  .option('--ssl-cert-login-from <part>', 'EXTERNAL user name: common_name (default) or distinguished_name')
  .option('--auth-mechanisms <list>', 'SASL mechanisms offered: PLAIN,AMQPLAIN (default), EXTERNAL for client certificates')
  .option('--definitions <file>', 'RabbitMQ-format definitions JSON to import at boot')
  .option('--config <file>', 'config file: RabbitMQ\'s rabbitmq.conf format (a .conf file), or JSON with Warren\'s names')
  .option('--log-level <level>', 'trace, debug, info, warn, error (default info)')
  .option('--heartbeat <seconds>', 'heartbeat interval proposed to clients (default 60)')
  .option('--frame-max <bytes>', 'largest frame accepted (default 131072)')
  .option('--max-message-size <size>', 'largest message body accepted (default 128MiB)')
  .option('--consumer-timeout <ms|off>', 'close a channel whose delivery stays unacked this long (default 1800000, 30 minutes)')
  .option('--connection-max <n|infinity>', 'most AMQP connections served at once; more wait (default infinity)')
  .option('--memory-high-watermark <fraction|size>', 'memory alarm threshold (default 0.4 of RAM)')
  .option('--disk-free-limit <size>', 'disk alarm threshold (default 50MB)')
  .option('--password-hashing-module <module>', 'how new passwords are hashed: rabbit_password_hashing_sha256 (default) or _sha512')
  .addHelpText('after', `\nEnvironment variables: ${ENV_VARS.join(', ')}, WARREN_CONFIG, RABBITMQ_CONFIG_FILE, WARREN_LOOPBACK_USERS`);

program.parse();
const o = program.opts<Record<string, string | undefined>>();
const flags: ConfigInput = {
  amqpPort: o.port,
  amqpsPort: o.sslPort,
  managementSslPort: o.managementSslPort,
  prometheusSslPort: o.prometheusSslPort,
  sslCertFile: o.sslCertfile,
  sslKeyFile: o.sslKeyfile,
  sslCaCertFile: o.sslCacertfile,
  managementSslCertFile: o.managementSslCertfile,
  managementSslKeyFile: o.managementSslKeyfile,
  sslVerify: o.sslVerify,
  sslFailIfNoPeerCert: o.sslFailIfNoPeerCert,
  sslVersions: o.sslVersions,
  sslCiphers: o.sslCiphers,
  sslCertLoginFrom: o.sslCertLoginFrom,
  authMechanisms: o.authMechanisms,
  bind: o.bind,
  managementPort: o.managementPort,
  managementBind: o.managementBind,
  managementMaxBodySize: o.managementMaxBodySize,
  prometheusPort: o.prometheusPort,
  dataDir: o.dataDir,
  definitionsFile: o.definitions,
  logLevel: o.logLevel,
  heartbeat: o.heartbeat,
  frameMax: o.frameMax,
  maxMessageSize: o.maxMessageSize,
  consumerTimeout: o.consumerTimeout,
  connectionMax: o.connectionMax,
  memoryHighWatermark: o.memoryHighWatermark,
  diskFreeLimit: o.diskFreeLimit,
  passwordHashingModule: o.passwordHashingModule,
};

let config;
const notices: string[] = [];
try {
  config = loadConfig(flags, process.env, o.config, notices);
} catch (err) {
  console.error(`warren: invalid configuration: ${(err as Error).message}`);
  process.exit(2);
}
// Synchronous writes: Warren logs little at info, and nothing may be lost when it exits.
// Readable lines for a person at a terminal; JSON lines for log collectors otherwise.
const log = pino({ level: config.logLevel, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
  process.stdout.isTTY
    ? pretty({ sync: true, destination: 1, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
    : pino.destination({ dest: 1, sync: true }));

for (const n of notices) log.warn(n);

let warren: Warren;
try {
  warren = await Warren.start(config, log);
} catch (err) {
  // Expected failures (port taken, data directory in use or too new) need no stack trace.
  const e = err as NodeJS.ErrnoException;
  if (err instanceof DataDirError || e.message?.includes('--port') || e.message?.includes(' TLS ')) log.fatal(`could not start: ${e.message}`);
  else log.fatal({ err }, `could not start: ${e.message}`);
  process.exit(1);
}

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  try {
    await warren.stop();
  } catch (err) {
    log.error({ err }, 'error during shutdown');
  }
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// As a web server: SIGHUP re-reads the TLS certificate files (renewed certificates) without a restart.
process.on('SIGHUP', () => warren.reloadTls());
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; this is a bug in Warren, please report it');
});
