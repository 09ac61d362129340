// RabbitMQ's list parameters: name (substring, or a regex with use_regex=true), sort (a dotted
// field path) and sort_reverse, columns (dotted paths to keep), and page/page_size for the paged
// shape {items, filtered_count, item_count, page, page_count, page_size, total_count}. Without
// `page` the whole list is returned: no silent cut-off.
import { badRequest, HttpError } from './errors.js';

export type Query = Record<string, string | undefined>;
type Json = Record<string, unknown>;

const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

/** The value at a dotted path ("message_stats.publish_details.rate"). */
export function pick(o: unknown, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Json)[k];
  }
  return v;
}

function compare(a: unknown, b: unknown): number {
  // Missing values sort first, as in RabbitMQ; numbers numerically, the rest as strings.
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function keepColumns(o: Json, columns: string[]): Json {
  const out: Json = {};
  for (const c of columns) {
    const v = pick(o, c);
    if (v === undefined) continue;
    const parts = c.split('.');
    let t = out;
    for (let i = 0; i < parts.length - 1; i++) t = (t[parts[i]] ??= {}) as Json;
    t[parts[parts.length - 1]] = v;
  }
  return out;
}

/** Applies the list parameters of `q` to `items` (already visible to the user). */
export function listResponse(items: Json[], q: Query, defaultSort = 'name'): unknown {
  const total = items.length;
  let list = items;
  if (q.name !== undefined && q.name !== '') {
    const name = q.name;
    let test: (s: string) => boolean;
    if (q.use_regex === 'true') {
      let re: RegExp;
      try {
        re = new RegExp(name);
      } catch {
        throw badRequest(`invalid regex: ${name}`);
      }
      test = (s) => re.test(s);
    } else {
      test = (s) => s.includes(name);
    }
    list = list.filter((o) => test(String(o.name ?? '')));
  }
  const sort = q.sort !== undefined && q.sort !== '' ? q.sort : defaultSort;
  if (sort !== '') {
    list = [...list].sort((a, b) => compare(pick(a, sort), pick(b, sort)) || compare(a.vhost, b.vhost));
    if (q.sort_reverse === 'true') list.reverse();
  }
  const columns = q.columns !== undefined && q.columns !== '' ? q.columns.split(',').map((c) => c.trim()).filter(Boolean) : null;
  const shape = (xs: Json[]) => (columns === null ? xs : xs.map((o) => keepColumns(o, columns)));
  if (q.page === undefined) return shape(list);
  const page = Number(q.page);
  const pageSize = q.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${q.page}, page size ${q.page_size ?? DEFAULT_PAGE_SIZE}`);
  }
  const pageCount = Math.ceil(list.length / pageSize);
  if (page > Math.max(pageCount, 1)) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${pageSize}, page count ${pageCount}`);
  }
  const slice = list.slice((page - 1) * pageSize, page * pageSize);
  return {
    filtered_count: list.length,
    item_count: slice.length,
    items: shape(slice),
    page,
    page_count: pageCount,
    page_size: pageSize,
    total_count: total,
  };
}

/** Sorts by several fields in turn, the way RabbitMQ's reply_list does with its default sort keys. */
export function sortedBy<T extends Json>(items: T[], ...keys: string[]): T[] {
  return [...items].sort((a, b) => {
    for (const k of keys) {
      const c = compare(a[k], b[k]);
      if (c !== 0) return c;
    }
    return 0;
  });
}
