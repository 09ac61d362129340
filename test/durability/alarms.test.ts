// Resource alarms: below the disk free limit, or above the memory high watermark, a connection
// that publishes is blocked (as in RabbitMQ, the first publish under the alarm blocks it); clients
// that support it (capability connection.blocked) are told so; what blocked connections publish is
// held back, and consumers still drain queues.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../helpers/amqp.js';
import {
  assertOpen, assertSequence, blockedNotifications, channel, closeAll, confirmChannel, connect, persistent, pollUntil, publishConfirmed,
  startWarren, waitBlocked, type Conn, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
/** The disk check runs at boot and then every few seconds. */
const BLOCKED_WITHIN_MS = 8000;
const DISK_ALARM = ['--disk-free-limit', '1000TB'];
const MEMORY_ALARM = ['--memory-high-watermark', '1MB'];

async function start(args: string[], dataDir?: string): Promise<TestBroker> {
  const broker = await startWarren({ args, dataDir });
  brokers.push(broker);
  return broker;
}

/** The alarm is checked at boot; wait until the broker has raised it. */
async function alarmRaised(broker: TestBroker, alarm: string): Promise<void> {
  await pollUntil(() => broker.output(), (o) => o.includes(`${alarm} resource limit alarm set`), `the ${alarm} alarm in the log`, BLOCKED_WITHIN_MS);
}

/** Publishes one message, which blocks the connection under an alarm. */
async function publishOne(conn: Conn, queue = 'probe'): Promise<void> {
  const ch = await channel(conn);
  ch.sendToQueue(queue, Buffer.from('probe'));
}

async function open(broker: TestBroker, socketOptions?: Record<string, unknown>): Promise<Conn> {
  const conn = await connect(broker.url, socketOptions);
  conns.push(conn);
  return conn;
}

/**
 * Publishes from `publisher` (blocked) and checks from `observer` with basic.get that nothing
 * reaches the queue for ~1 s.
 */
async function assertPublishesHeld(publisher: Conn, observer: Conn, queue: string): Promise<void> {
  const pub = await channel(publisher);
  for (let i = 0; i < 5; i++) pub.sendToQueue(queue, Buffer.from(`while blocked ${i}`), { persistent: true });
  const check = await channel(observer);
  const leaked: string[] = [];
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline) {
    const m = await check.get(queue, { noAck: true });
    if (m) leaked.push(m.content.toString());
    else await sleep(50);
  }
  assert.deepEqual(leaked, [], `${leaked.length} of 5 messages published on a blocked connection were delivered`);
}

