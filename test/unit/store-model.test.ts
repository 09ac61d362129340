// Model-based randomized test of the message store: a real Queue + QueueMessages + MessageStore
// on a fresh data directory, driven by a seeded random sequence of operations and compared after
// every step with a plain in-memory model (per queue: the ready messages in queue order, and the
// delivered but unacked ones).
//
// Three queues share one store: a durable queue 'd' (persistent and transient messages), a
// non-durable queue 't' (paged to a transient log), and a durable x-max-priority queue 'p'.
// Windows are tiny (5-50 messages, 1-64 KiB) so paging to disk happens all the time, bodies range
// from 0 bytes to 100 KiB, and bursts of big messages roll the 16 MiB segments over.
//
// Operations: publish, burst, basic.get with and without ack, ack, reject, requeue a random
// subset of the unacked, ack all, drain, purge, store.flush(), a turn of the event loop, flush
// and wait for the fdatasync round, and restarts. A restart first flushes and waits for the
// sync; then it is clean (close(), unacked requeued first as Warren's stop does, or left unacked
// and counted as delivered) or a crash (unclean recovery, all messages redelivered), optionally
// with a torn tail: bytes that never formed a complete record appended to a segment. Since the
// crash comes after a full flush, the model is simple: the persistent messages of the durable
// queues survive, in order, the rest is gone. (Crashes that lose unflushed writes are not
// modelled.)
//
// Checked after every op: message count, unacked count and body bytes against the model; every
// delivered message is the model's next one (routing key = model id, body bytes, persistence,
// redelivered flag); purge counts; after a flush and sync, every publisher confirm is due; a
// recovery reports the survivors and the torn bytes; an empty queue with nothing unacked leaves
// less than 1 MiB of segment files.
//
// Env:
//   STORE_MODEL_SEED=n      run only seed n (printed on failure), STORE_MODEL_OPS=n ops
//   STORE_MODEL_SEEDS=n     number of short random seeds (default 200)
//   STORE_MODEL_FIRST=n     the first of them (default 1)
//   STORE_MODEL_LONG=n      number of long seeds (default 3)
//   STORE_MODEL_SHRINK=1    on failure, shrink the op sequence and print the shortest one found
//                           (STORE_MODEL_SHRINK_MS: time budget, default 60 s)
//   STORE_MODEL_REPLAY=json run the {cfg, ops} printed by the shrinker
//   STORE_MODEL_TRACE=1     print every op of the sequences that run
//   STORE_MODEL_TORN_ACKS=1 torn restarts also tear the end of an ack file
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { propertiesToBuffer } from '../../src/amqp/properties.js';
import { buildMessage } from '../../src/broker/message.js';
import { QueueMessages, type StorageOptions } from '../../src/broker/queue-messages.js';
import type { Redelivered } from '../../src/broker/queue-messages.js';
import { Queue, type QueueEntry, type QueueOptions } from '../../src/broker/queue.js';
import { MessageStore } from '../../src/store/message-store.js';
import { rng } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const silent = pino({ level: 'silent' });
const env = process.env;
const TRACE = env.STORE_MODEL_TRACE === '1';
/** Torn restarts also leave part of an ack entry at the end of an ack file (off by default: see
 * the reproduction 'acks written after a torn ack entry still count'). */
const TORN_ACKS = env.STORE_MODEL_TORN_ACKS === '1';

/** tmpfs when there is one: the test is about logic, not the disk, and fdatasync is free there. */
const TMP_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const allDirs: string[] = [];

// ------------------------------------------------------------------------- ops

type QName = 'd' | 't' | 'p';
/** clean: unacked are requeued first (as Warren's stop does); clean-unacked: they stay unacked
 * and the redelivered set includes them; crash: no close, unclean recovery; torn: crash plus
 * junk appended to a segment file, usually the newest (bytes that never made it into a complete
 * record). */
type RestartHow = 'clean' | 'clean-unacked' | 'crash' | 'torn';

type Op =
  | { t: 'pub'; q: QName; p: boolean; size: number; prio: number }
  | { t: 'burst'; q: QName; p: boolean; n: number; size: number }
  | { t: 'get'; q: QName }
  | { t: 'getNoAck'; q: QName }
  | { t: 'ack'; q: QName; pick: number }
  | { t: 'reject'; q: QName; pick: number }
  | { t: 'requeue'; q: QName; mask: number }
  | { t: 'ackAll'; q: QName }
  | { t: 'drain'; q: QName }
  | { t: 'purge'; q: QName }
  | { t: 'flush' }
  | { t: 'yield' }
  | { t: 'sync' }
  | { t: 'restart'; how: RestartHow; junk: number };

interface Config {
  windowCount: number;
  windowBytes: number;
  maxPriority: number;
}

function pickSize(r: () => number): number {
  const x = r();
  if (x < 0.05) return 0;
  if (x < 0.35) return Math.floor(r() * 64);
  if (x < 0.6) return Math.floor(r() * 4 * KiB);
  if (x < 0.85) return Math.floor(r() * 32 * KiB);
  return 32 * KiB + Math.floor(r() * 68 * KiB);
}

/** A seed's config and ops. The ops do not depend on the state they meet, so any subsequence
 * is a valid program (that is what the shrinker relies on). */
