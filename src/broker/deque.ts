// A growable ring buffer: O(1) push/shift at both ends, for queues that hold millions of entries
// (Array.shift is O(n) on large arrays).
export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap <<= 1;
    this.items = new Array(cap);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = item;
    this.count++;
  }

  unshift(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    if (this.count === 0) this.head = 0;
    return item;
  }

  pop(): T | undefined {
    if (this.count === 0) return undefined;
    const i = (this.head + this.count - 1) & (this.items.length - 1);
    const item = this.items[i];
    this.items[i] = undefined;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  peekLast(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.head + this.count - 1) & (this.items.length - 1)];
  }

  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) & (this.items.length - 1)];
  }

  /** Replaces the item at index i (0 = head). */
  set(i: number, item: T): void {
    if (i >= 0 && i < this.count) this.items[(this.head + i) & (this.items.length - 1)] = item;
  }

  /** Inserts so that `item` ends up at index i (0 = head), shifting later items back. */
  insertAt(i: number, item: T): void {
    if (i <= 0) return this.unshift(item);
    if (i >= this.count) return this.push(item);
    this.push(item);
    const mask = this.items.length - 1;
    for (let j = this.count - 1; j > i; j--) {
      this.items[(this.head + j) & mask] = this.items[(this.head + j - 1) & mask];
    }
    this.items[(this.head + i) & mask] = item;
  }

  clear(): void {
    this.items = new Array(16);
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & (this.items.length - 1)] as T;
  }

  /** Removes the entries for which `drop` is true, keeping order; returns how many it removed. */
  removeWhere(drop: (item: T) => boolean): number {
    const kept: T[] = [];
    let removed = 0;
    for (const item of this) {
      if (drop(item)) removed++;
      else kept.push(item);
    }
    if (removed === 0) return 0;
    this.clear();
    for (const item of kept) this.push(item);
    return removed;
  }

  private grow(): void {
    const old = this.items;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.items = next;
    this.head = 0;
  }
}
