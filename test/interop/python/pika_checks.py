#!/usr/bin/python3
"""Interoperability checks for a RabbitMQ-compatible broker with pika's BlockingConnection.

Run with Debian's interpreter and python3-pika (1.2):
    /usr/bin/python3 test/interop/python/pika_checks.py [amqp://guest:guest@127.0.0.1:5672/]
The URL may also come from env AMQP_URL. `--list` prints the check names; extra arguments
after the URL select checks by name.

Prints one line per check, `ok NAME` or `FAIL NAME: reason`, and exits 1 if any failed.
"""
import datetime
import decimal
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from urllib.parse import urlsplit, urlunsplit, quote

import pika
import pika.exceptions as px
from pika.compat import long as pika_long

URL = os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672/')
RUN_ID = 'interop-pika-' + secrets.token_hex(4)
CHECK_TIMEOUT = 8  # seconds per check; the heartbeat check gets twice that
DELIVERY_WAIT = 3.0
NO_DELIVERY_WAIT = 0.25

_queues = []
_exchanges = []


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------------------
# helpers

def qname(suffix):
    name = '%s-%s' % (RUN_ID, suffix)
    _queues.append(name)
    return name


def xname(suffix):
    name = '%s-x-%s' % (RUN_ID, suffix)
    _exchanges.append(name)
    return name


def params(url=None, **overrides):
    p = pika.URLParameters(url or URL)
    p.connection_attempts = 1
    p.socket_timeout = 5
    p.stack_timeout = 6
    p.blocked_connection_timeout = 10
    p.client_properties = {'connection_name': RUN_ID, 'product': 'interop-pika'}
    for k, v in overrides.items():
        setattr(p, k, v)
    return p


def connect(**overrides):
    return pika.BlockingConnection(params(**overrides))


class Session:
    """A connection with one channel, closed on exit."""

    def __enter__(self):
        self.conn = connect()
        self.ch = self.conn.channel()
        return self

    def __exit__(self, *exc):
        if self.conn.is_open:
            try:
                self.conn.close()
            except Exception:
                pass


def declare(ch, name, arguments=None, **kw):
    ok = ch.queue_declare(queue=name, arguments=arguments, **kw)
    expect(ok.method.queue == name, 'declare-ok names %r, want %r' % (ok.method.queue, name))
    return ok.method


def message_count(conn, queue):
    ch = conn.channel()
    try:
        return ch.queue_declare(queue=queue, passive=True).method.message_count
    finally:
        if ch.is_open:
            ch.close()


def wait_for(conn, pred, timeout=DELIVERY_WAIT):
    deadline = time.monotonic() + timeout
    while not pred():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        conn.process_data_events(time_limit=min(remaining, 0.05))
    return True


def settle(conn, seconds=NO_DELIVERY_WAIT):
    conn.process_data_events(time_limit=seconds)


def drain(ch, queue):
    out = []
    for _ in range(1000):
        method, _props, body = ch.basic_get(queue=queue, auto_ack=True)
        if method is None:
            return sorted(out)
        out.append(body.decode())
    raise CheckFailed('queue %s never got empty' % queue)


def expect_closed_by_broker(fn, code, text_prefix, what):
    try:
        fn()
    except px.ChannelClosedByBroker as e:
        expect(e.reply_code == code and e.reply_text.startswith(text_prefix),
               '%s: got %d %r, want %d %s' % (what, e.reply_code, e.reply_text, code, text_prefix))
        return
    raise CheckFailed('%s: succeeded, want channel error %d %s' % (what, code, text_prefix))


