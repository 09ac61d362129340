// A seeded, time-bounded protocol fuzz test over raw sockets against a live Warren (one broker
// for the file). First the seed corpus (fuzz-corpus.ts: known bad inputs with the answers
// RabbitMQ gives), then cases generated from FUZZ_SEED until FUZZ_CASES ran or FUZZ_MS passed:
// frames from a grammar of the spec (every method, content headers with all 14 properties, field
// tables with every type tag, nested thousands deep, malformed), valid sessions (TTL and
// dead-lettering, a headers exchange, reject, confirms) sent as they are or mutated (bytes
// flipped, frames truncated, duplicated, reordered, re-sized, moved to other channels), each cut
// into socket writes at random boundaries. Every case has a connection of its own.
//
// It fails on: a 541 INTERNAL_ERROR or malformed bytes from the broker; a valid session that does
// not go through unchanged; a corpus case answered otherwise than RabbitMQ answers it; a broker
// log line at level fatal, an uncaught exception or an internal error; a broker that dies; and
// a bystander (amqplib, publishing with confirms and consuming throughout) that sees any error
// or loses, duplicates or reorders a message. Against an external broker (WARREN_TEST_URL) a bare
// "541 INTERNAL_ERROR" is only noted: that is how RabbitMQ 3.10 answers a table it cannot parse
// (its channel process crashes), and there the point is to check the test, not RabbitMQ.
//
//   FUZZ_SEED=n       seed of the generated cases (default 1, so CI runs the same cases)
//   FUZZ_CASES=n      run exactly cases 0..n-1 (no time budget unless FUZZ_MS is also set);
//                     unset: at most 2000 cases within the time budget
//   FUZZ_MS=ms        time budget of the generated cases (default 12000 without FUZZ_CASES)
//   FUZZ_KIND=kind    generate only one kind of case (grammar, session, session-mutated,
//                     handshake, tables, garbage, targeted); FUZZ_TARGET=kind one kind of targeted
//                     case (huge-length, channel-flood, handshake-order, ...: fuzz-targeted.ts)
//   FUZZ_CONCURRENCY  cases at a time (default 6)
//   FUZZ_CASE=k[,..]  replay: run only these cases (generated numbers or corpus ids such as c1a)
//                     and print the bytes they send, in hex
//   FUZZ_RECORD=file  write what each case got back (one JSON line per case), to compare brokers
//   FUZZ_RSS_SLACK_MB how far the broker's RSS may end above its level after warm-up (default 128)
//   FUZZ_SAMPLE_EVERY print the broker's footprint every this many cases (default 1000)
//
// The leak check: after the corpus (the warm-up) the broker's footprint is taken (connections and
// channels in /api/overview and in the lists, sockets, file descriptors, libuv handles, RSS); after
// the generated cases, once every fuzz connection is closed and the broker sat quiet, the counts
// must be back at it and the RSS within FUZZ_RSS_SLACK_MB of it.
//   WARREN_TEST_URL   run against another broker, e.g. the reference RabbitMQ (its log unseen)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { hex, NamePool, methodFrame } from '../helpers/fuzz-grammar.js';
import {
  Bystander, FuzzConn, LogWatch, generateCase, logSignature, runCase, sleep, summarizeLog, type CaseKind, type CaseResult, type FuzzCase, type LogFinding,
} from '../helpers/fuzz-runner.js';
import { CORPUS } from './fuzz-corpus.js';
import { apiClient } from '../helpers/http.js';
import { describeFootprint, footprint, leaksAfter, type Footprint } from '../helpers/fuzz-leaks.js';
import type { TargetKind } from '../helpers/fuzz-targeted.js';

const SEED = Number(process.env.FUZZ_SEED ?? 1);
const MAX_CASES = Number(process.env.FUZZ_CASES ?? 2000);
// A fixed number of cases runs them all, however long that takes: the same cases on every machine.
const BUDGET_MS = Number(process.env.FUZZ_MS ?? (process.env.FUZZ_CASES ? Infinity : 12_000));
const KIND = process.env.FUZZ_KIND as CaseKind | undefined;
const TARGET = process.env.FUZZ_TARGET as TargetKind | undefined;
const CONCURRENCY = Math.max(1, Number(process.env.FUZZ_CONCURRENCY ?? 6));
const REPLAY = process.env.FUZZ_CASE?.split(',').map((s) => s.trim()).filter(Boolean) ?? null;
/** FUZZ_RECORD=file: one JSON line per case with the closes it got, to compare two brokers' answers. */
const RECORD = process.env.FUZZ_RECORD;
const RSS_SLACK_MIB = Number(process.env.FUZZ_RSS_SLACK_MB ?? 128);
const SAMPLE_EVERY = Number(process.env.FUZZ_SAMPLE_EVERY ?? 1000);

