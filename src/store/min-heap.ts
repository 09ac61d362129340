// A binary min-heap over an array, ordered by a comparison function.

export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length !== 0) {
      a[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.items;
  }

  /** Removes the items `drop` picks; returns them. */
  removeWhere(drop: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (const it of this.items) (drop(it) ? removed : kept).push(it);
    if (removed.length === 0) return removed;
    this.items.length = 0;
    for (const it of kept) this.push(it);
    return removed;
  }

  clear(): void {
    this.items.length = 0;
  }

  private siftDown(i: number): void {
    const a = this.items;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(a[l], a[m])) m = l;
      if (r < n && this.before(a[r], a[m])) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}
