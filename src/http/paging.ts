// RabbitMQ's list parameters: name (substring, or a regex with use_regex=true), sort (a dotted
// field path) and sort_reverse, columns (dotted paths to keep), and page/page_size for the paged
// shape {items, filtered_count, item_count, page, page_count, page_size, total_count}. Without
// `page` the whole list is returned: no silent cut-off.
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { MinHeap } from '../store/min-heap.js';
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
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : 1;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
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
  const a = arrange(items, q, { build: (o) => o, defaultSort });
  return a.page ?? a.list.map(a.shape);
}

/**
 * How to list objects of one kind cheaply: `build` makes an object's full JSON; `keys` give the
 * values of the fields commonly filtered and sorted on straight from the model, so that a paged
 * request sorts 100k queues on numbers and builds JSON only for the page it returns.
 */
export interface ListSpec<T> {
  build(item: T): Json;
  /** Cheap values by field path (name, vhost, messages, ...); other fields need the built JSON. */
  keys?: Record<string, (item: T) => unknown>;
  defaultSort?: string;
}

function pageParams(q: Query): { page: number; pageSize: number } | null {
  if (q.page === undefined) return null;
  const page = Number(q.page);
  const pageSize = q.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${q.page}, page size ${q.page_size ?? DEFAULT_PAGE_SIZE}`);
  }
  return { page, pageSize };
}

function nameTest(q: Query): ((s: string) => boolean) | null {
  if (q.name === undefined || q.name === '') return null;
  const name = q.name;
  if (q.use_regex !== 'true') return (s) => s.includes(name);
  let re: RegExp;
  try {
    re = new RegExp(name);
  } catch {
    throw badRequest(`invalid regex: ${name}`);
  }
  return (s) => re.test(s);
}

interface Keyed<T> {
  o: T;
  k: unknown;
  v: unknown;
  /** Position in the input: ties keep it, as a stable sort would. */
  i: number;
}

/** Items at or above this many in an unpaged list are serialised in slices that yield to the event loop. */
const SLICE = 250;

/**
 * The list parameters applied to model objects; full JSON is built only for what is returned.
 * A page near the front is found by selecting the first page × page_size items (n log k), not by
 * sorting all; a long unpaged list is serialised in slices, so other work (AMQP traffic) runs
 * in between. Resolves to a JsonStream for those, an object otherwise (see `sendList`).
 */
export async function listObjects<T>(items: T[], q: Query, spec: ListSpec<T>): Promise<unknown> {
  const a = arrange(items, q, spec);
  if (a.page !== undefined) return a.page;
  const list = a.list;
  if (list.length < SLICE) return list.map(a.shape);
  const shape = a.shape;
  // Built and written a slice at a time as the socket takes them: no 100 MB string, and the
  // event loop serves AMQP traffic between slices.
  async function* slices(): AsyncGenerator<Buffer> {
    for (let i = 0; i < list.length; i += SLICE) {
      const text = JSON.stringify(list.slice(i, i + SLICE).map(shape));
      yield Buffer.from(`${i === 0 ? '[' : ','}${text.slice(1, -1)}${i + SLICE >= list.length ? ']' : ''}`);
      await new Promise((r) => setImmediate(r));
    }
  }
  return new JsonStream(slices);
}

/** Filters and sorts; builds the page, or hands back the whole list and how to shape each item. */
function arrange<T>(items: T[], q: Query, spec: ListSpec<T>): { page?: unknown; list: T[]; shape: (o: T) => Json } {
  const paging = pageParams(q);
  const total = items.length;
  const keys = spec.keys ?? {};
  const built = new Map<T, Json>();
  const full = (o: T): Json => {
    let j = built.get(o);
    if (j === undefined) built.set(o, (j = spec.build(o)));
    return j;
  };
  const valueOf = (path: string): ((o: T) => unknown) => keys[path] ?? ((o: T) => pick(full(o), path));
  let list = items;
  const test = nameTest(q);
  if (test !== null) {
    const name = valueOf('name');
    list = list.filter((o) => test(String(name(o) ?? '')));
  }
  const filtered = list.length;
  const sort = q.sort !== undefined && q.sort !== '' ? q.sort : spec.defaultSort ?? 'name';
  // How many of the sorted list the answer needs.
  const want = paging === null ? filtered : Math.min(filtered, paging.page * paging.pageSize);
  if (sort !== '') {
    const key = valueOf(sort);
    const vhost = valueOf('vhost');
    const reverse = q.sort_reverse === 'true';
    const asc = (a: Keyed<T>, b: Keyed<T>) => compare(a.k, b.k) || compare(a.v, b.v) || a.i - b.i;
    const order = reverse ? (a: Keyed<T>, b: Keyed<T>) => asc(b, a) : asc;
    if (want * 8 < list.length) {
      list = firstInOrder(list, want, key, vhost, order, reverse).map((p) => p.o);
    } else {
      // Each key is read once (a getter may not be free).
      const keyed: Keyed<T>[] = new Array(list.length);
      for (let i = 0; i < list.length; i++) keyed[i] = { o: list[i], k: key(list[i]), v: vhost(list[i]), i };
      list = keyed.sort(order).map((p) => p.o);
    }
  }
  const columns = q.columns !== undefined && q.columns !== '' ? q.columns.split(',').map((c) => c.trim()).filter(Boolean) : null;
  // Unpaged: each item is built once as it is shaped (no cache to fill with 100k objects).
  const shape = paging === null
    ? (o: T) => { const j = built.get(o) ?? spec.build(o); return columns === null ? j : keepColumns(j, columns); }
    : (o: T) => (columns === null ? full(o) : keepColumns(full(o), columns));
  if (paging === null) return { list, shape };
  const { page, pageSize } = paging;
  const pageCount = Math.ceil(filtered / pageSize);
  if (page > Math.max(pageCount, 1)) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${pageSize}, page count ${pageCount}`);
  }
  const slice = list.slice((page - 1) * pageSize, page * pageSize);
  return {
    list,
    shape,
    page: {
      filtered_count: filtered,
      item_count: slice.length,
      items: slice.map(shape),
      page,
      page_count: pageCount,
      page_size: pageSize,
      total_count: total,
    },
  };
}

