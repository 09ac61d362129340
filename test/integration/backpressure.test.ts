// Backpressure in Warren: a consumer that stops reading must not make the broker buffer
// without bound (deliveries wait in the queue, which pages to disk, not in socket buffers);
// a publisher that outruns a network-bound consumer is slowed down by the broker pausing its
// reads; and a prefetch window bounds unacked deliveries. The first two look at the broker
// process (its RSS) and at Warren's flow control, so they need Warren itself; the prefetch
// check runs against any broker.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, openChannel, sleep, waitFor, withTimeout } from '../helpers/amqp.js';
import { RawClient, M, publishFrames, type Delivery } from '../helpers/raw-amqp.js';
import { MiB, rssSampler } from '../helpers/process-memory.js';

/**
 * Publishes `count` messages of `size` bytes to `queue` through the default exchange as fast as
 * the socket takes them (waiting for 'drain' whenever write() says so). Each body starts with
 * its sequence number. Progress and the time spent waiting for 'drain' are observable while it
 * runs; it stops early if the connection closes or `stop()` is called.
 */
function publisher(c: RawClient, queue: string, count: number, size: number) {
  const state = { published: 0, drainWaitMs: 0, longestWaitMs: 0, waiting: false, waitStart: 0, stopped: false, lastProgress: Date.now() };
  const done = (async () => {
    const body = Buffer.alloc(size, 0x61);
    const closed = c.whenClosed.then(() => 'closed' as const);
    for (let i = 0; i < count && !state.stopped && !c.closed; i++) {
      body.writeUInt32BE(i, 0);
      const ok = c.write(publishFrames(1, '', queue, body, {}, c.frameMax));
      state.published = i + 1;
      state.lastProgress = Date.now();
      if (!ok) {
        state.waitStart = Date.now();
        state.waiting = true;
        await Promise.race([once(c.socket, 'drain'), closed]);
        state.waiting = false;
        const waited = Date.now() - state.waitStart;
        state.drainWaitMs += waited;
        state.longestWaitMs = Math.max(state.longestWaitMs, waited);
      }
    }
  })();
  return {
    state,
    done,
    stop: () => { state.stopped = true; },
    /** The longest time write() has waited for 'drain', counting a wait still in progress. */
    longestWait: () => Math.max(state.longestWaitMs, state.waiting ? Date.now() - state.waitStart : 0),
  };
}

/** Counts deliveries and checks their sequence numbers arrive in order, without keeping bodies. */
function sequenceChecker(c: RawClient) {
  const s = { received: 0, outOfOrder: 0, firstBad: '' };
  c.keepContentFrames = false;
  c.onDelivery = (d: Delivery) => {
    const seq = d.body.readUInt32BE(0);
    if (seq !== s.received && s.outOfOrder++ === 0) s.firstBad = `delivery #${s.received} carried sequence ${seq}`;
    s.received++;
  };
  return s;
}

