// The leak check of the fuzz tests: what a broker holds per connection (connections and channels
// in its own counts, sockets, file descriptors, libuv handles, resident memory), read from the
// management API, before the fuzzing and after it once every fuzz connection is closed.
import type { Api } from './http.js';
import { sleep } from './fuzz-runner.js';

export interface Footprint {
  at: number;
  /** Cases run when it was taken. */
  cases: number;
  connections: number;
  channels: number;
  /** GET /api/connections and /api/channels: what the lists show, beside the totals. */
  listedConnections: number;
  listedChannels: number;
  sockets: number;
  fds: number;
  /** libuv's active handles and requests (proc_used). */
  handles: number;
  rssMiB: number;
}

export async function footprint(api: Api, cases: number): Promise<Footprint> {
  const [o, n, cs, chs] = await Promise.all([api('GET', 'overview'), api('GET', 'nodes'), api('GET', 'connections'), api('GET', 'channels')]);
  for (const r of [o, n, cs, chs]) if (r.status !== 200) throw new Error(`management API answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  const node = n.body[0];
  return {
    at: Date.now(), cases,
    connections: o.body.object_totals.connections, channels: o.body.object_totals.channels,
    listedConnections: cs.body.length, listedChannels: chs.body.length,
    sockets: node.sockets_used, fds: node.fd_used, handles: node.proc_used, rssMiB: Math.round(node.mem_used / 1048576),
  };
}

export const describeFootprint = (f: Footprint) => `after ${f.cases} cases: ${f.connections} connections (${f.listedConnections} listed), `
  + `${f.channels} channels (${f.listedChannels} listed), ${f.sockets} sockets, ${f.fds} fds, ${f.handles} handles, RSS ${f.rssMiB} MiB`;

/**
 * Waits (up to `ms`) for the broker to drop back to the baseline's connections and channels, then
 * lets it sit quiet for `quietMs` and takes the footprint. Returns the leaks it sees: counts above
 * the baseline, or RSS more than `rssSlackMiB` above it.
 */
export async function leaksAfter(api: Api, base: Footprint, cases: number, rssSlackMiB: number, ms = 20_000, quietMs = 3000): Promise<{ end: Footprint; leaks: string[] }> {
  const deadline = Date.now() + ms;
  let f = await footprint(api, cases);
  while (Date.now() < deadline && (f.connections > base.connections || f.channels > base.channels || f.listedConnections > base.listedConnections)) {
    await sleep(250);
    f = await footprint(api, cases);
  }
  await sleep(quietMs);
  f = await footprint(api, cases);
  const leaks: string[] = [];
  const counts: [keyof Footprint, number][] = [['connections', 0], ['channels', 0], ['listedConnections', 0], ['listedChannels', 0], ['sockets', 0],
    // A few descriptors and handles come and go with timers and the log; a leak grows with the cases.
    ['fds', 5], ['handles', 10]];
  for (const [k, slack] of counts) {
    if ((f[k] as number) > (base[k] as number) + slack) leaks.push(`${k}: ${base[k]} before the cases, ${f[k]} after them (allowed ${slack} more)`);
  }
  if (f.rssMiB > base.rssMiB + rssSlackMiB) leaks.push(`RSS: ${base.rssMiB} MiB after warm-up, ${f.rssMiB} MiB after the cases and ${quietMs} ms quiet (allowed ${rssSlackMiB} MiB more)`);
  return { end: f, leaks };
}
