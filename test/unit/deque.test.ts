// Deque (ring buffer): every operation against a plain array model, across growth and wrap-around.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Deque } from '../../src/broker/deque.js';
import { rng } from './helpers.js';

function check<T>(d: Deque<T>, model: T[], what: string): void {
  assert.equal(d.length, model.length, `${what}: length`);
  assert.deepEqual([...d], model, `${what}: contents`);
  assert.equal(d.peek(), model[0], `${what}: peek`);
  assert.equal(d.peekLast(), model[model.length - 1], `${what}: peekLast`);
  for (let i = 0; i < model.length; i++) assert.equal(d.at(i), model[i], `${what}: at(${i})`);
  assert.equal(d.at(-1), undefined);
  assert.equal(d.at(model.length), undefined);
}

describe('Deque', () => {
  test('empty deque', () => {
    const d = new Deque<number>();
    check(d, [], 'empty');
    assert.equal(d.shift(), undefined);
    assert.equal(d.pop(), undefined);
    assert.equal(d.removeWhere(() => true), 0);
  });

  test('push/shift in FIFO order across growth', () => {
    const d = new Deque<number>();
    const model: number[] = [];
    for (let i = 0; i < 100; i++) {
      d.push(i);
      model.push(i);
    }
    check(d, model, 'after 100 pushes');
    for (let i = 0; i < 100; i++) assert.equal(d.shift(), i);
    check(d, [], 'drained');
  });

  test('unshift/pop and unshift from an empty deque wraps to the end of the buffer', () => {
    const d = new Deque<number>();
    const model: number[] = [];
    for (let i = 0; i < 40; i++) {
      d.unshift(i);
      model.unshift(i);
    }
    check(d, model, 'after 40 unshifts');
    for (let i = 0; i < 40; i++) assert.equal(d.pop(), i);
    check(d, [], 'drained');
  });

  test('growth while the contents wrap around the end of the buffer', () => {
    const d = new Deque<number>(16);
    const model: number[] = [];
    // move the head near the end of the 16-slot buffer
    for (let i = 0; i < 12; i++) d.push(i);
    for (let i = 0; i < 12; i++) d.shift();
    // (shift to empty resets head to 0, so wrap the other way: unshift makes head = 15)
    for (let i = 0; i < 8; i++) { d.unshift(-i); model.unshift(-i); }
    for (let i = 0; i < 8; i++) { d.push(100 + i); model.push(100 + i); }
    check(d, model, 'full and wrapped');
    d.push(999); // grows with the contents wrapped
    model.push(999);
    check(d, model, 'after growth');
    d.unshift(-999);
    model.unshift(-999);
    check(d, model, 'unshift after growth');
  });

  test('a capacity that is not a power of two is rounded up', () => {
    const d = new Deque<number>(100);
    const model: number[] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) { d.unshift(i); model.unshift(i); } else { d.push(i); model.push(i); }
    }
    check(d, model, 'mixed');
  });

  test('insertAt at the ends, in the middle, beyond the ends, while wrapped', () => {
    const d = new Deque<string>();
    const model: string[] = [];
    for (let i = 0; i < 10; i++) { d.unshift(`u${i}`); model.unshift(`u${i}`); }
    for (let i = 0; i < 5; i++) { d.push(`p${i}`); model.push(`p${i}`); }
    const ops: [number, string][] = [[0, 'head'], [model.length + 1, 'tail'], [3, 'mid3'], [-5, 'neg'], [100, 'far'], [8, 'mid8']];
    for (const [i, v] of ops) {
      d.insertAt(i, v);
      model.splice(Math.max(0, Math.min(i, model.length)), 0, v);
      check(d, model, `insertAt(${i})`);
    }
    // fill to force growth through insertAt
    for (let i = 0; i < 40; i++) {
      const at = (i * 7) % (model.length + 1);
      d.insertAt(at, `g${i}`);
      model.splice(at, 0, `g${i}`);
    }
    check(d, model, 'insertAt through growth');
  });

  test('removeWhere keeps order and counts', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 50; i++) d.unshift(i);
    const model = [...d];
    assert.equal(d.removeWhere((x) => x % 3 === 0), model.filter((x) => x % 3 === 0).length);
    const kept = model.filter((x) => x % 3 !== 0);
    check(d, kept, 'after removeWhere');
    assert.equal(d.removeWhere(() => false), 0);
    check(d, kept, 'nothing removed');
    assert.equal(d.removeWhere(() => true), kept.length);
    check(d, [], 'all removed');
    d.push(1);
    check(d, [1], 'usable after removing everything');
  });

  test('clear', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 40; i++) d.push(i);
    d.clear();
    check(d, [], 'cleared');
    d.unshift(5);
    d.push(6);
    check(d, [5, 6], 'after clear');
  });

  test('shift and pop release their slots (no stale references)', () => {
    const d = new Deque<object>();
    const a = {};
    const b = {};
    d.push(a);
    d.push(b);
    d.shift();
    d.pop();
    const slots = (d as unknown as { items: unknown[] }).items;
    assert.ok(!slots.includes(a) && !slots.includes(b));
  });

  test('seeded random operations against an array model', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = rng(seed);
      const d = new Deque<number>(seed === 1 ? 1 : 16);
      const model: number[] = [];
      let next = 0;
      for (let step = 0; step < 4000; step++) {
        const r = rand();
        // bias towards growth in the first half, shrinking in the second
        const grow = step < 2000 ? 0.6 : 0.4;
        let what: string;
        if (r < grow * 0.4) {
          what = 'push';
          d.push(next);
          model.push(next++);
        } else if (r < grow * 0.8) {
          what = 'unshift';
          d.unshift(next);
          model.unshift(next++);
        } else if (r < grow) {
          const i = Math.floor(rand() * (model.length + 3)) - 1;
          what = `insertAt(${i})`;
          d.insertAt(i, next);
          model.splice(Math.max(0, Math.min(i, model.length)), 0, next++);
        } else if (r < grow + (1 - grow) * 0.45) {
          what = 'shift';
          assert.equal(d.shift(), model.shift());
        } else if (r < grow + (1 - grow) * 0.9) {
          what = 'pop';
          assert.equal(d.pop(), model.pop());
        } else if (r < grow + (1 - grow) * 0.98) {
          const m = 2 + Math.floor(rand() * 5);
          what = `removeWhere(%${m})`;
          const want = model.filter((x) => x % m === 0).length;
          assert.equal(d.removeWhere((x) => x % m === 0), want);
          for (let i = model.length - 1; i >= 0; i--) if (model[i] % m === 0) model.splice(i, 1);
        } else {
          what = 'at';
          const i = Math.floor(rand() * (model.length + 2)) - 1;
          assert.equal(d.at(i), model[i]);
        }
        assert.equal(d.length, model.length, `seed ${seed} step ${step} ${what}`);
        if (step % 50 === 0) check(d, model, `seed ${seed} step ${step} ${what}`);
      }
      check(d, model, `seed ${seed} end`);
    }
  });
});