const replayHint = (id: string) => `FUZZ_SEED=${SEED}${KIND ? ` FUZZ_KIND=${KIND}` : ''}${TARGET ? ` FUZZ_TARGET=${TARGET}` : ''} FUZZ_CASE=${id} node --test dist/test/integration/fuzz.test.js`;

/** The case for an id: a corpus id, or the number of a generated case. */
function caseById(id: string): FuzzCase {
  const c = CORPUS.find((k) => k.id === id);
  if (c) return c;
  if (!/^\d+$/.test(id)) throw new Error(`no corpus case '${id}' (corpus: ${CORPUS.map((k) => k.id).join(' ')})`);
  return generateCase(SEED, Number(id), KIND, TARGET);
}

/** What a case sent, in hex: its writes (with the pauses after them) or, for scripted cases, every write. */
function bytesOf(r: CaseResult, max = 4096): string {
  const lines = r.writes
    ? r.writes.map((w, i) => `  write ${i + 1} (${w.data.length} bytes${w.delay ? `, then ${w.delay} ms` : ''}`
      + `${w.wait ? `, then wait for ${w.wait.count} ${w.wait.wait.join('/')} in all` : ''}): ${hex(w.data.subarray(0, max))}${w.data.length > max ? ' ...' : ''}`)
    : r.sent.map((b, i) => `  write ${i + 1} (${b.length} bytes): ${hex(b.subarray(0, max))}${b.length > max ? ' ...' : ''}`);
  return lines.join('\n');
}

function report(r: CaseResult, withBytes: boolean): string {
  return [
    `case ${r.id} (seed ${SEED}): ${r.title}`,
    ...r.failures.map((f) => `  - ${f}`),
    `  received: ${r.received}`,
    `  replay: ${replayHint(r.id)}`,
    ...(withBytes ? [bytesOf(r, 512)] : []),
  ].join('\n');
}