function generate(seed: number, nOps: number): { cfg: Config; ops: Op[] } {
  const r = rng(seed * 7919 + 17);
  const cfg: Config = {
    windowCount: 5 + Math.floor(r() * 46),
    windowBytes: KiB + Math.floor(r() * 63 * KiB),
    maxPriority: 1 + Math.floor(r() * 9),
  };
  const big = r() < 0.25 || nOps > 1000; // bursts of big bodies: segments roll over
  const weights: [Op['t'], number][] = [
    ['pub', 30], ['burst', big ? 1.2 : 0.6], ['get', 22], ['getNoAck', 3], ['ack', 12], ['reject', 2],
    ['requeue', 5], ['ackAll', 2], ['drain', 1.5], ['purge', 1.2], ['flush', 4], ['yield', 3], ['sync', 2],
    ['restart', 1.3],
  ];
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const queue = (): QName => { const x = r(); return x < 0.55 ? 'd' : x < 0.8 ? 't' : 'p'; };
  const ops: Op[] = [];
  for (let i = 0; i < nOps; i++) {
    let x = r() * total;
    let t: Op['t'] = 'pub';
    for (const [k, w] of weights) { if ((x -= w) < 0) { t = k; break; } }
    switch (t) {
      case 'pub': ops.push({ t, q: queue(), p: r() < 0.7, size: pickSize(r), prio: r() < 0.2 ? -1 : Math.floor(r() * (cfg.maxPriority + 3)) }); break;
      case 'burst': {
        const q: QName = r() < 0.85 ? 'd' : 't';
        if (big && r() < 0.6) ops.push({ t, q, p: r() < 0.8, n: 20 + Math.floor(r() * 160), size: 60 * KiB + Math.floor(r() * 40 * KiB) });
        else ops.push({ t, q, p: r() < 0.7, n: 10 + Math.floor(r() * 300), size: Math.floor(r() * 200) });
        break;
      }
      case 'ack': case 'reject': ops.push({ t, q: queue(), pick: r() }); break;
      case 'requeue': ops.push({ t, q: queue(), mask: Math.floor(r() * 0xffffffff) }); break;
      case 'flush': case 'yield': case 'sync': ops.push({ t }); break;
      case 'restart': {
        const x = r();
        const how: RestartHow = x < 0.35 ? 'clean' : x < 0.5 ? 'clean-unacked' : x < 0.75 ? 'crash' : 'torn';
        ops.push({ t, how, junk: Math.floor(r() * 0xffffffff) });
        break;
      }
      default: ops.push({ t, q: queue() });
    }
  }
  return { cfg, ops };
}

function fmt(op: Op): string {
  const { t, ...rest } = op;
  return `${t} ${JSON.stringify(rest)}`;
}

// ----------------------------------------------------------------------- model

interface MMsg {
  id: number;
  persistent: boolean;
  size: number;
  /** Priority level in the priority queue (0 elsewhere). */
  level: number;
  redelivered: boolean;
}

interface Unacked {
  m: MMsg;
  e: QueueEntry;
}

interface QState {
  name: QName;
  queue: Queue;
  /** Ready messages in the order the queue must hand them out. */
  ready: MMsg[];
  readyBytes: number;
  /** Delivered, not yet settled, in delivery order. */
  unacked: Unacked[];
  /** Highest store epoch a publisher confirm for this queue waits for. */
  confirmEpoch: number;
}

/** Queue order: higher priority level first, then publish order (ids grow like seqs do). */
function before(a: MMsg, b: MMsg): boolean {
  return a.level !== b.level ? a.level > b.level : a.id < b.id;
}

function insertOrdered(list: MMsg[], m: MMsg): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid], m)) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, m);
}

function bodyFor(id: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  if (size > 0) {
    const pat = Buffer.allocUnsafe(8);
    pat.writeUInt32BE(id >>> 0, 0);
    pat.writeUInt32BE(Math.imul(id, 0x9e3779b1) >>> 0, 4);
    b.fill(pat);
  }
  return b;
}

const propsCache = new Map<string, Buffer>();
function props(persistent: boolean, prio: number): Buffer {
  const key = `${persistent}/${prio}`;
  let b = propsCache.get(key);
  if (b === undefined) {
    b = propertiesToBuffer(prio >= 0 ? { deliveryMode: persistent ? 2 : 1, priority: prio } : { deliveryMode: persistent ? 2 : 1 });
    propsCache.set(key, b);
  }
  return b;
}

class ModelFailure extends Error {
  constructor(readonly kind: string, message: string) {
    super(`[${kind}] ${message}`);
  }
}

function check(cond: boolean, kind: string, message: () => string): void {
  if (!cond) throw new ModelFailure(kind, message());
}

interface DirStats {
  seg: number;
  ack: number;
  files: Map<string, number>;
}

function dirStats(dir: string): DirStats {
  const s: DirStats = { seg: 0, ack: 0, files: new Map() };
  if (!existsSync(dir)) return s;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const st = statSync(p);
    if (st.isDirectory()) {
      const sub = dirStats(p);
      s.seg += sub.seg;
      s.ack += sub.ack;
      for (const [k, v] of sub.files) s.files.set(`${f}/${k}`, v);
      continue;
    }
    s.files.set(f, st.size);
    if (f.endsWith('.seg')) s.seg += st.size;
    else if (f.endsWith('.ack')) s.ack += st.size;
  }
  return s;
}

interface Stats {
  ops: number;
  published: number;
  publishedBytes: number;
  restarts: Record<RestartHow, number>;
  maxSegment: number;
  truncations: number;
  pagedSeen: number;
  droppedBytes: number;
}

function newStats(): Stats {
  return { ops: 0, published: 0, publishedBytes: 0, restarts: { clean: 0, 'clean-unacked': 0, crash: 0, torn: 0 }, maxSegment: 0, truncations: 0, pagedSeen: 0, droppedBytes: 0 };
}

const hooks = {
  autoDelete(): void {},
  deadLetter(): void { throw new Error('no dead-letter exchange is configured'); },
  reportError(err: unknown): void { throw err; },
};

class Harness {
  readonly dataDir = mkdtempSync(join(TMP_ROOT, 'warren-store-model-'));
  store: MessageStore;
  readonly qs: Record<QName, QState>;
  private nextId = 1;
  /** Last seen size of each file in the durable queue's directory (to notice truncations). */
  private lastFiles = new Map<string, number>();

  constructor(readonly cfg: Config, readonly stats: Stats = newStats()) {
    allDirs.push(this.dataDir);
    this.store = new MessageStore(this.dataDir, silent);
    this.qs = {
      d: this.state('d', this.open('d', true)),
      t: this.state('t', this.open('t', true)),
      p: this.state('p', this.open('p', true)),
    };
  }

  private state(name: QName, queue: Queue): QState {
    return { name, queue, ready: [], readyBytes: 0, unacked: [], confirmEpoch: 0 };
  }

