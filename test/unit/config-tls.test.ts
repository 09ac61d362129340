// loadConfig's TLS settings: what turns amqps on, RabbitMQ's names and values, and the
// combinations refused before anything listens.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';

const CERT = { sslCertFile: '/etc/warren/cert.pem', sslKeyFile: '/etc/warren/key.pem' };

describe('loadConfig: TLS', () => {
  test('off by default: no TLS port, PLAIN and AMQPLAIN, RabbitMQ\'s defaults for the rest', () => {
    const c = loadConfig({}, {});
    assert.equal(c.amqpsPort, null);
    assert.equal(c.managementSslPort, null);
    assert.equal(c.prometheusSslPort, null);
    assert.deepEqual(c.authMechanisms, ['PLAIN', 'AMQPLAIN']);
    assert.equal(c.sslVerify, 'verify_none');
    assert.equal(c.sslFailIfNoPeerCert, false);
    assert.equal(c.sslCertLoginFrom, 'common_name');
  });

  test('a certificate and key turn amqps on at 5671, unless a port or "off" is given', () => {
    assert.equal(loadConfig(CERT, {}).amqpsPort, 5671);
    assert.equal(loadConfig({ ...CERT, amqpsPort: '6671' }, {}).amqpsPort, 6671);
    assert.equal(loadConfig({ ...CERT, amqpsPort: 'off' }, {}).amqpsPort, null);
    assert.equal(loadConfig({}, { RABBITMQ_SSL_CERTFILE: '/c.pem', RABBITMQ_SSL_KEYFILE: '/k.pem', WARREN_SSL_PORT: 'off' }).amqpsPort, null);
  });

  test('flags, environment (WARREN_ and RabbitMQ image names) and the JSON file', () => {
    const c = loadConfig({ sslVerify: 'verify_peer', sslFailIfNoPeerCert: 'true', sslVersions: 'tlsv1.3,TLSv1.2' },
      { WARREN_SSL_CERTFILE: '/c.pem', RABBITMQ_SSL_KEYFILE: '/k.pem', WARREN_SSL_CIPHERS: 'TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-GCM-SHA384',
        WARREN_AUTH_MECHANISMS: 'plain, external' });
    assert.equal(c.sslCertFile, '/c.pem');
    assert.equal(c.sslKeyFile, '/k.pem');
    assert.equal(c.sslFailIfNoPeerCert, true);
    assert.deepEqual(c.sslVersions, ['tlsv1.3', 'tlsv1.2']);
    assert.deepEqual(c.sslCiphers, ['TLS_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384']);
    assert.deepEqual(c.authMechanisms, ['PLAIN', 'EXTERNAL']);
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-tls-'));
    try {
      const file = join(dir, 'warren.json');
      writeFileSync(file, JSON.stringify({ ...CERT, amqpPort: 'off', managementSslPort: 15671, sslFailIfNoPeerCert: false,
        sslVerify: 'verify_peer', sslCertLoginFrom: 'common_name', sslVersions: ['tlsv1.3'] }));
      const f = loadConfig({}, {}, file);
      assert.equal(f.amqpPort, null);
      assert.equal(f.amqpsPort, 5671);
      assert.equal(f.managementSslPort, 15671);
      assert.equal(f.sslCertLoginFrom, 'common_name');
      assert.deepEqual(f.sslVersions, ['tlsv1.3']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses what cannot work, saying what to give', () => {
    assert.throws(() => loadConfig({ sslCertFile: '/c.pem' }, {}), /needs both a certificate and its key/);
    assert.throws(() => loadConfig({ managementSslPort: '15671' }, {}), /an HTTPS port is set but no certificate/);
    assert.throws(() => loadConfig({ amqpsPort: '5671' }, {}), /a TLS port is set but no certificate/);
    assert.throws(() => loadConfig({ managementSslCertFile: '/m.pem' }, {}), /the HTTPS listeners' own certificate needs its key/);
    // The HTTPS listeners' own certificate is enough for them, and does not turn amqps on.
    const own = loadConfig({ managementSslCertFile: '/m.pem', managementSslKeyFile: '/m.key', managementSslPort: '15671' }, {});
    assert.equal(own.managementSslPort, 15671);
    assert.equal(own.amqpsPort, null);
    assert.throws(() => loadConfig({ amqpPort: 'off' }, {}), /AMQP is off on both the plain and the TLS port/);
    assert.throws(() => loadConfig({ ...CERT, amqpPort: 'off', amqpsPort: 'off' }, {}), /AMQP is off on both/);
    assert.throws(() => loadConfig({ ...CERT, sslFailIfNoPeerCert: 'true' }, {}), /needs sslVerify verify_peer/);
    assert.throws(() => loadConfig({ sslVerify: 'verify_maybe' }, {}), /sslVerify must be one of verify_peer, verify_none/);
    assert.throws(() => loadConfig({ sslVersions: 'sslv3' }, {}), /sslVersions must be one of/);
    assert.throws(() => loadConfig({ authMechanisms: 'PLAIN,CRAM-MD5' }, {}), /authMechanisms must be one of PLAIN, AMQPLAIN, EXTERNAL/);
    assert.throws(() => loadConfig({ sslCertLoginFrom: 'subject_alternative_name' }, {}), /sslCertLoginFrom must be one of/);
  });
});
