// Topic matching: binding keys in a trie of words, where '*' matches exactly one word and '#'
// zero or more. Results per routing key are cached until the bindings change, so a steady
// stream of publishes with a few routing keys costs one map lookup each.
class Node<T> {
  readonly children = new Map<string, Node<T>>();
  values: T[] = [];
}

const CACHE_LIMIT = 4096;
const NONE: readonly never[] = [];

/** Splits like RabbitMQ: "" is no words at all, "a." is ["a", ""]. */
function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicTrie<T> {
  private readonly root = new Node<T>();
  private cache = new Map<string, readonly T[]>();

  add(pattern: string, value: T): void {
    let node = this.root;
    for (const w of words(pattern)) {
      let next = node.children.get(w);
      if (next === undefined) {
        next = new Node<T>();
        node.children.set(w, next);
      }
      node = next;
    }
    node.values.push(value);
    this.cache.clear();
  }

  remove(pattern: string, value: T): void {
    const path: [Node<T>, string][] = [];
    let node = this.root;
    for (const w of words(pattern)) {
      const next = node.children.get(w);
      if (next === undefined) return;
      path.push([node, w]);
      node = next;
    }
    const i = node.values.indexOf(value);
    if (i < 0) return;
    node.values.splice(i, 1);
    // Prune nodes left with nothing below them.
    for (let j = path.length - 1; j >= 0; j--) {
      const [parent, w] = path[j];
      const child = parent.children.get(w)!;
      if (child.values.length !== 0 || child.children.size !== 0) break;
      parent.children.delete(w);
    }
    this.cache.clear();
  }

  match(routingKey: string): readonly T[] {
    const cached = this.cache.get(routingKey);
    if (cached !== undefined) return cached;
    const out: T[] = [];
    this.walk(this.root, words(routingKey), 0, out);
    const result = out.length === 0 ? NONE : out;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(routingKey, result);
    return result;
  }

  private walk(node: Node<T>, ws: string[], i: number, out: T[]): void {
    const hash = node.children.get('#');
    if (hash !== undefined) {
      // '#' swallows zero or more words: try every split point.
      for (let j = i; j <= ws.length; j++) this.walk(hash, ws, j, out);
    }
    if (i === ws.length) {
      for (const v of node.values) if (!out.includes(v)) out.push(v);
      return;
    }
    const exact = node.children.get(ws[i]);
    if (exact !== undefined) this.walk(exact, ws, i + 1, out);
    const star = node.children.get('*');
    if (star !== undefined) this.walk(star, ws, i + 1, out);
  }
}