  private open(name: QName, fresh: boolean): Queue {
    const opts: QueueOptions = {
      durable: name !== 't', exclusive: false, autoDelete: false, owner: null,
      arguments: name === 'p' ? { 'x-max-priority': this.cfg.maxPriority } : {},
    };
    const storage: StorageOptions = { store: this.store, windowCount: this.cfg.windowCount, windowBytes: this.cfg.windowBytes };
    return new Queue(name, '/', opts, hooks, (q) => QueueMessages.create(q, storage, fresh));
  }

  dirOf(name: QName): string {
    return name === 't' ? join(this.dataDir, 'transient') : this.store.queueDir('/', name);
  }

  // --------------------------------------------------------------- operations

  async apply(op: Op): Promise<void> {
    this.stats.ops++;
    switch (op.t) {
      case 'pub': this.publish(this.qs[op.q], op.p, op.size, op.prio); break;
      case 'burst':
        for (let i = 0; i < op.n; i++) this.publish(this.qs[op.q], op.p, op.size + ((i * 7919) % 1000), -1);
        break;
      case 'get': this.get(this.qs[op.q], false); break;
      case 'getNoAck': this.get(this.qs[op.q], true); break;
      case 'ack': case 'reject': {
        const q = this.qs[op.q];
        if (q.unacked.length === 0) break;
        const [u] = q.unacked.splice(Math.floor(op.pick * q.unacked.length), 1);
        if (op.t === 'ack') q.queue.ack(u.e);
        else q.queue.discard(u.e);
        break;
      }
      case 'requeue': this.requeue(this.qs[op.q], op.mask); break;
      case 'ackAll': {
        const q = this.qs[op.q];
        for (const u of q.unacked.splice(0)) q.queue.ack(u.e);
        break;
      }
      case 'drain': {
        const q = this.qs[op.q];
        while (q.ready.length !== 0) {
          this.get(q, false);
          q.queue.ack(q.unacked.pop()!.e);
        }
        this.get(q, false); // must be empty
        break;
      }
      case 'purge': {
        const q = this.qs[op.q];
        const n = q.queue.purge();
        check(n === q.ready.length, 'purge', () => `purge of ${q.name} returned ${n}, model has ${q.ready.length} ready`);
        q.ready = [];
        q.readyBytes = 0;
        break;
      }
      case 'flush': this.store.flush(); break;
      case 'yield': await new Promise((r) => setImmediate(r)); break;
      case 'sync': await this.sync(); break;
      case 'restart': await this.restart(op.how, op.junk); break;
    }
    this.checkAll(op);
  }

  private publish(q: QState, persistent: boolean, size: number, prio: number): void {
    const id = this.nextId++;
    const msg = buildMessage('', `m${id}`, props(persistent, q.name === 'p' ? prio : -1), bodyFor(id, size));
    const r = q.queue.publish(msg);
    check(r === 0, 'publish', () => `publish to ${q.name} returned ${r}`);
    if (q.name !== 't' && persistent) q.confirmEpoch = Math.max(q.confirmEpoch, q.queue.messages.lastPushSyncEpoch());
    const level = q.name === 'p' && prio >= 0 ? Math.min(prio, this.cfg.maxPriority) : 0;
    const m: MMsg = { id, persistent, size, level, redelivered: false };
    if (q.name === 'p') insertOrdered(q.ready, m);
    else q.ready.push(m);
    q.readyBytes += size;
    this.stats.published++;
    this.stats.publishedBytes += size;
  }

  private get(q: QState, noAck: boolean): void {
    const e = q.queue.get(noAck);
    const m = q.ready.shift();
    if (m === undefined) {
      check(e === null, 'order', () => `${q.name}: model is empty but get returned ${e!.msg.routingKey} (seq ${e!.seq})`);
      return;
    }
    check(e !== null, 'order', () => `${q.name}: get returned nothing, model expects m${m.id} (${q.ready.length} more)`);
    const msg = e!.msg;
    check(msg.routingKey === `m${m.id}`, 'order', () => `${q.name}: got ${msg.routingKey} (seq ${e!.seq}), model expects m${m.id}`);
    check(msg.bodySize === m.size && msg.body.equals(bodyFor(m.id, m.size)), 'body',
      () => `${q.name}: m${m.id}: body of ${msg.bodySize} bytes differs from the ${m.size} published`);
    check(msg.persistent === m.persistent, 'body', () => `${q.name}: m${m.id}: persistent ${msg.persistent}, published ${m.persistent}`);
    check((e!.deliveries > 0) === m.redelivered, 'redelivered',
      () => `${q.name}: m${m.id} (seq ${e!.seq}) redelivered=${e!.deliveries > 0}, model says ${m.redelivered}`);
    q.readyBytes -= m.size;
    m.redelivered = true;
    if (noAck) {
      q.queue.settleNoAck(e!);
    } else {
      e!.deliveries++; // as the channel does once get-ok is written
      q.unacked.push({ m, e: e! });
    }
  }

  private requeue(q: QState, mask: number): void {
    if (q.unacked.length === 0) return;
    const r = rng(mask);
    const all = r() < 0.3;
    const back: Unacked[] = [];
    const keep: Unacked[] = [];
    for (const u of q.unacked) (all || r() < 0.5 ? back : keep).push(u);
    // Hand them over in a shuffled order: the queue sorts them back.
    for (let i = back.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [back[i], back[j]] = [back[j], back[i]];
    }
    q.unacked = keep;
    this.requeueEntries(q, back);
  }

  private requeueEntries(q: QState, back: Unacked[]): void {
    if (back.length === 0) return;
    q.queue.requeue(back.map((u) => u.e));
    for (const u of back) {
      insertOrdered(q.ready, u.m);
      q.readyBytes += u.m.size;
    }
  }

  /** Flushes and waits for the fdatasync round; every confirm must then be due. */
  async sync(): Promise<void> {
    this.store.flush();
    const target = this.store.pendingEpoch - 1;
    // As a channel does for its confirms (the store would otherwise sync lazily, within 200 ms).
    for (const q of [this.qs.d, this.qs.p]) this.store.want(q.confirmEpoch);
    this.store.want(target);
    for (let i = 0; this.store.syncedEpoch < target; i++) {
      if (i > 1_000_000) throw new Error('fdatasync round never completed');
      await new Promise((r) => setImmediate(r));
    }
    for (const q of [this.qs.d, this.qs.p]) {
      check(this.store.syncedEpoch >= q.confirmEpoch, 'confirm',
        () => `${q.name}: after flush + sync, synced epoch ${this.store.syncedEpoch} < ${q.confirmEpoch}, the epoch a publisher confirm waits for (it would never be sent)`);
    }
  }

