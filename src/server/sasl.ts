// SASL mechanisms offered in connection.start: PLAIN ("\0user\0pass") and AMQPLAIN (a field
// table without its length prefix, holding LOGIN and PASSWORD).
import { decodeTableAt } from '../amqp/field-table.js';

export const MECHANISMS = 'PLAIN AMQPLAIN';

export interface Credentials {
  username: string;
  password: string;
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
