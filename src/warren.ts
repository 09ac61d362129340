// The composition root: builds the broker, its store and listeners from a Config, and stops
// them in order.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Broker } from './broker/broker.js';
import { importDefinitions, type Definitions } from './broker/definitions.js';
import type { Config } from './config.js';
import { AmqpServer } from './server/server.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export class Warren {
  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly broker: Broker,
    readonly amqp: AmqpServer,
    readonly amqpPort: number,
  ) {}

  static async start(config: Config, log: Logger): Promise<Warren> {
    const broker = new Broker();
    bootstrap(broker, config, log);
    const amqp = new AmqpServer(broker, {
      frameMax: config.frameMax,
      channelMax: config.channelMax,
      heartbeat: config.heartbeat,
      handshakeTimeoutMs: 10_000,
      maxMessageSize: config.maxMessageSize,
    }, log, VERSION);
    const port = await amqp.listen(config.amqpPort, config.bind);
    log.info({ port, bind: config.bind, dataDir: config.dataDir }, `AMQP listening on ${config.bind}:${port}`);
    return new Warren(config, log, broker, amqp, port);
  }

  async stop(): Promise<void> {
    await this.amqp.close();
  }
}

/** A fresh broker gets the default vhost and user; definitions from a file come on top. */
function bootstrap(broker: Broker, config: Config, log: Logger): void {
  if (broker.users.users.size === 0) {
    broker.addVhost(config.defaultVhost);
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
