// SegmentLog on a real temp directory: records written, settled, paged back and recovered.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FLAG_PERSISTENT, SegmentLog, type StoredMessage } from '../../src/store/segment-log.js';

const dirs: string[] = [];
const owner = { dirty: (log: SegmentLog) => { log.flush(); }, log: pino({ level: 'silent' }) };

function freshLog(): SegmentLog {
  const dir = mkdtempSync(join(tmpdir(), 'warren-seglog-'));
  dirs.push(dir);
  return new SegmentLog(dir, owner);
}

function body(i: number, size: number): Buffer {
  // Layout of message bytes: exchange shortstr, routing key shortstr, properties (flags 0), body.
  const b = Buffer.alloc(2 + 2 + size);
  b[0] = 0; b[1] = 0; // empty exchange and routing key
  b.writeUInt16BE(0, 2); // no properties
  b.writeUInt32BE(i, 4);
  return b;
}

function readAll(log: SegmentLog): StoredMessage[] {
  const out: StoredMessage[] = [];
  for (;;) {
    const before = out.length;
    log.readPaged(1000, 1 << 30, out);
    if (out.length === before) return out;
  }
}

describe('SegmentLog', () => {
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('pages records back in order after the current segment was emptied and reused', () => {
    const log = freshLog();
    // Fill more than 1 MiB of the current segment, then settle everything: the segment is
    // truncated for reuse. Records appended afterwards must be readable from its start.
    const first: [number, number][] = [];
    for (let i = 0; i < 300; i++) first.push([i, log.append(i, FLAG_PERSISTENT, 0, body(i, 4096), 4)]);
    for (const [seq, seg] of first) log.settle(seg, seq, true);
    log.startPaging();
    for (let i = 300; i < 600; i++) log.append(i, FLAG_PERSISTENT, 0, body(i, 4096), 4);
    const got = readAll(log).map((m) => m.data.readUInt32BE(4));
    assert.deepEqual(got, Array.from({ length: 300 }, (_, k) => 300 + k));
  });

  it('recovers only live persistent records, in order, and cuts a torn tail', () => {
    const log = freshLog();
    const segs: number[] = [];
    for (let i = 1; i <= 50; i++) segs.push(log.append(i, i % 5 === 0 ? 0 : FLAG_PERSISTENT, 0, body(i, 100), 4));
    for (const i of [1, 2, 3]) log.settle(segs[i - 1], i, true);
    log.close();
    const again = new SegmentLog(log.dir, owner);
    const r = again.recover(10, 1 << 30, true);
    const loaded = r.loaded.map((m) => m.seq);
    const expected = Array.from({ length: 50 }, (_, k) => k + 1).filter((i) => i > 3 && i % 5 !== 0);
    assert.deepEqual(loaded, expected.slice(0, 10));
    assert.equal(r.paged, expected.length - 10);
    assert.deepEqual(readAll(again).map((m) => m.seq), expected.slice(10));
    assert.equal(r.nextSeq, 51);
    assert.equal(r.droppedBytes, 0);
  });

  // /dev/full fails every write with ENOSPC: a real full disk for the one file linked to it.
  it('on ENOSPC keeps unwritten records and acks, never throws, and pages the records back from memory', (t) => {
    if (!existsSync('/dev/full')) return t.skip('skipped: no /dev/full on this system');
    const dir = mkdtempSync(join(tmpdir(), 'warren-seglog-'));
    dirs.push(dir);
    symlinkSync('/dev/full', join(dir, '00000001.seg'));
    symlinkSync('/dev/full', join(dir, '00000001.ack'));
    const log = new SegmentLog(dir, owner);
    log.startPaging();
    const segs: number[] = [];
    for (let i = 1; i <= 40; i++) segs.push(log.append(i, FLAG_PERSISTENT, 0, body(i, 1000), 4));
    assert.equal(log.writeFailure?.err.code, 'ENOSPC');
    assert.equal(log.needsSync, false, 'nothing was written, so nothing can be synced');
    const got: number[] = [];
    const out: StoredMessage[] = [];
    log.readPaged(10, 1 << 30, out);
    got.push(...out.map((m) => m.data.readUInt32BE(4)));
    for (const m of out) log.settle(m.segment, m.seq, true);
    assert.doesNotThrow(() => log.flush(), 'acks that cannot be written stay pending');
    assert.equal(log.writeFailure?.err.code, 'ENOSPC');
    got.push(...readAll(log).map((m) => m.data.readUInt32BE(4)));
    assert.deepEqual(got, Array.from({ length: 40 }, (_, k) => k + 1), 'every record read back, in order');
    assert.doesNotThrow(() => log.close());
  });
});