  private async restart(how: RestartHow, junkSeed: number): Promise<void> {
    this.stats.restarts[how]++;
    const clean = how === 'clean' || how === 'clean-unacked';
    if (how === 'clean') {
      // Warren's stop closes the connections first: their unacked messages go back.
      for (const q of Object.values(this.qs)) {
        const back = q.unacked;
        q.unacked = [];
        this.requeueEntries(q, back);
      }
    }
    await this.sync();

    const redelivered = new Map<QName, Redelivered>();
    for (const q of [this.qs.d, this.qs.p]) {
      if (clean) {
        // As Warren's stop records it; unacked messages left unacked also count as delivered.
        const r = q.queue.messages.close();
        for (const u of q.unacked) r.seqs.push(u.e.seq);
        redelivered.set(q.name, r);
      } else {
        // A crash: everything was written by the flush above; close() only releases the file
        // descriptors here (a dead process's are closed too) and must not write anything.
        const dir = this.dirOf(q.name);
        const beforeClose = dirStats(dir).files;
        q.queue.messages.close();
        for (const [f, size] of dirStats(dir).files) {
          // close() seals the current segment with an index; a crashed process never does.
          if (f.endsWith('.idx') && beforeClose.get(f) !== size) {
            rmSync(join(dir, f), { force: true });
            continue;
          }
          check(beforeClose.get(f) === size, 'close', () => `${q.name}: close() wrote ${f} after a full flush (${beforeClose.get(f)} -> ${size} bytes)`);
        }
      }
    }
    if (clean) this.qs.t.queue.messages.destroy();
    else this.qs.t.queue.messages.close();

    const junk = new Map<QName, number>();
    if (how === 'torn') {
      const r = rng(junkSeed);
      for (const name of ['d', 'p'] as QName[]) {
        if (name === 'p' && r() < 0.5) continue;
        const n = this.tearTail(this.dirOf(name), r);
        if (n > 0) junk.set(name, n);
        if (TORN_ACKS && r() < 0.5) this.tearAcks(this.dirOf(name), r);
      }
    }

    this.store = new MessageStore(this.dataDir, silent);
    const leftover = dirStats(join(this.dataDir, 'transient'));
    check(leftover.files.size === 0, 'recover', () => `transient files survived a restart: ${[...leftover.files.keys()].join(', ')}`);

    for (const name of ['d', 'p'] as QName[]) {
      const old = this.qs[name];
      const survivors = [...old.ready, ...old.unacked.map((u) => u.m)].filter((m) => m.persistent);
      const queue = this.open(name, false);
      const res = queue.messages.recover(clean ? redelivered.get(name)! : { below: Number.MAX_SAFE_INTEGER, seqs: [] }, !clean);
      const q = this.state(name, queue);
      for (const m of survivors) {
        if (!clean) m.redelivered = true;
        insertOrdered(q.ready, m);
        q.readyBytes += m.size;
      }
      this.qs[name] = q;
      this.stats.droppedBytes += res.droppedBytes;
      check(res.droppedBytes === (junk.get(name) ?? 0), 'recover',
        () => `${name}: recovery dropped ${res.droppedBytes} bytes, the torn tail appended was ${junk.get(name) ?? 0}`);
      check(res.recovered === q.ready.length, 'recover',
        () => `${name}: recovered ${res.recovered} messages, model has ${q.ready.length} persistent survivors`);
    }
    this.qs.t = this.state('t', this.open('t', true));
  }

  /** Appends part of an 8-byte entry to an ack file: an ack write torn by a crash (the ack was
   * not complete, so it may be lost, but the acks written after the restart must count). */
  private tearAcks(dir: string, r: () => number): void {
    if (!existsSync(dir)) return;
    const acks = readdirSync(dir).filter((f) => f.endsWith('.ack')).sort();
    if (acks.length === 0) return;
    const junk = Buffer.alloc(1 + Math.floor(r() * 7), 0xff);
    appendFileSync(join(dir, acks[Math.floor(r() * acks.length)]), junk);
  }

  /** Appends bytes that cannot pass as a record to a segment: a write torn by a crash. */
  private tearTail(dir: string, r: () => number): number {
    if (!existsSync(dir)) return 0;
    const segs = readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
    if (segs.length === 0) return 0;
    // Usually the newest segment; sometimes an older one (its last writes were still unsynced
    // when the log rolled over to the next segment).
    const path = join(dir, segs[r() < 0.7 ? segs.length - 1 : Math.floor(r() * segs.length)]);
    let junk: Buffer;
    const kind = r();
    if (kind < 0.3) {
      // Part of a record header.
      junk = Buffer.alloc(1 + Math.floor(r() * 7));
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(r() * 256);
    } else {
      // A header promising `len` payload bytes, then fewer of them, or all with a wrong checksum.
      const len = 21 + Math.floor(r() * 200_000);
      const have = kind < 0.7 ? Math.floor(r() * len) : len;
      junk = Buffer.alloc(8 + have);
      junk.writeUInt32BE(len, 0);
      junk.writeUInt32BE(Math.floor(r() * 0xffffffff), 4);
      for (let i = 8; i < junk.length; i += 97) junk[i] = Math.floor(r() * 256);
    }
    appendFileSync(path, junk);
    return junk.length;
  }

  // ---------------------------------------------------------------- invariants

