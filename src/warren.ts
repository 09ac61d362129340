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
import type { FastifyInstance } from 'fastify';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { startManagement } from './http/server.js';
import { startMetrics } from './http/metrics/server.js';
import { abandonDataDir, closeDataDir, openDataDir, permanentClusterId, type DataDirState } from './store/data-dir.js';
import { DefinitionsStore } from './store/definitions-store.js';
import { MessageStore } from './store/message-store.js';
import { DelayBuckets } from './store/delay-buckets.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const key = (vhost: string, queue: string) => `${vhost}\u0000${queue}`;

export class Warren {
  private stopped = false;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly broker: Broker,
    readonly amqp: AmqpServer,
    readonly amqpPort: number,
    private readonly definitions: DefinitionsStore,
    readonly messages: MessageStore,
    readonly monitor: ResourceMonitor,
    readonly management: { app: FastifyInstance; port: number } | null,
    readonly metrics: { app: FastifyInstance; port: number } | null,
  ) {}

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

    const amqp = new AmqpServer(broker, {
      frameMax: config.frameMax,
      channelMax: config.channelMax,
      heartbeat: config.heartbeat,
      handshakeTimeoutMs: 10_000,
      maxMessageSize: config.maxMessageSize,
      consumerTimeout: config.consumerTimeout,
      connectionMax: config.connectionMax,
    }, log, VERSION);
    const waiters = amqp.ctx.syncWaiters;
    amqp.ctx.requestSync = (epoch) => messages.want(epoch);
    messages.onSynced = (epoch) => {
      for (const w of waiters) if (!w.onSynced(epoch)) waiters.delete(w);
    };
    const monitor = new ResourceMonitor(broker, {
      memoryHighWatermark: config.memoryHighWatermark, diskFreeLimit: config.diskFreeLimit, dataDir: config.dataDir,
    }, log);
    monitor.start();
    const port = await amqp.listen(config.amqpPort, config.bind);
    const where = config.bind === '::' ? `port ${port} (IPv4 and IPv6)` : `${config.bind}:${port}`;
    log.info({ port, bind: config.bind, dataDir: config.dataDir }, `AMQP listening on ${where}`);
    const node = `warren@${hostname()}`;
    const clusterId = permanentClusterId(config.dataDir, () => `rabbitmq-cluster-id-${randomBytes(16).toString('base64url')}`);
    const mctx = { broker, amqp: amqp.ctx, config, log, version: VERSION, amqpPort: port, startedAt: t0, node, permanentClusterId: clusterId, monitor };
    const host = config.managementBind ?? config.bind;
    const at = (p: number) => (host === '::' ? `port ${p}` : `${host}:${p}`);
    let management = null;
    let metrics = null;
    try {
      if (config.managementPort !== null) {
        management = await startManagement(mctx, config.managementPort, host);
        log.info({ port: management.port }, `management API listening on ${at(management.port)}`);
      }
      if (config.prometheusPort !== null) {
        metrics = await startMetrics(mctx, config.prometheusPort, host);
        log.info({ port: metrics.port }, `Prometheus metrics listening on ${at(metrics.port)}`);
      }
    } catch (err) {
      await management?.app.close();
      await amqp.close();
      throw err;
    }
    return new Warren(config, log, broker, amqp, port, definitions, messages, monitor, management, metrics);
  }

  /** Clean shutdown: close connections (unacked messages return to their queues), then the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.monitor.stop();
    await this.management?.app.close();
    await this.metrics?.app.close();
    await this.amqp.close();
    this.messages.flushNow();
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
    closeDataDir(this.config.dataDir, { redelivered });
    this.log.info('stopped');
  }
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
