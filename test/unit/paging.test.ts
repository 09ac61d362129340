// The list parameters' paging: a page near the front is selected with a bounded heap instead of
// a full sort; it must give exactly what a stable full sort gives, ties and sort_reverse included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listResponse } from '../../src/http/paging.js';

type Page = { items: { name: string }[]; filtered_count: number; page_count: number };

describe('list paging', () => {
  // 300 items over 3 vhosts with few distinct values: plenty of ties.
  const items = Array.from({ length: 300 }, (_, i) => ({ name: `q${(i * 7919) % 300}`, vhost: `v${i % 3}`, messages: (i * 31) % 5, x: i % 2 === 0 ? undefined : i }));

  /** The reference: a stable sort of everything, then the slice. */
  function expected(sort: string, reverse: boolean, page: number, size: number): string[] {
    const cmp = (a: unknown, b: unknown): number => {
      if (a === b) return 0;
      if (a === undefined) return -1;
      if (b === undefined) return 1;
      if (typeof a === 'number' && typeof b === 'number') return a - b;
      return String(a) < String(b) ? -1 : 1;
    };
    const withPos = items.map((o, i) => ({ o, i }));
    const asc = (a: { o: any; i: number }, b: { o: any; i: number }) => cmp(a.o[sort], b.o[sort]) || cmp(a.o.vhost, b.o.vhost) || a.i - b.i;
    withPos.sort(reverse ? (a, b) => asc(b, a) : asc);
    return withPos.slice((page - 1) * size, page * size).map((p) => p.o.name);
  }

  for (const sort of ['messages', 'name', 'x']) {
    for (const reverse of [false, true]) {
      it(`sort=${sort}${reverse ? ' reversed' : ''}: selected pages equal the full sort's`, () => {
        for (const [page, size] of [[1, 5], [2, 5], [3, 10], [1, 30], [3, 100]]) {
          const r = listResponse(items, { sort, sort_reverse: String(reverse), page: String(page), page_size: String(size) }) as Page;
          assert.deepEqual(r.items.map((o) => o.name), expected(sort, reverse, page, size), `page ${page} of ${size}`);
          assert.equal(r.filtered_count, 300);
          assert.equal(r.page_count, Math.ceil(300 / size));
        }
      });
    }
  }
});
