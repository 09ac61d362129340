// Users, password hashes and per-vhost permissions, with RabbitMQ's formats so that definitions
// exported from RabbitMQ load as they are: password_hash is base64(salt(4) + H(salt + password)),
// H named by the user's hashing_algorithm (sha256 unless configured otherwise, as RabbitMQ).
// Clear passwords are hashed the moment they arrive and never kept.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { erlangTerm } from './policy-validation.js';

export interface User {
  name: string;
  passwordHash: string;
  hashingAlgorithm: string;
  tags: string[];
  /** Per-user limits as RabbitMQ keeps them ({"max-connections": n, "max-channels": n}); negative: none. */
  limits: Record<string, number>;
}

/** The per-user limits RabbitMQ knows. */
export const USER_LIMIT_NAMES = ['max-connections', 'max-channels'];

/** Checks one user limit as RabbitMQ does (rabbit_auth_backend_internal); returns the reason or null. */
export function userLimitProblem(name: string, value: unknown): string | null {
  if (!USER_LIMIT_NAMES.includes(name)) return `Unrecognised terms [{${erlangTerm(name)},${erlangTerm(value)}}] in user-limits`;
  if (typeof value !== 'number' || !Number.isInteger(value)) return `${name} should be a number, actually was ${erlangTerm(value)}`;
  return null;
}

/** Limits in RabbitMQ's order (sorted by name), as its API shows them. */
export function sortedLimits(limits: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(limits).sort()) out[k] = limits[k];
  return out;
}

export interface Permission {
  configure: string;
  write: string;
  read: string;
}

interface CompiledPermission extends Permission {
  configureRe: RegExp;
  writeRe: RegExp;
  readRe: RegExp;
}

export type Access = 'configure' | 'write' | 'read';

/** A topic permission: which routing keys a user may publish with (write) and bind with (read) on one exchange. */
export interface TopicPermission {
  exchange: string;
  write: string;
  read: string;
}

interface CompiledTopicPermission extends TopicPermission {
  writeRe: RegExp;
  readRe: RegExp;
}

/**
 * RabbitMQ's topic permission pattern: {username} and {vhost} replaced by their values (not
 * escaped, as RabbitMQ does), an empty pattern matching only the empty routing key.
 */
function compileTopicPattern(pattern: string, user: string, vhost: string): RegExp {
  const expanded = pattern === '' ? '^$' : pattern.replaceAll('{username}', user).replaceAll('{vhost}', vhost);
  return new RegExp(expanded);
}

/** The password hashing modules RabbitMQ ships, by the names definitions and the API use, and their digests. */
const DIGESTS: ReadonlyMap<string, string> = new Map([
  ['rabbit_password_hashing_sha256', 'sha256'], ['rabbit_password_hashing_sha512', 'sha512'], ['rabbit_password_hashing_md5', 'md5'],
]);
export const HASHING_ALGORITHMS: ReadonlySet<string> = new Set(DIGESTS.keys());
export const DEFAULT_HASHING_ALGORITHM = 'rabbit_password_hashing_sha256';

