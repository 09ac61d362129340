// Users, password hashes and per-vhost permissions, with RabbitMQ's formats so that definitions
// exported from RabbitMQ load as they are: password_hash is base64(salt(4) + sha256(salt + password)).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface User {
  name: string;
  passwordHash: string;
  hashingAlgorithm: string;
  tags: string[];
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

export function hashPassword(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export function checkPassword(user: User, password: string): boolean {
  if (!user.passwordHash) return false;
  const stored = Buffer.from(user.passwordHash, 'base64');
  if (stored.length < 5) return false;
  const algorithm = user.hashingAlgorithm.includes('sha512') ? 'sha512' : user.hashingAlgorithm.includes('md5') ? 'md5' : 'sha256';
  const salt = stored.subarray(0, 4);
  const digest = createHash(algorithm).update(salt).update(password, 'utf8').digest();
  const expected = stored.subarray(4);
  return digest.length === expected.length && timingSafeEqual(digest, expected);
}

export class UserStore {
  readonly users = new Map<string, User>();
  /** vhost -> user -> permission */
  private readonly permissions = new Map<string, Map<string, CompiledPermission>>();
  /** Names of users that may only connect from loopback addresses (RabbitMQ's loopback_users). */
  readonly loopbackOnly = new Set<string>();
  /** Bumped on every change, so callers can cache permission checks. */
  version = 0;

  putUser(name: string, password: string | null, tags: string[] = [], passwordHash?: string, algorithm?: string): User {
    const user: User = {
      name,
      passwordHash: passwordHash ?? (password === null ? '' : hashPassword(password)),
      hashingAlgorithm: algorithm ?? 'rabbit_password_hashing_sha256',
      tags,
    };
    this.users.set(name, user);
    this.version++;
    return user;
  }

  deleteUser(name: string): boolean {
    for (const perms of this.permissions.values()) perms.delete(name);
    this.version++;
    return this.users.delete(name);
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
}
