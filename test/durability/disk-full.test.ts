// A full disk while publishing: the broker's data directory is a small tmpfs, confirmed
// publishers fill it, and then a filler file eats the rest abruptly (as another process would),
// so the store's writes hit ENOSPC. The broker must stay
// up, nack (never ack) what it could not store, block publishers with connection.blocked, keep
// serving consumers, refuse a durable declare it cannot record, lose nothing it confirmed, and
// resume by itself once the filler is deleted.
import { describe, it, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { sleep } from '../helpers/amqp.js';
import {
  assertOpen, channel, closeAll, confirmChannel, connect, pollUntil, startWarren, waitBlocked,
  type Conn, type TestBroker,
} from '../helpers/durability.js';

const TMPFS_SIZE = '24m';
const QUEUE = 'filling';
const BODY = 8 * 1024;
/** Publishes in flight per publisher (not yet acked or nacked). */
const IN_FLIGHT = 64;

let mountPoint: string | null = null;
let cannotMount = '';
const brokers: TestBroker[] = [];
const conns: Conn[] = [];

function sudoWorks(): boolean {
  try {
    execFileSync('sudo', ['-n', 'true'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command as root: directly when we are root, else through passwordless sudo. */
function asRoot(cmd: string, args: string[]): void {
  if (process.getuid?.() === 0) execFileSync(cmd, args, { stdio: 'pipe' });
  else execFileSync('sudo', ['-n', cmd, ...args], { stdio: 'pipe' });
}

/** Mounts the tmpfs once, or says why it cannot (not root, no mount permission). */
function mountTmpfs(): string {
  if (mountPoint !== null || cannotMount !== '') return cannotMount;
  const root = process.getuid?.() === 0;
  if (!root && !sudoWorks()) return (cannotMount = 'not running as root, and sudo -n is not allowed');
  const dir = mkdtempSync(join(tmpdir(), 'warren-disk-full-'));
  try {
    // Not root: the tmpfs is mounted through sudo and owned by us, so the broker can write to it.
    const opts = root ? `size=${TMPFS_SIZE}` : `size=${TMPFS_SIZE},uid=${process.getuid?.()},gid=${process.getgid?.()}`;
    asRoot('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return (cannotMount = `mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim().split('\n')[0]}`);
  }
  mountPoint = dir;
  return '';
}

/** A fresh data directory on the tmpfs, or null when the test was skipped (failed under CI). */
function dataDirOnTmpfs(t: TestContext, name: string): string | null {
  const why = mountTmpfs();
  if (why !== '') {
    const msg = `disk-full test needs to mount a tmpfs (${why}); run it as root or with passwordless sudo (CI does)`;
    if (process.env.CI) assert.fail(msg);
    t.skip(`skipped: ${msg}`);
    return null;
  }
  const dir = join(mountPoint!, name);
  mkdirSync(dir);
  return dir;
}

/**
 * The tmpfs is a few MB: the default free-disk limit (50MB) would raise the alarm at once. A limit
 * of 0 leaves the alarm to the failed writes alone (the periodic check never raises it): with a
 * limit, a check that runs between the filler and the next write (a busy machine) blocks the
 * publishers first, no write ever fails, and the test would not test what it is for.
 */
async function start(dataDir: string): Promise<TestBroker> {
  const b = await startWarren({ dataDir, args: ['--disk-free-limit', '0'] });
  brokers.push(b);
  return b;
}

function payload(id: string): Buffer {
  const b = Buffer.alloc(BODY, 0x2e);
  b.write(`${id}|`);
  return b;
}

const idOf = (content: Buffer): string => content.toString('latin1', 0, content.indexOf(0x7c));

interface Tally {
  acked: Set<string>;
  nacked: Set<string>;
  pending: Set<string>;
}

/** Publishes persistent messages with confirms, IN_FLIGHT at a time, until `stop` says so. */
async function publishUntil(ch: ConfirmChannel, prefix: string, tally: Tally, stop: () => boolean): Promise<void> {
  for (let i = 0; !stop(); i++) {
    while (tally.pending.size >= IN_FLIGHT && !stop()) await sleep(2);
    if (stop()) break;
    const id = `${prefix}-${i}`;
    tally.pending.add(id);
    ch.publish('', QUEUE, payload(id), { persistent: true }, (err: unknown) => {
      tally.pending.delete(id);
      (err ? tally.nacked : tally.acked).add(id);
    });
    if (i % 16 === 0) await sleep(0);
  }
}

/** Writes zeros to `path` until the filesystem refuses (ENOSPC): eats every free byte at once. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  let n = 0;
  try {
    for (const chunk of [Buffer.alloc(1024 * 1024), Buffer.alloc(4096)]) {
      for (;;) {
        try {
          n += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** Consumes every message of QUEUE without acking (they go back when the channel closes); returns their ids. */
async function idsInQueue(conn: Conn): Promise<string[]> {
  const ch = await channel(conn);
  const { messageCount } = await ch.checkQueue(QUEUE);
  const ids: string[] = [];
  await ch.consume(QUEUE, (m) => { if (m) ids.push(idOf(m.content)); }, { noAck: false });
  await pollUntil(() => ids.length, (n) => n >= messageCount, `${messageCount} messages from ${QUEUE}`, 20_000);
  await ch.close();
  return ids;
}

function assertNoneLost(confirmed: Iterable<string>, present: string[], consumed: Set<string>, when: string): void {
  const have = new Set(present);
  const lost = [...confirmed].filter((id) => !have.has(id) && !consumed.has(id));
  assert.deepEqual(lost.slice(0, 10), [], `${when}: ${lost.length} confirmed messages are missing`);
}

describe('full disk', { timeout: 120_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
    if (mountPoint !== null) {
      asRoot('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('nacks and blocks when the disk fills, loses nothing confirmed, and resumes when space returns', async (t) => {
    const dataDir = dataDirOnTmpfs(t, 'data');
    if (dataDir === null) return;
    // A small in-memory window: most of the queue is paged out, and paging must read back the
    // records the full disk refused from memory.
    process.env.WARREN_QUEUE_WINDOW_MESSAGES = '100';
    const b = await start(dataDir).finally(() => { delete process.env.WARREN_QUEUE_WINDOW_MESSAGES; });
    // Whatever happens, its data leaves the tmpfs to the next test.
    t.after(async () => { await closeAll(...conns.splice(0)); await b.stop('SIGKILL'); rmSync(dataDir, { recursive: true, force: true }); });

    const pubConn = await connect(b.url);
    const otherConn = await connect(b.url);
    conns.push(pubConn, otherConn);
    const unblocked: number[] = [];
    pubConn.on('unblocked', () => unblocked.push(Date.now()));
    await (await channel(otherConn)).assertQueue(QUEUE, { durable: true });

    // 1. Publish until a few MB are confirmed, then eat the rest of the disk while publishing goes on.
    const tally: Tally = { acked: new Set(), nacked: new Set(), pending: new Set() };
    const pub = await confirmChannel(pubConn);
    let stopPublishing = false;
    const publishing = publishUntil(pub, 'p', tally, () => stopPublishing);
    await pollUntil(() => tally.acked.size, (n) => n >= 300, '300 confirmed publishes', 30_000);
    const filler = join(mountPoint!, 'filler');
    t.after(() => rmSync(filler, { force: true }));
    const eaten = fillUp(filler);
    assert.ok(eaten > 0, 'the filler file took the free space');

    // 2. The store's writes fail: publishes are nacked and the publisher is blocked at once.
    assert.match(await waitBlocked(pubConn, 10_000), /low on disk/, 'connection.blocked names the disk');
    await pollUntil(() => b.output(), (o) => o.includes('disk full at'), 'the disk-full error in the log', 10_000);
    await pollUntil(() => tally.nacked.size, (n) => n > 0, 'nacks for publishes the full disk refused', 10_000);
    stopPublishing = true;
    await publishing;
    assert.equal(b.child!.exitCode, null, 'the broker is still running');
    const both = [...tally.acked].filter((id) => tally.nacked.has(id));
    assert.deepEqual(both, [], 'no publish is both acked and nacked');
    const confirmedWhileFull = new Set(tally.acked);

    // 3. Consumers keep draining, and their acks are taken (at worst redelivered after a restart).
    const consumed = new Set<string>();
    const cch = await channel(otherConn);
    await cch.prefetch(10);
    const { consumerTag } = await cch.consume(QUEUE, (m) => {
      if (m === null || consumed.size >= 20) return;
      consumed.add(idOf(m.content));
      cch.ack(m);
    });
    await pollUntil(() => consumed.size, (n) => n >= 20, '20 deliveries while the disk is full', 10_000);
    await cch.cancel(consumerTag);
    await cch.recover();
    // Everything in the queue can be read, the paged-out part and what is held unwritten too.
    assertNoneLost(confirmedWhileFull, await idsInQueue(otherConn), consumed, 'while the disk is full');
    assert.equal(b.child!.exitCode, null, 'the broker is still running');

    // 4. A durable declare the definitions journal cannot record fails with 541 and is not kept.
    // The journal's last page may still have room for a few lines: declare until one is refused.
    const declConn = await connect(b.url);
    conns.push(declConn);
    const decl = await channel(declConn);
    let refused = '';
    let declareError: unknown = null;
    for (let i = 0; i < 500 && refused === ''; i++) {
      try {
        await decl.assertQueue(`declared-while-full-${i}`, { durable: true });
      } catch (err) {
        refused = `declared-while-full-${i}`;
        declareError = err;
      }
    }
    assert.notEqual(refused, '', 'a durable declare on a full disk fails');
    await pollUntil(() => declConn.closed === true, (c) => c, 'the connection closed by 541', 5000);
    // amqplib fails the pending declare with "Channel ended"; the reason is on the connection.
    assert.match(String(declConn.error ?? declareError), new RegExp(`541 \\(INTERNAL-ERROR\\) with message "INTERNAL_ERROR - cannot store queue '${refused}' in vhost '/'`));

    // 4b. A user the definitions journal cannot record is refused with 500 and not kept (not even
    // in memory: it cannot log in), while those stored before stay.
    const api = (method: string, path: string, body?: unknown) => fetch(`${b.httpUrl}/api${path}`, {
      method, headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const storedUsers: string[] = [];
    let refusedUser = '';
    for (let i = 0; i < 500 && refusedUser === ''; i++) {
      const name = `user-while-full-${i}`;
      const r = await api('PUT', `/users/${name}`, { password: 'pw', tags: '' });
      if (r.status === 201) storedUsers.push(name);
      else {
        const text = await r.text();
        assert.equal(r.status, 500, text);
        assert.match((JSON.parse(text) as { reason: string }).reason, /the change was not stored: free space/);
        refusedUser = name;
      }
    }
    assert.notEqual(refusedUser, '', 'a user change on a full disk fails');
    assert.equal((await api('GET', `/users/${refusedUser}`)).status, 404, 'the refused user is not kept in memory');
    for (const u of storedUsers) assert.equal((await api('GET', `/users/${u}`)).status, 200);

    // 5. Space returns: the alarm clears by itself and publishing resumes.
    const freedAt = Date.now();
    rmSync(filler);
    await pollUntil(() => unblocked.length, (n) => n > 0, 'connection.unblocked after the filler went', 15_000);
    assert.ok(unblocked[0] - freedAt < 10_000, `unblocked ${unblocked[0] - freedAt} ms after space returned`);
    assert.match(b.output(), /disk resource limit alarm cleared/);
    await pollUntil(() => tally.pending.size, (n) => n === 0, 'every publish held by the alarm settled', 20_000);
    const later: Tally = { acked: new Set(), nacked: new Set(), pending: new Set() };
    await publishUntil(pub, 'after', later, () => later.acked.size + later.nacked.size + later.pending.size >= 50);
    await pub.waitForConfirms();
    assert.equal(later.acked.size, 50, `new publishes after the disk freed: ${later.acked.size} acked, ${later.nacked.size} nacked`);
    assertOpen(pubConn);
    t.diagnostic(`confirmed until publishers were blocked: ${confirmedWhileFull.size}; nacked: ${tally.nacked.size}; `
      + `confirmed in all: ${tally.acked.size + later.acked.size}; unblocked ${unblocked[0] - freedAt} ms after the filler went`);

    // 6. Nothing confirmed is missing, now and after a crash and restart; the refused queue is not there.
    const confirmed = [...tally.acked, ...later.acked];
    assertNoneLost(confirmed, await idsInQueue(otherConn), consumed, 'after space returned');
    await closeAll(...conns.splice(0));
    await b.stop('SIGKILL');
    await b.restart();
    const conn = await connect(b.url);
    conns.push(conn);
    const ids = await idsInQueue(conn);
    assertNoneLost(confirmed, ids, consumed, 'after a crash and restart');
    assert.equal(new Set(ids).size, ids.length, 'no message is stored twice');
    await assert.rejects((await channel(conn)).checkQueue(refused), /404/, 'the refused queue was not kept');
    const users = ((await (await api('GET', '/users')).json()) as { name: string }[]).map((u) => u.name);
    assert.deepEqual(users.filter((u) => u.startsWith('user-while-full-')).sort(), [...storedUsers].sort(), 'after a restart: the stored users, not the refused one');
  });

  it('nacks a delayed publish on a full disk, shuts down cleanly while writes are held, and recovers every confirmed message', async (t) => {
    const dataDir = dataDirOnTmpfs(t, 'data-shutdown');
    if (dataDir === null) return;
    // Only the failed write may raise the alarm (see start), or the delayed publish could be held, not nacked.
    const b = await start(dataDir);
    t.after(async () => { await closeAll(...conns.splice(0)); await b.stop('SIGKILL'); });
    const conn = await connect(b.url);
    conns.push(conn);
    const setup = await channel(conn);
    await setup.assertQueue(QUEUE, { durable: true });
    await setup.assertExchange('later', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await setup.bindQueue(QUEUE, 'later', 'k');
    const tally: Tally = { acked: new Set(), nacked: new Set(), pending: new Set() };
    const pub = await confirmChannel(conn);
    await publishUntil(pub, 'p', tally, () => tally.acked.size + tally.pending.size >= 200);
    await pub.waitForConfirms();
    assert.equal(tally.acked.size, 200, 'all confirmed while there was room');

    const filler = join(mountPoint!, 'filler-shutdown');
    t.after(() => rmSync(filler, { force: true }));
    fillUp(filler);
    // The delayed exchange's store needs a new file for this message: the full disk refuses it.
    const delayed = await new Promise<string>((resolve) => {
      pub.publish('later', 'k', payload('delayed'), { persistent: true, headers: { 'x-delay': 60_000 } }, (err: unknown) => resolve(err ? 'nack' : 'ack'));
    });
    assert.equal(delayed, 'nack', 'a delayed publish the store could not write is nacked');
    await pollUntil(() => b.output(), (o) => o.includes('disk full at'), 'the disk-full error in the log', 10_000);
    pub.publish('', QUEUE, payload('probe'), { persistent: true });
    assert.match(await waitBlocked(conn, 10_000), /low on disk/, 'the failed write raised the disk alarm by itself');

    // A clean stop while writes are held: no crash, and the next start recovers as after a crash.
    await closeAll(...conns.splice(0));
    await b.stop('SIGTERM');
    assert.equal(b.child!.exitCode, 0, 'the broker stopped cleanly');
    // (Its last log lines may not make it out before the process exits: check the marker instead.)
    assert.equal(existsSync(join(dataDir, 'clean-shutdown')), false, 'writes were held: not marked as a clean shutdown');
    rmSync(filler);
    await b.restart();
    const again = await connect(b.url);
    conns.push(again);
    const ids = await idsInQueue(again);
    assertNoneLost(tally.acked, ids, new Set(), 'after a clean stop on a full disk');
    assert.equal(new Set(ids).size, ids.length, 'no message is stored twice');
  });
});
