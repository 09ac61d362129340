// The one place where defaults, an optional config file (JSON, or RabbitMQ's rabbitmq.conf),
// environment variables and command-line flags become a typed configuration (later sources win).
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { HASHING_ALGORITHMS } from './broker/users.js';
import { parseRabbitmqConf } from './rabbitmq-conf.js';

export interface Config {
  /** Plain AMQP port; null: off (only with amqps on). */
  amqpPort: number | null;
  /** amqps port (RabbitMQ's listeners.ssl.default); null: off. 5671 once a certificate and key are given. */
  amqpsPort: number | null;
  /** HTTPS port of the management API (management.ssl.port); null: off. */
  managementSslPort: number | null;
  /** HTTPS port of the Prometheus endpoint (prometheus.ssl.port); null: off. */
  prometheusSslPort: number | null;
  /** RabbitMQ's ssl_options: PEM files, peer verification, protocol versions and ciphers. */
  sslCertFile: string | null;
  sslKeyFile: string | null;
  sslCaCertFile: string | null;
  /** Passphrase of an encrypted key file (ssl_options.password). */
  sslKeyPassword: string | null;
  /**
   * The HTTPS listeners' own certificate and key (management.ssl.certfile/keyfile), when they
   * are not ssl_options' ones; null: the HTTPS listeners serve ssl_options' certificate.
   */
  managementSslCertFile: string | null;
  managementSslKeyFile: string | null;
  sslVerify: 'verify_peer' | 'verify_none';
  sslFailIfNoPeerCert: boolean;
  /** e.g. ['tlsv1.3', 'tlsv1.2']; empty: Node's defaults (TLS 1.2 and 1.3). */
  sslVersions: string[];
  /** OpenSSL cipher names (TLS 1.3 suites included); empty: Node's defaults. */
  sslCiphers: string[];
  /** Which part of a client certificate names the EXTERNAL user (RabbitMQ's ssl_cert_login_from). */
  sslCertLoginFrom: 'distinguished_name' | 'common_name';
  /** SASL mechanisms offered (auth_mechanisms); EXTERNAL is offered on TLS connections only. */
  authMechanisms: string[];
  bind: string;
  /** Management HTTP API (and web UI) port; null: off. */
  managementPort: number | null;
  /** Address the management API listens on (default: `bind`). */
  managementBind: string | null;
  /** Largest management API request body, bytes (RabbitMQ's management.http.max_body_size). */
  managementMaxBodySize: number;
  /** Prometheus metrics port; null: off. */
  prometheusPort: number | null;
  dataDir: string;
  logLevel: string;
  /** First user, created on a fresh data directory. */
  defaultUser: string;
  defaultPass: string;
  defaultVhost: string;
  /** Users that may only connect from loopback (RabbitMQ's loopback_users). */
  loopbackUsers: string[];
  /** RabbitMQ-format definitions JSON loaded at boot (users, vhosts, permissions, topology). */
  definitionsFile: string | null;
  frameMax: number;
  channelMax: number;
  heartbeat: number;
  maxMessageSize: number;
  /** Longest a delivery may stay unacked before its channel is closed (RabbitMQ's consumer_timeout), ms; 0: never. */
  consumerTimeout: number;
  /** Most AMQP connections served at once (RabbitMQ's connection_max); null: no limit. */
  connectionMax: number | null;
  /** Memory alarm threshold in bytes (from a fraction of RAM or an absolute size). */
  memoryHighWatermark: number;
  /** Disk alarm when free space on the data directory's disk falls below this, bytes. */
  diskFreeLimit: number;
  /** Messages a queue keeps in memory before paging the rest to disk. */
  queueWindowMessages: number;
  /** Body bytes a queue keeps in memory before paging the rest to disk. */
  queueWindowBytes: number;
  /** RabbitMQ's password_hashing_module: how new passwords are hashed. */
  passwordHashingModule: string;
}

