// The bookkeeping and the verdict of the kill -9 tests (test/durability/crash*.ts): what was
// published, confirmed, delivered and acked across rounds that each end in a crash, and the
// rules the whole history must obey at the end:
//  - every confirmed message was consumed at least once (acked before a crash, or drained at the end);
//  - nothing was consumed that was never published, and every body is intact;
//  - a message consumed more often than it was published lost an ack; that is allowed only for an
//    ack still in flight at the kill. An ack counts as processed once a round trip on the
//    consumer's channel that followed it came back (a channel handles methods in order); an ack
//    processed more than `ackGraceMs` before the kill must never be undone;
//  - a message delivered again (published once) is flagged redelivered;
//  - per stream (one publisher into one queue), messages published once are drained in publish order.
// Keys identify one copy of a message in one queue (a number, or e.g. "queue|id" when a message
// is routed to several queues).
import assert from 'node:assert/strict';
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { sleep } from './amqp.js';
import type { Conn } from './durability.js';

export interface Ack {
  round: number;
  /** When the broker was known to have processed the ack (a later round trip returned), if it was. */
  processedAt?: number;
}

export interface Ledger<K> {
  /** key -> times published (more than once: republished after an unconfirmed crash). */
  published: Map<K, number>;
  confirmed: Set<K>;
  /** key -> each ack sent. */
  acks: Map<K, Ack[]>;
  /** When each round's broker was killed. */
  killedAt: number[];
  /** Keys delivered so far (to tell a redelivery). */
  delivered: Set<K>;
  /** key -> each delivery's round, with "r" when flagged redelivered (to explain a failure). */
  deliveries: Map<K, string[]>;
  problems: string[];
}

export function newLedger<K>(): Ledger<K> {
  return { published: new Map(), confirmed: new Set(), acks: new Map(), killedAt: [], delivered: new Set(), deliveries: new Map(), problems: [] };
}

/** The id at the front of a test body `${id}:...`, or -1 when the body is not one of ours. */
export function idOf(body: string): number {
  const colon = body.indexOf(':');
  return colon > 0 ? Number(body.slice(0, colon)) : -1;
}

/**
 * Records a delivery during a round. Returns false (and records a problem) for a message that
 * was never published or whose body is damaged: the caller must not ack it.
 */
export function noteDelivery<K>(l: Ledger<K>, key: K, body: string, expected: string, redelivered: boolean, where: string, round: number): boolean {
  if (!l.published.has(key) || body !== expected) {
    l.problems.push(`${where}: delivered a message that was never published: ${JSON.stringify(body.slice(0, 60))}`);
    return false;
  }
  if (l.delivered.has(key) && l.published.get(key) === 1 && !redelivered) {
    l.problems.push(`${where}: message ${String(key)} delivered again without the redelivered flag`);
  }
  l.delivered.add(key);
  const tag = redelivered ? `${round}r` : String(round);
  const list = l.deliveries.get(key);
  if (list) list.push(tag);
  else l.deliveries.set(key, [tag]);
  return true;
}

/**
 * True when a message published once comes back although an ack of it was processed more than
 * `ackGraceMs` before an earlier kill: the broker lost the ack (a failure as soon as it is seen).
 */
export function ackUndone<K>(l: Ledger<K>, key: K, round: number, ackGraceMs: number): boolean {
  if (l.published.get(key) !== 1) return false;
  const acks = l.acks.get(key);
  return acks !== undefined && acks.some((a) => a.round < round && a.processedAt !== undefined && l.killedAt[a.round] - a.processedAt >= ackGraceMs);
}

/** A delivery waiting for its ack, with the keys one ack of it settles (several for a multiple ack). */
export interface Unacked<K> {
  m: ConsumeMessage;
  key: K;
}

/**
 * Acks what `queue` collected every 0-30 ms (so some deliveries are always unacked), either one by
 * one or with a single multiple=true ack for the batch, then makes a round trip on the channel
 * (a passive declare) to learn that the broker processed those acks. Runs until `stopped()`.
 */
