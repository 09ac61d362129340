// TopicTrie: RabbitMQ topic matching ('*' one word, '#' zero or more), removal and caching.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicTrie } from '../../src/broker/topic-trie.js';
import { rng } from './helpers.js';

/** Reference matcher, straight from the definition. "" has no words; otherwise split on '.'. */
function refMatch(pattern: string, key: string): boolean {
  const p = pattern === '' ? [] : pattern.split('.');
  const k = key === '' ? [] : key.split('.');
  const go = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') {
      for (let jj = j; jj <= k.length; jj++) if (go(i + 1, jj)) return true;
      return false;
    }
    if (j === k.length) return false;
    return (p[i] === '*' || p[i] === k[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

const TABLE: [pattern: string, key: string, matches: boolean][] = [
  ['#', '', true],
  ['*', '', false],
  ['#', 'a', true],
  ['#', 'a.b.c', true],
  ['#.#', '', true],
  ['#.#', 'a.b', true],
  ['a.#', 'a', true],
  ['a.#', 'a.b', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'b', false],
  ['a.#', '', false],
  ['a.#', 'ab', false],
  ['#.a.#', 'a', true],
  ['#.a.#', 'x.a.y', true],
  ['#.a.#', 'x.y.a', true],
  ['#.a.#', 'a.a', true],
  ['#.a.#', 'x.y', false],
  ['#.a.#', '', false],
  ['#.b', 'b', true],
  ['#.b', 'a.b', true],
  ['#.b', 'a.b.c', false],
  ['a.#.b', 'a.b', true],
  ['a.#.b', 'a.x.y.b', true],
  ['a.#.b', 'a.b.x', false],
  ['a.*', 'a.', true], // "a." is the two words "a" and ""
  ['a.*', 'a', false],
  ['a.*', 'a.b', true],
  ['a.*', 'a.b.c', false],
  ['a.*.#', 'a', false],
  ['a.*.#', 'a.b', true],
  ['a.*.#', 'a.b.c.d', true],
  ['*', 'a', true],
  ['*', 'a.b', false],
  ['*', '.', false],
  ['*.*', '.', true],
  ['*.*', 'a.b', true],
  ['*.*', 'a', false],
  ['*.#', '', false],
  ['*.#', 'a', true],
  ['#.*', '', false],
  ['#.*', 'a', true],
  ['#.*', 'a.b.c', true],
  ['*.b.*', 'a.b.c', true],
  ['*.b.*', 'a.c.c', false],
  ['a.b', 'a.b', true],
  ['a.b', 'a.c', false],
  ['a.b', 'a.b.c', false],
  ['a.b', 'a', false],
  ['a.b', 'A.b', false],
  ['a.b', 'a.*', false], // '*' in a routing key is a literal word
  ['a', 'a', true],
  ['', '', true],
  ['', 'a', false],
  ['a..b', 'a..b', true],
  ['a.*.b', 'a..b', true],
  ['stock.usd.nyse', 'stock.usd.nyse', true],
  ['*.orange.*', 'quick.orange.rabbit', true],
  ['*.*.rabbit', 'quick.orange.rabbit', true],
  ['lazy.#', 'lazy.orange.male.rabbit', true],
  ['*.orange.*', 'quick.orange.male.rabbit', false],
  ['*.*.rabbit', 'lazy.brown.fox', false],
];

describe('TopicTrie matching', () => {
  test('the reference matcher agrees with the table', () => {
    for (const [p, k, want] of TABLE) assert.equal(refMatch(p, k), want, `${JSON.stringify(p)} vs ${JSON.stringify(k)}`);
  });

  test('table of patterns vs routing keys, one pattern per trie', () => {
    for (const [p, k, want] of TABLE) {
      const t = new TopicTrie<string>();
      t.add(p, 'v');
      assert.deepEqual([...t.match(k)], want ? ['v'] : [], `${JSON.stringify(p)} vs ${JSON.stringify(k)}`);
    }
  });

  test('all patterns in one trie', () => {
    const patterns = [...new Set(TABLE.map(([p]) => p))];
    const keys = [...new Set(TABLE.map(([, k]) => k))];
    const t = new TopicTrie<string>();
    for (const p of patterns) t.add(p, p);
    for (const k of keys) {
      const want = patterns.filter((p) => refMatch(p, k)).sort();
      assert.deepEqual([...t.match(k)].sort(), want, JSON.stringify(k));
    }
  });

  test('random patterns and keys agree with the reference matcher', () => {
    const rand = rng(7);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const genWords = (alphabet: string[]) => Array.from({ length: Math.floor(rand() * 5) }, () => pick(alphabet)).join('.');
    for (let round = 0; round < 30; round++) {
      const t = new TopicTrie<number>();
      const patterns: string[] = [];
      for (let i = 0; i < 20; i++) {
        const p = genWords(['a', 'b', '', '*', '#', '#']);
        patterns.push(p);
        t.add(p, i);
      }
      for (let i = 0; i < 40; i++) {
        const k = genWords(['a', 'b', '', 'c']);
        const want = patterns.flatMap((p, idx) => (refMatch(p, k) ? [idx] : []));
        assert.deepEqual([...t.match(k)].sort((x, y) => x - y), want, `${JSON.stringify(k)} in ${JSON.stringify(patterns)}`);
      }
    }
  });

  test('a value bound through several matching patterns is returned once', () => {
    const t = new TopicTrie<string>();
    t.add('a.*', 'q');
    t.add('#', 'q');
    t.add('a.b', 'q');
    t.add('*.b', 'r');
    assert.deepEqual([...t.match('a.b')].sort(), ['q', 'r']);
  });

  test('the same pattern with several values', () => {
    const t = new TopicTrie<string>();
    t.add('x.#', 'q1');
    t.add('x.#', 'q2');
    assert.deepEqual([...t.match('x.y')].sort(), ['q1', 'q2']);
    t.remove('x.#', 'q1');
    assert.deepEqual([...t.match('x.y')], ['q2']);
  });

  test('no match is an empty result', () => {
    const t = new TopicTrie<string>();
    assert.deepEqual([...t.match('a')], []);
    t.add('b', 'v');
    assert.deepEqual([...t.match('a')], []);
  });
});

describe('TopicTrie removal and cache', () => {
  test('remove() then no match', () => {
    const t = new TopicTrie<string>();
    for (const [p] of TABLE) t.add(p, `v:${p}`);
    for (const [p] of TABLE) t.remove(p, `v:${p}`);
    for (const [, k] of TABLE) assert.deepEqual([...t.match(k)], [], JSON.stringify(k));
  });

  test('removing one pattern leaves patterns sharing its path', () => {
    const t = new TopicTrie<string>();
    t.add('a.b', 'short');
    t.add('a.b.c', 'long');
    t.add('a.#', 'hash');
    t.remove('a.b.c', 'long');
    assert.deepEqual([...t.match('a.b')].sort(), ['hash', 'short']);
    assert.deepEqual([...t.match('a.b.c')], ['hash']);
    t.add('a.b.c', 'long');
    t.remove('a.b', 'short');
    assert.deepEqual([...t.match('a.b.c')].sort(), ['hash', 'long']);
    assert.deepEqual([...t.match('a.b')], ['hash']);
    t.remove('a.#', 'hash');
    assert.deepEqual([...t.match('a.b')], []);
    assert.deepEqual([...t.match('a.b.c')], ['long']);
  });

  test('removing something that is not there is a no-op', () => {
    const t = new TopicTrie<string>();
    t.add('a.b', 'v');
    t.remove('a.b', 'other');
    t.remove('a.c', 'v');
    t.remove('a.b.c', 'v');
    t.remove('', 'v');
    assert.deepEqual([...t.match('a.b')], ['v']);
  });

  test('cached results are invalidated by add and remove', () => {
    const t = new TopicTrie<string>();
    t.add('a.b', 'exact');
    assert.deepEqual([...t.match('a.b')], ['exact']);
    assert.deepEqual([...t.match('a.c')], []);
    t.add('a.*', 'star');
    assert.deepEqual([...t.match('a.b')].sort(), ['exact', 'star']);
    assert.deepEqual([...t.match('a.c')], ['star']);
    t.remove('a.b', 'exact');
    assert.deepEqual([...t.match('a.b')], ['star']);
    t.remove('a.*', 'star');
    assert.deepEqual([...t.match('a.b')], []);
    assert.deepEqual([...t.match('a.c')], []);
    t.add('#', 'all');
    assert.deepEqual([...t.match('a.c')], ['all']);
    assert.deepEqual([...t.match('')], ['all']);
  });

  test('results stay right beyond the cache size limit', () => {
    const t = new TopicTrie<string>();
    t.add('k.*', 'star');
    t.add('k.7', 'seven');
    for (let i = 0; i < 5000; i++) {
      const m = [...t.match(`k.${i}`)].sort();
      assert.deepEqual(m, i === 7 ? ['seven', 'star'] : ['star']);
    }
    assert.deepEqual([...t.match('k.7')].sort(), ['seven', 'star']);
    t.remove('k.*', 'star');
    assert.deepEqual([...t.match('k.4999')], []);
  });
});
