// The AMQP listener: accepts sockets, hands each to a Connection, and relays broker-wide events
// (resource alarms, shutdown) to the open connections.
import { AmqpError } from '../broker/errors.js';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { FieldTable } from '../amqp/field-table.js';
import type { Broker } from '../broker/broker.js';
import { Connection } from './connection.js';
import { AckTimeouts } from './ack-timeouts.js';
import { ConnectionGate } from './connection-gate.js';
import { listenOn } from './listen.js';
import { MessageCounters, MessageSizes } from './stats.js';
import { Flusher, type ServerConfig, type ServerContext } from './context.js';

export const PRODUCT = 'Warren';

function serverProperties(version: string): FieldTable {
  return {
    product: PRODUCT,
    version,
    platform: `Node.js ${process.version}`,
    copyright: 'Warren contributors',
    information: 'AMQP 0-9-1 broker compatible with RabbitMQ clients',
    cluster_name: `warren@${hostname()}`,
    capabilities: {
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      consumer_priorities: true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: true,
    },
  };
}

export class AmqpServer {
  readonly ctx: ServerContext;
  private readonly server: Server;
  private readonly gate: ConnectionGate;

  constructor(readonly broker: Broker, config: ServerConfig, log: Logger, version: string) {
    const closed = new Map<string, MessageCounters>();
    this.ctx = {
      config,
      log,
      serverProperties: serverProperties(version),
      connections: new Set(),
      flusher: new Flusher(),
      syncWaiters: new Set(),
      ackTimeouts: new AckTimeouts(),
      requestSync: () => {},
      messageSizes: new MessageSizes(),
      closedChannelStats: (vhost) => {
        let c = closed.get(vhost);
        if (c === undefined) closed.set(vhost, (c = new MessageCounters()));
        return c;
      },
      closedChannels: closed,
      directReply: new Map(),
    };
    this.gate = new ConnectionGate(config.connectionMax, (socket) => new Connection(socket, broker, this.ctx), log);
    this.server = createServer({ noDelay: true }, (socket) => this.gate.admit(socket));
    broker.on('blocked', (reason: string) => {
      for (const c of this.ctx.connections) c.onAlarm(true, reason);
    });
    broker.on('unblocked', () => {
      for (const c of this.ctx.connections) c.onAlarm(false, '');
    });
    // As RabbitMQ: deleting a vhost or a user closes its connections (320 CONNECTION_FORCED).
    broker.on('vhost-deleted', (vhost: string) => {
      closed.delete(vhost);
      for (const c of this.ctx.connections) if (c.vhost?.name === vhost) c.closeWithError(new AmqpError(320, `vhost '${vhost}' is deleted`));
    });
    broker.on('user-deleted', (user: string) => {
      for (const c of this.ctx.connections) if (c.vhost !== null && c.userName === user) c.closeWithError(new AmqpError(320, `user '${user}' is deleted`));
    });
    broker.on('internal-error', (err: unknown, what: string) => {
      log.error({ err }, `internal error while ${what}; contained, but this is a bug in Warren, please report it`);
    });
  }

  get connections(): Set<Connection> {
    return this.ctx.connections;
  }

  async listen(port: number, host: string): Promise<number> {
    const bound = await listenOn(this.server, port, host, 'AMQP');
    this.server.on('error', (err) => this.ctx.log.error({ err }, 'AMQP listener error'));
    return bound;
  }

  /** Stops accepting, closes every connection with 320 CONNECTION_FORCED. */
  async close(reason = 'shutdown'): Promise<void> {
    this.ctx.ackTimeouts.stop();
    this.gate.drop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const c of [...this.ctx.connections]) c.forceClose(`broker forced connection closure with reason '${reason}'`);
      if (this.ctx.connections.size === 0) return;
      setTimeout(() => {
        for (const c of this.ctx.connections) c.socket.destroy();
      }, 300).unref();
    });
  }
}
