// SASL mechanisms offered in connection.start: PLAIN ("\0user\0pass"), AMQPLAIN (a field
// table without its length prefix, holding LOGIN and PASSWORD) and, on TLS connections when
// configured, EXTERNAL (the user named by the client certificate, as rabbitmq_auth_mechanism_ssl).
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { decodeTableAt } from '../amqp/field-table.js';
import { distinguishedName } from './tls.js';

export interface Credentials {
  username: string;
  /** null: EXTERNAL, the verified certificate vouches for the user and no password is checked. */
  password: string | null;
}

/** The mechanisms a listener offers, plain and TLS connections apart (EXTERNAL needs a certificate). */
export class Mechanisms {
  /** connection.start's `mechanisms` field for each kind of connection, built once. */
  readonly plain: Buffer;
  readonly tls: Buffer;

  constructor(readonly enabled: readonly string[], readonly certLoginFrom: 'distinguished_name' | 'common_name') {
    this.plain = Buffer.from(enabled.filter((m) => m !== 'EXTERNAL').join(' '));
    this.tls = Buffer.from(enabled.join(' '));
  }

  offered(socket: Socket): Buffer {
    return socket instanceof TLSSocket ? this.tls : this.plain;
  }

  /** Credentials from a start-ok; null when the mechanism was not offered or the response is malformed. */
  credentials(mechanism: string, response: Buffer, socket: Socket): Credentials | null {
    if (mechanism === 'EXTERNAL') {
      if (!(socket instanceof TLSSocket) || !this.enabled.includes('EXTERNAL')) return null;
      return { username: certificateUser(socket, this.certLoginFrom), password: null };
    }
    return this.enabled.includes(mechanism) ? parseCredentials(mechanism, response) : null;
  }
}

/** The log line for credentials that named no user or a wrong password. */
export function refusedReason(c: Credentials): string {
  if (c.password !== null) return 'invalid credentials';
  return c.username === '' ? 'no verified client certificate' : 'no such user (named by the client certificate)';
}

/**
 * The user a verified client certificate names; '' without one (no such user, so the login is
 * refused as RabbitMQ refuses it).
 */
export function certificateUser(socket: TLSSocket, from: 'distinguished_name' | 'common_name'): string {
  if (!socket.authorized) return '';
  if (from === 'common_name') {
    const cn = socket.getPeerCertificate().subject?.CN as string | string[] | undefined;
    return (Array.isArray(cn) ? cn[0] : cn) ?? '';
  }
  const subject = socket.getPeerX509Certificate()?.subject;
  return subject === undefined ? '' : distinguishedName(subject);
}

/** Parses a start-ok response; null when the mechanism is unknown or the response malformed. */
export function parseCredentials(mechanism: string, response: Buffer): Credentials | null {
  if (mechanism === 'PLAIN') {
    // [authzid] \0 authcid \0 password
    const first = response.indexOf(0);
    if (first < 0) return null;
    const second = response.indexOf(0, first + 1);
    if (second < 0) return null;
    return {
      username: response.toString('utf8', first + 1, second),
      password: response.toString('utf8', second + 1),
    };
  }
  if (mechanism === 'AMQPLAIN') {
    try {
      const t = decodeTableAt(response, 0, response.length);
      const login = t.LOGIN;
      const password = t.PASSWORD;
      if (login === undefined || password === undefined) return null;
      return { username: String(login), password: String(password) };
    } catch {
      return null;
    }
  }
  return null;
}
