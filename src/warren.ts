// The composition root: opens the data directory, restores the broker from the store, starts
// the listeners and the resource monitor, and stops them in order.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Broker } from './broker/broker.js';
import { importDefinitions, type Definitions } from './broker/definitions.js';
import { DefinitionsRecorder, restoreBroker, survivesRestart } from './broker/persistence.js';
import { QueueMessages, type Redelivered } from './broker/queue-messages.js';
import { ResourceMonitor } from './broker/resource-monitor.js';
import type { Config } from './config.js';
import { AmqpServer } from './server/server.js';
import { Mechanisms } from './server/sasl.js';
import { type ListenerCertificates, serverOptions, TlsCertificates, type TlsSettings } from './server/tls.js';
import type { Listener } from './http/context.js';
import type { FastifyInstance } from 'fastify';
import type { Server as TlsServer } from 'node:tls';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { startManagement } from './http/server.js';
import { startMetrics } from './http/metrics/server.js';
import { abandonDataDir, closeDataDir, openDataDir, permanentClusterId, releaseDataDir, type DataDirState } from './store/data-dir.js';
import { DefinitionsStore } from './store/definitions-store.js';
import { MessageStore } from './store/message-store.js';
import { DelayBuckets } from './store/delay-buckets.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** How long shutdown waits for the store's last fdatasync. */
const SHUTDOWN_SYNC_MS = 10_000;

const key = (vhost: string, queue: string) => `${vhost}\u0000${queue}`;