export type ConfigInput = Partial<Record<keyof Config, unknown>>;

const DEFAULTS: Config = {
  amqpPort: 5672,
  amqpsPort: null,
  managementSslPort: null,
  prometheusSslPort: null,
  sslCertFile: null,
  sslKeyFile: null,
  sslCaCertFile: null,
  sslKeyPassword: null,
  managementSslCertFile: null,
  managementSslKeyFile: null,
  sslVerify: 'verify_none',
  sslFailIfNoPeerCert: false,
  sslVersions: [],
  sslCiphers: [],
  sslCertLoginFrom: 'common_name',
  authMechanisms: ['PLAIN', 'AMQPLAIN'],
  bind: '::',
  managementPort: 15672,
  managementBind: null,
  // Room for a definitions file of 200k queues.
  managementMaxBodySize: 20_000_000,
  prometheusPort: 15692,
  dataDir: './data',
  logLevel: 'info',
  defaultUser: 'guest',
  defaultPass: 'guest',
  defaultVhost: '/',
  loopbackUsers: ['guest'],
  definitionsFile: null,
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 60,
  maxMessageSize: 128 * 1024 * 1024,
  consumerTimeout: 1_800_000,
  connectionMax: null,
  memoryHighWatermark: Math.floor(totalmem() * 0.4),
  diskFreeLimit: 50 * 1000 * 1000,
  queueWindowMessages: 16384,
  queueWindowBytes: 16 * 1024 * 1024,
  passwordHashingModule: 'rabbit_password_hashing_sha256',
};

/** Environment variables and the setting each one gives. */
const ENV: [string, keyof Config][] = [
  ['RABBITMQ_DEFAULT_USER', 'defaultUser'],
  ['RABBITMQ_DEFAULT_PASS', 'defaultPass'],
  ['RABBITMQ_DEFAULT_VHOST', 'defaultVhost'],
  // RabbitMQ's names for the AMQP listener; the WARREN_ ones win.
  ['RABBITMQ_NODE_PORT', 'amqpPort'],
  ['RABBITMQ_NODE_IP_ADDRESS', 'bind'],
  ['WARREN_AMQP_PORT', 'amqpPort'],
  ['WARREN_PORT', 'amqpPort'],
  ['WARREN_BIND', 'bind'],
  ['WARREN_MANAGEMENT_PORT', 'managementPort'],
  ['WARREN_MANAGEMENT_BIND', 'managementBind'],
  ['WARREN_MANAGEMENT_MAX_BODY_SIZE', 'managementMaxBodySize'],
  ['WARREN_PROMETHEUS_PORT', 'prometheusPort'],
  ['WARREN_DATA_DIR', 'dataDir'],
  ['WARREN_LOG_LEVEL', 'logLevel'],
  ['WARREN_DEFAULT_USER', 'defaultUser'],
  ['WARREN_DEFAULT_PASS', 'defaultPass'],
  ['WARREN_DEFAULT_VHOST', 'defaultVhost'],
  ['WARREN_DEFINITIONS', 'definitionsFile'],
  ['WARREN_FRAME_MAX', 'frameMax'],
  ['WARREN_CHANNEL_MAX', 'channelMax'],
  ['WARREN_HEARTBEAT', 'heartbeat'],
  ['WARREN_MAX_MESSAGE_SIZE', 'maxMessageSize'],
  ['WARREN_CONSUMER_TIMEOUT', 'consumerTimeout'],
  ['WARREN_CONNECTION_MAX', 'connectionMax'],
  ['WARREN_MEMORY_HIGH_WATERMARK', 'memoryHighWatermark'],
  ['WARREN_DISK_FREE_LIMIT', 'diskFreeLimit'],
  ['WARREN_QUEUE_WINDOW_MESSAGES', 'queueWindowMessages'],
  ['WARREN_QUEUE_WINDOW_BYTES', 'queueWindowBytes'],
  ['WARREN_SSL_PORT', 'amqpsPort'],
  ['WARREN_MANAGEMENT_SSL_PORT', 'managementSslPort'],
  ['WARREN_PROMETHEUS_SSL_PORT', 'prometheusSslPort'],
  // RabbitMQ's docker image took these names; the WARREN_ ones win.
  ['RABBITMQ_SSL_CERTFILE', 'sslCertFile'],
  ['RABBITMQ_SSL_KEYFILE', 'sslKeyFile'],
  ['RABBITMQ_SSL_CACERTFILE', 'sslCaCertFile'],
  ['RABBITMQ_SSL_VERIFY', 'sslVerify'],
  ['RABBITMQ_SSL_FAIL_IF_NO_PEER_CERT', 'sslFailIfNoPeerCert'],
  ['WARREN_SSL_CERTFILE', 'sslCertFile'],
  ['WARREN_SSL_KEYFILE', 'sslKeyFile'],
  ['WARREN_SSL_CACERTFILE', 'sslCaCertFile'],
  ['WARREN_SSL_KEY_PASSWORD', 'sslKeyPassword'],
  ['WARREN_MANAGEMENT_SSL_CERTFILE', 'managementSslCertFile'],
  ['WARREN_MANAGEMENT_SSL_KEYFILE', 'managementSslKeyFile'],
  ['WARREN_SSL_VERIFY', 'sslVerify'],
  ['WARREN_SSL_FAIL_IF_NO_PEER_CERT', 'sslFailIfNoPeerCert'],
  ['WARREN_SSL_VERSIONS', 'sslVersions'],
  ['WARREN_SSL_CIPHERS', 'sslCiphers'],
  ['WARREN_SSL_CERT_LOGIN_FROM', 'sslCertLoginFrom'],
  ['WARREN_AUTH_MECHANISMS', 'authMechanisms'],
  ['WARREN_PASSWORD_HASHING_MODULE', 'passwordHashingModule'],
];