describe('resource alarms', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  for (const [alarm, args, reason] of [['disk', DISK_ALARM, /disk/], ['memory', MEMORY_ALARM, /memory/]] as const) {
    it(`sends connection.blocked naming the resource under a ${alarm} alarm`, async () => {
      const broker = await start([...args]);
      await alarmRaised(broker, alarm);
      // amqplib announces the capability by default.
      const conn = await open(broker);
      await sleep(300);
      assert.deepEqual(blockedNotifications(conn), [], 'a connection that has not published is not blocked');
      await publishOne(conn);
      assert.match(await waitBlocked(conn, BLOCKED_WITHIN_MS), reason, 'the reason names the resource');
    });

    it(`holds back what a connection publishes under a ${alarm} alarm`, async () => {
      const broker = await start([...args]);
      const observer = await open(broker);
      await (await channel(observer)).assertQueue('q', { durable: true });
      await alarmRaised(broker, alarm);
      const conn = await open(broker);
      await assertPublishesHeld(conn, observer, 'q');
      await waitBlocked(conn, BLOCKED_WITHIN_MS);
    });
  }

  it('unblocks when the alarm clears and lets the held publishes through', async () => {
    // A disk limit just below the free space, crossed by allocating a file on the same disk.
    const probe = await start([]);
    const free = statfsSync(probe.dataDir).bavail * statfsSync(probe.dataDir).bsize;
    await probe.stop();
    // A wide margin against other disk activity on a shared machine, but never more than a
    // quarter of what is free (the filler takes twice the margin).
    const margin = Math.min(1024 * 1024 * 1024, Math.floor(free / 4));
    const broker = await start(['--disk-free-limit', String(free - margin)], probe.dataDir);
    const observer = await open(broker);
    await (await channel(observer)).assertQueue('held', { durable: true });
    const filler = join(broker.dataDir, '..', `filler-${process.pid}-${Date.now()}`);
    try {
      execFileSync('fallocate', ['-l', String(2 * margin), filler]);
      await alarmRaised(broker, 'disk');
      const conn = await open(broker);
      const unblocked = new Promise<void>((resolve) => conn.on('unblocked', () => resolve()));
      await assertPublishesHeld(conn, observer, 'held');
      await waitBlocked(conn, BLOCKED_WITHIN_MS);
      rmSync(filler, { force: true });
      await pollUntil(() => broker.output(), (o) => o.includes('disk resource limit alarm cleared'), 'the alarm to clear', BLOCKED_WITHIN_MS);
      await unblocked;
      const check = await channel(observer);
      const got = await pollUntil(async () => (await check.checkQueue('held')).messageCount, (n) => n === 5, 'the 5 held publishes', 5000);
      assert.equal(got, 5);
    } finally {
      rmSync(filler, { force: true });
    }
  });

  // Regression: reads stop while a publisher is blocked, so its heartbeats go unread; the broker
  // must not take that silence for a dead client (RabbitMQ pauses its heartbeat monitor too).
  it('does not drop a blocked publisher for missed heartbeats', async () => {
    const broker = await start([...DISK_ALARM]);
    await alarmRaised(broker, 'disk');
    const conn = await connect(`${broker.url}?heartbeat=1`);
    conns.push(conn);
    let closed = false;
    conn.on('close', () => { closed = true; });
    conn.on('error', () => { closed = true; });
    await publishOne(conn);
    await waitBlocked(conn, BLOCKED_WITHIN_MS);
    await sleep(4500); // more than two heartbeat intervals
    assert.equal(closed, false, 'the blocked connection was closed');
    assertOpen(conn);
  });

  it('does not send connection.blocked to a client without the capability', async () => {
    const broker = await start([...DISK_ALARM]);
    await alarmRaised(broker, 'disk');
    const withCap = await open(broker);
    const without = await open(broker, { clientProperties: { capabilities: { publisher_confirms: true } } });
    await publishOne(withCap);
    await publishOne(without);
    await waitBlocked(withCap, BLOCKED_WITHIN_MS);
    await sleep(500);
    assert.deepEqual(blockedNotifications(without), [], 'connection.blocked sent to a client that did not declare the capability');
  });

  it('lets consumers drain a queue while publishers are blocked', async () => {
    // The alarm is on from the start: fill the queue in a run without it, then restart with it.
    const first = await start([]);
    const c1 = await open(first);
    await (await channel(c1)).assertQueue('q', { durable: true });
    const msgs = persistent('m', 500);
    await publishConfirmed(await confirmChannel(c1), '', 'q', msgs);
    await closeAll(c1);
    await first.stop();

    const broker = await start([...DISK_ALARM], first.dataDir);
    await alarmRaised(broker, 'disk');
    const publisher = await open(broker);
    await publishOne(publisher, 'q');
    await waitBlocked(publisher, BLOCKED_WITHIN_MS);
    const consumerConn = await open(broker);
    const ch = await channel(consumerConn);
    await ch.prefetch(50);
    const got: string[] = [];
    const { consumerTag } = await ch.consume('q', (m) => {
      if (!m) return;
      got.push(m.content.toString());
      ch.ack(m);
    });
    await pollUntil(() => got.length, (n) => n >= msgs.length, `${msgs.length} deliveries under the alarm`, 10_000);
    assertSequence(got, msgs.map((m) => String(m.body)), 'consumed under the alarm');
    await ch.cancel(consumerTag);
    await ch.close(); // unacked deliveries would go back to the queue now
    assert.equal((await (await channel(consumerConn)).checkQueue('q')).messageCount, 0, 'the acks of the consumer were not processed');
    assert.deepEqual(blockedNotifications(consumerConn), [], 'a consuming connection was blocked');
  });
});
