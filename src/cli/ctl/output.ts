// What warrenctl prints: an informational line ("Listing queues for vhost / ...", as rabbitmqctl
// says it; -q drops it), then either an aligned table with a header row or, with
// --formatter json, a JSON array of objects keyed by the column names. Errors go to stderr.
export type Formatter = 'table' | 'json';

export interface OutputOptions {
  formatter: Formatter;
  /** -q: no informational lines. */
  quiet: boolean;
  /** -s / --no-table-headers: no header row (-s implies -q). */
  noHeaders: boolean;
}

export type Row = Record<string, unknown>;

/** One table cell: scalars as they are, lists comma-joined, objects as compact JSON. */
export function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.map(cell).join(',');
  return JSON.stringify(v);
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function alignedTable(columns: string[], rows: string[][]): string {
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

export class Output {
  constructor(readonly opts: OutputOptions, private readonly write = (s: string) => process.stdout.write(s)) {}

  get json(): boolean {
    return this.opts.formatter === 'json';
  }

  /** An informational line; never in JSON output, where it would break parsers. */
  info(line: string): void {
    if (!this.opts.quiet && !this.json) this.write(`${line}\n`);
  }

  /** A line of plain result text (table mode only; JSON callers print their own object). */
  text(line: string): void {
    if (!this.json) this.write(`${line}\n`);
  }

  printJson(value: unknown): void {
    this.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Rows already keyed by column name. */
  rows(columns: string[], rows: Row[]): void {
    if (this.json) {
      this.printJson(rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null]))));
      return;
    }
    const body = rows.map((r) => columns.map((c) => cell(r[c])));
    if (!this.opts.noHeaders) body.unshift(columns);
    if (body.length > 0) this.write(`${alignedTable(columns, body)}\n`);
  }
}
