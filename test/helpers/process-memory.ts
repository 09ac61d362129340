// Memory of a broker process, sampled from /proc (Linux): used by the load proofs to compare
// Warren and RabbitMQ by the same measure (resident set size, VmRSS).
import { readFileSync } from 'node:fs';

export const MiB = 1024 * 1024;

/** Resident set size of a process in bytes. */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every `everyMs` until stopped: the largest value and the samples' mean. */
export function rssSampler(pid: number, everyMs = 200) {
  let max = rss(pid);
  let sum = 0;
  let n = 0;
  const timer = setInterval(() => {
    try {
      const v = rss(pid);
      if (v > max) max = v;
      sum += v;
      n++;
    } catch { /* process gone: the caller notices elsewhere */ }
  }, everyMs);
  timer.unref();
  return {
    get max() { return max; },
    get mean() { return n === 0 ? max : sum / n; },
    stop: () => clearInterval(timer),
  };
}
