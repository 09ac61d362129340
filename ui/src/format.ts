// Numbers for people: 1.2k, 3.4 MiB, 1.2k/s, "in 2 min".
export function num(n: number | undefined | null): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a < 1000) return Number.isInteger(n) ? String(n) : n.toFixed(a < 10 ? 1 : 0).replace(/\.0$/, '');
  const units = ['k', 'M', 'G', 'T'];
  let v = n;
  let i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Math.abs(v) < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[i]}`;
}

export function rate(r: number | undefined | null): string {
  if (r === undefined || r === null) return '–';
  if (r > 0 && r < 0.1) return '<0.1/s';
  return `${num(r)}/s`;
}

export function bytes(b: number | undefined | null): string {
  if (b === undefined || b === null || Number.isNaN(b)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A span of milliseconds: "45 s", "2 min", "3 h 5 min", "4 days". */
export function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 1) return `${Math.round(Math.abs(ms))} ms`;
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return d === 1 ? '1 day' : `${d} days`;
}

/** Relative to now: "in 2 min", "5 s ago", "now". */
export function fromNow(at: number, now = Date.now()): string {
  const d = at - now;
  if (Math.abs(d) < 1000) return 'now';
  return d > 0 ? `in ${span(d)}` : `${span(d)} ago`;
}

export function clock(at: number): string {
  return new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '–';
}