/** RabbitMQ refuses a max_message_size above 512 MiB. */
export const MAX_MESSAGE_SIZE_CAP = 512 * 1024 * 1024;

export const ENV_VARS = ENV.map(([name]) => name);

/** "1.5GB", "512MiB", "50MB", "1000" -> bytes. */
export function parseSize(v: unknown): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(String(v));
  if (!m) throw new Error(`not a size: ${String(v)}`);
  const base = m[3] ? 1024 : 1000;
  const exp = ' kmgt'.indexOf(m[2].toLowerCase() || ' ');
  return Math.floor(Number(m[1]) * base ** exp);
}

/** A fraction of RAM (0 < x <= 1, e.g. "0.4") or an absolute size ("2GB"). */
export function parseWatermark(v: unknown): number {
  const s = String(v).trim();
  if (/^0?\.\d+$|^1(\.0+)?$/.test(s)) return Math.floor(totalmem() * Number(s));
  return parseSize(s);
}

function oneOf<T extends string>(key: string, v: unknown, allowed: T[]): T {
  const s = String(v);
  if (!(allowed as string[]).includes(s)) throw new Error(`${key} must be one of ${allowed.join(', ')}, got ${s}`);
  return s as T;
}

/** An array, or a string separated by commas (or `sep`). */
function list(v: unknown, sep: RegExp = /,/): string[] {
  return (Array.isArray(v) ? v.map(String) : String(v).split(sep)).map((s) => s.trim()).filter(Boolean);
}