export function hashPassword(password: string, algorithm = DEFAULT_HASHING_ALGORITHM, salt: Buffer = randomBytes(4)): string {
  const digest = createHash(DIGESTS.get(algorithm) ?? 'sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export function checkPassword(user: User, password: string): boolean {
  if (!user.passwordHash) return false;
  const stored = Buffer.from(user.passwordHash, 'base64');
  const digestName = DIGESTS.get(user.hashingAlgorithm);
  if (digestName === undefined || stored.length < 5) return false;
  const salt = stored.subarray(0, 4);
  const digest = createHash(digestName).update(salt).update(password, 'utf8').digest();
  const expected = stored.subarray(4);
  return digest.length === expected.length && timingSafeEqual(digest, expected);
}

export class UserStore {
  readonly users = new Map<string, User>();
  /** vhost -> user -> permission */
  private readonly permissions = new Map<string, Map<string, CompiledPermission>>();
  /** vhost -> user -> exchange -> topic permission (patterns compiled once, at set time) */
  private readonly topicPermissions = new Map<string, Map<string, Map<string, CompiledTopicPermission>>>();
  /** Names of users that may only connect from loopback addresses (RabbitMQ's loopback_users). */
  readonly loopbackOnly = new Set<string>();
  /** Bumped on every change, so callers can cache permission checks. */
  version = 0;
  /** RabbitMQ's password_hashing_module: hashes new clear passwords, and is assumed for hashes given without an algorithm. */
  hashingAlgorithm = DEFAULT_HASHING_ALGORITHM;

  /**
   * A clear `password` is hashed with the configured algorithm; otherwise `passwordHash` is stored
   * as given. `limits` are merged into those the user had (as RabbitMQ 3.10's update does).
   */
  putUser(name: string, password: string | null, tags: string[] = [], passwordHash?: string, algorithm?: string,
    limits?: Record<string, number>): User {
    const hashing = password !== null ? this.hashingAlgorithm : algorithm ?? this.hashingAlgorithm;
    const user: User = {
      name,
      passwordHash: password !== null ? hashPassword(password, hashing) : passwordHash ?? '',
      hashingAlgorithm: hashing,
      tags,
      limits: { ...this.users.get(name)?.limits, ...limits },
    };
    this.users.set(name, user);
    this.version++;
    return user;
  }

  /** Forgets every user and permission (to load them again from the store). */
  clear(): void {
    this.users.clear();
    this.permissions.clear();
    this.topicPermissions.clear();
    this.version++;
  }

  deleteUser(name: string): boolean {
    for (const perms of this.permissions.values()) perms.delete(name);
    for (const perms of this.topicPermissions.values()) perms.delete(name);
    this.version++;
    return this.users.delete(name);
  }

  /** A user's limit `name`, or -1 when none applies. */
  limit(user: string, name: string): number {
    const v = this.users.get(user)?.limits[name];
    return v === undefined || v < 0 ? -1 : v;
  }

  /** Replaces a user's limits; false if there is no such user. */
  setLimits(user: string, limits: Record<string, number>): boolean {
    const u = this.users.get(user);
    if (u === undefined) return false;
    u.limits = limits;
    this.version++;
    return true;
  }

  authenticate(name: string, password: string): User | null {
    const user = this.users.get(name);
    return user && checkPassword(user, password) ? user : null;
  }

  setPermission(user: string, vhost: string, p: Permission): void {
    let perVhost = this.permissions.get(vhost);
    if (!perVhost) this.permissions.set(vhost, (perVhost = new Map()));
    this.version++;
    perVhost.set(user, {
      ...p,
      configureRe: new RegExp(p.configure),
      writeRe: new RegExp(p.write),
      readRe: new RegExp(p.read),
    });
  }

  clearPermission(user: string, vhost: string): void {
    this.version++;
    this.permissions.get(vhost)?.delete(user);
  }

  clearVhost(vhost: string): void {
    this.version++;
    this.permissions.delete(vhost);
    this.topicPermissions.delete(vhost);
  }

  permission(user: string, vhost: string): Permission | undefined {
    return this.permissions.get(vhost)?.get(user);
  }

  listPermissions(): { user: string; vhost: string; configure: string; write: string; read: string }[] {
    const out = [];
    for (const [vhost, perUser] of this.permissions) {
      for (const [user, p] of perUser) out.push({ user, vhost, configure: p.configure, write: p.write, read: p.read });
    }
    return out;
  }

  hasVhostAccess(user: string, vhost: string): boolean {
    return this.permissions.get(vhost)?.has(user) ?? false;
  }

  /** Whether `user` may do `access` on a resource named `name` in `vhost`. Empty regexes deny. */
  allowed(user: string, vhost: string, access: Access, name: string): boolean {
    const p = this.permissions.get(vhost)?.get(user);
    if (!p) return false;
    const src = p[access];
    if (src === '') return false;
    const re = access === 'configure' ? p.configureRe : access === 'write' ? p.writeRe : p.readRe;
    return re.test(name);
  }

  /** Sets the topic permission of `user` on `exchange` in `vhost`; throws SyntaxError on a bad pattern. */
  setTopicPermission(user: string, vhost: string, p: TopicPermission): void {
    const compiled: CompiledTopicPermission = {
      exchange: p.exchange, write: p.write, read: p.read,
      writeRe: compileTopicPattern(p.write, user, vhost), readRe: compileTopicPattern(p.read, user, vhost),
    };
    let perVhost = this.topicPermissions.get(vhost);
    if (!perVhost) this.topicPermissions.set(vhost, (perVhost = new Map()));
    let perUser = perVhost.get(user);
    if (!perUser) perVhost.set(user, (perUser = new Map()));
    perUser.set(p.exchange, compiled);
    this.version++;
  }

  /** Clears the topic permissions of `user` in `vhost`: on one exchange, or all when `exchange` is undefined. */
  clearTopicPermissions(user: string, vhost: string, exchange?: string): boolean {
    const perVhost = this.topicPermissions.get(vhost);
    const perUser = perVhost?.get(user);
    if (!perVhost || !perUser) return false;
    const removed = exchange === undefined ? perUser.size > 0 : perUser.delete(exchange);
    if (exchange === undefined || perUser.size === 0) perVhost.delete(user);
    this.version++;
    return removed;
  }

  listTopicPermissions(): { user: string; vhost: string; exchange: string; write: string; read: string }[] {
    const out = [];
    for (const [vhost, perUser] of this.topicPermissions) {
      for (const [user, perExchange] of perUser) {
        for (const p of perExchange.values()) out.push({ user, vhost, exchange: p.exchange, write: p.write, read: p.read });
      }
    }
    return out;
  }

  /** Whether `user` has any topic permission in `vhost` (if not, every routing key is allowed). */
  hasTopicPermissions(user: string, vhost: string): boolean {
    return this.topicPermissions.get(vhost)?.has(user) ?? false;
  }

  /**
   * RabbitMQ's topic authorisation: with no topic permission for the exchange, any routing key
   * is allowed; otherwise the key must match the write (publish) or read (bind) pattern.
   */
  topicAllowed(user: string, vhost: string, exchange: string, access: 'write' | 'read', routingKey: string): boolean {
    const p = this.topicPermissions.get(vhost)?.get(user)?.get(exchange);
    if (!p) return true;
    return (access === 'write' ? p.writeRe : p.readRe).test(routingKey);
  }
}
