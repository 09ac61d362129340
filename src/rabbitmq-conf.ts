// RabbitMQ's own configuration file (rabbitmq.conf: `key = value` lines, `#` comments, list items
// as `key.1`, `key.2`) read into Warren's settings, so that an operator's existing file (mounted
// at /etc/rabbitmq/rabbitmq.conf, or named by RABBITMQ_CONFIG_FILE) starts Warren unchanged.
// Settings Warren has no use for (clustering, Erlang tuning) are reported, never fatal: the
// broker starts and the log names each one.
import { totalmem } from 'node:os';
import type { ConfigInput } from './config.js';

export interface RabbitmqConf {
  input: ConfigInput;
  /** `key` lines that changed nothing, with why. */
  ignored: string[];
}

/** Direct translations: the value as given, coerced later like any other source. */
const SIMPLE: Record<string, keyof ConfigInput> = {
  'default_user': 'defaultUser',
  'default_pass': 'defaultPass',
  'default_vhost': 'defaultVhost',
  'load_definitions': 'definitionsFile',
  'management.load_definitions': 'definitionsFile',
  'frame_max': 'frameMax',
  'channel_max': 'channelMax',
  'heartbeat': 'heartbeat',
  'max_message_size': 'maxMessageSize',
  'consumer_timeout': 'consumerTimeout',
  'connection_max': 'connectionMax',
  'password_hashing_module': 'passwordHashingModule',
  'ssl_cert_login_from': 'sslCertLoginFrom',
  'ssl_options.certfile': 'sslCertFile',
  'ssl_options.keyfile': 'sslKeyFile',
  'ssl_options.cacertfile': 'sslCaCertFile',
  'ssl_options.password': 'sslKeyPassword',
  'ssl_options.verify': 'sslVerify',
  'ssl_options.fail_if_no_peer_cert': 'sslFailIfNoPeerCert',
  'vm_memory_high_watermark.relative': 'memoryHighWatermark',
  'vm_memory_high_watermark.absolute': 'memoryHighWatermark',
  'disk_free_limit.absolute': 'diskFreeLimit',
  'management.tcp.port': 'managementPort',
  'management.tcp.ip': 'managementBind',
  'management.ssl.port': 'managementSslPort',
  'management.http.max_body_size': 'managementMaxBodySize',
  'prometheus.tcp.port': 'prometheusPort',
  'prometheus.ssl.port': 'prometheusSslPort',
};

/** Indexed lists (`auth_mechanisms.1 = PLAIN`). */
const LISTS: Record<string, keyof ConfigInput> = {
  'auth_mechanisms': 'authMechanisms',
  'ssl_options.versions': 'sslVersions',
  'ssl_options.ciphers': 'sslCiphers',
};

/** RabbitMQ's log levels as pino's. */
const LOG_LEVELS: Record<string, string> = {
  debug: 'debug', info: 'info', notice: 'info', warning: 'warn', warn: 'warn', error: 'error',
  critical: 'fatal', alert: 'fatal', emergency: 'fatal', none: 'silent',
};

/** The HTTPS listeners' own files (management and Prometheus share one certificate). */
const LISTENER_TLS_FILES = /^(management|prometheus)\.ssl\.(certfile|keyfile|cacertfile)$/;

/** Parses the file's lines; throws on a line that is not `key = value` (RabbitMQ refuses those too). */
function readLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (key === '' || /\s/.test(key)) throw new Error(`rabbitmq.conf line ${i + 1} is not "key = value": ${line.slice(0, 80)}`);
    out.set(key, line.slice(eq + 1).trim());
  }
  return out;
}

/** "5672", "127.0.0.1:5672", "::1:5672" or "[::1]:5672" -> address and port. */
function listener(v: string): { ip: string | null; port: string } {
  const colon = v.lastIndexOf(':');
  if (colon < 0) return { ip: null, port: v };
  return { ip: v.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: v.slice(colon + 1) };
}