export async function runAcker<K>(opts: {
  ledger: Ledger<K>; ch: Channel; conn: Conn; queue: string; round: number; toAck: Unacked<K>[];
  multiple: boolean; random: () => number; stopped: () => boolean; counted?: (n: number) => void;
}): Promise<void> {
  const { ledger, ch, conn, toAck } = opts;
  while (!opts.stopped() && !conn.closed) {
    await sleep(Math.floor(opts.random() * 30));
    if (opts.stopped() || conn.closed) break;
    const batch: Ack[] = [];
    try {
      const taken = toAck.splice(0);
      if (taken.length === 0) continue;
      if (opts.multiple) ch.ack(taken[taken.length - 1].m, true);
      for (const { m, key } of taken) {
        if (!opts.multiple) ch.ack(m);
        const a: Ack = { round: opts.round };
        batch.push(a);
        const list = ledger.acks.get(key);
        if (list) list.push(a);
        else ledger.acks.set(key, [a]);
      }
      opts.counted?.(taken.length);
      await ch.checkQueue(opts.queue);
    } catch {
      break; // the broker is gone: these acks may or may not have been processed
    }
    const now = Date.now();
    for (const a of batch) a.processedAt = now;
  }
}

export interface PublishStats {
  published: number;
  republished: number;
  confirmed: number;
}

/**
 * A confirmed publisher: publishes `next()` ids until `stopped()` or the connection dies, with at
 * most `maxInFlight` confirms outstanding. An id stays in `pending` until confirmed; the caller
 * republishes what is pending after the crash (at-least-once, as real applications do).
 */
export async function runPublisher<K>(opts: {
  conn: Conn; ch: ConfirmChannel; ledger: Ledger<K>; next: () => number; pending: Set<number>;
  /** The ledger keys of id (one per queue it is routed to). */
  keysOf: (id: number) => K[];
  body: (id: number) => string;
  exchange: string; routingKey: (id: number) => string; options: (id: number) => Options.Publish;
  stats: PublishStats; stopped: () => boolean; maxInFlight: number;
  /** Called just before each publish (e.g. to note the time). */
  onPublish?: (id: number) => void;
  /** A rate limit (so a long soak does not pile up a backlog no consumer keeps up with). */
  perSecond?: number;
}): Promise<void> {
  const { conn, ch, ledger, pending, stats } = opts;
  let inFlight = 0;
  let sent = 0;
  const started = Date.now();
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  while (!opts.stopped() && !conn.closed) {
    const id = opts.next();
    pending.add(id);
    const keys = opts.keysOf(id);
    const times = (ledger.published.get(keys[0]) ?? 0) + 1;
    for (const k of keys) ledger.published.set(k, times);
    stats.published++;
    if (times > 1) stats.republished++;
    inFlight++;
    opts.onPublish?.(id);
    let ok: boolean;
    try {
      ok = ch.publish(opts.exchange, opts.routingKey(id), Buffer.from(opts.body(id)), opts.options(id), (err: unknown) => {
        inFlight--;
        if (err) return; // nacked, or the connection died: unconfirmed, republished next round
        for (const k of keys) ledger.confirmed.add(k);
        pending.delete(id);
        stats.confirmed++;
      });
    } catch {
      break; // the channel is already closed
    }
    if (!ok) await Promise.race([new Promise((r) => ch.once('drain', r)), closed]);
    while (inFlight >= opts.maxInFlight && !conn.closed) await sleep(1);
    if (opts.perSecond) {
      const ahead = (++sent * 1000) / opts.perSecond - (Date.now() - started);
      if (ahead >= 2) await sleep(ahead);
    }
  }
}

/**
 * The keys of a final drain, in order; a message never published or with a damaged body is a
 * problem, not a key. `keyOf` maps a message's id to its key in this queue.
 */
export function drainedKeys<K>(l: Ledger<K>, drained: { content: Buffer }[], keyOf: (id: number) => K, expected: (id: number) => string): K[] {
  const out: K[] = [];
  for (const m of drained) {
    const body = m.content.toString();
    const id = idOf(body);
    const key = keyOf(id);
    if (!l.published.has(key) || body !== expected(id)) {
      l.problems.push(`the final drain holds a message that was never published: ${JSON.stringify(body.slice(0, 60))}`);
      continue;
    }
    out.push(key);
  }
  return out;
}

export interface Verdict<K> {
  /** Times each key was consumed (acked during the rounds or drained at the end). */
  consumed: Map<K, number>;
  lost: K[];
  neverPublished: K[];
  duplicates: number;
  republishedDuplicates: number;
  /** Explained only by the broker's own repeats (`repeated`). */
  repeatedDuplicates: number;
  inFlightAckDuplicates: number;
  /** Of the lost acks the broker had processed: the most ms before the kill. */
  latestLostAck: number;
  unexplained: string[];
  totalAcks: number;
}

/**
 * Judges the history. `drained` are the keys of the final drain in order (bodies already checked
 * by the caller); `stream`/`seq` place a key in its publisher's order when that order must hold.
 * `repeated` counts copies the broker itself published again (a delayed message routed a second
 * time after a crash): they count as publishes.
 */
