#!/usr/bin/env node
// Counts delayed messages routed a second time after a kill -9. Warren settles a routed delayed
// message only once its queue copies are fsync'ed (so a power loss cannot lose it); a kill in
// between used to route it again, even when its first copy had been delivered and acked. The
// routed-ids journal (src/store/routed-journal.ts) now skips them on a restart on the same boot:
// this should print 0 repeats (it printed hundreds per trial before).
// Each trial: BATCH delayed messages all due at one moment, a consumer acking each on arrival
// (and learning by a round trip that the broker processed the acks), a kill -9 0-KILL_SPREAD_MS
// after the due time, a restart, and a count of the acked messages that arrive again.
//   TRIALS=10 BATCH=2000 node bench/crash-delayed-repeat.mjs   (after npm run build)
import { declareDelayedCrashTopology, delayedCrashTrial } from '../dist/test/helpers/delayed-crash.js';
import { startWarren } from '../dist/test/helpers/durability.js';

const TRIALS = Number(process.env.TRIALS ?? 10);
const BATCH = Number(process.env.BATCH ?? 2000);
const KILL_SPREAD_MS = Number(process.env.KILL_SPREAD_MS ?? 60);
const DELAY_MS = 1500;

const broker = await startWarren();
let totalAckedRepeats = 0;
let totalRepeats = 0;
try {
  await declareDelayedCrashTopology(broker.url);
  for (let t = 0; t < TRIALS; t++) {
    const { first, acked, seen } = await delayedCrashTrial(broker, t * BATCH, BATCH, DELAY_MS, Math.floor(Math.random() * KILL_SPREAD_MS));
    // Copies beyond one per unacked message: repeats (an ack in flight at the kill makes this one lower).
    const extra = seen.filter((b) => Number(b) >= first).length - (BATCH - acked.size);
    const ackedRepeats = seen.filter((b) => acked.has(b));
    totalRepeats += Math.max(0, extra);
    totalAckedRepeats += ackedRepeats.length;
    console.log(`trial ${t}: ${acked.size} of ${BATCH} acked before the kill; after the restart ${seen.length} arrived: `
      + `${extra} more than the unacked ones, ${ackedRepeats.length} already acked`);
  }
} finally {
  await broker.stop('SIGKILL');
}
console.log(`${TRIALS} trials of ${BATCH}: ${totalAckedRepeats} acked delayed messages came back after a kill -9 (${totalRepeats} repeated copies in all)`);
process.exit(0);