describe('backpressure', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);
  const raws: RawClient[] = [];

  before(async () => { broker = await startBroker(); });
  after(async () => {
    for (const c of raws.splice(0)) c.destroy();
    await h.cleanup();
    await broker?.stop();
  });

  const needsWarren = () => {
    assert.ok(!broker.external, 'this test needs Warren itself (it watches the broker process and its flow control); '
      + 'it cannot run against an external broker (WARREN_TEST_URL)');
    assert.ok(broker.child?.pid, 'no broker process');
    return broker.child!.pid!;
  };

  const rawOpen = async (): Promise<RawClient> => {
    const c = await RawClient.open(broker.port, broker.host);
    raws.push(c);
    await c.openChannel(1);
    return c;
  };

  it('a consumer that stops reading its socket does not make the broker buffer without bound', async (t) => {
    const pid = needsWarren();
    const COUNT = 4800; // 300 MiB of 64 KiB messages
    const SIZE = 64 * 1024;
    const LIMIT = 250 * MiB;
    const q = h.q('stalled-consumer');

    const consumer = await rawOpen();
    await consumer.declareQueue(1, q);
    const seen = sequenceChecker(consumer);
    await consumer.consume(1, q, { noAck: true });
    consumer.socket.pause(); // stop reading: the broker's writes back up

    const mem = rssSampler(pid, 50);
    const pubConn = await rawOpen();
    const pub = publisher(pubConn, q, COUNT, SIZE);
    try {
      // Publish until done, or until the broker holds the publisher back (no progress for 2 s).
      await withTimeout((async () => {
        while (pub.state.published < COUNT && !pubConn.closed) {
          if (pub.state.waiting && Date.now() - pub.state.lastProgress > 2000) break;
          await sleep(50);
        }
      })(), 'the publisher to finish or be held back', 40_000);
      const stalledAt = pub.state.published;
      const maxWhilePaused = mem.max;
      t.diagnostic(`consumer paused: ${stalledAt} published, broker RSS max ${(maxWhilePaused / MiB).toFixed(0)} MiB`);
      assert.ok(stalledAt >= 1000, `only ${stalledAt} messages could be published before the broker pushed back`);
      assert.ok(maxWhilePaused < LIMIT,
        `broker RSS reached ${(maxWhilePaused / MiB).toFixed(0)} MiB while the consumer was not reading (limit ${LIMIT / MiB} MiB)`);

      // The consumer reads again: everything arrives, in order, and the publisher finishes.
      consumer.socket.resume();
      await withTimeout(pub.done, 'the publisher to finish after the consumer resumed', 40_000);
      assert.equal(pub.state.published, COUNT);
      await waitFor(() => seen.received >= COUNT || consumer.closed, `all ${COUNT} messages (have ${seen.received})`, 40_000);
      assert.equal(seen.received, COUNT);
      assert.equal(seen.outOfOrder, 0, seen.firstBad);
      t.diagnostic(`after the consumer resumed: broker RSS max ${(mem.max / MiB).toFixed(0)} MiB`);
      assert.ok(mem.max < LIMIT, `broker RSS reached ${(mem.max / MiB).toFixed(0)} MiB (limit ${LIMIT / MiB} MiB)`);
      assert.equal(pubConn.connectionClose, undefined, 'the publisher was not disconnected');
    } finally {
      pub.stop();
      mem.stop();
      consumer.socket.resume();
    }
  });

  it('a publisher that outruns a network-bound consumer is held back by the broker', async (t) => {
    needsWarren();
    const SIZE = 4096;
    const DEPTH_LIMIT = 20_000;
    const q = h.q('slow-reader');

    const consumer = await rawOpen();
    await consumer.declareQueue(1, q);
    const seen = sequenceChecker(consumer);
    await consumer.consume(1, q, { noAck: true });
    // A network-bound consumer: takes 128 KiB off its socket every 100 ms (about 1.3 MB/s).
    let slow = true;
    let budget = 0;
    consumer.socket.on('data', (chunk: Buffer) => {
      budget -= chunk.length;
      if (slow && budget <= 0) consumer.socket.pause();
    });
    consumer.socket.pause();
    const reader = (async () => {
      while (slow && !consumer.closed) {
        budget = 128 * 1024;
        consumer.socket.resume();
        await sleep(100);
      }
    })();

    const observer = await openChannel(await h.connect());
    const pubConn = await rawOpen();
    const pub = publisher(pubConn, q, 1_000_000, SIZE);
    let maxDepth = 0;
    const started = Date.now();
    try {
      while (Date.now() - started < 5000) {
        maxDepth = Math.max(maxDepth, (await observer.checkQueue(q)).messageCount);
        await sleep(100);
      }
      const longestWait = pub.longestWait();
      pub.stop();
      const elapsed = Date.now() - started;
      const { published, drainWaitMs } = pub.state;
      t.diagnostic(`in ${elapsed} ms: published ${published}, consumed ${seen.received}, max depth ${maxDepth}, `
        + `waited for drain ${drainWaitMs} ms, longest wait ${longestWait} ms`);
      assert.ok(maxDepth >= 1000, `the consumer should have fallen behind (queue depth only reached ${maxDepth})`);
      // Unchecked, a publisher outruns a 1.3 MB/s consumer by tens of thousands of messages here.
      assert.ok(maxDepth < DEPTH_LIMIT,
        `queue depth reached ${maxDepth} (published ${published}, consumed ${seen.received}): the publisher was not held back`);
      // Held back: the broker stopped reading the publisher's socket, so its writes stalled
      // (for seconds at a time) rather than just being slow.
      assert.ok(longestWait >= 1000,
        `the publisher's writes never stalled for 1 s (longest wait for 'drain' ${longestWait} ms; published ${published})`);
      assert.equal(pubConn.connectionClose, undefined, 'the publisher was not disconnected');

      // Once the consumer reads freely, every published message arrives, in order.
      slow = false;
      await reader;
      consumer.socket.resume();
      await pub.done;
      await waitFor(() => seen.received >= pub.state.published || consumer.closed,
        `all ${pub.state.published} messages (have ${seen.received})`, 20_000);
      assert.equal(seen.received, pub.state.published);
      assert.equal(seen.outOfOrder, 0, seen.firstBad);
    } finally {
      pub.stop();
      slow = false;
      consumer.socket.resume();
    }
  });

  it('a consumer with prefetch 10 never has more than 10 unacked deliveries', async () => {
    const q = h.q('prefetch');
    const c = await rawOpen();
    await c.declareQueue(1, q);
    const TOTAL = 300;
    for (let i = 0; i < TOTAL; i++) c.publish(1, '', q, `m-${i}`);
    await c.call(1, M.encodeBasicQos, { prefetchSize: 0, prefetchCount: 10, global: false }, M.BASIC_QOS_OK);
    // Methods on a channel are handled in order: all publishes were enqueued by now.
    const { messageCount } = await c.declareQueue(1, q, { passive: true });
    assert.equal(messageCount, TOTAL);

    let outstanding = 0;
    let maxOutstanding = 0;
    let acked = 0;
    const bodies: string[] = [];
    c.keepContentFrames = false;
    c.onDelivery = (d) => {
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      bodies.push(d.body.toString());
      const tag = d.args.deliveryTag as number;
      // Ack a little later, so deliveries pile up to the prefetch limit in between.
      setTimeout(() => {
        outstanding--;
        acked++;
        c.send(1, M.encodeBasicAck, { deliveryTag: tag, multiple: false });
      }, bodies.length % 3);
    };
    await c.consume(1, q, { noAck: false });
    await waitFor(() => acked === TOTAL || c.closed, `${TOTAL} deliveries acked (have ${acked})`, 20_000);
    assert.equal(c.connectionClose, undefined);
    assert.equal(bodies.length, TOTAL);
    assert.deepEqual(bodies, Array.from({ length: TOTAL }, (_, i) => `m-${i}`));
    assert.ok(maxOutstanding <= 10, `${maxOutstanding} unacked deliveries outstanding with prefetch 10`);
    assert.equal(maxOutstanding, 10, 'the prefetch window was used in full');
  });
});
