// Users, vhosts and permissions for tests, set up the same way on both brokers the tests run
// against: Warren gets them as a RabbitMQ-format definitions file at boot (clear-text
// `password`), an external RabbitMQ (WARREN_TEST_URL) through its management HTTP API, created
// before the tests and deleted after. Names carry a random suffix so runs never collide.
import { networkInterfaces } from 'node:os';
import { startBroker, type StartOptions, type TestBroker } from './broker.js';

export interface AccessUser {
  name: string;
  password: string;
  tags?: string;
}

export interface AccessPermission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface AccessSetup {
  users: AccessUser[];
  vhosts: string[];
  permissions: AccessPermission[];
}

export interface AccessBroker {
  broker: TestBroker;
  /** amqp://user:password@host:port/vhost */
  url(user: string, password: string, vhost?: string): string;
  /** Removes what was created on an external broker and stops a Warren started here. */
  teardown(): Promise<void>;
}

/**
 * The management API of the external broker: WARREN_TEST_MGMT_URL if set, otherwise the AMQP
 * host with the port + 10000 (5672 -> 15672, the reference's 5673 -> 15673), with the AMQP URL's
 * credentials.
 */
export function managementBase(amqpUrl: string): { base: string; auth: string } {
  const u = new URL(amqpUrl);
  const user = decodeURIComponent(u.username || 'guest');
  const pass = decodeURIComponent(u.password || 'guest');
  const explicit = process.env.WARREN_TEST_MGMT_URL;
  const base = explicit
    ? explicit.replace(/\/+$/, '')
    : `http://${u.hostname}:${Number(u.port || 5672) + 10000}`;
  return { base, auth: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

async function mgmt(amqpUrl: string, method: string, path: string, body?: unknown): Promise<void> {
  const { base, auth } = managementBase(amqpUrl);
  const res = await fetch(`${base}/api/${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok && !(method === 'DELETE' && res.status === 404)) {
    throw new Error(`management API ${method} /api/${path} failed: ${res.status} ${await res.text()}`);
  }
}

/** Starts Warren with the users, vhosts and permissions, or creates them on the external broker. */
export async function startBrokerWithAccess(setup: AccessSetup, opts: StartOptions = {}): Promise<AccessBroker> {
  const external = Boolean(process.env.WARREN_TEST_URL);
  const broker = await startBroker(external ? {} : {
    ...opts,
    definitions: {
      users: setup.users.map((u) => ({ name: u.name, password: u.password, tags: u.tags ?? '' })),
      vhosts: setup.vhosts.map((name) => ({ name })),
      permissions: setup.permissions,
    },
  });
  const enc = encodeURIComponent;
  if (external) {
    for (const v of setup.vhosts) await mgmt(broker.url, 'PUT', `vhosts/${enc(v)}`, {});
    for (const u of setup.users) await mgmt(broker.url, 'PUT', `users/${enc(u.name)}`, { password: u.password, tags: u.tags ?? '' });
    for (const p of setup.permissions) {
      await mgmt(broker.url, 'PUT', `permissions/${enc(p.vhost)}/${enc(p.user)}`, { configure: p.configure, write: p.write, read: p.read });
    }
  }
  return {
    broker,
    url(user, password, vhost = '/') {
      const u = new URL(broker.url);
      return `amqp://${enc(user)}:${enc(password)}@${u.hostname}:${u.port}/${enc(vhost)}`;
    },
    async teardown() {
      if (external) {
        for (const u of setup.users) await mgmt(broker.url, 'DELETE', `users/${enc(u.name)}`).catch(() => {});
        for (const v of setup.vhosts) await mgmt(broker.url, 'DELETE', `vhosts/${enc(v)}`).catch(() => {});
      }
      await broker.stop();
    },
  };
}

/** The machine's first non-internal IPv4 address, or undefined when it has none. */
export function nonLoopbackIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.')) return a.address;
    }
  }
  return undefined;
}
