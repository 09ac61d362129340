// TLS for every listener (amqps, HTTPS management, HTTPS Prometheus), configured like RabbitMQ's
// ssl_options: PEM files, peer verification, protocol versions, ciphers. The files are read
// here, at start and again on reload (SIGHUP), which swaps each server's secure context in
// place: open connections keep the context they were made with.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer, type SecureContextOptions, type SecureVersion, type TlsOptions, type TLSSocket } from 'node:tls';

export interface TlsSettings {
  certFile: string;
  keyFile: string;
  caCertFile: string | null;
  keyPassword: string | null;
  verify: 'verify_peer' | 'verify_none';
  failIfNoPeerCert: boolean;
  /** RabbitMQ's names: tlsv1.3, tlsv1.2, tlsv1.1, tlsv1. */
  versions: string[];
  ciphers: string[];
}

const VERSION_NAMES: Record<string, SecureVersion> = { 'tlsv1.3': 'TLSv1.3', 'tlsv1.2': 'TLSv1.2', 'tlsv1.1': 'TLSv1.1', tlsv1: 'TLSv1' };
const VERSION_ORDER: SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

function readPem(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
  }
}

/**
 * The certificate, key, CA and protocol choices, read from the files now. Node takes a range of
 * versions, not a set: the lowest to the highest listed.
 */
export function secureContextOptions(s: TlsSettings): SecureContextOptions {
  const opts: SecureContextOptions = {
    cert: readPem('certificate', s.certFile),
    key: readPem('key', s.keyFile),
  };
  if (s.keyPassword !== null) opts.passphrase = s.keyPassword;
  if (s.caCertFile !== null) opts.ca = readPem('CA certificate', s.caCertFile);
  if (s.versions.length > 0) {
    const v = s.versions.map((n) => VERSION_NAMES[n]).sort((a, b) => VERSION_ORDER.indexOf(a) - VERSION_ORDER.indexOf(b));
    opts.minVersion = v[0];
    opts.maxVersion = v[v.length - 1];
  }
  if (s.ciphers.length > 0) {
    // Node takes TLS 1.3 suites (TLS_*) and older ciphers in one list and sorts them out.
    opts.ciphers = s.ciphers.join(':');
  }
  return opts;
}

/**
 * Options for a TLS server. Only amqps asks clients for certificates (verify_peer): HTTPS
 * listeners authenticate with Basic auth (management) or not at all (Prometheus), and a browser
 * asked for a certificate it does not have would fail.
 */
export function serverOptions(s: TlsSettings, clientCertificates: boolean): TlsOptions {
  const verify = clientCertificates && s.verify === 'verify_peer';
  return {
    ...secureContextOptions(s),
    requestCert: verify,
    // Node refuses a missing and a bad certificate alike; without fail_if_no_peer_cert a
    // missing one must pass, so bad ones are refused after the handshake (peerRefusal).
    rejectUnauthorized: verify && s.failIfNoPeerCert,
    handshakeTimeout: 10_000,
  };
}

/**
 * Why a client that completed the handshake must still be refused, or null. With verify_peer
 * but not fail_if_no_peer_cert, RabbitMQ (Erlang's ssl) lets clients without a certificate in
 * but refuses a certificate that does not verify against the CA.
 */
export function peerRefusal(socket: TLSSocket, s: TlsSettings): string | null {
  if (s.verify !== 'verify_peer' || socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return null;
  return String(socket.authorizationError ?? 'certificate not verified');
}

/**
 * A certificate's subject or issuer as RabbitMQ writes it (peer_cert_subject, EXTERNAL user names):
 * RFC 4514, the most specific part first, "CN=some user,O=Warren tests". Node prints one
 * attribute a line, least specific first, values already escaped per RFC 2253.
 */
export function distinguishedName(nodeName: string): string {
  return nodeName.split('\n').filter(Boolean).reverse().join(',');
}

/**
 * The certificates of the amqps listener (ssl_options) and of the HTTPS listeners (their own, or
 * the same object); null where no such listener can run.
 */
export interface ListenerCertificates {
  amqps: TlsCertificates | null;
  https: TlsCertificates | null;
}

/** The TLS servers sharing one set of certificates, so one reload updates them all. */
export class TlsCertificates {
  private readonly servers: TlsServer[] = [];
  /** When the certificate in use stops being valid (ms since the epoch); NaN before the first load. */
  validTo = NaN;

  constructor(readonly settings: TlsSettings) {}

  add(server: TlsServer): void {
    this.servers.push(server);
  }

  /** Reads the files again and hands the new context to every server; throws (nothing changed) when a file is bad. */
  reload(): void {
    const opts = secureContextOptions(this.settings);
    // Throws on a key that does not match its certificate or a bad PEM, before any server changed.
    try {
      createSecureContext(opts);
    } catch (err) {
      throw new Error(`the TLS certificate ${this.settings.certFile} and key ${this.settings.keyFile} cannot be used: ${(err as Error).message}`);
    }
    for (const s of this.servers) s.setSecureContext(opts);
    this.validTo = Date.parse(new X509Certificate(opts.cert as Buffer).validTo);
  }
}
