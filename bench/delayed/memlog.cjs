// Preload for the broker (node --require bench/delayed/memlog.cjs dist/src/cli/warren.js ...):
// every WARREN_MEMLOG_MS (250) ms appends to $WARREN_MEMLOG one line
//   unix_ms rss heapTotal heapUsed external arrayBuffers (bytes) loop_delay_max_ms loop_delay_p99_ms
// (process.memoryUsage() and the event loop's delay, perf_hooks.monitorEventLoopDelay, over the
// interval). Instrumentation only: Warren's code is unchanged.
'use strict';
const { appendFileSync } = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const file = process.env.WARREN_MEMLOG;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const every = Number(process.env.WARREN_MEMLOG_MS || 250);
  const t = setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(file, `${Date.now()} ${m.rss} ${m.heapTotal} ${m.heapUsed} ${m.external} ${m.arrayBuffers} ${(h.max / 1e6).toFixed(1)} ${(h.percentile(99) / 1e6).toFixed(1)}\n`);
    h.reset();
  }, every);
  t.unref();
}
