// ConfirmTracker: publisher confirms coalesced into basic.ack multiple=true, in order, once each.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfirmTracker, NACK, NOW, type ConfirmOutput } from '../../src/server/confirms.js';
import { rng } from './helpers.js';

class Out implements ConfirmOutput {
  sent: string[] = [];
  ack(tag: number, multiple: boolean): void {
    this.sent.push(`ack ${tag}${multiple ? ' multiple' : ''}`);
  }
  nack(tag: number, multiple: boolean): void {
    this.sent.push(`nack ${tag}${multiple ? ' multiple' : ''}`);
  }
  take(): string[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

function publish(t: ConfirmTracker, epoch: number): boolean {
  return t.record(t.next(), epoch);
}

describe('ConfirmTracker', () => {
  test('publish numbers start at 1', () => {
    const t = new ConfirmTracker();
    assert.equal(t.next(), 1);
    assert.equal(t.next(), 2);
    assert.equal(t.seq, 2);
  });

  test('a single immediate publish is acked alone', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    assert.equal(publish(t, NOW), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 1']);
    t.write(out);
    assert.deepEqual(out.take(), [], 'nothing sent twice');
  });

  test('immediate acks coalesce into one multiple=true', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    for (let i = 0; i < 5; i++) assert.equal(publish(t, NOW), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 5 multiple']);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 6']);
    publish(t, NOW);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 8 multiple']);
  });

  test('publishes waiting on store epochs are acked as the epochs sync', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    assert.equal(publish(t, 3), false);
    assert.equal(publish(t, 3), false);
    assert.equal(publish(t, 4), false);
    assert.equal(t.pendingSync, true);
    t.write(out);
    assert.deepEqual(out.take(), []);
    assert.equal(t.advance(2), false);
    t.write(out);
    assert.deepEqual(out.take(), []);
    assert.equal(t.advance(3), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 2 multiple']);
    assert.equal(t.advance(4), true);
    assert.equal(t.pendingSync, false);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 3']);
    assert.equal(t.advance(10), false);
  });

  test('an immediate publish behind a waiting one waits too (confirms stay in order)', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    assert.equal(publish(t, 5), false);
    assert.equal(publish(t, NOW), false);
    t.write(out);
    assert.deepEqual(out.take(), []);
    assert.equal(t.advance(5), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 2 multiple']);
  });

  test('one sync settles several epochs at once', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    publish(t, 1);
    publish(t, 2);
    publish(t, 3);
    publish(t, 4);
    assert.equal(t.advance(3), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 3 multiple']);
  });

  test('a NACK in the middle: ack up to before it, nack, then ack after', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    publish(t, NOW);
    publish(t, NOW);
    publish(t, NOW);
    assert.equal(publish(t, NACK), true);
    publish(t, NOW);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 3 multiple', 'nack 4', 'ack 6 multiple']);
    t.write(out);
    assert.deepEqual(out.take(), []);
  });

