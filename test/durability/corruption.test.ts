// Damaged files: a torn or corrupt tail in a queue's last segment, garbage at the end of the
// definitions journal, and a data directory from a newer format. The broker recovers what is
// intact before the damage, never hands out garbage, says what it dropped, and refuses a format
// it does not know rather than misreading it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  appendGarbage, assertSequence, bodiesOf, channel, closeAll, confirmChannel, connect, drain, lastSegment, persistent,
  publishConfirmed, queueDir, records, startWarren, type Conn, type TestBroker,
} from '../helpers/durability.js';

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
const WARNING = 'torn or corrupt';

async function brokerWithMessages(n: number): Promise<{ broker: TestBroker; sent: string[] }> {
  const broker = await startWarren();
  brokers.push(broker);
  const conn = await connect(broker.url);
  await (await channel(conn)).assertQueue('q', { durable: true });
  const msgs = persistent('m', n);
  await publishConfirmed(await confirmChannel(conn), '', 'q', msgs);
  await closeAll(conn);
  return { broker, sent: msgs.map((m) => String(m.body)) };
}

async function reconnect(broker: TestBroker): Promise<Conn> {
  const conn = await connect(broker.url);
  conns.push(conn);
  return conn;
}

/**
 * After recovering from damage, the queue must keep working: new messages are kept across a
 * further crash, behind the recovered ones.
 */
async function stillWorks(broker: TestBroker, before: string[]): Promise<void> {
  const conn = await reconnect(broker);
  const more = persistent('after', 20);
  await publishConfirmed(await confirmChannel(conn), '', 'q', more);
  await broker.stop('SIGKILL');
  await broker.restart();
  const c2 = await reconnect(broker);
  assertSequence(bodiesOf(await drain(c2, 'q')), [...before, ...more.map((m) => String(m.body))],
    'recovered messages plus those published after the recovery');
}

