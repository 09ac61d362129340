// connection_max: how many sockets a listener serves at once. RabbitMQ hands the setting to
// ranch as max_connections, and ranch stops accepting while the limit is reached: clients over
// it are connected at the TCP level but get no connection.start until a served connection
// closes. Node accepts every socket, so the gate holds the extra ones, paused and unserved, in
// arrival order.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export class ConnectionGate {
  private served = 0;
  private readonly waiting: Socket[] = [];
  private warned = false;

  constructor(
    private readonly max: number | null,
    private readonly serve: (socket: Socket) => void,
    private readonly log: Logger,
  ) {}

  admit(socket: Socket): void {
    if (this.max === null) {
      this.serve(socket);
      return;
    }
    if (this.served < this.max) {
      this.start(socket);
      return;
    }
    socket.pause();
    this.waiting.push(socket);
    socket.once('close', () => {
      const i = this.waiting.indexOf(socket);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    if (!this.warned) {
      this.warned = true;
      this.log.warn({ connectionMax: this.max }, `connection_max (${this.max}) reached: new connections wait unserved until one closes; raise --connection-max if this load is expected`);
    }
  }

  /** Sockets waiting for a free slot (for shutdown). */
  drop(): void {
    for (const s of this.waiting.splice(0)) s.destroy();
  }

  private start(socket: Socket): void {
    this.served++;
    socket.once('close', () => {
      this.served--;
      this.next();
    });
    this.serve(socket);
  }

  private next(): void {
    while (this.served < this.max! && this.waiting.length !== 0) {
      const s = this.waiting.shift()!;
      if (s.destroyed) continue;
      this.start(s);
      s.resume();
    }
    if (this.waiting.length === 0) this.warned = false;
  }
}