function coerce(key: keyof Config, v: unknown): unknown {
  switch (key) {
    case 'frameMax': case 'channelMax': case 'heartbeat': case 'queueWindowMessages': {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${key} must be a non-negative integer, got ${String(v)}`);
      return n;
    }
    case 'amqpPort': case 'amqpsPort': case 'managementPort': case 'prometheusPort': case 'managementSslPort': case 'prometheusSslPort': {
      // "off" (or false/none/disabled) turns the listener off.
      if (v === null || v === false || /^(off|false|none|disabled?)$/i.test(String(v))) return null;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${key} must be a port number or "off", got ${String(v)}`);
      return n;
    }
    case 'maxMessageSize': {
      const n = parseSize(v);
      if (n > MAX_MESSAGE_SIZE_CAP) throw new Error(`maxMessageSize must be at most ${MAX_MESSAGE_SIZE_CAP} bytes (512MiB, RabbitMQ's limit), got ${String(v)}`);
      return n;
    }
    case 'consumerTimeout': {
      // RabbitMQ disables it with `undefined` (advanced.config) or false; 0 does the same here.
      if (v === null || v === false || /^(off|false|undefined|none|infinity)$/i.test(String(v))) return 0;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`consumerTimeout must be milliseconds or "off", got ${String(v)}`);
      return n;
    }
    case 'connectionMax': {
      if (v === null || /^(infinity|off|none|unlimited)$/i.test(String(v))) return null;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`connectionMax must be a number of connections or "infinity", got ${String(v)}`);
      return n;
    }
    case 'diskFreeLimit': case 'queueWindowBytes': return parseSize(v);
    case 'managementMaxBodySize': {
      const n = parseSize(v);
      if (n < 1) throw new Error(`managementMaxBodySize must be at least 1 byte, got ${String(v)}`);
      return n;
    }
    case 'memoryHighWatermark': return parseWatermark(v);
    case 'sslVerify': return oneOf(key, v, ['verify_peer', 'verify_none']);
    case 'sslCertLoginFrom': return oneOf(key, v, ['distinguished_name', 'common_name']);
    case 'sslFailIfNoPeerCert': {
      if (typeof v === 'boolean') return v;
      if (/^(true|1|yes)$/i.test(String(v))) return true;
      if (/^(false|0|no)$/i.test(String(v))) return false;
      throw new Error(`${key} must be true or false, got ${String(v)}`);
    }
    case 'sslVersions': return list(v).map((x) => oneOf(key, x.toLowerCase(), ['tlsv1.3', 'tlsv1.2', 'tlsv1.1', 'tlsv1']));
    case 'sslCiphers': return list(v, /[,:\s]+/);
    case 'authMechanisms': return list(v, /[,\s]+/).map((x) => oneOf(key, x.toUpperCase(), ['PLAIN', 'AMQPLAIN', 'EXTERNAL']));
    case 'passwordHashingModule': {
      // RabbitMQ's module names, or just the digest (sha512).
      const name = String(v).startsWith('rabbit_password_hashing_') ? String(v) : `rabbit_password_hashing_${String(v)}`;
      if (!HASHING_ALGORITHMS.has(name)) throw new Error(`passwordHashingModule must be one of ${[...HASHING_ALGORITHMS].join(', ')}, got ${String(v)}`);
      return name;
    }
    case 'loopbackUsers': return Array.isArray(v) ? v.map(String) : String(v).split(',').map((s) => s.trim()).filter(Boolean);
    default: return v === null ? null : String(v);
  }
}

/**
 * The config file's settings: JSON (Warren's names), or RabbitMQ's rabbitmq.conf (a `.conf` file,
 * or anything that is not a JSON object). RABBITMQ_CONFIG_FILE is looked up as RabbitMQ does,
 * with or without its `.conf`.
 */
function readConfigFile(file: string | undefined, env: NodeJS.ProcessEnv, notices: string[]): ConfigInput {
  let path = file ?? env.WARREN_CONFIG;
  if (path === undefined || path === '') {
    const rabbit = env.RABBITMQ_CONFIG_FILE;
    if (rabbit === undefined || rabbit === '') return {};
    path = !existsSync(rabbit) && existsSync(`${rabbit}.conf`) ? `${rabbit}.conf` : rabbit;
  }
  const text = readFileSync(path, 'utf8');
  if (!path.endsWith('.conf') && text.trimStart().startsWith('{')) return JSON.parse(text) as ConfigInput;
  const conf = parseRabbitmqConf(text);
  for (const what of conf.ignored) notices.push(`${path}: ignored ${what}`);
  return conf.input;
}

