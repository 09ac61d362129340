// A seeded fuzz test of the management API against a live Warren (one broker for the file):
// bad JSON (truncated, nested 100k deep, numbers no double holds, wrong types for every field of
// every PUT and POST), bodies past RabbitMQ's 20 MB limit, path tricks (../ and %2e%2e, %2F and
// double encoding, null bytes, very long paths and names, unicode, trailing junk), odd methods on
// every route, and bad credentials. Every request goes over a raw socket of its own.
//
// It fails on: a 5xx or no answer; an error that is not RabbitMQ's {"error","reason"}; a refusal
// other than RabbitMQ's (401 for credentials, 400 past the body limit); a management-only user
// reading password hashes; a refused PUT that created its queue; a broker log line that means a
// bug; a bystander AMQP client (publishing with confirms and consuming) that sees an error, or an
// authorised GET /api/overview that fails or takes over 30 s, at any time during the run; a broker
// that holds more connections afterwards or whose RSS grew past HTTP_FUZZ_RSS_SLACK_MB.
//
//   HTTP_FUZZ_SEED=n    seed (default 1)          HTTP_FUZZ_CASES=n   cases (default 300)
//   HTTP_FUZZ_KIND=k    only one kind (json, types, huge, path, method, auth)
//   HTTP_FUZZ_CASE=k,.. replay these cases, printing what they sent and got
//   HTTP_FUZZ_CONCURRENCY (default 4)          HTTP_FUZZ_RSS_SLACK_MB (default 192)
//   HTTP_FUZZ_SAMPLE_EVERY print the broker's footprint every this many requests (default 1000)
//   WARREN_TEST_URL     run against another broker (the reference RabbitMQ: its management on 15673)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { apiClient } from '../helpers/http.js';
import { Bystander, LogWatch, sleep, summarizeLog } from '../helpers/fuzz-runner.js';
import { describeFootprint, footprint, leaksAfter, type Footprint } from '../helpers/fuzz-leaks.js';
import { generateHttpCase, judge, rawRequest, USERS, type HttpCase, type HttpKind } from '../helpers/http-fuzz.js';

const SEED = Number(process.env.HTTP_FUZZ_SEED ?? 1);
const CASES = Number(process.env.HTTP_FUZZ_CASES ?? 300);
const KIND = process.env.HTTP_FUZZ_KIND as HttpKind | undefined;
const REPLAY = process.env.HTTP_FUZZ_CASE?.split(',').map((s) => s.trim()).filter(Boolean) ?? null;
const CONCURRENCY = Math.max(1, Number(process.env.HTTP_FUZZ_CONCURRENCY ?? 4));
const RSS_SLACK_MIB = Number(process.env.HTTP_FUZZ_RSS_SLACK_MB ?? 192);
const SAMPLE_EVERY = Number(process.env.HTTP_FUZZ_SAMPLE_EVERY ?? 1000);

interface Result { c: HttpCase; failures: string[]; status: number; answer: string }

