// A strict reader of the Prometheus text exposition format (0.0.4), for the metrics tests:
// every sample must belong to a family declared by a # TYPE line before it (histogram and
// summary samples by their _bucket/_sum/_count names), a family is declared once and its
// samples are contiguous, label syntax and escapes are checked, and no series repeats.

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: PromType;
  help: string | null;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: string): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad sample value in: ${line}`);
  return Number(s);
}

/** Parses `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest of the line. */
function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const key = text.slice(i, eq);
    if (!LABEL_NAME.test(key)) throw new Error(`bad label name '${key}' in: ${line}`);
    if (key in labels) throw new Error(`label '${key}' repeated in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const ch = text[j];
      if (ch === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (ch === '"') break;
      if (ch === '\\') {
        const esc = text[j + 1];
        if (esc === 'n') value += '\n';
        else if (esc === '\\' || esc === '"') value += esc;
        else throw new Error(`bad escape \\${esc} in: ${line}`);
        j += 2;
        continue;
      }
      if (ch === '\n') throw new Error(`newline in label value: ${line}`);
      value += ch;
      j++;
    }
    labels[key] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, rest: text.slice(i + 1) };
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(name);
  if (direct && (direct.type !== 'histogram')) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: MetricFamily | null = null;
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`);
        helps.set(name, rest);
        const f = families.get(name);
        if (f) f.help = rest;
        continue;
      }
      if (!TYPES.has(rest)) throw new Error(`unknown type in: ${line}`);
      if (families.has(name)) throw new Error(`second TYPE for ${name}`);
      const f: MetricFamily = { name, type: rest as PromType, help: helps.get(name) ?? null, samples: [] };
      families.set(name, f);
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`bad sample line: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.trim().split(' ');
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new Error(`bad sample line: ${line}`);
    const value = parseValue(parts[0], line);
    const family = familyOf(name, families);
    if (!family) throw new Error(`sample of an undeclared family (no # TYPE before it): ${line}`);
    if (family !== current) {
      if (closed.has(family.name)) throw new Error(`samples of ${family.name} are not contiguous`);
      if (current) closed.add(current.name);
      current = family;
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series repeated: ${line}`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  }
  return families;
}

/** The value of the one sample `name` with exactly these labels (a subset match when `partial`). */
export function valueOf(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}, partial = false): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(labels);
      if (!partial && keys.length !== Object.keys(s.labels).length) continue;
      if (keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** Every sample named `name`, across families. */
export function samplesOf(families: Map<string, MetricFamily>, name: string): Sample[] {
  const out: Sample[] = [];
  for (const f of families.values()) for (const s of f.samples) if (s.name === name) out.push(s);
  return out;
}