  test('a NACK right after one ack, and a NACK first', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    assert.equal(publish(t, NACK), true);
    t.write(out);
    assert.deepEqual(out.take(), ['nack 1'], 'no ack of tag 0');
    publish(t, NOW);
    publish(t, NACK);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 2', 'nack 3', 'ack 4']);
  });

  test('consecutive NACKs, and a NACK already covered by an earlier write', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    publish(t, NOW);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 2 multiple']);
    publish(t, NACK);
    publish(t, NACK);
    publish(t, NOW);
    t.write(out);
    assert.deepEqual(out.take(), ['nack 3', 'nack 4', 'ack 5']);
  });

  test('a NACK behind a waiting publish is sent after it, in order', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    assert.equal(publish(t, 7), false);
    assert.equal(publish(t, NACK), false);
    assert.equal(publish(t, NOW), false);
    assert.equal(publish(t, 8), false);
    t.write(out);
    assert.deepEqual(out.take(), []);
    assert.equal(t.advance(7), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 1', 'nack 2', 'ack 3']);
    assert.equal(t.pendingSync, true);
    assert.equal(t.advance(8), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 4']);
  });

  test('random interleavings: every publish confirmed exactly once, in order, never early', () => {
    for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
      const rand = rng(seed);
      const t = new ConfirmTracker();
      const epochOf: number[] = [0]; // index = tag
      let storeEpoch = 1; // the epoch new durable publishes wait for
      let synced = 0;
      let due = false;
      let confirmed = 0; // highest tag confirmed so far
      const outcome: ('ack' | 'nack')[] = [];
      const out: ConfirmOutput = {
        ack(tag, multiple) {
          assert.ok(tag > confirmed, `seed ${seed}: ack ${tag} after ${confirmed}`);
          if (!multiple) assert.equal(tag, confirmed + 1, `seed ${seed}: single ack leaves no gap`);
          else assert.ok(tag > confirmed + 1, `seed ${seed}: multiple only for a run`);
          for (let x = confirmed + 1; x <= tag; x++) {
            assert.notEqual(epochOf[x], NACK, `seed ${seed}: tag ${x} acked but must be nacked`);
            assert.ok(epochOf[x] <= synced, `seed ${seed}: tag ${x} acked before epoch ${epochOf[x]} synced (${synced})`);
            outcome[x] = 'ack';
          }
          confirmed = tag;
        },
        nack(tag, multiple) {
          assert.equal(multiple, false);
          assert.equal(tag, confirmed + 1, `seed ${seed}: nack in order`);
          assert.equal(epochOf[tag], NACK);
          outcome[tag] = 'nack';
          confirmed = tag;
        },
      };
      const write = () => {
        const before = confirmed;
        t.write(out);
        if (!due) assert.equal(confirmed, before, `seed ${seed}: output although nothing was reported due`);
        due = false;
      };
      for (let step = 0; step < 3000; step++) {
        const r = rand();
        if (r < 0.55) {
          const k = rand();
          const epoch = k < 0.4 ? NOW : k < 0.45 ? NACK : storeEpoch;
          const tag = t.next();
          epochOf[tag] = epoch;
          due = t.record(tag, epoch) || due;
        } else if (r < 0.7) {
          storeEpoch++;
        } else if (r < 0.85) {
          synced = Math.min(storeEpoch, synced + 1 + Math.floor(rand() * 2));
          due = t.advance(synced) || due;
        } else {
          write();
        }
      }
      synced = storeEpoch;
      due = t.advance(synced) || due;
      write();
      assert.equal(t.pendingSync, false);
      assert.equal(confirmed, t.seq, `seed ${seed}: all confirmed`);
      for (let tag = 1; tag <= t.seq; tag++) {
        assert.equal(outcome[tag], epochOf[tag] === NACK ? 'nack' : 'ack', `seed ${seed}: tag ${tag}`);
      }
      write();
      assert.equal(confirmed, t.seq, 'nothing more');
    }
  });

  test('fail() nacks the publishes waiting for failed epochs, in order with the acks around them', () => {
    const t = new ConfirmTracker();
    const out = new Out();
    publish(t, 3); // 1
    publish(t, 4); // 2
    publish(t, 4); // 3
    publish(t, 5); // 4
    publish(t, NOW); // 5
    assert.equal(t.advance(3), true);
    assert.equal(t.fail(4, 4), true, 'epoch 4 failed: 2 and 3 are due as nacks');
    t.write(out);
    assert.deepEqual(out.take(), ['ack 1', 'nack 2', 'nack 3']);
    assert.equal(t.pendingSync, true, '4 still waits for epoch 5');
    assert.equal(t.fail(6, 9), false, 'no publish waits for epochs 6..9');
    assert.equal(t.advance(5), true);
    t.write(out);
    assert.deepEqual(out.take(), ['ack 5 multiple']);
    assert.equal(t.pendingSync, false);
  });
});
