// The committed test certificates (test/fixtures/tls, made by its generate.sh) and the options
// of a broker that wants client certificates and offers EXTERNAL, shared by the TLS tests.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StartOptions } from './broker.js';

// compiled to dist/test/helpers: three levels up is the repo root
export const TLS_FIXTURES = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'test', 'fixtures', 'tls');
export const pem = (name: string): Buffer => readFileSync(join(TLS_FIXTURES, name));

/** The user the client certificate names (CN=some user), with no password: EXTERNAL only. */
export const CERT_USER_DEFINITIONS = (name: string) => ({
  users: [{ name, password_hash: '', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] }],
  vhosts: [{ name: '/' }],
  permissions: [{ user: name, vhost: '/', configure: '.*', write: '.*', read: '.*' }],
});

/**
 * A broker with amqps, HTTPS management and HTTPS Prometheus on the given ports, refusing clients
 * without a certificate from the test CA, and EXTERNAL logins by common name for "some user".
 */
export function mutualTlsBroker(ports: { amqps: number; https: number; metrics: number }, certFile = join(TLS_FIXTURES, 'server.pem'),
  keyFile = join(TLS_FIXTURES, 'server.key')): StartOptions {
  return {
    args: ['--ssl-certfile', certFile, '--ssl-keyfile', keyFile,
      '--ssl-cacertfile', join(TLS_FIXTURES, 'ca.pem'), '--ssl-verify', 'verify_peer', '--ssl-fail-if-no-peer-cert', 'true',
      '--ssl-port', String(ports.amqps), '--management-ssl-port', String(ports.https), '--prometheus-ssl-port', String(ports.metrics),
      '--auth-mechanisms', 'PLAIN,AMQPLAIN,EXTERNAL', '--ssl-cert-login-from', 'common_name'],
    readyPorts: [ports.amqps, ports.https, ports.metrics],
    definitions: CERT_USER_DEFINITIONS('some user'),
  };
}