describe('torn or corrupt queue segments', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  const garbage: [string, Buffer][] = [
    ['a torn record header (3 bytes)', Buffer.from([0x00, 0x00, 0x01])],
    ['a record whose checksum does not match', (() => {
      const payload = Buffer.from('\u0001garbage that looks like a record payload');
      const b = Buffer.alloc(8 + payload.length);
      b.writeUInt32BE(payload.length, 0);
      b.writeUInt32BE((crc32(payload) ^ 0x5a5a5a5a) >>> 0, 4);
      payload.copy(b, 8);
      return b;
    })()],
    ['a length running past the end of the file', Buffer.concat([Buffer.from([0x00, 0x10, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(40, 0x41)])],
  ];
  for (const [what, bytes] of garbage) {
    it(`drops ${what} appended to the last segment and keeps everything before it`, async () => {
      const { broker, sent } = await brokerWithMessages(100);
      await broker.stop('SIGKILL');
      appendGarbage(lastSegment(queueDir(broker.dataDir)), bytes);

      await broker.restart();
      const conn = await reconnect(broker);
      assert.equal((await (await channel(conn)).checkQueue('q')).messageCount, 100);
      assertSequence(bodiesOf(await drain(conn, 'q')), sent, 'messages before the garbage');
      assert.ok(broker.output().includes(WARNING), `no "${WARNING}" warning in the broker output:\n${broker.output()}`);
      await stillWorks(broker, []);
    });
  }

  it('drops a last record with a flipped byte, and only that record', async () => {
    const { broker, sent } = await brokerWithMessages(100);
    await broker.stop('SIGKILL');
    const seg = lastSegment(queueDir(broker.dataDir));
    const recs = records(seg);
    assert.equal(recs.length, 100, `records in ${seg}`);
    const last = recs[recs.length - 1];
    const data = readFileSync(seg);
    data[last.offset + last.size - 2] ^= 0x60; // inside the body "m-99": now "m-Y9"
    writeFileSync(seg, data);

    await broker.restart();
    const conn = await reconnect(broker);
    const got = bodiesOf(await drain(conn, 'q'));
    assert.ok(!got.includes('m-Y9'), 'the corrupt record was delivered');
    assertSequence(got, sent.slice(0, 99), 'messages before the corrupt record');
    assert.ok(broker.output().includes(WARNING), `no "${WARNING}" warning in the broker output:\n${broker.output()}`);
    await stillWorks(broker, []);
  });

  it('keeps the unacked messages before a torn tail, in order, with the damage discarded', async () => {
    // Some acked, some not, then a torn tail: both the ack file and the cut must be honoured.
    const { broker, sent } = await brokerWithMessages(60);
    const conn = await reconnect(broker);
    const ch = await channel(conn);
    for (let i = 0; i < 10; i++) assert.ok(await ch.get('q', { noAck: true }), `get ${i}`);
    await ch.checkQueue('q');
    await new Promise((r) => setTimeout(r, 300)); // acks are written asynchronously
    await broker.stop('SIGKILL');
    appendGarbage(lastSegment(queueDir(broker.dataDir)), Buffer.from('\u0000\u0000\u0000'));
    await broker.restart();
    const c2 = await reconnect(broker);
    assertSequence(bodiesOf(await drain(c2, 'q')), sent.slice(10), 'unacked messages before the torn tail');
    assert.ok(broker.output().includes(WARNING), `no "${WARNING}" warning in the broker output:\n${broker.output()}`);
  });
});

describe('definitions journal with a damaged tail', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  it('starts, keeps every definition before the damage, ignores what follows, and journals new changes', async () => {
    const broker = await startWarren();
    brokers.push(broker);
    let conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertExchange('x', 'direct', { durable: true });
    await ch.assertQueue('q', { durable: true });
    await ch.bindQueue('q', 'x', 'k');
    await publishConfirmed(await confirmChannel(conn), 'x', 'k', persistent('m', 3));
    await closeAll(conn);
    await broker.stop('SIGKILL');

    // A well-formed line with a wrong checksum that would declare a queue, then a torn line.
    const json = JSON.stringify({ op: 'put', kind: 'queue', key: '/\u0000ghost',
      value: { vhost: '/', name: 'ghost', durable: true, autoDelete: false, arguments: {} } });
    const badCrc = ((crc32(json) ^ 1) >>> 0).toString(16).padStart(8, '0');
    const journal = join(broker.dataDir, 'definitions.log');
    appendGarbage(journal, Buffer.from(`${badCrc} ${json}\n\u0000\u00ff garbage\n${badCrc.slice(0, 5)}`));

    await broker.restart();
    assert.ok(broker.output().includes(WARNING), `no "${WARNING}" warning in the broker output:\n${broker.output()}`);
    conn = await reconnect(broker);
    const c = await channel(conn);
    await c.checkExchange('x');
    assert.equal((await c.checkQueue('q')).messageCount, 3);
    await assert.rejects(c.checkQueue('ghost'), (e: { code?: number }) => e.code === 404, 'an entry with a bad checksum was applied');
    const c1 = await channel(conn);
    await c1.assertQueue('later', { durable: true });
    await c1.bindQueue('later', 'x', 'k2');
    await closeAll(conn);

    await broker.stop('SIGKILL');
    await broker.restart();
    conn = await reconnect(broker);
    const pub = await confirmChannel(conn);
    await publishConfirmed(pub, 'x', 'k', [{ body: 'to q', options: { persistent: true } }]);
    await publishConfirmed(pub, 'x', 'k2', [{ body: 'to later', options: { persistent: true } }]);
    assert.deepEqual(bodiesOf(await drain(conn, 'q')), ['m-0', 'm-1', 'm-2', 'to q'], 'binding x -> q (k) or messages lost');
    assert.deepEqual(bodiesOf(await drain(conn, 'later')), ['to later'], 'definitions journaled after the recovery were lost');
  });
});

describe('data directory format', { timeout: 60_000 }, () => {
  after(async () => {
    await closeAll(...conns);
    for (const b of brokers) await b.stop('SIGKILL');
  });

  it('records the format in VERSION', async () => {
    const broker = await startWarren();
    brokers.push(broker);
    const v = JSON.parse(readFileSync(join(broker.dataDir, 'VERSION'), 'utf8')) as { format?: unknown };
    assert.equal(v.format, 1);
    await broker.stop();
  });

  for (const [what, content, mention] of [
    ['a newer format', '{"format":99}\n', /format 99/],
    ['an unreadable VERSION file', 'not json', /format/],
  ] as [string, string, RegExp][]) {
    it(`refuses to start on ${what}, exits non-zero, and leaves the data alone`, async () => {
      const { broker, sent } = await brokerWithMessages(5);
      await broker.stop();
      const versionFile = join(broker.dataDir, 'VERSION');
      const original = readFileSync(versionFile, 'utf8');
      writeFileSync(versionFile, content);

      let err: Error | undefined;
      await startWarren({ dataDir: broker.dataDir }).then((b) => { brokers.push(b); }, (e: Error) => { err = e; });
      assert.ok(err, `the broker started on ${what}`);
      assert.match(err.message, /exited with [1-9]\d*/, 'a non-zero exit');
      assert.match(err.message, mention, 'the error names the format problem');
      assert.equal(readFileSync(versionFile, 'utf8'), content, 'VERSION was overwritten');

      // Put the right version back: the data is intact.
      writeFileSync(versionFile, original);
      const again = await startWarren({ dataDir: broker.dataDir });
      brokers.push(again);
      const conn = await connect(again.url);
      conns.push(conn);
      assertSequence(bodiesOf(await drain(conn, 'q')), sent, 'messages after the refused start');
      await again.stop();
    });
  }
});