  private checkAll(op: Op): void {
    for (const q of Object.values(this.qs)) {
      const m = q.queue.messages;
      check(m.length === q.ready.length, 'count', () => `${q.name}: ${m.length} ready, model has ${q.ready.length}`);
      check(q.queue.messageCount === q.ready.length, 'count', () => `${q.name}: messageCount ${q.queue.messageCount}, model has ${q.ready.length}`);
      check(m.bytes === q.readyBytes, 'bytes', () => `${q.name}: bytes ${m.bytes}, model has ${q.readyBytes}`);
      check(q.queue.unackedCount === q.unacked.length, 'count', () => `${q.name}: unackedCount ${q.queue.unackedCount}, model has ${q.unacked.length}`);
      check(m.pagedCount >= 0 && m.pagedCount <= m.length, 'count', () => `${q.name}: ${m.pagedCount} paged of ${m.length}`);
      if (m.pagedCount > 0) this.stats.pagedSeen++;
      if (q.ready.length === 0 && q.unacked.length === 0) {
        // Everything settled: the space is given back (an emptied current segment below 1 MiB
        // may stay, to be reused).
        const disk = m.diskSize();
        check(disk < MiB, 'reclaim', () => `${q.name}: empty queue, diskSize() ${disk}`);
        const s = dirStats(this.dirOf(q.name));
        check(s.seg < MiB && s.ack < 256 * KiB, 'reclaim',
          () => `${q.name}: empty queue, but its directory holds ${s.seg} segment and ${s.ack} ack bytes: ${JSON.stringify([...s.files])}`);
      }
    }
    if (op.t === 'pub' || op.t === 'get' || op.t === 'yield' || op.t === 'flush') return;
    // Coverage: segment numbers (rollover) and files that shrank (truncation for reuse).
    const files = dirStats(this.dirOf('d')).files;
    for (const [f, size] of files) {
      if (f.endsWith('.seg')) this.stats.maxSegment = Math.max(this.stats.maxSegment, Number(f.slice(0, -4)));
      const prev = this.lastFiles.get(f);
      if (prev !== undefined && size < prev && op.t !== 'restart' && f.endsWith('.seg')) this.stats.truncations++;
    }
    this.lastFiles = files;
  }