export function parseRabbitmqConf(text: string): RabbitmqConf {
  const lines = readLines(text);
  const input: ConfigInput = {};
  const ignored: string[] = [];
  const lists = new Map<keyof ConfigInput, [number, string][]>();
  const tlsFiles = new Map<string, string>();
  const set = (k: keyof ConfigInput, v: unknown) => { (input as Record<string, unknown>)[k] = v; };
  let loopback: string[] | null = null;
  const tcpListeners: string[] = [];
  const sslListeners: string[] = [];
  let logLevel: { v: string; console: boolean } | null = null;

  for (const [key, value] of lines) {
    const simple = SIMPLE[key];
    if (simple !== undefined) {
      set(simple, value);
      continue;
    }
    const dot = key.lastIndexOf('.');
    const list = dot > 0 && /^\d+$/.test(key.slice(dot + 1)) ? LISTS[key.slice(0, dot)] : undefined;
    if (list !== undefined) {
      const items = lists.get(list) ?? [];
      items.push([Number(key.slice(dot + 1)), value]);
      lists.set(list, items);
      continue;
    }
    if (key === 'listeners.tcp' || key === 'listeners.ssl') {
      if (value !== 'none') ignored.push(`${key} (only "none" turns the listener off; name listeners as ${key}.default)`);
      else set(key === 'listeners.tcp' ? 'amqpPort' : 'amqpsPort', 'off');
      continue;
    }
    if (key.startsWith('listeners.tcp.')) tcpListeners.push(key, value);
    else if (key.startsWith('listeners.ssl.')) sslListeners.push(key, value);
    else if (key === 'loopback_users' && value === 'none') loopback = [];
    else if (key.startsWith('loopback_users.')) {
      const user = key.slice('loopback_users.'.length);
      loopback ??= ['guest'];
      loopback = loopback.filter((u) => u !== user);
      if (value === 'true') loopback.push(user);
    } else if (key === 'disk_free_limit.relative') {
      // Relative to installed RAM, as RabbitMQ (1.0 = as much free disk as there is RAM).
      set('diskFreeLimit', String(Math.floor(totalmem() * Number(value))));
    } else if (/^log\.(console|default|file)\.level$/.test(key)) {
      const level = LOG_LEVELS[value];
      if (level === undefined) throw new Error(`${key} must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${value}`);
      // The console's level wins: Warren logs to the console only.
      const isConsole = key === 'log.console.level';
      if (logLevel === null || isConsole || !logLevel.console) logLevel = { v: level, console: isConsole };
    } else if (LISTENER_TLS_FILES.test(key)) {
      tlsFiles.set(key, value);
    } else if (/^default_user_tags\./.test(key) || key === 'default_permissions.configure' || key === 'default_permissions.read' || key === 'default_permissions.write') {
      // The default user is an administrator with full permissions on the default vhost already.
      if (/^default_permissions\./.test(key) && value !== '.*') ignored.push(`${key} (the default user gets ".*")`);
    } else {
      ignored.push(`${key} (not a setting Warren uses)`);
    }
  }

  for (const [k, items] of lists) set(k, items.sort((a, b) => a[0] - b[0]).map(([, v]) => v));
  if (loopback !== null) set('loopbackUsers', loopback);
  if (logLevel !== null) set('logLevel', logLevel.v);
  takeListener(tcpListeners, 'amqpPort', input, ignored);
  takeListener(sslListeners, 'amqpsPort', input, ignored);
  httpsFiles(tlsFiles, input, ignored);
  return { input, ignored };
}

/** `listeners.tcp.NAME = [ip:]port`: Warren listens on one address and port per protocol. */
function takeListener(kv: string[], port: 'amqpPort' | 'amqpsPort', input: ConfigInput, ignored: string[]): void {
  if (kv.length === 0) return;
  const at = Math.max(0, kv.indexOf(port === 'amqpPort' ? 'listeners.tcp.default' : 'listeners.ssl.default'));
  const { ip, port: p } = listener(kv[at + 1]);
  (input as Record<string, unknown>)[port] = p;
  if (ip !== null) {
    if (port === 'amqpPort') {
      (input as Record<string, unknown>).bind = ip;
      // RabbitMQ's management listener keeps to every interface unless management.tcp.ip says otherwise.
      input.managementBind ??= '::';
    } else ignored.push(`the address in ${kv[at]} (amqps listens on the same address as amqp)`);
  }
  for (let i = 0; i < kv.length; i += 2) if (i !== at) ignored.push(`${kv[i]} (Warren has one ${port === 'amqpPort' ? 'amqp' : 'amqps'} listener: ${kv[at]})`);
}

/**
 * management.ssl.* and prometheus.ssl.*: the HTTPS listeners' certificate and key, one pair for
 * both. Their CA file is not needed: HTTPS clients are not asked for certificates (management
 * logins are Basic auth), and intermediates go after the certificate in its file.
 */
function httpsFiles(files: Map<string, string>, input: ConfigInput, ignored: string[]): void {
  const mine = { certfile: 'managementSslCertFile', keyfile: 'managementSslKeyFile' } as const;
  for (const [key, file] of files) {
    const what = key.slice(key.lastIndexOf('.') + 1);
    if (what === 'cacertfile') {
      if (file !== input.sslCaCertFile) ignored.push(`${key} (HTTPS clients are not asked for certificates; put intermediates after the certificate in its certfile)`);
      continue;
    }
    const k = mine[what as keyof typeof mine];
    const given = input[k];
    if (given === undefined) (input as Record<string, unknown>)[k] = file;
    else if (given !== file) {
      throw new Error(`${key} differs from the other HTTPS listener's ${what} (${String(given)}): `
        + 'Warren serves management and Prometheus over HTTPS with one certificate; use the same files for both');
    }
  }
  // The same files as ssl_options' (a common way to write it) are no certificate of their own.
  const cert = input.managementSslCertFile, key = input.managementSslKeyFile;
  if ((cert === undefined || cert === input.sslCertFile) && (key === undefined || key === input.sslKeyFile)) {
    delete input.managementSslCertFile;
    delete input.managementSslKeyFile;
  }
}