describe('protocol fuzz', { timeout: process.env.FUZZ_CASES ? Infinity : 180_000 }, () => {
  let broker: TestBroker;
  const log = new LogWatch();
  let bystander: Bystander | null = null;
  let bystanderStartError = '';
  let died = '';
  const results: CaseResult[] = [];
  /** Log findings already reported by a case (matched by port or reproduced). */
  const claimed = new Set<LogFinding>();
  /** The footprint after warm-up, and samples taken during the generated cases. */
  let base: Footprint | null = null;
  const samples: Footprint[] = [];
  let generatedRun = 0;

  before(async () => {
    broker = await startBroker();
    if (!broker.external) {
      log.attach(broker.child!);
      broker.child!.once('exit', (code, signal) => { died = `the broker exited (code ${code}, signal ${signal})`; });
    }
    try {
      bystander = await Bystander.start(broker.url, `${SEED}-${process.pid}`);
    } catch (e) {
      bystanderStartError = (e as Error).message;
    }
  });

  after(async () => {
    if (RECORD) {
      const lines = [...results].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })).map((r) => JSON.stringify({
        id: r.id, title: r.title, socketClosed: r.socketClosed,
        closes: r.closes.map((c) => `${c.kind} ${c.code} ${c.classId}/${c.methodId} ${c.text.slice(0, 100)}`),
      }));
      writeFileSync(RECORD, `${lines.join('\n')}\n`);
    }
    await bystander?.stop(2000).catch(() => {});
    if (broker?.external) await cleanupNames(broker, results).catch(() => {});
    await broker?.stop();
  });

  /** Runs cases, CONCURRENCY at a time, until `next` gives null; returns their results. */
  async function pool(next: () => FuzzCase | null): Promise<CaseResult[]> {
    const out: CaseResult[] = [];
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let k = next(); k !== null && !died; k = next()) {
        const r = await runCase(k, broker.host, broker.port, broker.external);
        out.push(r);
        results.push(r);
      }
    }));
    return out;
  }

  /** Adds the log findings matching a case's connections (by peer port) to its failures. */
  function attachLog(rs: CaseResult[]): void {
    for (const r of rs) {
      for (const f of log.findings) {
        if (f.peerPort !== undefined && r.ports.includes(f.peerPort)) {
          r.failures.push(`broker log: ${summarizeLog(f.line)}`);
          claimed.add(f);
        }
      }
    }
  }

  function assertCases(rs: CaseResult[], what: string): void {
    const failed = rs.filter((r) => r.failures.length > 0);
    for (const r of rs) for (const n of r.notes) console.log(`# case ${r.id}: ${n}`);
    if (failed.length === 0) return;
    // The same bug shows in many cases: group the failures by their text without the numbers and bytes.
    const groups = new Map<string, string[]>();
    for (const r of failed) {
      for (const f of new Set(r.failures.map(failureKind))) {
        const ids = groups.get(f) ?? [];
        ids.push(r.id);
        groups.set(f, ids);
      }
    }
    const summary = [...groups].sort((a, b) => b[1].length - a[1].length)
      .map(([f, ids]) => `  ${ids.length}× ${f}\n     in case(s) ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', ...' : ''}`).join('\n');
    const shown = failed.slice(0, 12).map((r, i) => report(r, i < 4)).join('\n\n');
    assert.fail(`${failed.length} of ${rs.length} ${what} failed. By kind of failure:\n${summary}\n\nThe first of them:\n\n${shown}`
      + `${failed.length > 12 ? `\n\n... and ${failed.length - 12} more: ${failed.slice(12).map((r) => r.id).join(', ')}` : ''}`);
  }

  if (REPLAY) {
    it(`replays case(s) ${REPLAY.join(', ')} of seed ${SEED}`, async () => {
      const rs: CaseResult[] = [];
      for (const id of REPLAY) {
        const k = caseById(id);
        const r = await runCase(k, broker.host, broker.port, broker.external);
        await sleep(500); // let anything the case set off reach the log
        rs.push(r);
        console.log(`case ${id} (seed ${SEED}): ${k.title}\n${bytesOf(r, Infinity)}\n  received: ${r.received}`);
        for (const f of log.findings) {
          if (!claimed.has(f)) r.failures.push(`broker log: ${summarizeLog(f.line)}`);
          claimed.add(f);
        }
      }
      assertCases(rs, 'replayed cases');
    });
  } else {
    it(`seed corpus (${CORPUS.length} cases)`, async () => {
      const queue = [...CORPUS];
      const rs = await pool(() => queue.shift() ?? null);
      await sleep(300);
      attachLog(rs);
      rs.sort((a, b) => CORPUS.findIndex((k) => k.id === a.id) - CORPUS.findIndex((k) => k.id === b.id));
      assertCases(rs, 'corpus cases');
    });

    it(`generated cases (seed ${SEED}, ${Number.isFinite(BUDGET_MS) ? `at most ${MAX_CASES} cases or ${BUDGET_MS} ms` : `${MAX_CASES} cases`})`, async () => {
      if (!broker.external) {
        const api = apiClient(broker.httpUrl);
        // The warm-up's connections close first (only the bystander's two stay).
        for (let i = 0; i < 40 && (await footprint(api, 0)).connections > 2; i++) await sleep(250);
        await sleep(1000);
        base = await footprint(api, 0);
        console.log(`# footprint ${describeFootprint(base)} (the baseline, after the corpus as warm-up)`);
      }
      const t0 = Date.now();
      let k = 0;
      const sample = (n: number) => {
        if (broker.external || n % SAMPLE_EVERY !== 0) return;
        footprint(apiClient(broker.httpUrl), n).then((f) => {
          samples.push(f);
          console.log(`# footprint ${describeFootprint(f)} (${Math.round((Date.now() - t0) / 1000)} s)`);
        }, () => {});
      };
      const rs = await pool(() => {
        if (k >= MAX_CASES || Date.now() - t0 >= BUDGET_MS) return null;
        sample(k);
        return generateCase(SEED, k++, KIND, TARGET);
      });
      generatedRun = rs.length;
      await sleep(300);
      attachLog(rs);
      rs.sort((a, b) => Number(a.id) - Number(b.id));
      console.log(`# seed ${SEED}: ${rs.length} generated cases in ${Date.now() - t0} ms; replies: ${summarizeCloses(rs)}`);
      assertCases(rs, 'generated cases');
    });
  }

  it('no leak: connections, channels, sockets, descriptors and handles back at the baseline, RSS bounded', { skip: REPLAY !== null }, async () => {
    if (broker.external || base === null) return;
    const { end, leaks } = await leaksAfter(apiClient(broker.httpUrl), base, generatedRun, RSS_SLACK_MIB);
    const top = samples.reduce((m, f) => Math.max(m, f.rssMiB), end.rssMiB);
    console.log(`# footprint ${describeFootprint(end)} (every fuzz connection closed, after a quiet period); highest RSS seen ${top} MiB`);
    assert.deepEqual(leaks, [], `the broker holds more than before the cases: ${describeFootprint(base)} before, ${describeFootprint(end)} after`);
  });

  it('the broker logged no fatal error, uncaught exception or internal error', async () => {
    if (broker.external) return;
    await sleep(200);
    const open = log.findings.filter((f) => !claimed.has(f));
    if (open.length === 0) return;
    // Lines naming no connection (an exception thrown from a timer, say): re-run the cases that
    // were running when they were logged, one at a time, to find one that sets it off alone.
    const bySignature = new Map<string, LogFinding[]>();
    for (const f of open) bySignature.set(logSignature(f.line), [...bySignature.get(logSignature(f.line)) ?? [], f]);
    const lines: string[] = [];
    const deadline = Date.now() + 20_000;
    for (const [signature, fs] of bySignature) {
      // Cases running when the line was logged first, then those that had just ended.
      const near = (r: CaseResult, at: number) => (r.start <= at && at <= r.end ? 0 : 1 + Math.abs(at - r.end));
      const candidates = [...new Set(fs.flatMap((f) => results.filter((r) => r.start - 50 <= f.at && f.at <= r.end + 1000)
        .sort((a, b) => near(a, f.at) - near(b, f.at)).map((r) => r.id)))];
      const culprit = Date.now() < deadline ? await reproduce(signature, candidates.slice(0, 10)) : null;
      lines.push(`${fs.length}× ${summarizeLog(fs[0].line)}\n    logged while case(s) ${candidates.slice(0, 30).join(', ') || '(none)'} ran`
        + (culprit ? `\n    reproduced by case ${culprit} alone: ${caseById(culprit).title}\n    replay: ${replayHint(culprit)}` : ''));
    }
    assert.fail(`the broker logged ${open.length} line(s) that mean a bug:\n  ${lines.join('\n  ')}`);
  });

  /** Re-runs candidate cases one by one; the first after which a line with this signature is logged. */
  async function reproduce(signature: string, candidates: string[]): Promise<string | null> {
    for (const id of candidates) {
      const before = log.findings.length;
      await runCase(caseById(id), broker.host, broker.port, broker.external);
      await sleep(400);
      const fresh = log.findings.slice(before);
      for (const x of fresh) claimed.add(x);
      if (fresh.some((x) => logSignature(x.line) === signature)) return id;
    }
    return null;
  }

  it('the bystander saw no error and got every message it published, in order', async () => {
    assert.equal(bystanderStartError, '', `the bystander could not start: ${bystanderStartError}`);
    const errors = await bystander!.stop();
    const b = bystander!;
    bystander = null;
    console.log(`# bystander: published ${b.published}, confirmed ${b.confirmed}, received ${b.received}`);
    assert.ok(b.published > 0, 'the bystander published nothing');
    assert.deepEqual(errors, [], `bystander (published ${b.published}, confirmed ${b.confirmed}, received ${b.received})`);
  });

  it('the broker is still running', () => {
    assert.equal(died, '', died);
  });
});

