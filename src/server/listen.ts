// Listening sockets. The default address "::" takes IPv4 and IPv6 clients on one socket, as
// RabbitMQ listens on both families by default: clients that resolve localhost to ::1 first,
// or connect to amqp://[::1], must reach us. On a host without IPv6 it falls back to 0.0.0.0.
import type { Server } from 'node:net';

/** The default bind address: every interface of both families. */
export const ALL_INTERFACES = '::';

/** Listens on host:port; resolves the bound port. `what` names the listener in errors. */
export async function listenOn(server: Server, port: number, host: string, what: string): Promise<number> {
  try {
    return await listenOnce(server, port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host === ALL_INTERFACES && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) return listenOn(server, port, '0.0.0.0', what);
    if (code === 'EADDRINUSE') {
      throw new Error(`${what} port ${port} on ${host} is already in use (another broker running?); stop it or choose another --port`);
    }
    if (code === 'EACCES') throw new Error(`not allowed to listen on ${host}:${port}; choose another --port or --bind`);
    throw err;
  }
}

function listenOnce(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: false }, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** A peer address as people write it: IPv4 clients of a dual-stack socket without "::ffff:". */
export function plainAddress(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
