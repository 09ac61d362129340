// The publishers of the flood scenario (flood.ts), in a worker thread of their own. Flooders
// publish as fast as their sockets take it, to the slow consumers' queues; one more floods the
// stalled consumers' queues; confirmers keep at most `confirmWindow` messages unconfirmed. Reports its counts to the parent every 500 ms and once more when told to stop.
import { parentPort, workerData } from 'node:worker_threads';
import { LoadPool, type LoadConnection } from './load-client.js';

export interface PublisherSetup {
  port: number;
  host?: string;
  flooders: number;
  confirmers: number;
  confirmWindow: number;
  bodySize: number;
  /** Queues the flooders and confirmers publish to, round robin. */
  targets: string[];
  /** Queues with a stalled consumer: one extra flooder of their own. */
  stalledTargets: string[];
}

export interface PublisherReport {
  flood: number;
  /** Published by the flooder of the stalled consumers' queues. */
  stalledFlood: number;
  confirmsPublished: number;
  confirmed: number;
  nacked: number;
  /** Longest time a flooder of the slow queues waited for 'drain'. */
  longestStallMs: number;
  /** connection.blocked notifications received. */
  blocked: number;
  errors: Record<string, number>;
  errorSamples: string[];
}

if (parentPort !== null && workerData !== undefined) {
  const port = parentPort;
  const o = workerData as PublisherSetup;
  const pool = new LoadPool({ port: o.port, host: o.host, heartbeat: 0 });
  const flooders: LoadConnection[] = [];
  const confirmers: LoadConnection[] = [];
  for (let i = 0; i < o.flooders; i++) flooders.push(await pool.open());
  const stallFlooder = await pool.open();
  for (let i = 0; i < o.confirmers; i++) {
    const c = await pool.open();
    await c.confirmSelect();
    confirmers.push(c);
  }
  let stopping = false;
  let longestStall = 0;
  const body = Buffer.alloc(o.bodySize, 0x66);
  const yieldTurn = () => new Promise((r) => setImmediate(r));

  const flood = async (c: LoadConnection, k: number, targets = o.targets) => {
    let n = k;
    while (!stopping && c.isOpen) {
      if (!c.publish(targets[n++ % targets.length], body)) {
        const t0 = Date.now();
        await new Promise<void>((resolve) => {
          const done = () => { clearInterval(poll); c.socket.off('drain', done); resolve(); };
          c.socket.once('drain', done);
          const poll = setInterval(() => { if (stopping || !c.isOpen) done(); }, 100);
        });
        if (targets === o.targets) longestStall = Math.max(longestStall, Date.now() - t0);
      } else if ((n & 63) === 0) {
        await yieldTurn();
      }
    }
  };
  const confirm = async (c: LoadConnection, k: number) => {
    let n = k;
    while (!stopping && c.isOpen) {
      if (c.published - c.confirmed >= o.confirmWindow) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      c.publish(o.targets[n++ % o.targets.length], body);
      if ((n & 63) === 0) await yieldTurn();
    }
  };

  const report = (): PublisherReport => ({
    flood: flooders.reduce((s, c) => s + c.published, 0),
    stalledFlood: stallFlooder.published,
    confirmsPublished: confirmers.reduce((s, c) => s + c.published, 0),
    confirmed: confirmers.reduce((s, c) => s + c.confirmed, 0),
    nacked: confirmers.reduce((s, c) => s + c.nacked, 0),
    longestStallMs: longestStall,
    blocked: [...flooders, ...confirmers, stallFlooder].reduce((s, c) => s + c.blockedCount, 0),
    errors: pool.errors.toJSON(),
    errorSamples: pool.errors.samples,
  });
  const ticker = setInterval(() => port.postMessage(report()), 500);
  port.on('message', (m) => { if (m === 'stop') stopping = true; });
  port.postMessage('ready');
  await Promise.all([...flooders.map((c, k) => flood(c, k)), ...confirmers.map(confirm), flood(stallFlooder, 0, o.stalledTargets)]);
  clearInterval(ticker);
  port.postMessage(report());
  // Dropped, not closed: the broker may be holding their reads back (see flood.ts).
  for (const c of [...flooders, ...confirmers, stallFlooder]) c.destroy();
  pool.stop();
  port.close();
}