/** A failure without its numbers and bytes, to group cases failing the same way. */
function failureKind(f: string): string {
  return f.replace(/\b[0-9a-f]{2}( [0-9a-f]{2})+\b/g, '…').replace(/\d+/g, 'N').replace(/'[^']*'/g, "'…'").slice(0, 160);
}

/** "501×12 404×3 ..." over connection and channel closes, to see at a glance what the cases provoked. */
function summarizeCloses(rs: CaseResult[]): string {
  const counts = new Map<string, number>();
  for (const r of rs) {
    const key = r.closes.length ? r.closes.map((c) => `${c.kind[0]}${c.code}`).join('+') : r.socketClosed ? 'socket closed' : 'no close';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => `${k}×${n}`).join(' ');
}

/** On an external broker: deletes what the generated cases may have declared (durable ones would stay). */
async function cleanupNames(broker: TestBroker, results: CaseResult[]): Promise<void> {
  const c = await FuzzConn.connect(broker.port, broker.host);
  try {
    await c.open([1]);
    // Names that are not UTF-8 would close the connection on RabbitMQ (which never created them).
    const utf8 = (b: Buffer) => Buffer.from(b.toString('utf8')).equals(b);
    const writes: Buffer[] = [];
    for (const r of results) {
      if (!/^\d+$/.test(r.id)) continue;
      const prefix = `fz${SEED}.${r.id}.`;
      const all = new NamePool(prefix).all();
      for (const q of [...all.queues, ...['ttl', 'rej', 'dlq'].map((s) => Buffer.from(prefix + s))]) {
        if (utf8(q)) writes.push(methodFrame(1, 'queue.delete', { queue: q, nowait: true }));
      }
      for (const x of [...all.exchanges, Buffer.from(`${prefix}hx`)]) {
        if (utf8(x)) writes.push(methodFrame(1, 'exchange.delete', { exchange: x, nowait: true }));
      }
    }
    c.write(Buffer.concat([...writes, methodFrame(1, 'basic.qos', {})]));
    await c.waitFor(() => c.has('basic.qos-ok') || c.closed, 5000);
  } finally {
    c.destroy();
  }
}
