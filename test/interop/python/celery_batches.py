#!/usr/bin/env python3
"""Celery end to end against a broker: a real prefork worker and a client that sends batches of
tasks and then waits for each result in order, timing each batch.

    /usr/bin/python3 test/interop/python/celery_batches.py amqp://guest:guest@127.0.0.1:5672/

The setup is the one from the issue: worker `-c 2 --pool prefork`, task_acks_late,
worker_prefetch_multiplier=1, result backend rpc://; the client sends BATCH tasks add(i, b) and
then calls .get() on each result in order. Celery's rpc result consumer waits in
drain_events(timeout=1) before it looks at a result it already holds, and reads one message per
drain. So once the client has read results ahead of the one it waits for, it stays that far
ahead, and when the socket runs dry at the end of the batch every result it holds ahead costs a
1 s wait: a batch takes about 0.25 s + k s, where k (the batch's "displacement") is the largest
number of later results that overtook any one result, which the two pool processes' race
decides. The client records the order results arrive in (by hooking Celery's result consumer)
and reports k per batch. A batch still waiting after CELERY_BATCH_CAP seconds is cut short and
counted at that time. The program prints `# ...` diagnostics and a final
`RESULT {json}` line with the batch times; the node:test wrapper (test/interop/celery.test.ts)
makes the assertions. Exit status 0 unless the run itself failed (worker did not start, wrong or
missing results).

This file is also the worker's app module (`celery -A celery_batches`); the broker URL and the
per-run queue name reach the worker through the environment.
"""
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

from celery import Celery
from celery.exceptions import TimeoutError as ResultTimeout

BROKER = os.environ.get('CELERY_BATCHES_BROKER', 'amqp://guest:guest@127.0.0.1:5672//')
QUEUE = os.environ.get('CELERY_BATCHES_QUEUE', 'interop-celery')

app = Celery('celery_batches', broker=BROKER, backend='rpc://')
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.nap')
def nap(seconds):
    time.sleep(seconds)
    return os.getpid()


# Task indices of the current batch's results, in the order the client read them.
ARRIVALS = []


def record_arrivals():
    """Hooks Celery 5's result consumer to see the order results are read in; False if it moved."""
    try:
        from celery.backends.asynchronous import BaseResultConsumer
    except ImportError:
        return False
    original = getattr(BaseResultConsumer, 'on_state_change', None)
    if original is None:
        return False

    def on_state_change(self, meta, message):
        if isinstance(meta, dict) and isinstance(meta.get('result'), int):
            ARRIVALS.append(meta['result'])
        return original(self, meta, message)
    BaseResultConsumer.on_state_change = on_state_change
    return True


def displacement(order):
    """The largest number of later items that came before any one item."""
    worst = 0
    for pos, x in enumerate(order):
        ahead = sum(1 for y in order[:pos] if y > x)
        if ahead > worst:
            worst = ahead
    return worst


def say(msg):
    print(msg, flush=True)


