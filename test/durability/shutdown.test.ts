// Graceful shutdown on SIGTERM and SIGINT, with publishers going full speed and confirms in
// flight when the signal arrives. Warren stops accepting, stops reading, syncs what it received,
// sends the confirms that makes due and only then closes every connection with RabbitMQ's
// 320 CONNECTION_FORCED. So after the restart:
//  - every message a client saw acked is in the queue, and nothing was nacked;
//  - nothing is in the queue that the client did not see acked (what was received was confirmed
//    before the close: the two sets are equal);
//  - each client got connection.close 320 with RabbitMQ's text;
//  - the management port refuses connections, and the restart is a clean one (no recovery of a crash).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import type { ConfirmChannel } from 'amqplib';
import { sleep, waitFor } from '../helpers/amqp.js';
import { channel, closeAll, confirmChannel, connect, drain, startWarren, type Conn, type TestBroker } from '../helpers/durability.js';

const PUBLISHERS = 3;
/** Confirms a publisher may wait for at once. */
const IN_FLIGHT = 300;
const FORCED = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";

const brokers: TestBroker[] = [];
const conns: Conn[] = [];
after(async () => {
  await closeAll(...conns);
  for (const b of brokers) await b.stop('SIGKILL');
});

interface Publisher {
  conn: Conn;
  acked: Set<string>;
  nacked: number;
  /** Callbacks failed by the close (published, never confirmed either way). */
  lost: number;
  inFlight: number;
  sent: number;
  done: Promise<void>;
}

function startPublisher(conn: Conn, ch: ConfirmChannel, queue: string, n: number): Publisher {
  const p: Publisher = { conn, acked: new Set(), nacked: 0, lost: 0, inFlight: 0, sent: 0, done: Promise.resolve() };
  p.done = (async () => {
    while (!conn.closed) {
      if (p.inFlight >= IN_FLIGHT) {
        await sleep(1);
        continue;
      }
      const body = `p${n}-${p.sent++}`;
      p.inFlight++;
      try {
        const ok = ch.publish('', queue, Buffer.from(body), { persistent: true }, (err: Error | null) => {
          p.inFlight--;
          if (err === null) p.acked.add(body);
          else if (/nack/i.test(err.message)) p.nacked++;
          else p.lost++;
        });
        if (!ok) await new Promise((r) => { ch.once('drain', r); conn.once('close', r); });
      } catch {
        break; // the channel is closed
      }
      if (p.sent % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  return p;
}

/** Whether a TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** The fields of the last JSON log line whose message matches. */
function lastLogLine(output: string, msg: RegExp): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.msg === 'string' && msg.test(o.msg)) found = o;
    } catch { /* not a log line */ }
  }
  return found;
}

async function shutdownUnderLoad(signal: NodeJS.Signals): Promise<void> {
  const b = await startWarren({ env: { WARREN_LOG_LEVEL: 'info' } });
  brokers.push(b);
  const queue = `shutdown-${signal}`;
  const setup = await connect(b.url);
  await (await channel(setup)).assertQueue(queue, { durable: true });
  await setup.close();

  const pubs: Publisher[] = [];
  for (let i = 0; i < PUBLISHERS; i++) {
    const conn = await connect(b.url);
    conns.push(conn);
    pubs.push(startPublisher(conn, await confirmChannel(conn), queue, i));
  }
  // Full speed for a moment, so the store is busy and confirms are pending.
  await waitFor(() => pubs.every((p) => p.acked.size >= 500), 'every publisher confirmed 500 messages', 30_000);
  const inFlightAtSignal = pubs.reduce((n, p) => n + p.inFlight, 0);
  const started = Date.now();
  await b.stop(signal);
  const tookMs = Date.now() - started;
  await Promise.all(pubs.map((p) => p.done));
  await waitFor(() => pubs.every((p) => p.inFlight === 0), 'every publish answered or failed by the close', 10_000);

  assert.ok(inFlightAtSignal > 0, 'confirms were in flight when the signal arrived');
  for (const p of pubs) {
    assert.equal(p.conn.closed, true);
    assert.match(p.conn.error?.message ?? '', /320/, `the client saw connection.close 320, got: ${p.conn.error?.message}`);
    assert.ok(p.conn.error?.message.includes(FORCED), `RabbitMQ's reply text, got: ${p.conn.error?.message}`);
    assert.equal(p.nacked, 0, 'no publish was nacked');
  }
  assert.ok(tookMs < 15_000, `shutdown took ${tookMs} ms`);
  assert.equal(await refused(Number(new URL(b.httpUrl).port)), true, 'the management port refuses connections');
  assert.equal(await refused(b.port), true, 'the AMQP port refuses connections');
  assert.ok(lastLogLine(b.output(), /^stopped$/), 'the broker logged that it stopped cleanly');

  await b.restart();
  const recovered = lastLogLine(b.output(), /^recovered /);
  assert.equal(recovered?.unclean, false, `the restart is a clean start: ${JSON.stringify(recovered)}`);
  const reader = await connect(b.url);
  conns.push(reader);
  const stored = new Set((await drain(reader, queue)).map((m) => m.content.toString()));
  const acked = new Set(pubs.flatMap((p) => [...p.acked]));
  const missing = [...acked].filter((m) => !stored.has(m));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acked messages are missing after the restart`);
  const unconfirmed = [...stored].filter((m) => !acked.has(m));
  assert.deepEqual(unconfirmed.slice(0, 10), [],
    `${unconfirmed.length} stored messages were never confirmed to their publisher: received publishes must be confirmed before the close`);
  await reader.close();
  await b.stop();
}

describe('graceful shutdown', () => {
  it('SIGTERM: listeners close, received publishes are synced and confirmed, then 320 CONNECTION_FORCED; clean restart', async () => {
    await shutdownUnderLoad('SIGTERM');
  });

  it('SIGINT behaves the same', async () => {
    await shutdownUnderLoad('SIGINT');
  });
});