export class Warren {
  private stopped = false;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly broker: Broker,
    readonly amqp: AmqpServer,
    /** The plain AMQP port listened on; null when only amqps is on. */
    readonly amqpPort: number | null,
    private readonly definitions: DefinitionsStore,
    readonly messages: MessageStore,
    readonly monitor: ResourceMonitor,
    readonly management: { app: FastifyInstance; port: number } | null,
    readonly metrics: { app: FastifyInstance; port: number } | null,
    /** The HTTPS twins of management and metrics. */
    private readonly httpsApps: FastifyInstance[],
    /** The certificates of the amqps and the HTTPS listeners (null members: no such listener). */
    readonly tls: ListenerCertificates,
  ) {}

  /**
   * Reads the certificate, key and CA files again (SIGHUP) and gives them to every TLS listener;
   * open connections keep theirs. A bad file changes nothing: the old certificate stays.
   */
  reloadTls(): void {
    const sets = new Set([this.tls.amqps, this.tls.https].filter((t) => t !== null));
    if (sets.size === 0) {
      this.log.info('reload asked, but no TLS listener is configured; nothing to reload');
      return;
    }
    for (const certs of sets) {
      const s = certs.settings;
      try {
        certs.reload();
        this.log.info({ certfile: s.certFile, keyfile: s.keyFile, cacertfile: s.caCertFile }, 'TLS certificates reloaded; new connections use them');
      } catch (err) {
        this.log.error(`TLS certificate reload failed, keeping the previous certificate: ${(err as Error).message}; fix the files and send SIGHUP again`);
      }
    }
  }

  static async start(config: Config, log: Logger): Promise<Warren> {
    const dir = openDataDir(config.dataDir);
    try {
      return await Warren.startIn(dir, config, log);
    } catch (err) {
      abandonDataDir(config.dataDir, dir);
      throw err;
    }
  }

  private static async startIn(dir: DataDirState, config: Config, log: Logger): Promise<Warren> {
    const t0 = Date.now();
    const definitions = new DefinitionsStore(config.dataDir, log);
    definitions.load();
    const messages = new MessageStore(config.dataDir, log);
    messages.alsoSync.push(definitions);

    const broker = new Broker();
    broker.users.hashingAlgorithm = config.passwordHashingModule;
    const storage = { store: messages, windowCount: config.queueWindowMessages, windowBytes: config.queueWindowBytes };
    broker.messagesFactory = (q, fresh) => QueueMessages.create(q, storage, fresh);
    broker.delayStoreFactory = (x, fresh) => new DelayBuckets({ store: messages, dir: messages.delayedDir(x, fresh), durable: x.durable });
    const before = (dir.cleanInfo.redelivered ?? {}) as Record<string, Redelivered>;
    const none: Redelivered = { below: 0, seqs: [] };
    const stats = restoreBroker(broker, definitions, log, dir.unclean, (vhost, queue) =>
      (dir.unclean ? { below: Number.MAX_SAFE_INTEGER, seqs: [] } : before[key(vhost, queue)] ?? none));
    const recorder = new DefinitionsRecorder(definitions, broker);
    broker.setListeners(recorder, recorder);
    broker.policyListener = recorder;
    bootstrap(broker, config, log, !definitions.existed);
    recorder.vhostsChanged();
    recorder.usersChanged();
    recorder.parametersChanged();
    if (definitions.existed) {
      log.info({ queues: stats.queues, messages: stats.messages, droppedBytes: stats.droppedBytes, ms: Date.now() - t0,
        unclean: dir.unclean }, `recovered ${stats.messages} messages in ${stats.queues} durable queues`);
    }

    const tls = listenerCertificates(config);
    if (config.authMechanisms.includes('EXTERNAL') && (tls.amqps === null || config.amqpsPort === null || config.sslVerify !== 'verify_peer')) {
      log.warn('EXTERNAL is enabled, but no amqps listener asks clients for certificates, so every EXTERNAL login will be refused; '
        + 'give --ssl-certfile, --ssl-keyfile, --ssl-cacertfile and --ssl-verify verify_peer');
    }
    const amqp = new AmqpServer(broker, {
      frameMax: config.frameMax,
      channelMax: config.channelMax,
      heartbeat: config.heartbeat,
      handshakeTimeoutMs: 10_000,
      maxMessageSize: config.maxMessageSize,
      consumerTimeout: config.consumerTimeout,
      connectionMax: config.connectionMax,
    }, log, VERSION, new Mechanisms(config.authMechanisms, config.sslCertLoginFrom));
    const waiters = amqp.ctx.syncWaiters;
    amqp.ctx.requestSync = (epoch) => messages.want(epoch);
    amqp.ctx.flusher.beforeWrite = messages.writeAcks;
    messages.onSynced = (epoch) => {
      for (const w of waiters) if (!w.onSynced(epoch)) waiters.delete(w);
    };
    messages.onEpochsFailed = (from, to) => {
      for (const w of waiters) if (!w.onSyncFailed(from, to)) waiters.delete(w);
    };
    const monitor = new ResourceMonitor(broker, {
      memoryHighWatermark: config.memoryHighWatermark, diskFreeLimit: config.diskFreeLimit, dataDir: config.dataDir,
      store: messages,
    }, log);
    messages.onWriteFailed = () => monitor.diskWriteFailed();
    monitor.start();
    const node = `warren@${hostname()}`;
    const listeners: Listener[] = [];
    const listening = (protocol: string, ip: string, port: number, what: string) => {
      listeners.push({ node, protocol, ip_address: ip, port, socket_opts: {} });
      const where = ip === '::' ? `port ${port} (IPv4 and IPv6)` : `${ip}:${port}`;
      log.info({ port, bind: ip }, `${what} listening on ${where}`);
    };
    const host = config.managementBind ?? config.bind;
    let port: number | null = null;
    let management = null;
    let metrics = null;
    const httpsApps: FastifyInstance[] = [];
    try {
      if (config.amqpPort !== null) {
        port = await amqp.listen(config.amqpPort, config.bind);
        listening('amqp', config.bind, port, 'AMQP');
      }
      if (config.amqpsPort !== null && tls.amqps !== null) {
        listening('amqp/ssl', config.bind, await amqp.listenTls(config.amqpsPort, config.bind, tls.amqps), 'AMQP over TLS');
      }
      const clusterId = permanentClusterId(config.dataDir, () => `rabbitmq-cluster-id-${randomBytes(16).toString('base64url')}`);
      const mctx = { broker, amqp: amqp.ctx, config, log, version: VERSION, amqpPort: port, listeners, tls, startedAt: t0, node, permanentClusterId: clusterId, monitor };
      if (config.managementPort !== null) {
        management = await startManagement(mctx, config.managementPort, host);
        listening('http', host, management.port, 'management API');
      }
      type Start = typeof startManagement;
      const https = async (port: number | null, start: Start, protocol: string, what: string) => {
        const certs = tls.https;
        if (port === null || certs === null) return;
        const started = await start(mctx, port, host, serverOptions(certs.settings, false));
        httpsApps.push(started.app);
        certs.add(started.app.server as unknown as TlsServer);
        listening(protocol, host, started.port, `${what} over HTTPS`);
      };
      await https(config.managementSslPort, startManagement, 'https', 'management API');
      if (config.prometheusPort !== null) {
        metrics = await startMetrics(mctx, config.prometheusPort, host);
        listening('http/prometheus', host, metrics.port, 'Prometheus metrics');
      }
      await https(config.prometheusSslPort, startMetrics, 'https/prometheus', 'Prometheus metrics');
    } catch (err) {
      await management?.app.close();
      await metrics?.app.close();
      for (const app of httpsApps) await app.close();
      await amqp.close();
      throw err;
    }
    return new Warren(config, log, broker, amqp, port, definitions, messages, monitor, management, metrics, httpsApps, tls);
  }

  /**
   * Clean shutdown, as RabbitMQ's: stop accepting (AMQP and HTTP), stop reading, write and fsync
   * every publish received so far, send the confirms that makes due, close every connection
   * with 320 CONNECTION_FORCED (unacked deliveries return to their queues), then close the store
   * and mark the data directory clean.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.monitor.stop();
    this.amqp.stopAccepting();
    const httpClosed = Promise.all([this.management?.app.close(), this.metrics?.app.close(), ...this.httpsApps.map((app) => app.close())]);
    this.amqp.stopReading();
    // A disk that no longer syncs must not keep the process from stopping; without the sync,
    // nothing further is confirmed (clients republish what they saw no confirm for).
    let timer: NodeJS.Timeout | undefined;
    const synced = await Promise.race([
      this.messages.syncEverything().then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), SHUTDOWN_SYNC_MS); }),
    ]);
    clearTimeout(timer);
    if (!synced) this.log.error(`the store did not sync within ${SHUTDOWN_SYNC_MS} ms; closing connections without the confirms still pending`);
    await this.amqp.close();
    await httpClosed;
    this.messages.flushNow();
    const writesHeld = this.messages.writesHeld;
    const redelivered: Record<string, Redelivered> = {};
    for (const v of this.broker.vhosts.values()) {
      for (const q of v.queues.values()) {
        if (!survivesRestart(q)) {
          q.messages.destroy();
          continue;
        }
        const r = q.messages.close();
        if (r.below > 0 || r.seqs.length > 0) redelivered[key(v.name, q.name)] = r;
      }
    }
    // After the queues: messages routed from delayed exchanges are on disk in their queues now.
    for (const v of this.broker.vhosts.values()) v.closeDelayed();
    this.definitions.close();
    if (writesHeld) {
      this.log.warn('stopping with writes the full disk refused: the next start recovers as after a crash');
      releaseDataDir(this.config.dataDir);
    } else if (!closeDataDir(this.config.dataDir, { redelivered })) {
      this.log.warn('could not mark a clean shutdown (disk full?): the next start recovers as after a crash');
    }
    this.log.info('stopped');
  }
}

/**
 * The listeners' certificates (files read now, so a bad path stops the start): ssl_options' for
 * amqps, and for HTTPS the management certificate when one is given, else the same.
 */
