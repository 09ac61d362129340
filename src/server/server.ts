// The AMQP listeners (plain and TLS): accept sockets, hand each to a Connection, and relay
// broker-wide events (resource alarms, shutdown) to the open connections. A TLS socket is a
// net.Socket to the Connection: nothing per frame differs.
import { AmqpError } from '../broker/errors.js';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { FieldTable } from '../amqp/field-table.js';
import type { Broker } from '../broker/broker.js';
import { Connection } from './connection.js';
import { listenOn, plainAddress } from './listen.js';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Mechanisms } from './sasl.js';
import { peerRefusal, serverOptions, type TlsCertificates } from './tls.js';
import { FailedLogins } from './failed-logins.js';
import { AckTimeouts } from './ack-timeouts.js';
import { ConnectionGate } from './connection-gate.js';
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
  private tlsServer: TlsServer | null = null;
  /** Every accepted socket, mid-handshake ones too (ctx.connections holds opened ones only). */
  private readonly sockets = new Set<Socket>();
  private accepting = true;
  private readonly gate: ConnectionGate;

  constructor(readonly broker: Broker, config: ServerConfig, log: Logger, version: string, mechanisms: Mechanisms) {
    const closed = new Map<string, MessageCounters>();
    this.ctx = {
      config,
      log,
      serverProperties: serverProperties(version),
      mechanisms,
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
      failedLogins: new FailedLogins(log),
    };
    this.gate = new ConnectionGate(config.connectionMax, (socket) => this.accept(socket), log);
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

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    new Connection(socket, this.broker, this.ctx);
  }

  get connections(): Set<Connection> {
    return this.ctx.connections;
  }

  async listen(port: number, host: string): Promise<number> {
    const bound = await listenOn(this.server, port, host, 'AMQP');
    this.server.on('error', (err) => this.ctx.log.error({ err }, 'AMQP listener error'));
    return bound;
  }

  /** Listens for amqps; the certificates' reloads reach this listener too. */
  async listenTls(port: number, host: string, certs: TlsCertificates): Promise<number> {
    const log = this.ctx.log;
    const server = createTlsServer({ ...serverOptions(certs.settings, true), noDelay: true }, (socket: TLSSocket) => {
      const refused = peerRefusal(socket, certs.settings);
      if (refused !== null) {
        log.warn({ peer: plainAddress(socket.remoteAddress) }, `TLS client certificate refused: ${refused}; it must chain to a CA in the CA certificate file`);
        socket.destroy();
        return;
      }
      this.gate.admit(socket);
    });
    // Failed handshakes (no certificate, unknown CA, wrong protocol) never become connections.
    server.on('tlsClientError', (err: Error & { reason?: string }, socket) => {
      // OpenSSL's reason ("peer did not return a certificate"), not its whole error string.
      log.info({ peer: plainAddress(socket.remoteAddress) }, `TLS handshake failed: ${err.reason ?? err.message}`);
    });
    certs.add(server);
    this.tlsServer = server;
    const bound = await listenOn(server, port, host, 'AMQPS');
    server.on('error', (err) => log.error({ err }, 'AMQPS listener error'));
    return bound;
  }

  /** Shutdown, first step: no new connections. */
  stopAccepting(): void {
    if (!this.accepting) return;
    this.accepting = false;
    this.server.close();
    this.tlsServer?.close();
  }

  /** Shutdown, second step: no more input is read, so nothing new is published while the store drains. */
  stopReading(): void {
    for (const c of this.ctx.connections) c.stopReading();
    for (const s of this.sockets) s.pause();
  }

  /**
   * Closes every connection with 320 CONNECTION_FORCED, after sending the confirms that are due
   * (the caller has synced the store, so every publish received so far is confirmed first).
   * Waits up to `graceMs` for clients' close-ok, then drops whatever is left.
   */
  async close(reason = 'shutdown', graceMs = 1000): Promise<void> {
    this.stopAccepting();
    this.ctx.ackTimeouts.stop();
    this.gate.drop();
    const text = `broker forced connection closure with reason '${reason}'`;
    for (const c of [...this.ctx.connections]) {
      c.flush();
      c.forceClose(text);
    }
    // Read again, but only to see close-ok: a closing connection ignores everything else.
    // Sockets still in the handshake have nothing to lose and are dropped at once.
    const open = new Set([...this.ctx.connections].map((c) => c.socket));
    for (const s of this.sockets) {
      if (open.has(s)) s.resume();
      else s.destroy();
    }
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sockets) s.destroy();
  }
}
