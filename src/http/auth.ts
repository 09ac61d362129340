// HTTP basic auth against Warren's users, with RabbitMQ's management rules: only users tagged
// administrator, monitoring, policymaker or management may use the API; loopback-only users (guest
// by default) only from a loopback address; what each tag may see and change.
import type { FastifyRequest } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { checkPassword, type User } from '../broker/users.js';
import { notAuthorised, loginFailed } from './errors.js';
import type { FailedLogins } from '../server/failed-logins.js';
import { plainAddress } from '../server/listen.js';

export type Tag = 'administrator' | 'monitoring' | 'policymaker' | 'management';
/** Each tag and the tags it implies. */
const IMPLIES: Record<Tag, Tag[]> = {
  administrator: ['administrator', 'monitoring', 'policymaker', 'management'],
  monitoring: ['monitoring', 'management'],
  policymaker: ['policymaker', 'management'],
  management: ['management'],
};

/** RabbitMQ's reasons when a tag is missing. */
const TAG_REFUSAL: Record<Tag, string> = {
  administrator: 'Not administrator user',
  monitoring: 'Not monitor user',
  policymaker: 'Not policymaker user',
  management: 'Not management user',
};

export interface AuthUser {
  user: User;
  tags: Set<Tag>;
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The user behind a request's Authorization header, or a 401 in RabbitMQ's words. Every request
 * that names a user counts as a login (protocol http, as RabbitMQ's auth_attempt_metrics), and a
 * refused one is logged through the same rate limit as AMQP's.
 */
export function authenticate(broker: Broker, req: FastifyRequest, loopbackOnly: Set<string>, failedLogins: FailedLogins): AuthUser {
  const h = req.headers.authorization;
  if (h === undefined || !/^basic /i.test(h)) throw loginFailed();
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw loginFailed();
  const name = decoded.slice(0, colon);
  const user = broker.users.users.get(name);
  const address = plainAddress(req.socket.remoteAddress);
  const refuse = (reason: string) => {
    broker.auth.record('http', address, name, false);
    failedLogins.refused('HTTP', `${address}:${req.socket.remotePort}`, name, reason);
  };
  if (user === undefined || !checkPassword(user, decoded.slice(colon + 1))) {
    refuse('invalid credentials');
    throw loginFailed();
  }
  if (loopbackOnly.has(name) && !isLoopback(req.socket.remoteAddress)) {
    refuse('user can only log in via localhost');
    throw notAuthorised('User can only log in via localhost');
  }
  broker.auth.record('http', address, name, true);
  const tags = new Set<Tag>();
  for (const t of user.tags) if (t in IMPLIES) for (const i of IMPLIES[t as Tag]) tags.add(i);
  if (!tags.has('management')) throw notAuthorised('Not management user');
  return { user, tags };
}

/** Fails with 401 not_authorised unless the user has `tag` (or a tag implying it). */
export function requireTag(auth: AuthUser, tag: Tag): void {
  if (!auth.tags.has(tag)) throw notAuthorised(TAG_REFUSAL[tag]);
}

/** Whether the user may see the objects of `vhost`: monitoring sees all, others their permitted vhosts. */
export function seesVhost(broker: Broker, auth: AuthUser, vhost: string): boolean {
  return auth.tags.has('monitoring') || broker.users.hasVhostAccess(auth.user.name, vhost);
}

/** RabbitMQ's reason when a user has no permissions in the vhost a request names. */
export const VHOST_REFUSAL = 'User not authorised to access virtual host';

/** Fails with 401 not_authorised unless the user has permissions in `vhost` (needed to change objects there). */
export function requireVhostAccess(broker: Broker, auth: AuthUser, vhost: string): void {
  if (!broker.users.hasVhostAccess(auth.user.name, vhost)) throw notAuthorised(VHOST_REFUSAL);
}

/**
 * RabbitMQ's is_authorized_vhost: administrators, and users with permissions in the vhost named
 * by the path; a vhost that does not exist passes (the handler answers 404).
 */
export function requireVhostAuthorised(broker: Broker, auth: AuthUser, vhost: string): void {
  if (auth.tags.has('administrator') || !broker.vhosts.has(vhost) || broker.users.hasVhostAccess(auth.user.name, vhost)) return;
  throw notAuthorised(VHOST_REFUSAL);
}

/** RabbitMQ's is_authorized_policies: administrators, or policymakers with permissions in the vhost (if one is named). */
export function requirePolicymakerIn(broker: Broker, auth: AuthUser, vhost: string | null): void {
  if (auth.tags.has('administrator')) return;
  if (auth.tags.has('policymaker') && (vhost === null || !broker.vhosts.has(vhost) || broker.users.hasVhostAccess(auth.user.name, vhost))) return;
  throw notAuthorised('User not authorised to access object');
}

/** The vhosts a user sees in lists (RabbitMQ's list_visible_vhosts): all for monitoring, else those with permissions. */
export function visibleVhosts(broker: Broker, auth: AuthUser): string[] {
  const all = [...broker.vhosts.keys()];
  return auth.tags.has('monitoring') ? all : all.filter((v) => broker.users.hasVhostAccess(auth.user.name, v));
}
