// Per-object families (a sample per queue, channel, connection, exchange) written as a stream in
// slices, yielding to the event loop between them. At 100k queues these are millions of samples;
// built at once through prom-client's registry (a label hash and an object per sample) they held
// the event loop for seconds and stalled AMQP traffic. The lines are the text format prom-client
// writes (HELP, TYPE, name{labels} value), with the same label escaping.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Family, Series } from './families.js';
import type { Labels, Row, Scrape } from './scrape.js';

/** Samples written between two turns of the event loop. */
const SLICE = 2000;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function labelText(labels: Labels): string {
  let out = '';
  for (const k in labels) out += `${out === '' ? '' : ','}${k}="${escapeLabelValue(labels[k])}"`;
  return out === '' ? '' : `{${out}}`;
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

/** A row's label text, made once per scrape and shared by the family's series. */
function rowText(r: Row<unknown>): string {
  return (r.text ??= labelText(r.labels));
}

export async function* streamFamilies(s: Scrape, prefix: string, families: Family<unknown>[], skip: Set<string>): AsyncGenerator<string> {
  for (const family of families) {
    const rows = family.rows(s);
    for (const series of family.series as Series<unknown>[]) {
      const name = prefix + series.name;
      if (skip.has(name)) continue;
      skip.add(name);
      let out = `# HELP ${name} ${escapeHelp(series.help)}\n# TYPE ${name} ${series.type}\n`;
      for (let i = 0; i < rows.length; i++) {
        const v = series.value(rows[i].of);
        if (v !== null) out += `${name}${rowText(rows[i])} ${valueText(v)}\n`;
        if ((i + 1) % SLICE === 0) {
          yield out;
          out = '';
          await nextTurn();
        }
      }
      yield `${out}\n`;
    }
  }
}
