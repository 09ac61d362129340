// Slow consumers and a publisher flood at the same time (test/helpers/flood.ts has the scenario).
// Without --port it starts its own Warren with a low memory high watermark and small queue
// windows, in a temporary data directory, and stops it afterwards; with --port and --pid it runs
// against a broker that is already up (e.g. the reference RabbitMQ).
//
//   node dist/bench/load/flood.js --duration 60 --watermark 300MB
//   node dist/bench/load/flood.js --port 5673 --pid $(pgrep beam.smp) --duration 60
//
// Prints progress to stderr and one JSON line to stdout.
import { parseArgs } from 'node:util';
import { startBroker } from '../../test/helpers/broker.js';
import { runFlood } from '../../test/helpers/flood.js';

const { values: o } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    pid: { type: 'string' },
    duration: { type: 'string', default: '60' },
    watermark: { type: 'string', default: '300MB' },
    'window-messages': { type: 'string', default: '2048' },
    'window-bytes': { type: 'string', default: '4194304' },
    flooders: { type: 'string', default: '6' },
    confirmers: { type: 'string', default: '2' },
    'slow-consumers': { type: 'string', default: '4' },
    'slow-ack-ms': { type: 'string', default: '50' },
    size: { type: 'string', default: '2048' },
  },
});

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
let port = Number(o.port);
let pid = o.pid ? Number(o.pid) : undefined;
let stop: (() => Promise<void>) | null = null;
if (!o.port) {
  const broker = await startBroker({
    args: ['--memory-high-watermark', o.watermark!],
    env: {
      WARREN_QUEUE_WINDOW_MESSAGES: o['window-messages']!, WARREN_QUEUE_WINDOW_BYTES: o['window-bytes']!,
      WARREN_LOG_LEVEL: 'warn',
    },
  });
  port = broker.port;
  pid = broker.child!.pid!;
  stop = () => broker.stop();
  log(`Warren pid ${pid} on port ${port}, memory high watermark ${o.watermark}, queue windows ${o['window-messages']} messages / ${o['window-bytes']} bytes`);
}

const result = await runFlood({
  port, host: o.host, pid,
  durationMs: Number(o.duration) * 1000,
  flooders: Number(o.flooders),
  confirmers: Number(o.confirmers),
  confirmWindow: 500,
  slowConsumers: Number(o['slow-consumers']),
  slowAckMs: Number(o['slow-ack-ms']),
  bodySize: Number(o.size),
  bystanderEveryMs: 50,
  warmupMs: 3000,
  prefix: `flood-bench-${process.pid}-`,
  log,
});
process.stdout.write(`${JSON.stringify(result)}\n`);
await stop?.();
process.exit(0);