export function judge<K>(l: Ledger<K>, drained: K[], ackGraceMs: number,
  order?: { stream: (k: K) => string | undefined; seq: (k: K) => number }, repeated?: Map<K, number>): Verdict<K> {
  const consumed = new Map<K, number>();
  const count = (k: K) => consumed.set(k, (consumed.get(k) ?? 0) + 1);
  let totalAcks = 0;
  for (const [k, acks] of l.acks) for (let i = 0; i < acks.length; i++) { count(k); totalAcks++; }
  const lastSeen = new Map<string, number>();
  for (const k of drained) {
    count(k);
    const stream = order?.stream(k);
    if (stream === undefined || l.published.get(k) !== 1) continue;
    const seq = order!.seq(k);
    if ((lastSeen.get(stream) ?? -1) > seq) l.problems.push(`${stream}: message ${String(k)} drained after ${lastSeen.get(stream)}: out of publish order`);
    lastSeen.set(stream, seq);
  }
  const v: Verdict<K> = {
    consumed, lost: [...l.confirmed].filter((k) => !consumed.has(k)),
    neverPublished: [...consumed.keys()].filter((k) => !l.published.has(k)),
    duplicates: 0, republishedDuplicates: 0, repeatedDuplicates: 0, inFlightAckDuplicates: 0, latestLostAck: 0, unexplained: [], totalAcks,
  };
  for (const [k, n] of consumed) {
    if (n < 2) continue;
    v.duplicates++;
    const byClients = l.published.get(k) ?? 0;
    const published = byClients + (repeated?.get(k) ?? 0);
    if (published >= n) {
      if (byClients >= n) v.republishedDuplicates++;
      else v.repeatedDuplicates++;
      continue;
    }
    // Consumed more often than published: acks were lost. Only those in flight at a kill may be.
    const acks = l.acks.get(k) ?? [];
    const lostAcks = n - published;
    const unprocessed = acks.filter((a) => a.processedAt === undefined).length;
    const processedLate = acks.filter((a) => a.processedAt !== undefined && l.killedAt[a.round] - a.processedAt < ackGraceMs);
    if (unprocessed + processedLate.length >= lostAcks) {
      v.inFlightAckDuplicates++;
      if (unprocessed < lostAcks) for (const a of processedLate) v.latestLostAck = Math.max(v.latestLostAck, l.killedAt[a.round] - a.processedAt!);
    } else {
      v.unexplained.push(`${String(k)} (published ${published}x, consumed ${n}x, delivered in rounds ${JSON.stringify(l.deliveries.get(k) ?? [])} `
        + `(r: flagged redelivered), acks: ${JSON.stringify(acks.map((a) => ({
          round: a.round, processedMsBeforeKill: a.processedAt === undefined ? null : l.killedAt[a.round] - a.processedAt })))})`);
    }
  }
  return v;
}

/** One line describing the duplicates of a verdict. */
export function describeDuplicates<K>(v: Verdict<K>): string {
  return `duplicates: ${v.duplicates} (${v.republishedDuplicates} republished after an unconfirmed crash, `
    + (v.repeatedDuplicates ? `${v.repeatedDuplicates} repeated by the broker after a kill, ` : '')
    + `${v.inFlightAckDuplicates} whose ack was in flight at the kill (${v.latestLostAck ? `some processed up to ${v.latestLostAck} ms before it` : 'none of them processed by the broker'}), `
    + `${v.unexplained.length} unexplained)`;
}

/** Fails on any broken rule. `allConfirmed`: everything published was confirmed by the end, so all of it must be consumed. */
export function assertVerdict<K>(l: Ledger<K>, v: Verdict<K>, ackGraceMs: number, allConfirmed: boolean): void {
  assert.ok(l.confirmed.size > 0 && v.totalAcks > 0, 'the rounds did nothing: no confirms or no acks');
  assert.deepEqual(l.problems.slice(0, 20), [], `${l.problems.length} problems`);
  assert.deepEqual(v.neverPublished.slice(0, 20), [], 'consumed messages that were never published');
  assert.deepEqual(v.lost.slice(0, 20).map(String).sort(), [], `${v.lost.length} confirmed messages were never consumed`);
  assert.deepEqual(v.unexplained.slice(0, 20), [], `${v.unexplained.length} messages came back although their ack was processed more than ${ackGraceMs} ms before the kill`);
  if (allConfirmed) assert.equal(v.consumed.size, l.published.size, 'every message is confirmed by the end, so every one must have been consumed');
}
