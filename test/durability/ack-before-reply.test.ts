// A processed ack must be on disk (in the page cache: written, not necessarily synced) before the
// broker sends anything after it. A client that acks and then makes a round trip on the channel
// (as the crash soak does) has proof that the broker processed the acks; a kill -9 after that
// must not bring the acked messages back.
//
// The crash soak found acked messages redelivered after a kill -9 that came 139-971 ms after such
// a round trip (queue soak.topic.even). Cause: acks are batched and written by the message store's
// flush, a setImmediate queued by the first settle of the turn; connection output goes out through
// the Flusher, another setImmediate. When output was already scheduled earlier in the turn (any
// reply or delivery to any connection, nearly always on a busy broker), the Flusher ran first and
// the reply proving the acks left before they were written; anything that delays the store's
// flush after that (a long turn, a loaded machine, the flush queued for the next turn of the loop)
// leaves processed acks only in memory, and a kill -9 then undoes them.
//
// The test runs Warren in this process and, at every write the broker makes to a client socket,
// copies the data directory: exactly what a kill -9 at that moment would leave. The channel's
// publish to a queue the same channel consumes, sent just before the acks, has the broker write
// a delivery (output scheduled before the acks are settled, as busy traffic does). The copy taken when the round trip's reply was written is then recovered
// by a second Warren: none of the acked messages may come back.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { Warren } from '../../src/warren.js';
import { M, methodFrame, publishFrames, RawClient } from '../helpers/raw-amqp.js';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
const warrens: Warren[] = [];
const clients: RawClient[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function startIn(dataDir: string): Promise<{ warren: Warren; port: number }> {
  const port = await freePort();
  const config = loadConfig({ amqpPort: port, bind: '127.0.0.1', dataDir, managementPort: 'off', prometheusPort: 'off' }, {});
  const warren = await Warren.start(config, silent);
  warrens.push(warren);
  return { warren, port };
}

describe('acks and the replies after them', { timeout: 60_000 }, () => {
  after(async () => {
    for (const c of clients) c.destroy();
    for (const w of warrens) await w.stop().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a reply sent after acks leaves only once the acks are written (a kill -9 at that moment keeps them)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-ack-reply-'));
    dirs.push(dataDir);
    const { warren, port } = await startIn(dataDir);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    try {
      const pub = await conn.createConfirmChannel();
      await pub.assertQueue('acked', { durable: true });
      const n = 50;
      for (let i = 0; i < n; i++) pub.sendToQueue('acked', Buffer.from(`m${i}`), { persistent: true });
      await pub.waitForConfirms();

      // The consumer speaks raw AMQP, so that the frames below reach the broker in one write.
      const raw = await RawClient.open(port);
      clients.push(raw);
      await raw.openChannel(1);
      await raw.consume(1, 'acked');
      await raw.declareQueue(1, 'ping', { exclusive: true });
      await raw.consume(1, 'ping', { noAck: true });
      await raw.waitUntil(() => raw.deliveries.length >= n, `${n} deliveries`);
      const tags = raw.deliveries.map((d) => d.args.deliveryTag as number);

      // Copy the data directory at every write the broker makes to a client from here on.
      const snapshots: string[] = [];
      const write = net.Socket.prototype.write;
      net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
        if (this.localPort === port) {
          const snap = mkdtempSync(join(tmpdir(), 'warren-ack-reply-kill-'));
          dirs.push(snap);
          cpSync(dataDir, snap, { recursive: true });
          snapshots.push(snap);
        }
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof net.Socket.prototype.write;
      try {
        // One write, so one read of the broker's: a publish that the broker delivers back at once
        // (output scheduled before the acks, as busy traffic does), the acks one by one, then the
        // round trip (a passive declare) that proves they were processed.
        raw.write(Buffer.concat([
          publishFrames(1, '', 'ping', Buffer.from('ping')),
          ...tags.map((deliveryTag) => methodFrame(1, M.encodeBasicAck, { deliveryTag, multiple: false })),
          methodFrame(1, M.encodeQueueDeclare, {
            ticket: 0, queue: 'acked', passive: true, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: {},
          }),
        ]));
        await raw.expect(M.QUEUE_DECLARE_OK, 1);
      } finally {
        net.Socket.prototype.write = write;
      }
      assert.ok(snapshots.length > 0, 'the broker wrote the replies');

      // A kill -9 right after the last write before the round trip came back: recover that copy.
      const killedAt = snapshots[snapshots.length - 1];
      rmSync(join(killedAt, 'warren.lock'), { force: true });
      const second = await startIn(killedAt);
      const c2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${second.port}`);
      try {
        const left = (await (await c2.createChannel()).checkQueue('acked')).messageCount;
        assert.equal(left, 0, `${left} of ${n} messages acked before the reply came back after a kill -9 at the reply`);
      } finally {
        await c2.close();
      }
    } finally {
      await conn.close().catch(() => {});
    }
    await warren.stop();
  });
});