/**
 * The first `n` of `xs` in `order`, in that order: a bounded heap keeps the n first seen so far;
 * an item whose key alone puts it after the heap's last is skipped without allocating.
 */
function firstInOrder<T>(xs: T[], n: number, key: (o: T) => unknown, vhost: (o: T) => unknown,
  order: (a: Keyed<T>, b: Keyed<T>) => number, reverse: boolean): Keyed<T>[] {
  if (n === 0) return [];
  const heap = new MinHeap<Keyed<T>>((a, b) => order(a, b) > 0);
  for (let i = 0; i < xs.length; i++) {
    const o = xs[i];
    const k = key(o);
    if (heap.size >= n) {
      const last = heap.peek()!;
      const c = reverse ? compare(last.k, k) : compare(k, last.k);
      if (c > 0) continue;
      const x = { o, k, v: vhost(o), i };
      if (c === 0 && order(x, last) > 0) continue;
      heap.pop();
      heap.push(x);
    } else {
      heap.push({ o, k, v: vhost(o), i });
    }
  }
  return [...heap.values()].sort(order);
}

/** A long JSON array, produced in slices. */
export class JsonStream {
  constructor(readonly slices: () => AsyncGenerator<Buffer>) {}
}

/** Sends what listObjects resolved to. */
export function sendList(reply: FastifyReply, result: unknown): FastifyReply {
  if (result instanceof JsonStream) return reply.type('application/json; charset=utf-8').send(Readable.from(result.slices()));
  return reply.send(result);
}

/**
 * A page of a list that is read in order from its source (pending delayed messages on disk):
 * only the page is fetched. Without `page`, the first page of the default size.
 */
export function pageFrom<T>(q: Query, total: number, fetch: (offset: number, limit: number) => T[]): unknown {
  const { page, pageSize } = pageParams({ ...q, page: q.page ?? '1' })!;
  const pageCount = Math.ceil(total / pageSize);
  if (page > Math.max(pageCount, 1)) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${pageSize}, page count ${pageCount}`);
  }
  const items = total === 0 ? [] : fetch((page - 1) * pageSize, pageSize);
  return { filtered_count: total, item_count: items.length, items, page, page_count: pageCount, page_size: pageSize, total_count: total };
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