  /** Releases the files (a test's end). */
  dispose(): void {
    for (const q of Object.values(this.qs)) {
      try { q.queue.messages.destroy(); } catch { /* already closed */ }
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Runs ops on a fresh harness; returns the failure (with the op index) or null. */
async function runOps(cfg: Config, ops: Op[], stats?: Stats, trace = false): Promise<{ index: number; error: Error } | null> {
  const h = new Harness(cfg, stats);
  let i = 0;
  try {
    for (; i < ops.length; i++) {
      if (trace) console.log(`#${i} ${fmt(ops[i])}`);
      await h.apply(ops[i]);
    }
    // The end: settle everything, which must give the disk space back.
    await h.apply({ t: 'ackAll', q: 'd' });
    for (const q of ['d', 't', 'p'] as QName[]) await h.apply({ t: 'drain', q });
    await h.apply({ t: 'sync' });
    return null;
  } catch (error) {
    return { index: i, error: error as Error };
  } finally {
    // Let scheduled flushes and fdatasync callbacks of this run finish before its files go.
    await new Promise((r) => setImmediate(r));
    h.dispose();
  }
}

function kindOf(e: Error): string {
  return e instanceof ModelFailure ? e.kind : e.message.split('\n')[0];
}

/** Delta debugging over the op list (and the size of bursts), keeping the same kind of failure. */
async function shrink(cfg: Config, ops: Op[], kind: string, budgetMs: number): Promise<Op[]> {
  const t0 = Date.now();
  const fails = async (cand: Op[]) => {
    const f = await runOps(cfg, cand);
    return f !== null && kindOf(f.error) === kind;
  };
  let cur = ops;
  for (let round = 0; round < 3 && Date.now() - t0 < budgetMs; round++) {
    const start = cur.length;
    // Remove chunks of ops, halving the chunk size.
    for (let chunk = Math.max(1, cur.length >> 1); chunk >= 1; chunk >>= 1) {
      let progress = true;
      while (progress && Date.now() - t0 < budgetMs) {
        progress = false;
        for (let at = cur.length - chunk; at >= 0 && Date.now() - t0 < budgetMs; at -= chunk) {
          const cand = [...cur.slice(0, at), ...cur.slice(at + chunk)];
          if (await fails(cand)) {
            cur = cand;
            progress = true;
          }
        }
      }
    }
    // Simpler ops: smaller bursts, empty bodies, clean restarts.
    for (let i = 0; i < cur.length && Date.now() - t0 < budgetMs; i++) {
      const op = cur[i];
      const simpler: Op[] = [];
      if (op.t === 'burst') for (let n = 1; n < op.n; n = Math.ceil(n * 1.5)) simpler.push({ ...op, n });
      if (op.t === 'pub' && op.size > 0) simpler.push({ ...op, size: 0 });
      if (op.t === 'restart' && op.how !== 'clean') simpler.push({ ...op, how: 'clean' });
      for (const o of simpler) {
        const cand = [...cur];
        cand[i] = o;
        if (await fails(cand)) {
          cur = cand;
          break;
        }
      }
    }
    if (cur.length === start) break;
  }
  return cur;
}

async function runSeed(seed: number, nOps: number, stats: Stats): Promise<void> {
  const { cfg, ops } = generate(seed, nOps);
  const f = await runOps(cfg, ops, stats, TRACE);
  if (f === null) return;
  let msg = `seed ${seed} (${nOps} ops, ${JSON.stringify(cfg)}) failed at op #${f.index} ${f.index < ops.length ? fmt(ops[f.index]) : '(final drain)'}:\n  ${f.error.message}\n`
    + `  replay: STORE_MODEL_SEED=${seed}${nOps !== shortLength(seed) ? ` STORE_MODEL_OPS=${nOps}` : ''} node --test dist/test/unit/store-model.test.js\n`;
  if (env.STORE_MODEL_SHRINK === '1') {
    const small = await shrink(cfg, ops.slice(0, f.index + 1), kindOf(f.error), Number(env.STORE_MODEL_SHRINK_MS ?? 60_000));
    const again = await runOps(cfg, small);
    msg += `  shrunk to ${small.length} ops (then ${again?.error.message ?? 'passes?!'}):\n${small.map((o, i) => `    #${i} ${fmt(o)}`).join('\n')}\n`
      + `  STORE_MODEL_REPLAY='${JSON.stringify({ cfg, ops: small })}'\n`;
  } else {
    msg += '  (STORE_MODEL_SHRINK=1 to shrink it)\n';
  }
  const e = new Error(msg);
  e.stack = `${msg}\n${f.error.stack ?? ''}`;
  throw e;
}

function shortLength(seed: number): number {
  return 200 + (Math.imul(seed, 2654435761) >>> 0) % 301;
}

function report(t: { diagnostic(s: string): void }, s: Stats): void {
  t.diagnostic(`${s.ops} ops, ${s.published} messages published (${(s.publishedBytes / MiB).toFixed(1)} MiB), `
    + `restarts ${JSON.stringify(s.restarts)}, highest segment number ${s.maxSegment}, `
    + `segment truncations seen ${s.truncations}, ops with paged messages ${s.pagedSeen}, torn bytes dropped ${s.droppedBytes}`);
}

after(() => {
  for (const d of allDirs) rmSync(d, { recursive: true, force: true });
});

describe('message store against a model', { timeout: 600_000 }, () => {
  if (env.STORE_MODEL_REPLAY !== undefined) {
    // {"cfg": {...}, "ops": [...]}: an op list as printed by the shrinker.
    it('replay', async () => {
      const { cfg, ops } = JSON.parse(env.STORE_MODEL_REPLAY!) as { cfg: Config; ops: Op[] };
      const f = await runOps(cfg, ops, undefined, TRACE);
      if (f !== null) assert.fail(`failed at op #${f.index}: ${f.error.message}`);
    });
    return;
  }
  if (env.STORE_MODEL_SEED !== undefined) {
    const seed = Number(env.STORE_MODEL_SEED);
    it(`seed ${seed}`, async (t) => {
      const stats = newStats();
      await runSeed(seed, Number(env.STORE_MODEL_OPS ?? shortLength(seed)), stats);
      report(t, stats);
    });
    return;
  }

  it('random short sequences', async (t) => {
    const stats = newStats();
    const n = Number(env.STORE_MODEL_SEEDS ?? 200);
    const first = Number(env.STORE_MODEL_FIRST ?? 1);
    const failures: string[] = [];
    for (let seed = first; seed < first + n; seed++) {
      try {
        await runSeed(seed, shortLength(seed), stats);
      } catch (e) {
        failures.push((e as Error).message);
        if (failures.length >= 3) break;
      }
    }
    report(t, stats);
    if (failures.length) assert.fail(`${failures.length} failing seed(s) (first ones):\n${failures.join('\n')}`);
  });

  it('random long sequences (many segments)', async (t) => {
    const stats = newStats();
    const n = Number(env.STORE_MODEL_LONG ?? 3);
    for (let i = 0; i < n; i++) await runSeed(1_000_001 + i, 3000, stats);
    report(t, stats);
  });
});

// ------------------------------------------------------------------ reproductions
// Minimal, deterministic cases the model found (shrunk by hand from the seeds), and the paths the
// random runs reach rarely (truncation of an emptied current segment, torn tails).

const rigs: Rig[] = [];

/** One durable queue on its own data directory, driven step by step. */
class Rig {
  readonly dir = mkdtempSync(join(TMP_ROOT, 'warren-store-rig-'));
  store!: MessageStore;
  queue!: Queue;

  constructor(readonly windowCount: number, readonly windowBytes: number) {
    allDirs.push(this.dir);
    rigs.push(this);
    this.open(true);
  }

  open(fresh: boolean): void {
    this.store = new MessageStore(this.dir, silent);
    const storage: StorageOptions = { store: this.store, windowCount: this.windowCount, windowBytes: this.windowBytes };
    this.queue = new Queue('q', '/', { durable: true, exclusive: false, autoDelete: false, owner: null, arguments: {} }, hooks,
      (q) => QueueMessages.create(q, storage, fresh));
  }

  get messages(): QueueMessages {
    return this.queue.messages;
  }

  /** Publishes `tag` (its routing key) with a body of `size` bytes. */
  pub(tag: string, size = 10, persistent = true): ReturnType<typeof buildMessage> {
    const msg = buildMessage('', tag, props(persistent, -1), Buffer.alloc(size, tag));
    assert.equal(this.queue.publish(msg), 0);
    return msg;
  }

  /** basic.get with ack: the entry stays unacked. */
  get(): QueueEntry {
    const e = this.queue.get(false);
    assert.ok(e !== null, 'queue unexpectedly empty');
    e.deliveries++;
    return e;
  }

  /** basic.get no-ack of everything ready: [tag, redelivered] pairs. */
  takeAll(): [string, boolean][] {
    const out: [string, boolean][] = [];
    for (let e = this.queue.get(true); e !== null; e = this.queue.get(true)) {
      out.push([e.msg.routingKey, e.deliveries > 0]);
      this.queue.settleNoAck(e);
    }
    return out;
  }

  async synced(): Promise<void> {
    this.store.flush();
    const target = this.store.pendingEpoch - 1;
    this.store.want(target);
    while (this.store.syncedEpoch < target) await new Promise((r) => setImmediate(r));
  }

  /** Flush, then a clean shutdown (close) or a crash (files left as they are), and recovery. */
  async restart(how: 'clean' | 'crash', alsoRedelivered: number[] = []): Promise<{ recovered: number; droppedBytes: number }> {
    await this.synced();
    const r = this.messages.close();
    r.seqs.push(...alsoRedelivered);
    this.open(false);
    return this.messages.recover(how === 'clean' ? r : { below: Number.MAX_SAFE_INTEGER, seqs: [] }, how === 'crash');
  }

  segFiles(): Map<string, number> {
    return dirStats(this.store.queueDir('/', 'q')).files;
  }
}

describe('message store: reproductions', () => {
  after(() => {
    for (const r of rigs.splice(0)) {
      try { r.messages.destroy(); } catch { /* closed by the test */ }
    }
  });

  it('an acked message stays acked across a restart (the last ack of a small current segment)', async () => {
    // Bug: SegmentLog.settle() drops the segment's pending acks, the last one included, when the
    // settle empties a segment it does not delete (the current segment below 1 MiB, or the
    // paging cursor's): nothing records the acks, so the messages come back after a restart.
    for (const how of ['clean', 'crash'] as const) {
      const rig = new Rig(10, 64 * KiB);
      rig.pub('a');
      rig.queue.ack(rig.get());
      const r = await rig.restart(how);
      assert.deepEqual(rig.takeAll(), [], `${how} restart: the acked message came back`);
      assert.equal(r.recovered, 0);
    }
  });

  it('a confirm for a persistent message read back from disk in its publishing turn becomes due', async () => {
    // Bug: SegmentLog.readPaged() (and roll(), dropPaged(), reserve()) write the buffered
    // records through flushWrites(), whose "persistent data went out" result is ignored; the
    // store's flush then sees nothing persistent, starts no sync and never advances the epoch
    // the publisher confirm waits for (until some later persistent publish happens to).
    const rig = new Rig(10, KiB);
    rig.pub('big', 2 * KiB); // above the byte window: paged out at once
    const epoch = rig.messages.lastPushSyncEpoch();
    assert.ok(epoch > 0);
    rig.queue.ack(rig.get()); // read back from the log in the same turn
    await rig.synced();
    assert.ok(rig.store.syncedEpoch >= epoch, `synced epoch ${rig.store.syncedEpoch} never reaches the confirm's epoch ${epoch}`);
  });

  it('a confirm becomes due when its message was settled before the flush (truncate for reuse)', async () => {
    // Bug, same family: the message is appended (its confirm waits for the next epoch) and
    // consumed and acked in the same turn; the last ack empties the current segment of 1 MiB or
    // more, which is truncated for reuse and its buffered bytes dropped. The flush then writes
    // nothing persistent, so no epoch is started or synced and the confirm is never sent.
    const rig = new Rig(100, 64 * MiB);
    const epochs: number[] = [];
    for (let i = 0; i < 20; i++) {
      rig.pub(`m${i}`, 60 * KiB);
      epochs.push(rig.messages.lastPushSyncEpoch());
    }
    for (let i = 0; i < 20; i++) rig.queue.ack(rig.get());
    await rig.synced();
    assert.ok(rig.store.syncedEpoch >= Math.max(...epochs), `synced epoch ${rig.store.syncedEpoch}, confirms wait for ${Math.max(...epochs)}`);
  });

  it('messages published after an unclean recovery are not marked redelivered', async () => {
    // Bug: after a crash every recovered message counts as delivered (the predicate is
    // () => true), and QueueMessages keeps applying it to every record it pages in until the
    // paging ends: messages published after the restart that get paged are marked redelivered.
    const rig = new Rig(2, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t);
    await rig.restart('crash');
    rig.pub('new'); // paged: older messages are still on disk
    assert.deepEqual(rig.takeAll(), [['a', true], ['b', true], ['c', true], ['new', false]]);
  });

  it('messages published after a clean restart are not marked redelivered (reused seqs)', async () => {
    // Bug, same place: the clean shutdown records the seqs of redelivered messages, transient
    // ones included, which are not in the log. The recovered log's next seq can then be below
    // them, a new message reuses such a seq, and paging in marks it redelivered.
    const rig = new Rig(2, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t); // c paged
    const a = rig.get();
    const b = rig.get(); // refill reads c back: nothing paged
    rig.pub('transient', 10, false); // in memory, never written: seq 4
    const c = rig.get();
    const t = rig.get();
    rig.queue.requeue([a, b, c, t]);
    await rig.restart('clean'); // redelivered: 1, 2, 3, 4; the log ends at seq 3
    rig.pub('new'); // paged (c is), and gets seq 4
    assert.deepEqual(rig.takeAll(), [['a', true], ['b', true], ['c', true], ['new', false]]);
  });

  it('recovered messages still on disk keep their redelivered mark across a clean restart', async () => {
    // Bug: QueueMessages.close() reports only the in-memory entries with deliveries > 0; messages
    // recovered as redelivered (after a crash) that are still paged lose the mark at the next
    // clean restart.
    const rig = new Rig(2, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t);
    await rig.restart('crash');
    await rig.restart('clean');
    assert.deepEqual(rig.takeAll(), [['a', true], ['b', true], ['c', true]]);
  });

  it('an unacked message survives when paging reads over a transient record after a restart', async () => {
    // Bug (message loss): SegmentLog.recover() counts only live records in a segment's `live`,
    // but readPaged() decrements `live` again for the dead records it skips (transient ones,
    // or acked) in recovered segments. The count reaches 0 while a message is still unacked,
    // the segment file is deleted, and that message is gone after the next restart.
    const rig = new Rig(3, 64 * KiB);
    for (const t of ['a', 'b', 'c', 'd']) rig.pub(t);
    rig.pub('transient', 10, false); // paged, so written to the durable queue's log
    await rig.restart('clean');
    const a = rig.get(); // stays unacked
    for (let i = 0; i < 3; i++) rig.queue.ack(rig.get()); // b, c, d: paging reads over 'transient'
    const files = rig.segFiles();
    assert.ok([...files.keys()].some((f) => f.endsWith('.seg')), `the segment holding unacked 'a' was deleted: ${JSON.stringify([...files])}`);
    rig.queue.requeue([a]);
    await rig.restart('clean');
    assert.deepEqual(rig.takeAll(), [['a', true]]);
  });

  it('no duplicate delivery when paging starts again after the recovered tail was read back', async () => {
    // After recovery the log has no current segment, so a refill batch ending exactly at the end
    // of the last recovered segment left the cursor parked there (fixed in 983a26f).
    const rig = new Rig(2, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t);
    await rig.restart('clean'); // a, b in memory; c paged
    rig.queue.ack(rig.get()); // a
    rig.queue.ack(rig.get()); // b: refill reads c, the batch (room 1) ends at the end of the segment
    rig.pub('d'); // kept in memory (written to a new segment)
    rig.pub('e'); // paged
    assert.deepEqual(rig.takeAll().map(([t]) => t), ['c', 'd', 'e']);
  });

  it('no duplicate delivery when the recovered tail ends with a dead record', async () => {
    // Bug: a refill batch that fills up (by count or bytes) on the last live record of the
    // recovered log stops in front of the dead records after it (here a transient one), so
    // readPaged() does not reach the end and leaves the cursor parked in that segment although
    // QueueMessages counts nothing paged. The next push that pages calls startPaging(), which does
    // nothing while a cursor exists; the next refill reads on from the parked cursor into the new
    // segment from offset 0, messages held in memory included: 'd' is delivered twice, and
    // 'e', counted as read, stays on disk unseen.
    const rig = new Rig(2, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t);
    rig.pub('transient', 10, false); // paged: written to the durable queue's log, dead after a restart
    await rig.restart('clean'); // a, b in memory; c paged
    rig.queue.ack(rig.get()); // a
    rig.queue.ack(rig.get()); // b: refill reads c (room 1) and stops in front of 'transient'
    rig.pub('d'); // kept in memory (written to a new segment)
    rig.pub('e'); // paged
    assert.deepEqual(rig.takeAll().map(([t]) => t), ['c', 'd', 'e']);
  });

  it('gives the disk space back when the recovered tail ends with dead records', async () => {
    // The same parked cursor, seen as a disk leak: paging stops (by bytes) in front of a dead
    // transient record, the cursor stays in the segment, and a segment the cursor is in is
    // never deleted, though every message in it is acked.
    const rig = new Rig(10, 4 * KiB);
    for (let i = 0; i < 30; i++) rig.pub(`m${i}`, 40 * KiB); // well past 1 MiB, all paged
    rig.pub('transient', 0, false);
    await rig.restart('clean');
    for (let e = rig.queue.get(false); e !== null; e = rig.queue.get(false)) rig.queue.ack(e);
    assert.equal(rig.messages.length, 0);
    await rig.synced();
    assert.ok(rig.messages.diskSize() < MiB, `an empty queue keeps ${rig.messages.diskSize()} bytes of segments`);
  });

  it('acked messages in a later recovered segment are not delivered again', async () => {
    // Bug: SegmentLog.recover() throws away the ack set of every segment but the one the paging
    // cursor starts in (`if (seg !== this.cursorSeg) seg.acked = null`), yet readPaged() relies
    // on it to skip acked records when the cursor reaches the later segments: 'c' (acked) is
    // delivered again after the restart, and since the paged count runs out early, 'd' is not.
    const rig = new Rig(1, 64 * KiB);
    rig.pub('a');
    rig.pub('b');
    await rig.restart('clean'); // segment 1: a, b
    rig.pub('c'); // segment 2: c, d
    rig.pub('d');
    const a = rig.get();
    const b = rig.get();
    rig.queue.ack(rig.get()); // c
    rig.queue.requeue([a, b]);
    await rig.restart('clean'); // a in memory, b paged: the cursor starts in segment 1
    assert.deepEqual(rig.takeAll().map(([t]) => t), ['a', 'b', 'd']);
  });

  it('acks written after a torn ack entry still count', async () => {
    // Bug: an ack file whose end holds part of an 8-byte entry (a short write: flushAcks() does
    // not retry one, e.g. on a full disk; or a torn write) is read back ignoring the partial
    // entry, but left as it is: the acks appended after the restart are misaligned, read back
    // as garbage, and the messages they settled come back at the next restart.
    const rig = new Rig(10, 64 * KiB);
    for (const t of ['a', 'b', 'c']) rig.pub(t);
    rig.queue.ack(rig.get()); // a: the segment keeps b, c, so its ack is written
    await rig.synced();
    rig.messages.close();
    // A crash that cut the write of an ack entry after a's.
    const dir = rig.store.queueDir('/', 'q');
    const ack = readdirSync(dir).find((f) => f.endsWith('.ack'))!;
    assert.equal(statSync(join(dir, ack)).size, 8);
    appendFileSync(join(dir, ack), Buffer.from([0, 0, 0]));
    rig.open(false);
    rig.messages.recover({ below: Number.MAX_SAFE_INTEGER, seqs: [] }, true);
    rig.queue.ack(rig.get()); // b
    await rig.restart('clean');
    assert.deepEqual(rig.takeAll(), [['c', true]]);
  });

  it('truncates an emptied current segment of 1 MiB or more and reuses it, across restarts', async () => {
    const rig = new Rig(5, 8 * KiB);
    for (let i = 0; i < 40; i++) rig.pub(`x${i}`, 32 * KiB);
    await rig.synced();
    const seg = [...rig.segFiles().keys()].find((f) => f.endsWith('.seg'))!;
    assert.ok(rig.segFiles().get(seg)! > MiB);
    for (let e = rig.queue.get(false); e !== null; e = rig.queue.get(false)) rig.queue.ack(e);
    await rig.synced();
    assert.equal(rig.segFiles().get(seg), 0, 'the emptied current segment was not truncated');
    assert.equal(rig.messages.diskSize(), 0);
    // Reused from offset 0: paging and recovery read what is written there next.
    for (let i = 0; i < 12; i++) rig.pub(`y${i}`, 100);
    assert.deepEqual([...rig.segFiles().keys()].filter((f) => f.endsWith('.seg')), [seg]);
    rig.queue.ack(rig.get());
    await rig.restart('crash');
    assert.deepEqual(rig.takeAll().map(([t]) => t), Array.from({ length: 11 }, (_, i) => `y${i + 1}`));
  });

  it('cuts a torn tail of the newest segment and keeps everything before it', async () => {
    for (const junk of [Buffer.from([0, 0, 1]), Buffer.from('00001000deadbeef', 'hex'), Buffer.alloc(5000, 7)]) {
      const rig = new Rig(4, 64 * KiB);
      for (let i = 0; i < 10; i++) rig.pub(`m${i}`, 300);
      await rig.synced();
      rig.messages.close();
      const dir = rig.store.queueDir('/', 'q');
      const seg = readdirSync(dir).filter((f) => f.endsWith('.seg')).sort().pop()!;
      appendFileSync(join(dir, seg), junk);
      rig.open(false);
      const r = rig.messages.recover({ below: Number.MAX_SAFE_INTEGER, seqs: [] }, true);
      assert.deepEqual(r, { recovered: 10, droppedBytes: junk.length });
      assert.deepEqual(rig.takeAll().map(([t]) => t), Array.from({ length: 10 }, (_, i) => `m${i}`));
    }
  });
});