describe('management API fuzz', { timeout: process.env.HTTP_FUZZ_CASES ? Infinity : 240_000 }, () => {
  let broker: TestBroker;
  let mgmtPort = 0;
  const log = new LogWatch();
  let bystander: Bystander | null = null;
  let died = '';
  let base: Footprint | null = null;
  /** The authorised overview poll: failures, and the slowest answer. */
  const overview = { failures: [] as string[], polls: 0, slowestMs: 0, stop: false };
  let poller: Promise<void> | null = null;

  before(async () => {
    broker = await startBroker();
    mgmtPort = Number(new URL(broker.httpUrl).port);
    if (!broker.external) {
      log.attach(broker.child!);
      broker.child!.once('exit', (code, signal) => { died = `the broker exited (code ${code}, signal ${signal})`; });
    }
    const api = apiClient(broker.httpUrl);
    for (const [u, tags] of [[USERS.mgmt, 'management'], [USERS.plain, '']] as const) {
      const r = await api('PUT', `users/${u.name}`, { password: u.password, tags });
      assert.ok(r.status === 201 || r.status === 204, `creating ${u.name}: ${r.status}`);
    }
    assert.ok([201, 204].includes((await api('PUT', 'queues/%2F/fz-http-q', { auto_delete: false, arguments: { 'x-max-length': 100 } })).status));
    bystander = await Bystander.start(broker.url, `http-${SEED}-${process.pid}`);
    if (!broker.external) {
      base = await footprint(api, 0);
      console.log(`# footprint ${describeFootprint(base)} (the baseline)`);
    }
    poller = (async () => {
      while (!overview.stop) {
        const t0 = Date.now();
        const r = await Promise.race([api('GET', 'overview').catch((e: Error) => ({ status: 0, body: e.message })), sleep(30_000).then(() => null)]);
        const ms = Date.now() - t0;
        overview.polls++;
        overview.slowestMs = Math.max(overview.slowestMs, ms);
        if (r === null) overview.failures.push('GET /api/overview took over 30 s');
        else if (r.status !== 200) overview.failures.push(`GET /api/overview answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
        await sleep(250);
      }
    })();
  });

  after(async () => {
    overview.stop = true;
    await poller;
    await bystander?.stop(2000).catch(() => {});
    const api = apiClient(broker.httpUrl);
    for (const u of Object.values(USERS)) await api('DELETE', `users/${u.name}`).catch(() => {});
    await api('DELETE', 'queues/%2F/fz-http-q').catch(() => {});
    await broker?.stop();
  });

  async function run(ids: number[]): Promise<Result[]> {
    const out: Result[] = [];
    const queue = [...ids];
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let k = queue.shift(); k !== undefined && !died; k = queue.shift()) {
        if (!broker.external && k > 0 && k % SAMPLE_EVERY === 0) {
          footprint(apiClient(broker.httpUrl), k).then((f) => console.log(`# footprint ${describeFootprint(f)}`), () => {});
        }
        const c = generateHttpCase(SEED, k, mgmtPort, KIND);
        const r = await rawRequest(mgmtPort, c.method, c.path, c.headers, c.body);
        out.push({ c, failures: judge(c, r), status: r.status, answer: r.error ?? r.body.subarray(0, 300).toString() });
      }
    }));
    return out.sort((a, b) => Number(a.c.id) - Number(b.c.id));
  }

  const hint = (id: string) => `HTTP_FUZZ_SEED=${SEED}${KIND ? ` HTTP_FUZZ_KIND=${KIND}` : ''} HTTP_FUZZ_CASE=${id} node --test dist/test/integration/http-fuzz.test.js`;

  it(REPLAY ? `replays case(s) ${REPLAY.join(', ')}` : `${CASES} generated requests (seed ${SEED}${KIND ? `, ${KIND} only` : ''})`, async () => {
    const t0 = Date.now();
    const rs = await run(REPLAY ? REPLAY.map(Number) : Array.from({ length: CASES }, (_, k) => k));
    if (REPLAY) for (const r of rs) console.log(`case ${r.c.id}: ${r.c.title}\n  -> ${r.status} ${r.answer}`);
    // A refused PUT must not have created its queue.
    const api = apiClient(broker.httpUrl);
    for (const r of rs) {
      if (r.c.mustNotExist && (await api('GET', `queues/%2F/${r.c.mustNotExist}`)).status !== 404) r.failures.push(`the refused request created queue ${r.c.mustNotExist}`);
    }
    await sleep(300);
    const bugs = log.findings.map((f) => summarizeLog(f.line));
    const counts = new Map<string, number>();
    for (const r of rs) counts.set(`${r.c.kind}:${r.status}`, (counts.get(`${r.c.kind}:${r.status}`) ?? 0) + 1);
    console.log(`# seed ${SEED}: ${rs.length} requests in ${Date.now() - t0} ms; answers: ${[...counts].sort().map(([k, n]) => `${k}×${n}`).join(' ')}`);
    const failed = rs.filter((r) => r.failures.length > 0);
    const groups = new Map<string, string[]>();
    for (const r of failed) {
      for (const f of r.failures) {
        const key = `${r.c.kind}: ${f.replace(/\d+/g, 'N').slice(0, 140)}`;
        groups.set(key, [...groups.get(key) ?? [], r.c.id]);
      }
    }
    const summary = [...groups].sort((a, b) => b[1].length - a[1].length).map(([f, ids]) => `  ${ids.length}× ${f}\n     in case(s) ${ids.slice(0, 15).join(', ')}`).join('\n');
    const shown = failed.slice(0, 8).map((r) => `case ${r.c.id}: ${r.c.title}\n  - ${r.failures.join('\n  - ')}\n  replay: ${hint(r.c.id)}`).join('\n\n');
    assert.ok(failed.length === 0, `${failed.length} of ${rs.length} requests failed:\n${summary}\n\n${shown}`);
    assert.deepEqual(bugs, [], 'the broker logged lines that mean a bug');
  });

  it('an authorised GET /api/overview answered throughout', () => {
    console.log(`# overview: ${overview.polls} polls, slowest ${overview.slowestMs} ms`);
    assert.ok(overview.polls > 0, 'the overview was never polled');
    assert.deepEqual(overview.failures.slice(0, 10), []);
  });

  it('the bystander saw no error and got every message it published, in order', async () => {
    const b = bystander!;
    bystander = null;
    const errors = await b.stop();
    console.log(`# bystander: published ${b.published}, confirmed ${b.confirmed}, received ${b.received}`);
    assert.ok(b.published > 0, 'the bystander published nothing');
    assert.deepEqual(errors, []);
  });

  it('no leak: connections and channels back at the baseline, RSS bounded', { skip: REPLAY !== null }, async () => {
    if (broker.external || base === null) return;
    // The bystander has closed its two connections since the baseline was taken.
    const expected = { ...base, connections: base.connections - 2, channels: base.channels - 2, listedConnections: base.listedConnections - 2,
      listedChannels: base.listedChannels - 2, sockets: base.sockets - 2 };
    const { end, leaks } = await leaksAfter(apiClient(broker.httpUrl), expected, CASES, RSS_SLACK_MIB);
    console.log(`# footprint ${describeFootprint(end)} (after a quiet period)`);
    assert.deepEqual(leaks, []);
  });

  it('the broker is still running', () => {
    assert.equal(died, '', died);
  });
});
