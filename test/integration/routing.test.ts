// Routing semantics of each exchange type, as tables of (binding, message) -> delivered?.
// Each table binds one queue per binding, publishes every message with confirms (so routing is
// complete), then drains each queue and compares the set of message names it received.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Harness, drain, expectChannelError, publishConfirmed, texts, type ConfirmChannel } from '../helpers/amqp.js';

describe('routing', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const h = new Harness(() => broker.url);

  before(async () => { broker = await startBroker(); });
  afterEach(() => h.closeConnections());
  after(async () => { await h.cleanup(); await broker?.stop(); });

  const exchange = async (ch: ConfirmChannel, type: string) => {
    const x = h.x(type);
    await ch.assertExchange(x, type, { durable: false });
    return x;
  };

  const queueFor = async (ch: ConfirmChannel, x: string, key: string, args?: object) => {
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, x, key, args);
    return q;
  };

  it('direct: exact key match, several queues on one key, one copy per queue', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'direct');
    const red1 = await queueFor(ch, x, 'red');
    const red2 = await queueFor(ch, x, 'red');
    const redGreen = await queueFor(ch, x, 'red');
    await ch.bindQueue(redGreen, x, 'green');
    const empty = await queueFor(ch, x, '');
    for (const key of ['red', 'green', 'Red', 'red.x', '', 'blue']) await publishConfirmed(ch, x, key, [`k:${key}`]);
    assert.deepEqual(texts(await drain(ch, red1)), ['k:red']);
    assert.deepEqual(texts(await drain(ch, red2)), ['k:red']);
    assert.deepEqual(texts(await drain(ch, redGreen)), ['k:red', 'k:green']);
    assert.deepEqual(texts(await drain(ch, empty)), ['k:']);
  });

  it('direct: a queue bound twice with the same key gets one copy; unbind stops routing', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'direct');
    const q = await queueFor(ch, x, 'k');
    await ch.bindQueue(q, x, 'k');
    await publishConfirmed(ch, x, 'k', ['bound']);
    await ch.unbindQueue(q, x, 'k');
    await publishConfirmed(ch, x, 'k', ['unbound']);
    assert.deepEqual(texts(await drain(ch, q)), ['bound']);
  });

  it('fanout: every bound queue gets every message, whatever the key', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'fanout');
    const a = await queueFor(ch, x, '');
    const b = await queueFor(ch, x, 'some.key');
    await publishConfirmed(ch, x, '', ['m1']);
    await publishConfirmed(ch, x, 'other', ['m2']);
    await publishConfirmed(ch, x, 'x.y.z', ['m3']);
    assert.deepEqual(texts(await drain(ch, a)), ['m1', 'm2', 'm3']);
    assert.deepEqual(texts(await drain(ch, b)), ['m1', 'm2', 'm3']);
  });

  /** Binds one queue per pattern/args, publishes each message, checks each queue's set. */
  const checkTable = async <M>(
    type: string,
    bindings: Record<string, { key: string; args?: object }>,
    messages: Record<string, M>,
    publish: (ch: ConfirmChannel, x: string, name: string, m: M) => void,
    expected: Record<string, string[]>,
  ) => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, type);
    const queues: Record<string, string> = {};
    for (const [name, b] of Object.entries(bindings)) queues[name] = await queueFor(ch, x, b.key, b.args);
    for (const [name, m] of Object.entries(messages)) publish(ch, x, name, m);
    await ch.waitForConfirms();
    const actual: Record<string, string[]> = {};
    for (const name of Object.keys(bindings)) actual[name] = texts(await drain(ch, queues[name])).sort();
    const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, [...v].sort()]));
    assert.deepEqual(actual, want);
  };

  it('topic: * matches exactly one word, # matches zero or more', async () => {
    const keys = ['', 'a', 'b', 'a.b', 'a.b.c', 'a.c', 'b.a', 'a.a.b', 'a.x.y.b', 'a..b', '.', 'a.', '.a', 'x.a.y', 'a.b.b'];
    const expected: Record<string, string[]> = {
      '#': keys,
      '#.#': keys,
      '': [''],
      '*': ['a', 'b'],
      'a': ['a'],
      'a.b': ['a.b'],
      'a.*': ['a.b', 'a.c', 'a.'],
      '*.b': ['a.b'],
      'a.#': ['a', 'a.b', 'a.b.c', 'a.c', 'a.a.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.b'],
      'a.#.#': ['a', 'a.b', 'a.b.c', 'a.c', 'a.a.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.b'],
      '#.b': ['b', 'a.b', 'a.a.b', 'a.x.y.b', 'a..b', 'a.b.b'],
      '#.a.#': ['a', 'a.b', 'a.b.c', 'a.c', 'b.a', 'a.a.b', 'a.x.y.b', 'a..b', 'a.', '.a', 'x.a.y', 'a.b.b'],
      '#.b.#': ['b', 'a.b', 'a.b.c', 'b.a', 'a.a.b', 'a.x.y.b', 'a..b', 'a.b.b'],
      'a.#.b': ['a.b', 'a.a.b', 'a.x.y.b', 'a..b', 'a.b.b'],
      'a.b.#.b': ['a.b.b'],
      '*.*': ['a.b', 'a.c', 'b.a', '.', 'a.', '.a'],
      '*.*.*': ['a.b.c', 'a.a.b', 'a..b', 'x.a.y', 'a.b.b'],
      'a.*.#': ['a.b', 'a.b.c', 'a.c', 'a.a.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.b'],
      '*.#': keys.filter((k) => k !== ''),
      '#.*': keys.filter((k) => k !== ''),
      'a.*.c': ['a.b.c'],
      'a..b': ['a..b'],
    };
    await checkTable(
      'topic',
      Object.fromEntries(Object.keys(expected).map((p) => [p, { key: p }])),
      Object.fromEntries(keys.map((k) => [k, k])),
      (ch, x, name, key) => ch.publish(x, key, Buffer.from(name)),
      expected,
    );
  });

  it('topic: several matching bindings to one queue deliver one copy', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'topic');
    const q = await queueFor(ch, x, 'stock.#');
    for (const p of ['*.usd.*', '#', 'stock.usd.nyse']) await ch.bindQueue(q, x, p);
    await publishConfirmed(ch, x, 'stock.usd.nyse', ['once']);
    assert.deepEqual(texts(await drain(ch, q)), ['once']);
  });

  it('headers: x-match all/any/all-with-x/any-with-x, values, presence and types', async () => {
    const long = (value: number) => ({ '!': 'long', value });
    const bindings: Record<string, object> = {
      allAB: { 'x-match': 'all', a: 1, b: 'x' },
      anyAB: { 'x-match': 'any', a: 1, b: 'x' },
      defaultAB: { a: 1, b: 'x' }, // x-match defaults to all
      noArgs: {}, // all with nothing to match: everything
      allNothing: { 'x-match': 'all' },
      anyNothing: { 'x-match': 'any' }, // any with nothing to match: nothing
      presence: { 'x-match': 'all', p: null }, // a void value matches on presence alone
      allIgnoresX: { 'x-match': 'all', a: 1, 'x-k': 'v' }, // x- keys are ignored by all/any
      anyIgnoresX: { 'x-match': 'any', 'x-k': 'v' },
      allWithX: { 'x-match': 'all-with-x', a: 1, 'x-k': 'v' },
      anyWithX: { 'x-match': 'any-with-x', 'x-k': 'v' },
      anyWithXOrA: { 'x-match': 'any-with-x', a: 1, 'x-k': 'v' },
      // Numbers compare by value whatever their encoding: a long 1 and a double 1.0 both match a
      // byte 1 (rabbit_exchange_type_headers compares values with Erlang ==, in 3.10 and 3.13
      // alike); a string '1' does not.
      longOne: { 'x-match': 'all', a: long(1) },
      stringOne: { 'x-match': 'all', a: '1' },
      boolTrue: { 'x-match': 'all', t: true },
    };
    const messages: Record<string, object | undefined> = {
      ab: { a: 1, b: 'x' },
      a: { a: 1 },
      b: { b: 'x' },
      abc: { a: 1, b: 'x', c: 3 },
      a2b: { a: 2, b: 'x' },
      noHeaders: undefined,
      emptyHeaders: {},
      p: { p: 'anything' },
      pNull: { p: null },
      xk: { 'x-k': 'v' },
      axk: { a: 1, 'x-k': 'v' },
      aLong: { a: long(1) },
      aString: { a: '1' },
      aDouble: { a: { '!': 'double', value: 1 } },
      tTrue: { t: true },
      tFalse: { t: false },
    };
    const all = Object.keys(messages);
    await checkTable(
      'headers',
      Object.fromEntries(Object.entries(bindings).map(([n, args]) => [n, { key: 'ignored', args }])),
      messages,
      (ch, x, name, headers) => ch.publish(x, `rk.${name}`, Buffer.from(name), headers ? { headers } : {}),
      {
        allAB: ['ab', 'abc'],
        anyAB: ['ab', 'a', 'b', 'abc', 'a2b', 'axk', 'aLong', 'aDouble'],
        defaultAB: ['ab', 'abc'],
        noArgs: all,
        allNothing: all,
        anyNothing: [],
        presence: ['p', 'pNull'],
        allIgnoresX: ['ab', 'a', 'abc', 'axk', 'aLong', 'aDouble'],
        anyIgnoresX: [],
        allWithX: ['axk'],
        anyWithX: ['xk', 'axk'],
        anyWithXOrA: ['ab', 'a', 'abc', 'xk', 'axk', 'aLong', 'aDouble'],
        longOne: ['ab', 'a', 'abc', 'axk', 'aLong', 'aDouble'],
        stringOne: ['aString'],
        boolTrue: ['tTrue'],
      },
    );
  });

  it('headers: unbinding needs the same arguments, and then stops routing', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'headers');
    const args = { 'x-match': 'any', colour: 'red' };
    const q = await queueFor(ch, x, '', args);
    await ch.unbindQueue(q, x, '', { 'x-match': 'any', colour: 'blue' }); // not that binding
    await publishConfirmed(ch, x, '', ['still bound'], { headers: { colour: 'red' } });
    await ch.unbindQueue(q, x, '', args);
    await publishConfirmed(ch, x, '', ['unbound'], { headers: { colour: 'red' } });
    assert.deepEqual(texts(await drain(ch, q)), ['still bound']);
  });

  it('headers: an invalid x-match value fails the bind with 406', async () => {
    const { ch } = await h.confirmChannel();
    const x = await exchange(ch, 'headers');
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await expectChannelError(ch, () => ch.bindQueue(q, x, '', { 'x-match': 'bogus' }), 406,
      'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x');
  });
});