def diff_value(path, got, want):
    """Compares decoded field values including their Python type, which tells the AMQP
    type tag pika read (int = 'I', pika.compat.long = 'l', str = 'S', bytes = 'x', ...)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return ['%s: got %r, want table' % (path, got)]
        out = []
        for k in want:
            if k not in got:
                out.append('%s.%s missing' % (path, k))
            else:
                out.extend(diff_value('%s.%s' % (path, k), got[k], want[k]))
        out.extend('%s.%s unexpected (%r)' % (path, k, got[k]) for k in got if k not in want)
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return ['%s: got %r, want %r' % (path, got, want)]
        out = []
        for i, (g, w) in enumerate(zip(got, want)):
            out.extend(diff_value('%s[%d]' % (path, i), g, w))
        return out
    if type(got) is not type(want) or got != want:
        return ['%s: got %s(%r), want %s(%r)' % (path, type(got).__name__, got, type(want).__name__, want)]
    return []


# ---------------------------------------------------------------------------------------
# checks

def check_connect_close():
    conn = connect()
    caps = conn._impl.server_properties.get('capabilities', {})
    for k in ('publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify',
              'connection.blocked', 'authentication_failure_close', 'per_consumer_qos'):
        expect(caps.get(k) is True, 'server capability %s = %r (%r)' % (k, caps.get(k), caps))
    expect(conn.publisher_confirms_supported and conn.basic_nack_supported
           and conn.consumer_cancel_notify_supported and conn.exchange_exchange_bindings_supported,
           'pika sees a capability missing')
    expect(isinstance(conn._impl.server_properties.get('product'), (str, bytes)),
           'no product in server properties')
    ch = conn.channel()
    expect(ch.is_open, 'channel not open')
    ch.close()
    expect(ch.is_closed, 'channel not closed')
    conn.close()
    expect(conn.is_closed, 'connection not closed')


def check_wrong_password():
    parts = urlsplit(URL)
    user = parts.username or 'guest'
    netloc = '%s:%s@%s' % (quote(user, safe=''), 'wrong-' + RUN_ID, parts.hostname + (':%d' % parts.port if parts.port else ''))
    bad = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    start = time.monotonic()
    try:
        pika.BlockingConnection(params(bad)).close()
    except px.ProbableAuthenticationError as e:
        # pika announces authentication_failure_close, so the broker sends connection.close
        # 403 ACCESS_REFUSED before closing the socket
        text = str(e)
        expect('403' in text and 'ACCESS_REFUSED' in text, 'error does not mention 403 ACCESS_REFUSED: %s' % text)
    except px.AMQPConnectionError as e:
        raise CheckFailed('got %s: %s, want ProbableAuthenticationError with 403 ACCESS_REFUSED'
                          % (type(e).__name__, str(e) or repr(e.args)))
    else:
        raise CheckFailed('login with a wrong password succeeded')
    expect(time.monotonic() - start < 4, 'refusal took %.1fs' % (time.monotonic() - start))


def check_declare_queue():
    with Session() as s:
        q = qname('declare')
        m = declare(s.ch, q)
        expect(m.message_count == 0 and m.consumer_count == 0, 'declare-ok %r' % m)
        declare(s.ch, q)  # idempotent
        anon = s.ch.queue_declare(queue='', exclusive=True, auto_delete=True).method.queue
        expect(anon.startswith('amq.gen-'), 'server-named queue %r' % anon)
        pc = s.conn.channel()
        pc.confirm_delivery()
        for i in range(3):
            pc.basic_publish('', q, b'm%d' % i)
        expect(message_count(s.conn, q) == 3, 'passive declare message_count %d, want 3' % message_count(s.conn, q))
        purged = s.ch.queue_purge(q).method.message_count
        expect(purged == 3, 'purge-ok message_count %d, want 3' % purged)
        expect(message_count(s.conn, q) == 0, 'message_count after purge')
        s.ch.basic_consume(q, lambda *a: None, auto_ack=True)
        consumers = s.ch.queue_declare(queue=q, passive=True).method.consumer_count
        expect(consumers == 1, 'consumer_count %d, want 1' % consumers)
        deleted = s.conn.channel().queue_delete(q).method.message_count
        expect(deleted == 0, 'delete-ok message_count %d' % deleted)
        expect_closed_by_broker(lambda: message_count(s.conn, q), 404, 'NOT_FOUND', 'passive declare after delete')


def check_declare_exchange():
    with Session() as s:
        for kind in ('direct', 'fanout', 'topic', 'headers'):
            x = xname('decl-' + kind)
            s.ch.exchange_declare(x, exchange_type=kind)
            s.ch.exchange_declare(x, exchange_type=kind)
            s.ch.exchange_declare(x, passive=True)
            s.ch.exchange_delete(x)
        for x in ('amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match'):
            s.ch.exchange_declare(x, passive=True)
        gone = RUN_ID + '-x-decl-direct'
        expect_closed_by_broker(lambda: s.ch.exchange_declare(gone, passive=True), 404, 'NOT_FOUND',
                                'passive declare of a deleted exchange')
        expect(s.ch.is_closed and s.conn.is_open, 'channel should be closed, connection open')
        s.conn.channel().exchange_declare('amq.direct', passive=True)


def check_roundtrip_properties():
    with Session() as s:
        q = qname('props')
        declare(s.ch, q)
        headers = {
            'i32': -42,                          # 'I'
            'i64': pika_long(1 << 40),           # 'l' (pika reads 'l' as unsigned: no negatives)
            'big': 1 << 33,                      # an int outside int32 goes out as 'l', comes back long
            'str': 'héllo wörld',
            'bool_t': True,
            'bool_f': False,
            'dec': decimal.Decimal('123.45'),
            'bin': b'\x00\x01\xfe\xff',
            'ts': datetime.datetime(2023, 11, 14, 22, 13, 20),
            'void': None,
            'arr': [1, 'two', True, {'in': 'array'}],
            'nested': {'inner': 'x', 'n': 7, 'deeper': {'k': False, 'l': pika_long(9)}},
        }
        want_headers = dict(headers, big=pika_long(1 << 33))
        user = urlsplit(URL).username or 'guest'
        props = pika.BasicProperties(
            content_type='application/json', content_encoding='utf-8', headers=headers,
            delivery_mode=2, priority=7, correlation_id='corr-' + RUN_ID, reply_to='reply-' + RUN_ID,
            expiration='600000', message_id='msg-' + RUN_ID, timestamp=1700000123, type='interop.test',
            user_id=user, app_id='interop-app')
        body = '{"hello":"wörld"}'.encode()
        got = []
        s.ch.basic_consume(q, lambda ch, m, p, b: got.append((m, p, b)), consumer_tag='ctag-props')
        s.ch.basic_publish('', q, body, props)
        expect(wait_for(s.conn, lambda: got), 'no delivery')
        m, p, b = got[0]
        problems = []
        for field in ('content_type', 'content_encoding', 'delivery_mode', 'priority', 'correlation_id',
                      'reply_to', 'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id'):
            if getattr(p, field) != getattr(props, field):
                problems.append('%s=%r want %r' % (field, getattr(p, field), getattr(props, field)))
        if b != body:
            problems.append('body %r' % b)
        if (m.consumer_tag, m.exchange, m.routing_key, m.redelivered) != ('ctag-props', '', q, False):
            problems.append('deliver %s/%r/%s/%s' % (m.consumer_tag, m.exchange, m.routing_key, m.redelivered))
        problems.extend(diff_value('headers', p.headers, want_headers))
        expect(not problems, '; '.join(problems))
        s.ch.basic_ack(m.delivery_tag)
        # no properties at all
        got.clear()
        s.ch.basic_publish('', q, b'')
        expect(wait_for(s.conn, lambda: got), 'no delivery of the empty message')
        m, p, b = got[0]
        expect(b == b'' and p.content_type is None and p.headers is None and p.delivery_mode is None,
               'empty message came back as %r %r' % (b, p))
        s.ch.basic_ack(m.delivery_tag)
        expect(message_count(s.conn, q) == 0, 'messages left after acks')


def route_case(kind, queues, bindings, msgs, want):
    with Session() as s:
        x = xname('route-' + kind)
        s.ch.exchange_declare(x, exchange_type=kind)
        full = {}
        for q in queues:
            full[q] = qname('route-%s-%s' % (kind, q))
            declare(s.ch, full[q])
        for q, key, args in bindings:
            s.ch.queue_bind(full[q], x, routing_key=key, arguments=args)
        pc = s.conn.channel()
        pc.confirm_delivery()
        for body, key, headers in msgs:
            pc.basic_publish(x, key, body.encode(), pika.BasicProperties(headers=headers))
        problems = []
        for q in queues:
            got = drain(s.ch, full[q])
            w = sorted(want.get(q, []))
            if got != w:
                problems.append('queue %s got %s want %s' % (q, got, w))
        expect(not problems, '; '.join(problems))
        s.ch.exchange_delete(x)


def check_routing_direct():
    route_case('direct', ['q1', 'q2', 'q3'],
               [('q1', 'k1', None), ('q2', 'k2', None), ('q3', 'k1', None), ('q3', 'k3', None)],
               [('m1', 'k1', None), ('m2', 'k2', None), ('m3', 'k3', None), ('m4', 'k4', None), ('m5', 'K1', None)],
               {'q1': ['m1'], 'q2': ['m2'], 'q3': ['m1', 'm3']})


def check_routing_fanout():
    route_case('fanout', ['q1', 'q2', 'q3'],
               [('q1', '', None), ('q2', 'ignored', None)],
               [('m1', '', None), ('m2', 'anything', None)],
               {'q1': ['m1', 'm2'], 'q2': ['m1', 'm2']})


def check_routing_topic():
    keys = ['a.b.c', 'a.x.c', 'a', 'a.b.c.d', 'x.y.z', 'z', 'b', 'x.b', 'a.c', '']
    route_case('topic', ['star', 'hashTail', 'hashHead', 'mid', 'all', 'emptyKey'],
               [('star', 'a.*.c', None), ('hashTail', 'a.#', None), ('hashHead', '#.z', None),
                ('mid', '*.b.#', None), ('all', '#', None), ('emptyKey', '', None)],
               [(k or '(empty)', k, None) for k in keys],
               {'star': ['a.b.c', 'a.x.c'],
                'hashTail': ['a', 'a.b.c', 'a.x.c', 'a.b.c.d', 'a.c'],
                'hashHead': ['x.y.z', 'z'],
                'mid': ['a.b.c', 'a.b.c.d', 'x.b'],
                'all': [k or '(empty)' for k in keys],
                'emptyKey': ['(empty)']})


def check_routing_headers():
    route_case('headers', ['all', 'any', 'num'],
               [('all', '', {'x-match': 'all', 'format': 'pdf', 'type': 'report'}),
                ('any', '', {'x-match': 'any', 'format': 'pdf', 'type': 'log'}),
                ('num', '', {'x-match': 'all', 'n': 5})],
               [('pdf-report', '', {'format': 'pdf', 'type': 'report'}),
                ('pdf-log', '', {'format': 'pdf', 'type': 'log'}),
                ('zip-log', '', {'format': 'zip', 'type': 'log'}),
                ('zip', '', {'format': 'zip'}),
                ('pdf-report-extra', 'rk-ignored', {'format': 'pdf', 'type': 'report', 'extra': 1}),
                ('none', '', None),
                ('n5', '', {'n': 5}),
                ('n6', '', {'n': 6}),
                ('n5str', '', {'n': '5'}),
                # 'l' in the message vs 'I' in the binding: RabbitMQ compares numbers by value
                ('n5long', '', {'n': pika_long(5)})],
               {'all': ['pdf-report', 'pdf-report-extra'],
                'any': ['pdf-report', 'pdf-log', 'zip-log', 'pdf-report-extra'],
                'num': ['n5', 'n5long']})


def check_confirms():
    with Session() as s:
        q = qname('confirms')
        declare(s.ch, q)
        # BlockingChannel: each basic_publish waits for its ack (raises NackError on a nack)
        s.ch.confirm_delivery()
        for i in range(20):
            s.ch.basic_publish('', q, b'sync-%d' % i)
        # Raw channel: publish a burst and look at the basic.ack frames themselves, which
        # may acknowledge several publishes at once with multiple=true.
        raw = s.conn.channel()._impl
        acks = []
        selected = []
        raw.confirm_delivery(ack_nack_callback=lambda frame: acks.append(frame.method),
                             callback=lambda _frame: selected.append(True))
        expect(wait_for(s.conn, lambda: selected), 'no confirm.select-ok')
        n = 200
        for i in range(n):
            raw.basic_publish('', q, b'burst-%d' % i)
        covered = set()

        def all_acked():
            return len(covered) == n
        last = 0
        problems = []
        multiples = 0

        def absorb():
            nonlocal last, multiples
            while acks:
                m = acks.pop(0)
                if not isinstance(m, pika.spec.Basic.Ack):
                    problems.append('got %s for tag %d' % (m.NAME, m.delivery_tag))
                    continue
                if m.delivery_tag <= last:
                    problems.append('ack tag %d after %d' % (m.delivery_tag, last))
                if m.multiple:
                    multiples += 1
                    covered.update(range(last + 1, m.delivery_tag + 1))
                else:
                    covered.add(m.delivery_tag)
                last = max(last, m.delivery_tag)
        ok = wait_for(s.conn, lambda: (absorb(), all_acked() or problems)[1])
        expect(not problems, '; '.join(problems))
        expect(ok, 'acked %d of %d publishes' % (len(covered), n))
        expect(covered == set(range(1, n + 1)), 'acks covered %d tags outside 1..%d' % (len(covered - set(range(1, n + 1))), n))
        settle(s.conn, 0.1)
        absorb()
        expect(not problems, 'after all acked: ' + '; '.join(problems))
        print('# confirms: %d publishes acked, %d of the acks had multiple=true' % (n, multiples))
        expect(message_count(s.conn, q) == n + 20, 'queue holds %d, want %d' % (message_count(s.conn, q), n + 20))


def check_mandatory_unroutable():
    with Session() as s:
        x = xname('mandatory')
        s.ch.exchange_declare(x, exchange_type='direct')
        q = qname('mandatory')
        declare(s.ch, q)
        s.ch.queue_bind(q, x, routing_key='routed')
        # without confirms: the return arrives as an event
        returned = []
        s.ch.add_on_return_callback(lambda ch, m, p, b: returned.append((m, p, b)))
        s.ch.basic_publish(x, 'nowhere', b'unroutable-1', pika.BasicProperties(content_type='text/plain'),
                           mandatory=True)
        expect(wait_for(s.conn, lambda: returned), 'no basic.return')
        m, p, b = returned[0]
        expect((m.reply_code, m.reply_text, m.exchange, m.routing_key, b, p.content_type)
               == (312, 'NO_ROUTE', x, 'nowhere', b'unroutable-1', 'text/plain'),
               'return %d %r %r %r %r %r' % (m.reply_code, m.reply_text, m.exchange, m.routing_key, b, p.content_type))
        # with confirms, BlockingChannel raises UnroutableError carrying the return
        pc = s.conn.channel()
        pc.confirm_delivery()
        missing = RUN_ID + '-no-such-queue'
        try:
            pc.basic_publish('', missing, b'unroutable-2', mandatory=True)
            raise CheckFailed('mandatory publish to a missing queue was not returned')
        except px.UnroutableError as e:
            expect(len(e.messages) == 1, 'returned %d messages' % len(e.messages))
            r = e.messages[0]
            expect((r.method.reply_code, r.method.reply_text, r.method.routing_key, r.body)
                   == (312, 'NO_ROUTE', missing, b'unroutable-2'),
                   'return %r %r' % (r.method, r.body))
        pc.basic_publish(x, 'routed', b'routable', mandatory=True)  # must not raise
        settle(s.conn, 0.1)
        expect(len(returned) == 1, 'routable message came back too')
        expect(message_count(s.conn, q) == 1, 'bound queue holds %d, want 1' % message_count(s.conn, q))


def check_redelivery_after_close():
    q = qname('redeliver')
    a = connect()
    try:
        ch = a.channel()
        declare(ch, q)
        ch.basic_publish('', q, b'first')
        ch.basic_publish('', q, b'second')
        ch.basic_qos(prefetch_count=1)
        got = []
        ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.redelivered)))
        expect(wait_for(a, lambda: got), 'consumer A got nothing')
        settle(a)
        expect(got == [(b'first', False)], 'consumer A with prefetch 1 got %r' % got)
    finally:
        a.close()  # without acking
    b = connect()
    try:
        ch = b.channel()
        got = []

        def on_msg(c, m, p, body):
            got.append((body, m.redelivered))
            c.basic_ack(m.delivery_tag)
        ch.basic_consume(q, on_msg)
        expect(wait_for(b, lambda: len(got) >= 2), 'consumer B got %r' % got)
        settle(b)
        expect(got == [(b'first', True), (b'second', False)], 'consumer B got %r' % got)
    finally:
        b.close()


def check_basic_get():
    with Session() as s:
        q = qname('get')
        declare(s.ch, q)
        expect(s.ch.basic_get(q) == (None, None, None), 'get on an empty queue returned a message')
        for body in (b'g1', b'g2'):
            s.ch.basic_publish('', q, body, pika.BasicProperties(content_type='text/plain'))
        m, p, b = s.ch.basic_get(q)
        expect(m is not None, 'get 1 empty')
        expect((b, m.message_count, m.redelivered, m.routing_key, p.content_type) == (b'g1', 1, False, q, 'text/plain'),
               'get-ok 1: %r %r %r' % (b, m, p.content_type))
        s.ch.basic_ack(m.delivery_tag)
        m, p, b = s.ch.basic_get(q, auto_ack=True)
        expect(m is not None and b == b'g2' and m.message_count == 0, 'get 2: %r %r' % (m, b))
        expect(s.ch.basic_get(q) == (None, None, None), 'get after draining returned a message')


def check_nack_reject_requeue():
    with Session() as s:
        q = qname('nack')
        declare(s.ch, q)
        s.ch.basic_publish('', q, b'n1')
        m, _, b = s.ch.basic_get(q)
        expect(m is not None and not m.redelivered, 'first get %r' % m)
        s.ch.basic_nack(m.delivery_tag, requeue=True)
        m, _, b = s.ch.basic_get(q)
        expect(m is not None and b == b'n1' and m.redelivered, 'after nack requeue %r %r' % (m, b))
        s.ch.basic_reject(m.delivery_tag, requeue=True)
        m, _, b = s.ch.basic_get(q)
        expect(m is not None and b == b'n1' and m.redelivered, 'after reject requeue %r %r' % (m, b))
        s.ch.basic_reject(m.delivery_tag, requeue=False)
        expect(s.ch.basic_get(q) == (None, None, None), 'message still there after reject without requeue')
        for body in (b'a', b'b', b'c'):
            s.ch.basic_publish('', q, body)
        tags = []
        for _ in range(3):
            m, _, _ = s.ch.basic_get(q)
            expect(m is not None, 'multi get empty')
            tags.append(m.delivery_tag)
        expect(message_count(s.conn, q) == 0, 'unacked messages counted as ready')
        s.ch.basic_nack(tags[-1], multiple=True, requeue=True)
        got = drain(s.ch, q)
        expect(got == ['a', 'b', 'c'], 'after nack multiple requeue queue held %r' % got)


def check_qos_prefetch():
    with Session() as s:
        q = qname('qos')
        declare(s.ch, q)
        for i in range(1, 6):
            s.ch.basic_publish('', q, b'q%d' % i)
        s.ch.basic_qos(prefetch_count=2)
        got = []
        s.ch.basic_consume(q, lambda c, m, p, b: got.append((m.delivery_tag, b)))
        expect(wait_for(s.conn, lambda: len(got) >= 2), 'got %r' % got)
        settle(s.conn)
        expect([b for _, b in got] == [b'q1', b'q2'], 'with prefetch 2 got %r' % got)
        s.ch.basic_ack(got[0][0])
        expect(wait_for(s.conn, lambda: len(got) >= 3), 'nothing after one ack')
        settle(s.conn)
        expect([b for _, b in got] == [b'q1', b'q2', b'q3'], 'after one ack got %r' % got)
        s.ch.basic_ack(got[2][0], multiple=True)
        expect(wait_for(s.conn, lambda: len(got) >= 5), 'after multiple ack got %r' % got)
        expect([b for _, b in got] == [b'q1', b'q2', b'q3', b'q4', b'q5'], 'got %r' % got)


def check_passive_declare_missing_404():
    with Session() as s:
        missing = RUN_ID + '-does-not-exist'
        expect_closed_by_broker(lambda: s.ch.queue_declare(missing, passive=True), 404, 'NOT_FOUND',
                                'passive declare of a missing queue')
        expect(s.ch.is_closed, 'channel still open after 404')
        expect(s.conn.is_open, 'connection closed after a channel error')
        try:
            s.ch.queue_declare(qname('after-404'))
            raise CheckFailed('closed channel accepted queue.declare')
        except px.ChannelWrongStateError:
            pass
        declare(s.conn.channel(), qname('after-404b'))


def check_redeclare_different_args_406():
    with Session() as s:
        q = qname('redeclare')
        declare(s.ch, q, arguments={'x-max-length': 10})
        expect_closed_by_broker(lambda: s.ch.queue_declare(q, arguments={'x-max-length': 20}),
                                406, 'PRECONDITION_FAILED', 'redeclare with other x-max-length')
        ch2 = s.conn.channel()
        expect_closed_by_broker(lambda: ch2.queue_declare(q, durable=True, arguments={'x-max-length': 10}),
                                406, 'PRECONDITION_FAILED', 'redeclare as durable')
        ch3 = s.conn.channel()
        declare(ch3, q, arguments={'x-max-length': 10})
        x = xname('redeclare')
        ch3.exchange_declare(x, exchange_type='direct')
        expect_closed_by_broker(lambda: ch3.exchange_declare(x, exchange_type='fanout'),
                                406, 'PRECONDITION_FAILED', 'redeclare exchange with another type')


def check_exclusive_other_connection_405():
    q = qname('exclusive')
    owner = connect()
    other = connect()
    try:
        och = owner.channel()
        och.queue_declare(q, exclusive=True)
        och.basic_publish('', q, b'mine')
        expect_closed_by_broker(lambda: other.channel().queue_declare(q, exclusive=True), 405, 'RESOURCE_LOCKED',
                                'declare from another connection')
        expect_closed_by_broker(lambda: other.channel().basic_consume(q, lambda *a: None), 405, 'RESOURCE_LOCKED',
                                'consume from another connection')
        m, _, b = och.basic_get(q, auto_ack=True)
        expect(b == b'mine', 'owner get %r' % b)
        owner.close()
        deadline = time.monotonic() + 3
        while True:
            try:
                other.channel().queue_declare(q, passive=True)
            except px.ChannelClosedByBroker as e:
                expect(e.reply_code == 404, 'passive declare after owner closed: %s' % e)
                return
            expect(time.monotonic() < deadline, 'exclusive queue outlived its connection')
            other.sleep(0.05)
    finally:
        for c in (owner, other):
            if c.is_open:
                c.close()


def check_consumer_cancel_notify():
    with Session() as s:
        q = qname('cancel')
        declare(s.ch, q)
        cancelled = []
        s.ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method))
        tag = s.ch.basic_consume(q, lambda *a: None, consumer_tag='ctag-cancel')
        expect(tag == 'ctag-cancel', 'consume-ok tag %r' % tag)
        s.conn.channel().queue_delete(q)
        expect(wait_for(s.conn, lambda: cancelled), 'no basic.cancel from the broker after the queue was deleted')
        m = cancelled[0]
        expect(isinstance(m, pika.spec.Basic.Cancel) and m.consumer_tag == 'ctag-cancel', 'got %r' % m)
        expect(s.ch.is_open, 'channel closed by the cancel')
        expect(not s.ch.consumer_tags, 'pika still lists consumers %r' % s.ch.consumer_tags)
        declare(s.ch, qname('cancel-after'))


def check_large_message():
    with Session() as s:
        q = qname('large')
        declare(s.ch, q)
        body = secrets.token_bytes(512 * 1024 + 7)
        s.ch.basic_publish('', q, body, pika.BasicProperties(content_type='application/octet-stream'))
        got = []
        s.ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
        expect(wait_for(s.conn, lambda: got), 'large message not delivered')
        expect(got[0] == body, 'body differs: %d bytes, want %d' % (len(got[0]), len(body)))


def check_tx_commit_rollback():
    with Session() as s:
        q = qname('tx')
        declare(s.ch, q)
        s.ch.tx_select()
        s.ch.basic_publish('', q, b't1')
        expect(message_count(s.conn, q) == 0, 'uncommitted publish visible')
        s.ch.tx_commit()
        expect(message_count(s.conn, q) == 1, 'committed publish missing')
        s.ch.basic_publish('', q, b't2')
        s.ch.tx_rollback()
        expect(message_count(s.conn, q) == 1, 'rolled-back publish visible')
        m, _, b = s.ch.basic_get(q)
        expect(b == b't1', 'get in tx %r' % b)
        s.ch.basic_ack(m.delivery_tag)
        s.ch.tx_commit()
        s.ch.close()
        expect(message_count(s.conn, q) == 0, 'committed ack did not remove the message')


def check_heartbeat():
    conn = connect(heartbeat=2)
    try:
        expect(conn._impl.params.heartbeat == 2, 'negotiated heartbeat %r' % conn._impl.params.heartbeat)
        conn.sleep(5)  # idle, but pika services heartbeats meanwhile
        expect(conn.is_open, 'connection closed while idle')
        hb = conn._impl._heartbeat_checker
        # The broker sends a heartbeat every timeout/2 when it has nothing else to send;
        # pika itself only notices a silent broker after timeout+5 s, so count them.
        expect(hb is not None and hb._heartbeat_frames_received >= 2,
               'only %d heartbeat frames from the broker in 5 s with heartbeat 2'
               % (hb._heartbeat_frames_received if hb else -1))
        declare(conn.channel(), qname('heartbeat'))
    finally:
        if conn.is_open:
            conn.close()


# A timestamp of 2**64-1 is legal (AMQP timestamps are unsigned 64-bit) and must survive
# dead-lettering byte for byte, whether the message expires or a consumer rejects it.
MAX_TIMESTAMP = 2 ** 64 - 1


def dead_letter_pair(ch, suffix, ttl=None):
    dlq = qname(suffix + '-dlq')
    declare(ch, dlq)
    src = qname(suffix)
    args = {'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq}
    if ttl is not None:
        args['x-message-ttl'] = ttl
    declare(ch, src, arguments=args)
    return src, dlq


def check_dead_letter_max_timestamp_ttl():
    with Session() as s:
        src, dlq = dead_letter_pair(s.ch, 'dlts-ttl', ttl=200)
        s.ch.basic_publish('', src, b'huge-ts', pika.BasicProperties(timestamp=MAX_TIMESTAMP, message_id='m1'))
        s.ch.basic_publish('', src, b'plain', pika.BasicProperties(message_id='m2'))
        settle(s.conn, 1.5)
        expect(message_count(s.conn, src) == 0, 'source queue still holds %d message(s) past their TTL' % message_count(s.conn, src))
        got = []
        for _ in range(2):
            m, p, b = s.ch.basic_get(dlq, auto_ack=True)
            expect(m is not None, 'dead-letter queue has %d of 2 messages: %r' % (len(got), got))
            got.append((b, p.timestamp, p.message_id, p.headers['x-death'][0]['reason']))
        expect(got == [(b'huge-ts', MAX_TIMESTAMP, 'm1', 'expired'), (b'plain', None, 'm2', 'expired')], 'dead-lettered: %r' % got)


def check_dead_letter_max_timestamp_reject():
    with Session() as s:
        src, dlq = dead_letter_pair(s.ch, 'dlts-rej')
        s.ch.basic_publish('', src, b'huge-ts', pika.BasicProperties(timestamp=MAX_TIMESTAMP, headers={'k': 'v'}))
        m, _, _ = s.ch.basic_get(src)
        expect(m is not None, 'no message to reject')
        s.ch.basic_reject(m.delivery_tag, requeue=False)
        wait_for(s.conn, lambda: message_count(s.conn, dlq) == 1)
        m, p, b = s.ch.basic_get(dlq, auto_ack=True)
        expect(m is not None, 'rejected message was not dead-lettered')
        expect((b, p.timestamp, p.headers.get('k'), p.headers['x-death'][0]['reason']) == (b'huge-ts', MAX_TIMESTAMP, 'v', 'rejected'),
               'dead-lettered: %r %r %r' % (b, p.timestamp, p.headers))
        expect(s.conn.is_open and s.ch.is_open, 'the rejecting channel was closed')


def check_delayed_exchange():
    """x-delayed-message: due order whatever the publish order, x-delay negated as pika decodes it."""
    with Session() as s:
        x = xname('delayed')
        s.ch.exchange_declare(x, 'x-delayed-message', arguments={'x-delayed-type': 'direct'})
        q = qname('delayed')
        declare(s.ch, q)
        s.ch.queue_bind(q, x, 'k')
        got = []
        s.ch.basic_consume(q, lambda ch, m, p, b: got.append((b.decode(), time.monotonic(), p.headers.get('x-delay'))), auto_ack=True)
        t0 = time.monotonic()
        for d, value in ((600, 600), (200, '200'), (400, pika_long(400))):
            s.ch.basic_publish(x, 'k', str(d).encode(), pika.BasicProperties(headers={'x-delay': value}))
        expect(wait_for(s.conn, lambda: len(got) == 3, 3), 'got %d of 3 delayed messages' % len(got))
        expect([g[0] for g in got] == ['200', '400', '600'], 'order %r' % [g[0] for g in got])
        for body, at, header in got:
            late = (at - t0) * 1000 - int(body)
            expect(-5 <= late < 150, '%s ms message arrived %.0f ms off' % (body, late))
            expect(header == -int(body), 'x-delay %r for %s' % (header, body))


CHECKS = [
    ('connect_close', check_connect_close),
    ('wrong_password', check_wrong_password),
    ('declare_queue', check_declare_queue),
    ('declare_exchange', check_declare_exchange),
    ('roundtrip_properties', check_roundtrip_properties),
    ('routing_direct', check_routing_direct),
    ('routing_fanout', check_routing_fanout),
    ('routing_topic', check_routing_topic),
    ('routing_headers', check_routing_headers),
    ('confirms', check_confirms),
    ('mandatory_unroutable', check_mandatory_unroutable),
    ('redelivery_after_close', check_redelivery_after_close),
    ('basic_get', check_basic_get),
    ('nack_reject_requeue', check_nack_reject_requeue),
    ('qos_prefetch', check_qos_prefetch),
    ('passive_declare_missing_404', check_passive_declare_missing_404),
    ('redeclare_different_args_406', check_redeclare_different_args_406),
    ('exclusive_other_connection_405', check_exclusive_other_connection_405),
    ('consumer_cancel_notify', check_consumer_cancel_notify),
    ('large_message', check_large_message),
    ('tx_commit_rollback', check_tx_commit_rollback),
    ('heartbeat', check_heartbeat),
    ('dead_letter_max_timestamp_ttl', check_dead_letter_max_timestamp_ttl),
    ('dead_letter_max_timestamp_reject', check_dead_letter_max_timestamp_reject),
    ('delayed_exchange', check_delayed_exchange),
]


class Timeout(Exception):
    pass


def _alarm(_sig, _frame):
    raise Timeout('timed out after %ds' % CHECK_TIMEOUT)


def run_check(fn):
    """Returns None or a one-line failure reason."""
    try:
        fn()
        return None
    except CheckFailed as e:
        return str(e)
    except Timeout as e:
        return str(e)
    except Exception as e:  # an unexpected exception is a failure too
        tb = traceback.extract_tb(e.__traceback__)
        where = ' (%s:%d)' % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else ''
        return '%s: %s%s' % (type(e).__name__, str(e) or repr(e.args), where)


def cleanup():
    try:
        conn = connect()
    except Exception as e:
        print('# cleanup: %s' % e)
        return
    try:
        ch = conn.channel()
        for q in _queues:
            try:
                ch.queue_delete(q)
            except px.ChannelClosed:
                ch = conn.channel()
        for x in _exchanges:
            try:
                ch.exchange_delete(x)
            except px.ChannelClosed:
                ch = conn.channel()
    finally:
        conn.close()


def main(argv):
    global URL
    args = argv[1:]
    if args and args[0] == '--list':
        for name, _ in CHECKS:
            print(name)
        return 0
    if args and '://' in args[0]:
        URL = args.pop(0)
    only = set(args)
    selected = [(n, f) for n, f in CHECKS if not only or n in only]
    parts = urlsplit(URL)
    print('# pika %s against %s://%s@%s%s (names prefixed %s)'
          % (pika.__version__, parts.scheme, parts.username, parts.netloc.split('@')[-1], parts.path, RUN_ID))
    sys.stdout.flush()

    # A broker that cannot be reached at all fails every check at once instead of
    # timing out in each one.
    try:
        connect().close()
    except Exception as e:
        for name, _ in selected:
            print('FAIL %s: not run, cannot connect: %s: %s' % (name, type(e).__name__, str(e) or repr(e.args)))
        return 1

    # The heartbeat check mostly waits, so it runs on its own connection in a thread.
    hb_result = {}
    hb_thread = None
    if any(n == 'heartbeat' for n, _ in selected):
        def hb_run():
            hb_result['err'] = run_check(check_heartbeat)
        hb_thread = threading.Thread(target=hb_run, daemon=True)
        hb_thread.start()

    signal.signal(signal.SIGALRM, _alarm)
    failed = 0

    def report(name, err):
        nonlocal failed
        if err is None:
            print('ok %s' % name)
        else:
            failed += 1
            print('FAIL %s: %s' % (name, err.replace('\n', ' | ')))
        sys.stdout.flush()

    for name, fn in selected:
        if name == 'heartbeat':
            continue
        signal.alarm(CHECK_TIMEOUT)
        try:
            err = run_check(fn)
        finally:
            signal.alarm(0)
        report(name, err)
    if hb_thread is not None:
        hb_thread.join(2 * CHECK_TIMEOUT)
        report('heartbeat', 'timed out' if hb_thread.is_alive() else hb_result.get('err'))
    cleanup()
    if failed:
        print('# %d check(s) failed' % failed)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
