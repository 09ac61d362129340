"""pika over TLS: the server certificate verified against the test CA, a PLAIN login and an
EXTERNAL login with the client certificate (each with a publish and get), and a certificate
from another CA refused. Prints `ok NAME` or `FAIL NAME: reason` per check.

Usage: pika_tls.py HOST PORT FIXTURES_DIR
"""
import os
import ssl
import sys
import time

import pika


def context(fixtures, client):
    ctx = ssl.create_default_context(cafile=os.path.join(fixtures, 'ca.pem'))
    if client:
        ctx.load_cert_chain(os.path.join(fixtures, client + '.pem'), os.path.join(fixtures, client + '.key'))
    return ctx


def params(host, port, fixtures, client, credentials):
    return pika.ConnectionParameters(
        host=host, port=port, credentials=credentials, connection_attempts=1, socket_timeout=10,
        ssl_options=pika.SSLOptions(context(fixtures, client), server_hostname='localhost'))


def round_trip(conn, body):
    ch = conn.channel()
    q = ch.queue_declare('', exclusive=True).method.queue
    ch.basic_publish('', q, body.encode())
    deadline = time.time() + 5
    while time.time() < deadline:
        method, _props, got = ch.basic_get(q, auto_ack=True)
        if method is not None:
            if got.decode() != body:
                raise AssertionError('got %r, want %r' % (got, body))
            return
        time.sleep(0.02)
    raise AssertionError('message not back within 5 s')


def check(name, fn):
    try:
        fn()
        print('ok %s' % name, flush=True)
    except Exception as e:  # the report names every failure, whatever its kind
        print('FAIL %s: %s: %s' % (name, type(e).__name__, e), flush=True)


def main():
    host, port, fixtures = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def plain():
        conn = pika.BlockingConnection(params(host, port, fixtures, 'client', pika.PlainCredentials('guest', 'guest')))
        try:
            round_trip(conn, 'pika over tls')
        finally:
            conn.close()

    def external():
        conn = pika.BlockingConnection(params(host, port, fixtures, 'client', pika.credentials.ExternalCredentials()))
        try:
            round_trip(conn, 'pika external')
        finally:
            conn.close()

    def wrong_ca():
        try:
            conn = pika.BlockingConnection(params(host, port, fixtures, 'other-client', pika.PlainCredentials('guest', 'guest')))
        except pika.exceptions.AMQPError as e:
            print('# refused as expected: %s: %s' % (type(e).__name__, e), flush=True)
            return
        conn.close()
        raise AssertionError('a certificate from another CA was accepted')

    check('tls_plain_login', plain)
    check('tls_external_login', external)
    check('tls_wrong_ca_refused', wrong_ca)


if __name__ == '__main__':
    main()
