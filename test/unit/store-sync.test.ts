// When the message store fsyncs: at once for an epoch something waits for (a publisher confirm,
// a settle that must follow its copy's sync), lazily for data nobody waits for.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { MessageStore } from '../../src/store/message-store.js';
import { FLAG_PERSISTENT } from '../../src/store/segment-log.js';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A store whose lazy syncs wait `lazyMs`, and a durable queue log with one persistent record appended. */
function storeWithWrite(lazyMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'warren-sync-'));
  dirs.push(dir);
  const store = new MessageStore(dir, silent, lazyMs);
  const log = store.openDurable('/', 'q', true);
  const epoch = store.pendingEpoch;
  log.append(1, FLAG_PERSISTENT, 0, Buffer.from('\0\0\0\0body'), 4);
  return { store, log, epoch };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

describe('message store sync rounds', () => {
  it('syncs persistent data nobody waits for lazily, not in the turn it was written', async () => {
    const { store, log, epoch } = storeWithWrite(600);
    store.flush();
    assert.equal(await until(() => store.syncedEpoch >= epoch, 300), false, 'synced before the lazy interval although nothing waited');
    assert.equal(await until(() => store.syncedEpoch >= epoch, 5000), true, 'never synced');
    log.close();
  });

  it('syncs at once when a confirm waits for the epoch (asked before or after the flush)', async () => {
    for (const askFirst of [true, false]) {
      const { store, log, epoch } = storeWithWrite(60_000);
      if (askFirst) store.want(epoch);
      store.flush();
      if (!askFirst) store.want(epoch);
      assert.equal(await until(() => store.syncedEpoch >= epoch, 5000), true, `not synced (want ${askFirst ? 'before' : 'after'} the flush)`);
      log.close();
    }
  });

  it('whenSynced callbacks make the round happen at once', async () => {
    const { store, log, epoch } = storeWithWrite(60_000);
    store.flush();
    let called = false;
    store.whenSynced(epoch, () => { called = true; });
    assert.equal(await until(() => called, 5000), true);
    log.close();
  });
});