/**
 * Builds the configuration: defaults, then the config file (if any), then the environment, then
 * flags. A custom default user (from the environment or flags) may connect from anywhere,
 * as with RabbitMQ's docker image. `notices` collects what the caller should log (settings of
 * a rabbitmq.conf that change nothing).
 */
export function loadConfig(flags: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env, file?: string, notices: string[] = []): Config {
  const cfg: Config = { ...DEFAULTS, loopbackUsers: [...DEFAULTS.loopbackUsers] };
  const apply = (src: ConfigInput) => {
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined) continue;
      (cfg as unknown as Record<string, unknown>)[k] = coerce(k as keyof Config, v);
    }
  };
  const fileCfg = readConfigFile(file, env, notices);
  apply(fileCfg);
  for (const [name, key] of ENV) if (env[name] !== undefined && env[name] !== '') apply({ [key]: env[name] });
  if (env.WARREN_LOOPBACK_USERS !== undefined) apply({ loopbackUsers: env.WARREN_LOOPBACK_USERS });
  apply(flags);
  // A custom default user may connect from anywhere, unless loopback users were set explicitly.
  const explicit = flags.loopbackUsers !== undefined || env.WARREN_LOOPBACK_USERS !== undefined || fileCfg.loopbackUsers !== undefined;
  if (cfg.defaultUser !== 'guest' && !explicit) cfg.loopbackUsers = cfg.loopbackUsers.filter((u) => u !== cfg.defaultUser);
  checkTls(cfg, [flags, fileCfg].some((src) => src.amqpsPort !== undefined) || (env.WARREN_SSL_PORT ?? '') !== '');
  if (cfg.frameMax < 4096) throw new Error(`frameMax must be at least 4096, got ${cfg.frameMax}`);
  return cfg;
}

/**
 * As RabbitMQ: a certificate and key turn amqps on at 5671 unless a port (or "off") was given;
 * every TLS listener needs both (the HTTPS ones may have their own); some AMQP listener must remain.
 */
function checkTls(cfg: Config, amqpsPortGiven: boolean): void {
  const haveCert = cfg.sslCertFile !== null && cfg.sslKeyFile !== null;
  if (haveCert && !amqpsPortGiven) cfg.amqpsPort = 5671;
  if ((cfg.sslCertFile === null) !== (cfg.sslKeyFile === null)) {
    throw new Error('TLS needs both a certificate and its key: give --ssl-certfile and --ssl-keyfile');
  }
  if ((cfg.managementSslCertFile === null) !== (cfg.managementSslKeyFile === null)) {
    throw new Error('the HTTPS listeners\' own certificate needs its key: give --management-ssl-certfile and --management-ssl-keyfile');
  }
  if (!haveCert && cfg.amqpsPort !== null) {
    throw new Error('a TLS port is set but no certificate: give --ssl-certfile and --ssl-keyfile');
  }
  if (!haveCert && cfg.managementSslCertFile === null && (cfg.managementSslPort !== null || cfg.prometheusSslPort !== null)) {
    throw new Error('an HTTPS port is set but no certificate: give --ssl-certfile and --ssl-keyfile (or --management-ssl-certfile and --management-ssl-keyfile)');
  }
  if (cfg.amqpPort === null && cfg.amqpsPort === null) throw new Error('AMQP is off on both the plain and the TLS port; turn one on');
  if (cfg.sslFailIfNoPeerCert && cfg.sslVerify !== 'verify_peer') {
    throw new Error('sslFailIfNoPeerCert needs sslVerify verify_peer (clients are only asked for a certificate then)');
  }
}