function listenerCertificates(config: Config): ListenerCertificates {
  const load = (certFile: string | null, keyFile: string | null): TlsCertificates | null => {
    if (certFile === null || keyFile === null) return null;
    const settings: TlsSettings = {
      certFile, keyFile, caCertFile: config.sslCaCertFile, keyPassword: config.sslKeyPassword,
      verify: config.sslVerify, failIfNoPeerCert: config.sslFailIfNoPeerCert, versions: config.sslVersions, ciphers: config.sslCiphers,
    };
    const certs = new TlsCertificates(settings);
    certs.reload(); // checks the files and that the key matches the certificate
    return certs;
  };
  const amqps = load(config.sslCertFile, config.sslKeyFile);
  // The same files as ssl_options' are the same certificate: one reload, one expiry.
  const same = config.managementSslCertFile === config.sslCertFile && config.managementSslKeyFile === config.sslKeyFile;
  const https = config.managementSslCertFile === null || same ? amqps : load(config.managementSslCertFile, config.managementSslKeyFile);
  return { amqps, https };
}

/** A fresh broker gets the default vhost and user; definitions from a file come on top. */
function bootstrap(broker: Broker, config: Config, log: Logger, fresh: boolean): void {
  if (fresh) {
    broker.addVhost(config.defaultVhost).metadata.description = 'Default virtual host';
    broker.users.putUser(config.defaultUser, config.defaultPass, ['administrator']);
    broker.users.setPermission(config.defaultUser, config.defaultVhost, { configure: '.*', write: '.*', read: '.*' });
    log.info({ user: config.defaultUser, vhost: config.defaultVhost }, 'created default user and vhost');
  }
  for (const u of config.loopbackUsers) broker.users.loopbackOnly.add(u);
  if (config.definitionsFile) {
    const defs = JSON.parse(readFileSync(config.definitionsFile, 'utf8')) as Definitions;
    importDefinitions(broker, defs);
    log.info({ file: config.definitionsFile }, 'imported definitions');
  }
}
