// A delayed exchange in the broker model, on a real store: pending count, bytes and next due
// time; listing in due order page by page; cancelling one, by routing key, by header, or all;
// and all of it across a restart of the store.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { propertiesToBuffer } from '../../src/amqp/properties.js';
import { buildMessage } from '../../src/broker/message.js';
import { VHost } from '../../src/broker/vhost.js';
import { DelayBuckets } from '../../src/store/delay-buckets.js';
import { MessageStore } from '../../src/store/message-store.js';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A vhost on a store in `dir` with delayed exchange `dx` (direct) bound to queue `q` by key `k`. */
function open(dir: string, fresh: boolean) {
  const store = new MessageStore(dir, silent);
  const v = new VHost('/');
  v.delayStoreFactory = (owner, f) => new DelayBuckets({ store, dir: store.delayedDir(owner, f), durable: owner.durable });
  const x = v.declareExchange({ name: 'dx', type: 'x-delayed-message', durable: true, autoDelete: false, internal: false,
    arguments: { 'x-delayed-type': 'direct' } }, false, fresh);
  const { queue } = v.declareQueue({ name: 'q', durable: false, exclusive: false, autoDelete: false, arguments: {} }, false, {});
  v.bind(x, queue, 'k', {});
  v.bind(x, queue, 'other', {});
  return { store, v, x, queue, schedule: x.delays! };
}

function publish(v: VHost, x: ReturnType<typeof open>['x'], key: string, body: string, delay: number, headers: Record<string, string> = {}) {
  const msg = buildMessage('dx', key, propertiesToBuffer({ deliveryMode: 2, headers: { ...headers, 'x-delay': delay } }), Buffer.from(body));
  v.route(x, msg, key, null);
  assert.equal(v.delayedHits.length, 1, 'held by the delayed exchange');
  v.scheduleDelayed(msg);
}

describe('delayed exchange in the broker model', () => {
  test('counts, lists in due order page by page, cancels durably', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-schedule-'));
    dirs.push(dir);
    let { store, v, x, schedule } = open(dir, true);
    const t0 = Date.now();
    // Published out of order; one due soon (so its bucket is in memory when listed), the rest later.
    const plan: [string, string, number, Record<string, string>][] = [
      ['k', 'e', 60 * 60_000, {}], ['k', 'a', 900, {}], ['other', 'c', 20_000, { tenant: 'blue' }],
      ['k', 'b', 10_000, { tenant: 'red' }], ['k', 'd', 30 * 60_000, { tenant: 'red' }], ['other', 'f', 90 * 24 * 3600_000, {}],
    ];
    for (const [key, body, delay, headers] of plan) publish(v, x, key, body, delay, headers);
    await sleep(50); // the soon one's bucket is loaded by the timer
    assert.equal(schedule.count, 6);
    assert.equal(schedule.bytes, 6);
    const next = schedule.nextDue!;
    assert.ok(next >= t0 + 900 && next <= Date.now() + 900, `next due ${next - t0}`);
    const all = schedule.list(0, 100);
    assert.deepEqual(all.map((p) => p.preview.toString()), ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.deepEqual(all.map((p) => p.routingKey), ['k', 'k', 'other', 'k', 'k', 'other']);
    assert.equal(all[1].headers?.tenant, 'red');
    assert.equal(all[1].headers?.['x-delay'], 10_000);
    assert.ok(all.every((p) => p.persistent && p.size === 1));
    for (let i = 1; i < all.length; i++) assert.ok(all[i].due >= all[i - 1].due);
    assert.deepEqual(schedule.list(2, 2).map((p) => p.preview.toString()), ['c', 'd'], 'second page of two');
    assert.deepEqual(schedule.list(5, 10).map((p) => p.preview.toString()), ['f']);

    // Cancel: the soon one by id (in memory), by header, by routing key.
    assert.equal(schedule.cancel({ id: all[0].id }), 1);
    assert.equal(schedule.cancel({ header: { name: 'tenant', value: 'red' } }), 2);
    assert.equal(schedule.cancel({ routingKey: 'other' }), 2);
    assert.deepEqual(schedule.list(0, 10).map((p) => p.preview.toString()), ['e']);
    assert.equal(schedule.count, 1);
    await sleep(1100);
    assert.equal(v.queues.get('q')!.messageCount, 0, 'the cancelled soon one never arrived');

    // Restart: the cancels held, and the one left is still pending with its due time.
    await sleep(50);
    store.flushNow();
    v.closeDelayed();
    ({ store, v, x, schedule } = open(dir, false));
    assert.equal(schedule.count, 1);
    const left = schedule.list(0, 10);
    assert.deepEqual(left.map((p) => p.preview.toString()), ['e']);
    assert.equal(left[0].due, all[4].due);
    assert.equal(schedule.cancel({}), 1, 'cancel all');
    assert.equal(schedule.count, 0);
    assert.equal(schedule.nextDue, null);
    v.closeDelayed();
  });

  test('due messages are routed in due order, and deleting the exchange drops the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-schedule-'));
    dirs.push(dir);
    const { v, x, queue, schedule } = open(dir, true);
    for (const d of [300, 100, 200]) publish(v, x, 'k', String(d), d);
    publish(v, x, 'k', 'late', 60_000);
    await sleep(450);
    const bodies: string[] = [];
    for (let e = queue.get(true); e !== null; e = queue.get(true)) bodies.push(e.msg.body.toString());
    assert.deepEqual(bodies, ['100', '200', '300']);
    assert.equal(schedule.routedCount, 3);
    assert.equal(schedule.count, 1);
    v.deleteExchange('dx', false);
    assert.equal(schedule.count, 0);
    assert.equal(schedule.diskSize, 0);
  });
});
