#!/usr/bin/env node
// Shows the one way the crash soak saw a message come back after its ack: a delayed message
// routed shortly before a kill -9 is routed again after the restart. Warren settles a routed
// delayed message only once its queue copies are fsync'ed (so a power loss cannot lose it); a
// kill in between repeats it, even when its first copy was delivered and acked.
// Each trial: BATCH delayed messages all due at one moment, a consumer acking each on arrival
// (and learning by a round trip that the broker processed the acks), a kill -9 0-KILL_SPREAD_MS
// after the due time, a restart, and a count of the acked messages that arrive again.
//   TRIALS=10 BATCH=2000 node bench/crash-delayed-repeat.mjs   (after npm run build)
import { sleep } from '../dist/test/helpers/amqp.js';
import { channel, closeAll, confirmChannel, connect, startWarren } from '../dist/test/helpers/durability.js';

const TRIALS = Number(process.env.TRIALS ?? 10);
const BATCH = Number(process.env.BATCH ?? 2000);
const KILL_SPREAD_MS = Number(process.env.KILL_SPREAD_MS ?? 60);
const DELAY_MS = 1500;

const broker = await startWarren();
let totalAckedRepeats = 0;
let totalRepeats = 0;
let next = 0;
try {
  const setup = await connect(broker.url);
  const ch = await channel(setup);
  await ch.assertExchange('later', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
  await ch.assertQueue('due', { durable: true });
  await ch.bindQueue('due', 'later', 'k');
  await closeAll(setup);
  for (let t = 0; t < TRIALS; t++) {
    const conn = await connect(broker.url);
    const sub = await channel(conn);
    const acked = new Set(); // ack processed (a round trip after it came back)
    const got = [];
    await sub.consume('due', (m) => { if (m) got.push(m); });
    const acker = (async () => {
      while (!conn.closed) {
        await sleep(2);
        const batch = got.splice(0);
        try {
          for (const m of batch) sub.ack(m);
          await sub.checkQueue('due');
        } catch { break; }
        for (const m of batch) acked.add(m.content.toString());
      }
    })();
    const pub = await confirmChannel(conn);
    const first = next;
    for (let i = 0; i < BATCH; i++) pub.publish('later', 'k', Buffer.from(String(next++)), { persistent: true, headers: { 'x-delay': DELAY_MS } });
    await pub.waitForConfirms();
    const dueAt = Date.now() + DELAY_MS; // at the latest
    await sleep(dueAt - Date.now() + Math.floor(Math.random() * KILL_SPREAD_MS));
    await broker.stop('SIGKILL');
    await acker;
    await broker.restart();
    await closeAll(conn);
    // Whatever arrives now: recovered unacked copies, and repeats.
    const again = await connect(broker.url);
    const ch2 = await channel(again);
    const seen = [];
    await ch2.consume('due', (m) => { if (m) seen.push(m); }, { noAck: true });
    await sleep(DELAY_MS + 1000);
    // Copies beyond one per unacked message: repeats (an ack in flight at the kill makes this one lower).
    const extra = seen.filter((m) => Number(m.content.toString()) >= first).length - (BATCH - acked.size);
    const ackedRepeats = seen.filter((m) => acked.has(m.content.toString()));
    totalRepeats += Math.max(0, extra);
    totalAckedRepeats += ackedRepeats.length;
    console.log(`trial ${t}: ${acked.size} of ${BATCH} acked before the kill; after the restart ${seen.length} arrived: `
      + `${extra} more than the unacked ones, ${ackedRepeats.length} already acked`);
    await closeAll(again);
  }
} finally {
  await broker.stop('SIGKILL');
}
console.log(`${TRIALS} trials of ${BATCH}: ${totalAckedRepeats} acked delayed messages came back after a kill -9 (${totalRepeats} repeated copies in all)`);
process.exit(0);