def vhost_url(url):
    """amqp://h:p/ and amqp://h:p mean vhost '/' for the other interop clients; say so to kombu."""
    scheme, rest = url.split('://', 1)
    host, _, path = rest.partition('/')
    return f'{scheme}://{host}/{path or "/"}'


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('-')]
    url = vhost_url(args[0] if args else os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672/'))
    batch = int(os.environ.get('CELERY_BATCH', '200'))
    max_batches = int(os.environ.get('CELERY_BATCHES', '12'))
    min_batches = int(os.environ.get('CELERY_MIN_BATCHES', '6'))
    budget = float(os.environ.get('CELERY_BUDGET', '25'))  # seconds of batches before stopping early
    cap = float(os.environ.get('CELERY_BATCH_CAP', '8'))  # a batch still waiting after this is cut short
    queue = f'interop-celery-{secrets.token_hex(4)}'
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, CELERY_BATCHES_BROKER=url, CELERY_BATCHES_QUEUE=queue, PYTHONPATH=here,
               PYTHONDONTWRITEBYTECODE='1')
    app.conf.update(broker_url=url, task_default_queue=queue, task_default_exchange=queue,
                    task_default_routing_key=queue)

    log = tempfile.NamedTemporaryFile(prefix='celery-worker-', suffix='.log', delete=False)
    worker = subprocess.Popen(
        [sys.executable, '-m', 'celery', '-A', 'celery_batches', 'worker', '-c', '2', '--pool', 'prefork',
         '-l', 'warning', '-n', f'{queue}@%h', '--without-mingle', '--without-gossip'],
        cwd=here, env=env, stdout=log, stderr=subprocess.STDOUT)
    result = {'batch': batch, 'queue': queue, 'batches': [], 'sending': [], 'displacements': [], 'wrong': 0, 'error': None}
    hooked = record_arrivals()
    if not hooked:
        result['displacements'] = None
        say('# could not hook celery.backends.asynchronous.BaseResultConsumer.on_state_change: no arrival order')
    try:
        # Warm-up: waits for the worker, then keeps both pool processes busy at once so that
        # each has run a task and opened its own connection (a pool process connects when it
        # publishes its first result), then runs a few adds.
        t0 = time.monotonic()
        if add.delay(1, 1).get(timeout=60) != 2:
            result['wrong'] += 1
        pids = {r.get(timeout=30) for r in [nap.delay(0.3) for _ in range(4)]}
        warm = [add.delay(i, -1) for i in range(40)]
        for i, r in enumerate(warm):
            if r.get(timeout=30) != i - 1:
                result['wrong'] += 1
        say(f'# worker ready and warm in {time.monotonic() - t0:.2f} s ({len(pids)} pool processes answered)')

        started = time.monotonic()
        for b in range(max_batches):
            if b >= min_batches and time.monotonic() - started > budget:
                say(f'# stopping after {b} batches: {budget:.0f} s budget used')
                break
            t0 = time.monotonic()
            ARRIVALS.clear()
            pending = [add.delay(i, b) for i in range(batch)]
            sent = time.monotonic() - t0
            values = []
            try:
                for r in pending:
                    # Each result that is already here can still cost a 1 s wait, so the cap is
                    # checked between results as well as passed as the timeout.
                    left = cap - (time.monotonic() - t0)
                    if left <= 0:
                        break
                    values.append(r.get(timeout=left))
            except ResultTimeout:
                pass  # a batch of at least `cap` seconds
            took = time.monotonic() - t0
            wrong = sum(1 for i, v in enumerate(values) if v != i + b)
            result['wrong'] += wrong
            result['batches'].append(round(took, 3))
            result['sending'].append(round(sent, 3))
            k = ''
            if hooked:
                d = displacement([v - b for v in ARRIVALS])
                result['displacements'].append(d)
                k = f', displacement {d}'
            cut = '' if len(values) == batch else f', cut short with {batch - len(values)} results outstanding'
            say(f'# batch {b}: {took:.3f} s (sending {sent:.3f} s{k}){cut}{f", {wrong} wrong results" if wrong else ""}')
            if cut:
                result['cut'] = result.get('cut', 0) + 1
        times = result['batches']
        say(f'# median {statistics.median(times):.3f} s over {len(times)} batches of {batch}')
    except Exception as e:  # reported to the wrapper, which prints the worker log
        result['error'] = f'{type(e).__name__}: {e}'
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        try:
            with app.connection_for_write() as conn:
                ch = conn.default_channel
                ch.queue_delete(queue)
                ch.exchange_delete(queue)
        except Exception as e:
            say(f'# cleanup failed: {e}')
        log.close()
        if result['error'] or result['wrong']:
            with open(log.name, encoding='utf8', errors='replace') as f:
                for line in f.read().splitlines()[-40:]:
                    say(f'# worker: {line}')
        os.unlink(log.name)
    print('RESULT ' + json.dumps(result), flush=True)
    return 1 if result['error'] or result['wrong'] or not result['batches'] else 0


if __name__ == '__main__':
    sys.exit(main())
