// The seed corpus of the protocol fuzz test (fuzz.test.ts): known cases, each an explicit byte
// sequence or a small script over a raw connection, with what RabbitMQ does (checked against the
// reference RabbitMQ 3.10; the comments say what it answered). They run before the generated
// cases on every run. Replay one with FUZZ_CASE=<id> (e.g. FUZZ_CASE=c1a).
//
// c1-c6 are the cases known from the issue tracker; c7 and up ("found: ...") are what the fuzzer
// found beyond them, each checked against the reference RabbitMQ the same way.
import {
  FRAME_BODY, F, deepTable, encodeProps, encTable, frame, handshakeFrames, headerFrame, methodFrame, methodPayload, splitProps, table,
  EncodedTable, type Entry, type Props,
} from '../helpers/fuzz-grammar.js';
import { FuzzConn, sleep, type CaseContext, type FuzzCase } from '../helpers/fuzz-runner.js';

const hexBytes = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const EXPIRES: Entry = ['x-expires', F.int(60000)];

/** Names of one corpus case. */
const names = (id: string) => ({
  q: `fzc.${id}.ttl`, q2: `fzc.${id}.rej`, dlq: `fzc.${id}.dlq`, hx: `fzc.${id}.hx`, hq: `fzc.${id}.hq`,
});
type Names = ReturnType<typeof names>;

function publish(channel: number, exchange: string, routingKey: string, props: Buffer, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([
    methodFrame(channel, 'basic.publish', { exchange, 'routing-key': routingKey }),
    headerFrame(channel, b.length, props),
    ...(b.length ? [frame(FRAME_BODY, channel, b)] : []),
  ]);
}

/** Sends `data` and waits for `reply` on `channel`; records a failure (and returns false) if it does not come. */
async function call(c: FuzzConn, data: Buffer, reply: string, channel: number, failures: string[], what: string): Promise<boolean> {
  const ok = c.expect(reply, channel, 5000);
  c.write(data);
  if (await ok) return true;
  failures.push(`${what}: expected ${reply}, got ${c.describe()}`);
  return false;
}

/**
 * Declares (after deleting any leftover) a dead-letter queue, a queue with x-message-ttl 200 and
 * one without, both dead-lettering into it, and a headers exchange bound (x-match all, so every
 * message matches) to a queue.
 */
async function setup(c: FuzzConn, n: Names, failures: string[], extraBinding: Entry[] = []): Promise<boolean> {
  const dlx: Entry[] = [['x-dead-letter-exchange', F.str('')], ['x-dead-letter-routing-key', F.str(n.dlq)], EXPIRES];
  const steps: [Buffer, string][] = [
    ...[n.q, n.q2, n.dlq, n.hq].map((q) => [methodFrame(1, 'queue.delete', { queue: q }), 'queue.delete-ok'] as [Buffer, string]),
    [methodFrame(1, 'exchange.delete', { exchange: n.hx }), 'exchange.delete-ok'],
    [methodFrame(1, 'queue.declare', { queue: n.dlq, arguments: encTable([EXPIRES]) }), 'queue.declare-ok'],
    [methodFrame(1, 'queue.declare', { queue: n.q, arguments: encTable([['x-message-ttl', F.int(200)], ...dlx]) }), 'queue.declare-ok'],
    [methodFrame(1, 'queue.declare', { queue: n.q2, arguments: encTable(dlx) }), 'queue.declare-ok'],
    [methodFrame(1, 'queue.declare', { queue: n.hq, arguments: encTable([EXPIRES]) }), 'queue.declare-ok'],
    [methodFrame(1, 'exchange.declare', { exchange: n.hx, type: 'headers' }), 'exchange.declare-ok'],
    [methodFrame(1, 'queue.bind', { queue: n.hq, exchange: n.hx, arguments: encTable([['x-match', F.str('all')], ...extraBinding]) }), 'queue.bind-ok'],
  ];
  for (const [data, reply] of steps) {
    if (!await call(c, data, reply, 1, failures, 'setup')) return false;
  }
  return true;
}

/** A second connection (the first may have been closed by the case) to look into the queues and delete them. */
async function inspect(ctx: CaseContext, n: Names, failures: string[], look: (c: FuzzConn) => Promise<void>): Promise<void> {
  const c = await ctx.connect();
  try {
    await c.open([1]);
    await look(c);
    for (const q of [n.q, n.q2, n.dlq, n.hq]) c.write(methodFrame(1, 'queue.delete', { queue: q, nowait: true }));
    c.write(methodFrame(1, 'exchange.delete', { exchange: n.hx, nowait: true }));
    await call(c, methodFrame(1, 'basic.qos', {}), 'basic.qos-ok', 1, failures, 'cleanup');
    for (const p of c.problems) failures.push(`malformed reply on the inspecting connection: ${p}`);
    for (const cl of c.closes) failures.push(`inspecting connection got ${cl.kind}.close ${cl.code} ${cl.text}`);
  } finally {
    c.destroy();
  }
}

/** basic.get (no-ack) from queue: the message's raw properties, or null for get-empty. */
async function get(c: FuzzConn, queue: string, failures: string[]): Promise<Buffer | null | undefined> {
  const before = c.contents.length;
  const empties = c.count('basic.get-empty', 1);
  const ok = c.waitFor(() => c.contents.length > before || c.count('basic.get-empty', 1) > empties || c.closed, 5000);
  c.write(methodFrame(1, 'basic.get', { queue, 'no-ack': true }));
  await ok;
  if (c.contents.length > before) return c.contents[c.contents.length - 1].props;
  if (c.count('basic.get-empty', 1) > empties) return null;
  failures.push(`basic.get ${queue}: no answer: ${c.describe()}`);
  return undefined;
}

/** Fails unless the connection got exactly this connection.close (and no channel.close before it). */
async function expectConnectionClose(c: FuzzConn, code: number, failures: string[], text?: string, method?: [number, number]): Promise<void> {
  await c.waitFor(() => c.closes.some((x) => x.kind === 'connection') || c.closed, 1500);
  const close = c.closes.find((x) => x.kind === 'connection');
  const ch = c.closes.find((x) => x.kind === 'channel');
  if (!close) {
    failures.push(`expected connection.close ${code}${text ? ` ${text}` : ''}, got ${c.describe()}`);
    return;
  }
  if (close.code !== code || (text && !close.text.startsWith(text)) || (method && (close.classId !== method[0] || close.methodId !== method[1]))) {
    failures.push(`expected connection.close ${code}${text ? ` "${text}..."` : ''}${method ? ` for ${method.join('/')}` : ''}, got ${close.code} "${close.text}" for ${close.classId}/${close.methodId}`);
  }
  if (ch) failures.push(`expected a connection error only, also got channel.close ${ch.code} ${ch.text}`);
}

function expectNoClose(c: FuzzConn, failures: string[], what: string): void {
  for (const cl of c.closes) failures.push(`${what}: unexpected ${cl.kind}.close ${cl.code} ${cl.text} (${cl.classId}/${cl.methodId})`);
}

const TS_MAX = 2n ** 64n - 1n;

// ------------------------------------------------------------------ case 1

// basic.publish whose exchange shortstr (length 0xff) runs past the end of its 12-byte frame:
// "amq.d" and the frame end follow. RabbitMQ: connection.close 501 FRAME_ERROR "cannot decode".
const C1_FRAME = hexBytes('01 00 01 00 00 00 0c 00 3c 00 28 00 00 ff 61 6d 71 2e 64 ce');
// The same with the exchange "" and the routing key's length running past the end.
const C1_KEY_FRAME = hexBytes('01 00 01 00 00 00 0b 00 3c 00 28 00 00 00 ff 61 6d 71 2e ce');

const case1: FuzzCase[] = [
  {
    id: 'c1a', title: 'corpus 1: basic.publish exchange shortstr past the end of its frame, last frame of a read, content header next read',
    mode: 'open', channels: [1],
    writes: [{ data: C1_FRAME, delay: 40 }, { data: headerFrame(1, 3, encodeProps({})), delay: 20 }, { data: frame(FRAME_BODY, 1, Buffer.from('abc')), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 501, f, 'FRAME_ERROR'),
  },
  {
    id: 'c1b', title: 'corpus 1: the same publish frame followed by its content header in the same read',
    mode: 'open', channels: [1],
    writes: [{ data: Buffer.concat([C1_FRAME, headerFrame(1, 0, encodeProps({}))]), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 501, f, 'FRAME_ERROR'),
  },
  {
    id: 'c1c', title: 'corpus 1: basic.publish routing-key shortstr past the end of its frame, last frame of a read',
    mode: 'open', channels: [1],
    writes: [{ data: C1_KEY_FRAME, delay: 40 }, { data: headerFrame(1, 0, encodeProps({})), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 501, f, 'FRAME_ERROR'),
  },
];

// ------------------------------------------------------------------ case 2

/** A message with the given properties through TTL expiry and through reject(requeue=false) into the DLQ; it must arrive there intact. */
function deadLetterCase(id: string, title: string, props: Props): FuzzCase[] {
  const propBytes = encodeProps(props);
  const published = splitProps(propBytes)!;
  const compare = (got: Buffer | null | undefined, how: string, f: string[]) => {
    if (!got) { f.push(`${how}: the message did not reach the dead-letter queue`); return; }
    const p = splitProps(got);
    for (const [name, bytes] of published) {
      if (name === 'headers' || name === 'expiration') continue;
      const other = p?.get(name);
      if (!other?.equals(bytes)) f.push(`${how}: property ${name} was ${bytes.toString('hex')}, is ${other?.toString('hex') ?? 'missing'} after dead-lettering`);
    }
    if (props.headers) {
      // RabbitMQ adds its x-death entries around the published ones, which stay as they were.
      const h = p?.get('headers');
      const want = (props.headers as Buffer).subarray(4);
      if (!h || !h.subarray(4).includes(want)) {
        f.push(`${how}: the published headers did not survive dead-lettering: published ${want.toString('hex')}, dead-lettered ${h?.subarray(4).toString('hex').slice(0, 600) ?? 'none'}`);
      }
    }
  };
  return [
    {
      id: `${id}a`, title: `${title}: expired (x-message-ttl 200) into the dead-letter exchange`, mode: 'open', channels: [1],
      run: async (c, ctx, f) => {
        const n = names(`${id}a`);
        if (!await setup(c, n, f)) return;
        c.write(publish(1, '', n.q, propBytes, 'expires'));
        await sleep(700);
        expectNoClose(c, f, 'after the message expired');
        await inspect(ctx, n, f, async (d) => compare(await get(d, n.dlq, f), 'expired', f));
      },
    },
    {
      id: `${id}b`, title: `${title}: consumed and rejected with requeue=false into the dead-letter exchange`, mode: 'open', channels: [1],
      run: async (c, ctx, f) => {
        const n = names(`${id}b`);
        if (!await setup(c, n, f)) return;
        c.write(publish(1, '', n.q2, propBytes, 'rejected'));
        if (!await call(c, methodFrame(1, 'basic.consume', { queue: n.q2, 'consumer-tag': 'c2' }), 'basic.deliver', 1, f, 'consume')) return;
        const tag = c.frames.find((x) => x.method === 'basic.deliver')!.args!['delivery-tag'] as bigint;
        c.write(methodFrame(1, 'basic.reject', { 'delivery-tag': tag, requeue: false }));
        await call(c, methodFrame(1, 'basic.qos', {}), 'basic.qos-ok', 1, f, 'after the reject');
        expectNoClose(c, f, 'after the reject');
        await sleep(100);
        await inspect(ctx, n, f, async (d) => compare(await get(d, n.dlq, f), 'rejected', f));
      },
    },
  ];
}

const case2: FuzzCase[] = [
  ...deadLetterCase('c2', 'corpus 2: timestamp property 2^64-1', { timestamp: TS_MAX, 'message-id': 'c2' }),
];

// ------------------------------------------------------------------ case 3

// RabbitMQ 3.10 decodes the properties of every published message; a headers table it cannot
// parse crashes its channel process (connection.close 541 INTERNAL_ERROR, naming no method).
// Either way the message is refused at once and never stored.
const BAD_HEADERS: [string, Buffer][] = [
  // key "a", type 'Z' (unknown), then bytes
  ['an unknown type tag', hexBytes('00 00 00 05 01 61 5a 00 00')],
  // key "s", longstr of 1000 bytes with 3 present: runs past the table and the frame
  ['a longstr length past the end', hexBytes('00 00 00 0a 01 73 53 00 00 03 e8 61 62 63')],
  // key "t", nested table whose length (0x100) runs past the outer table
  ['a nested table length past the end', hexBytes('00 00 00 0c 01 74 46 00 00 01 00 01 61 74 01 00')],
  // the headers table's own length past the end of the content header frame
  ['the table length past the end of the frame', hexBytes('00 00 10 00 01 61 74 01')],
];

const case3: FuzzCase[] = BAD_HEADERS.flatMap(([what, headers], i) => (['ttl', 'headers-exchange'] as const).map((target, j): FuzzCase => ({
  id: `c3${String.fromCharCode(97 + i * 2 + j)}`,
  title: `corpus 3: headers with ${what}, published to ${target === 'ttl' ? 'a queue with x-message-ttl and a dead-letter exchange' : 'a headers exchange'}`,
  mode: 'open', channels: [1],
  run: async (c, ctx, f) => {
    const n = names(`c3${i}${j}`);
    if (!await setup(c, n, f)) return;
    // Built by hand: the properties are the flags word (headers and message-id present), the headers, the message-id.
    const props = Buffer.concat([hexBytes('20 80'), headers, Buffer.from([2, 0x63, 0x33])]);
    c.write(target === 'ttl' ? publish(1, '', n.q, props, 'bad') : publish(1, n.hx, '', props, 'bad'));
    await c.waitFor(() => c.closes.length > 0 || c.closed, 1000);
    if (c.closes.length === 0) f.push(`the publish was not refused: ${c.describe()}`);
    await sleep(400); // past the TTL: an expired message would be dead-lettered by now
    await inspect(ctx, n, f, async (d) => {
      for (const q of [n.q, n.dlq, n.hq]) {
        const m = await get(d, q, f);
        if (m) f.push(`the message was stored: basic.get ${q} returned it`);
      }
    });
  },
})));

// ------------------------------------------------------------------ case 4

const DEEP = 10_000;

const case4: FuzzCase[] = [
  ...(['table', 'array'] as const).map((shape, i): FuzzCase => ({
    id: `c4${'ab'[i]}`, title: `corpus 4: message headers with ${shape}s nested ${DEEP} deep, to a TTL + DLX queue and a headers exchange`,
    mode: 'open', channels: [1],
    run: async (c, ctx, f) => {
      const n = names(`c4${i}`);
      if (!await setup(c, n, f)) return;
      const props = encodeProps({ headers: deepTable(DEEP, shape), 'message-id': 'deep' });
      c.write(methodFrame(1, 'confirm.select'));
      c.write(publish(1, '', n.q, props, 'deep-ttl'));
      c.write(publish(1, n.hx, '', props, 'deep-hx'));
      await call(c, methodFrame(1, 'basic.qos', {}), 'basic.qos-ok', 1, f, 'after publishing');
      await c.waitFor(() => c.acked(1) >= 2 || c.closed, 2000);
      if (c.acked(1) < 2) f.push(`publisher confirms: ${c.acked(1)} of 2 messages acked`);
      await sleep(600);
      expectNoClose(c, f, 'deep headers');
      await inspect(ctx, n, f, async (d) => {
        if (!await get(d, n.hq, f)) f.push('the headers exchange did not route the message to its bound queue');
        if (!await get(d, n.dlq, f)) f.push('the expired message was not dead-lettered');
      });
    },
  })),
  ...(['table', 'array', 'mixed'] as const).map((shape, i): FuzzCase => ({
    id: `c4${'cde'[i]}`, title: `corpus 4: queue.declare arguments with ${shape}s nested ${DEEP} deep`, mode: 'open', channels: [1],
    run: async (c, _ctx, f) => {
      const q = `fzc.c4${'cde'[i]}.args`;
      const args = new EncodedTable(deepTable(DEEP, shape, F.str('bottom'), 'x-fuzz-deep'));
      if (await call(c, methodFrame(1, 'queue.declare', { queue: q, exclusive: true, arguments: args }), 'queue.declare-ok', 1, f, 'deep queue.declare')) {
        await call(c, methodFrame(1, 'queue.delete', { queue: q }), 'queue.delete-ok', 1, f, 'delete');
      }
      expectNoClose(c, f, 'deep arguments');
    },
  })),
  {
    // RabbitMQ limits frames to 4096 bytes until tune-ok, so it refuses this start-ok (frame too
    // large: the socket is closed). Any refusal will do; a crash (541) will not.
    id: 'c4g', title: `corpus 4: connection.start-ok whose client-properties are tables nested ${DEEP} deep`, mode: 'raw',
    writes: [{
      data: Buffer.concat([
        handshakeFrames().header,
        methodFrame(0, 'connection.start-ok', {
          'client-properties': new EncodedTable(deepTable(DEEP, 'table')), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
        }),
        handshakeFrames().tuneOk, handshakeFrames().open, methodFrame(1, 'channel.open'),
      ]),
      delay: 0,
    }],
  },
  {
    id: 'c4f', title: `corpus 4: headers-exchange binding on an array nested ${DEEP} deep, matched by a message with the same header`,
    mode: 'open', channels: [1],
    run: async (c, ctx, f) => {
      const n = names('c4f');
      const deepValue = deepTable(DEEP, 'array', F.int(7), 'deep');
      // The binding argument: the entry "deep" of the table (without the table's 4-byte length).
      const entry: Entry = ['deep', F.raw(deepValue.subarray(4 + 1 + 4))];
      if (!await setup(c, n, f, [entry])) return;
      c.write(publish(1, n.hx, '', encodeProps({ headers: deepValue }), 'deep-match'));
      await call(c, methodFrame(1, 'basic.qos', {}), 'basic.qos-ok', 1, f, 'after publishing');
      expectNoClose(c, f, 'deep binding');
      await inspect(ctx, n, f, async (d) => { if (!await get(d, n.hq, f)) f.push('the message matching the deep binding was not routed'); });
    },
  },
];

// ------------------------------------------------------------------ case 5

// RabbitMQ 3.10 checks every shortstr of a method it decodes (not basic.publish's) for UTF-8:
// connection.close 501 FRAME_ERROR "Malformed UTF-8 in shortstr", naming no method.
const NOT_UTF8 = Buffer.from([0x66, 0x7a, 0xff, 0x61]); // "fz" 0xff "a"
const NOT_UTF8_2 = Buffer.from([0x66, 0x7a, 0xc0, 0x80]); // "fz" and an overlong NUL

const case5: FuzzCase[] = ([
  ['exchange name in exchange.declare', () => methodFrame(1, 'exchange.declare', { exchange: NOT_UTF8, type: 'direct' })],
  ['queue name in queue.declare', () => methodFrame(1, 'queue.declare', { queue: NOT_UTF8_2, exclusive: true })],
  ['routing key in queue.bind', (q) => methodFrame(1, 'queue.bind', { queue: q, exchange: 'amq.direct', 'routing-key': NOT_UTF8 })],
  ['consumer tag in basic.consume', (q) => methodFrame(1, 'basic.consume', { queue: q, 'consumer-tag': NOT_UTF8 })],
  ['queue name in basic.get', () => methodFrame(1, 'basic.get', { queue: NOT_UTF8 })],
  ['exchange name in exchange.bind', () => methodFrame(1, 'exchange.bind', { destination: 'amq.direct', source: NOT_UTF8_2 })],
] as [string, (q: string) => Buffer][]).map(([what, make], i): FuzzCase => ({
  id: `c5${'abcdef'[i]}`, title: `corpus 5: not UTF-8: ${what}`, mode: 'open', channels: [1],
  run: async (c, _ctx, f) => {
    const q = `fzc.c5${'abcdef'[i]}.q`;
    if (!await call(c, methodFrame(1, 'queue.declare', { queue: q, exclusive: true }), 'queue.declare-ok', 1, f, 'setup')) return;
    c.write(make(q));
    await expectConnectionClose(c, 501, f, 'FRAME_ERROR');
  },
}));

// ------------------------------------------------------------------ case 6

const case6: FuzzCase[] = [
  {
    // RabbitMQ: connection.close 504 "unexpected method in connection state running" for 10/51.
    id: 'c6a', title: 'corpus 6: an unsolicited connection.close-ok', mode: 'open', channels: [1],
    writes: [{ data: methodFrame(0, 'connection.close-ok'), delay: 50 }, { data: methodFrame(1, 'basic.qos', {}), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 504, f, 'CHANNEL_ERROR', [10, 51]),
  },
  {
    // The server closed channel 1 (404) and waits for close-ok; a channel.open there instead.
    // RabbitMQ: connection.close 504 "second 'channel.open' seen" for 20/10.
    id: 'c6b', title: 'corpus 6: channel.open on a channel the server is closing', mode: 'open', channels: [1],
    writes: [
      { data: methodFrame(1, 'basic.get', { queue: 'fzc.c6b.no-such-queue' }), delay: 100 },
      { data: methodFrame(1, 'channel.open'), delay: 50 },
      { data: methodFrame(1, 'basic.qos', {}), delay: 0 },
    ],
    check: async (c, _ctx, f) => {
      await c.waitFor(() => c.closes.some((x) => x.kind === 'connection') || c.closed, 2000);
      const close = c.closes.find((x) => x.kind === 'connection');
      if (!close || close.code !== 504 || close.classId !== 20 || close.methodId !== 10) {
        f.push(`expected connection.close 504 "second 'channel.open' seen" for 20/10, got ${c.describe()}`);
      }
    },
  },
  {
    // Both ends close channel 1 at once: the client's channel.close crosses the server's (for a
    // 404). RabbitMQ answers the client's close with close-ok, takes the client's close-ok for its
    // own close, and the channel can be opened again: no connection error.
    id: 'c6d', title: "corpus 6: crossing channel.close, then the client's channel.close-ok for the server's close", mode: 'open', channels: [1],
    run: async (c, _ctx, f) => {
      c.write(Buffer.concat([methodFrame(1, 'basic.get', { queue: 'fzc.c6d.no-such-queue' }), methodFrame(1, 'channel.close', { 'reply-code': 200, 'reply-text': 'bye' })]));
      await c.waitFor(() => c.has('channel.close', 1) || c.closed, 3000);
      c.write(methodFrame(1, 'channel.close-ok'));
      await sleep(100);
      await call(c, methodFrame(1, 'channel.open'), 'channel.open-ok', 1, f, 'reopening the channel');
      const conn = c.closes.find((x) => x.kind === 'connection');
      if (conn) f.push(`the connection was closed: ${conn.code} ${conn.text} (${conn.classId}/${conn.methodId})`);
    },
  },
  {
    // RabbitMQ: connection.close 504 "expected 'channel.open'" for 20/41.
    id: 'c6c', title: 'corpus 6: channel.close-ok for a channel that is no longer open', mode: 'open', channels: [1],
    writes: [
      { data: methodFrame(1, 'channel.close', { 'reply-code': 200, 'reply-text': 'bye' }), delay: 100 },
      { data: methodFrame(1, 'channel.close-ok'), delay: 0 },
    ],
    check: (c, _ctx, f) => expectConnectionClose(c, 504, f, 'CHANNEL_ERROR', [20, 41]),
  },
];

// ------------------------------------------------- found by the fuzzer

// Dead-lettering must keep a message's properties as published (RabbitMQ re-encodes only the
// headers, which keep their entries and types, and drops expiration).
const BAD_UTF8_LONG = Buffer.concat([Buffer.from('a'), Buffer.alloc(254, 0xff)]);
const found: FuzzCase[] = [
  ...deadLetterCase('c7', 'found: property shortstrs that are not UTF-8', {
    'content-type': Buffer.from([0x74, 0xff, 0x74]), 'message-id': Buffer.from([0xc0, 0x80]), 'app-id': Buffer.from([0xed, 0xa0, 0x80]),
  }),
  ...deadLetterCase('c8', 'found: a 255-byte message-id that is not UTF-8', { 'message-id': BAD_UTF8_LONG }),
  ...deadLetterCase('c9', 'found: timestamp property 2^53+1 (above what a double holds exactly)', { timestamp: 2n ** 53n + 1n }),
  ...deadLetterCase('c10', "found: a header of type 'T' (timestamp) 2^64-1", { headers: table([['t', F.ts(TS_MAX)]]) }),
  ...deadLetterCase('c11', 'found: a header array whose items are of types b, s, u, i, T, f, l', {
    headers: table([['arr', F.array([{ t: 'b', v: -1 }, { t: 's', v: 2 }, { t: 'u', v: 3 }, { t: 'i', v: 4 }, F.ts(5), { t: 'f', v: 1.5 }, F.long(6)])]]),
  }),
  ...deadLetterCase('c18', "found: a header array holding a timestamp ('T') of 2^63", { headers: table([['arr', F.array([F.ts(2n ** 63n)])]]) }),
  ...deadLetterCase('c12', 'found: a header key that is not UTF-8', { headers: table([[Buffer.from([0x6b, 0xff]), F.int(1)]]) }),
  ...deadLetterCase('c13', 'found: a header longstr that is not UTF-8', { headers: table([['s', F.str(Buffer.from([0x61, 0xfe, 0xff]))]]) }),
  // A client sending a method only servers send: RabbitMQ's channel answers "unimplemented method".
  ...(['queue.declare-ok', 'channel.flow-ok', 'basic.consume-ok'] as const).map((m, i): FuzzCase => ({
    id: `c14${'abc'[i]}`, title: `found: the client sends ${m} (a server method) on channel 1`, mode: 'open', channels: [1],
    writes: [{ data: methodFrame(1, m, {}), delay: 50 }, { data: methodFrame(1, 'basic.qos', {}), delay: 0 }],
    check: (c, _ctx, f) => {
      const id = methodPayload(m).readUInt32BE(0);
      return expectConnectionClose(c, 503, f, 'COMMAND_INVALID - unimplemented method', [id >>> 16, id & 0xffff]);
    },
  })),
  {
    id: 'c14d', title: 'found: the client sends connection.blocked on channel 0', mode: 'open', channels: [1],
    writes: [{ data: methodFrame(0, 'connection.blocked', { reason: 'x' }), delay: 50 }, { data: methodFrame(1, 'basic.qos', {}), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 504, f, 'CHANNEL_ERROR - unexpected method in connection state running', [10, 60]),
  },
  // UNEXPECTED_FRAME names the method being assembled (basic.publish), or none when there is none.
  {
    id: 'c15a', title: 'found: a content body frame with no basic.publish before it: 505 naming no method', mode: 'open', channels: [1],
    writes: [{ data: frame(FRAME_BODY, 1, Buffer.from('abc')), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 505, f, 'UNEXPECTED_FRAME', [0, 0]),
  },
  {
    id: 'c15b', title: 'found: a method frame where the content header of a basic.publish should be: 505 naming basic.publish', mode: 'open', channels: [1],
    writes: [{ data: Buffer.concat([methodFrame(1, 'basic.publish', { 'routing-key': 'x' }), methodFrame(1, 'basic.qos', {})]), delay: 0 }],
    check: (c, _ctx, f) => expectConnectionClose(c, 505, f, 'UNEXPECTED_FRAME', [60, 40]),
  },
  {
    // RabbitMQ takes frames of at most 4096 bytes until tune-ok (frame_max = FRAME_MIN_SIZE) and
    // closes the connection on a larger one, here a 5 kB connection.start-ok.
    id: 'c16', title: 'found: a connection.start-ok frame of 5 kB, above the 4096 bytes allowed before tune-ok', mode: 'raw',
    writes: [{
      data: Buffer.concat([
        handshakeFrames().header,
        methodFrame(0, 'connection.start-ok', {
          'client-properties': encTable([['product', F.str('x'.repeat(5000))]]), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
        }),
        handshakeFrames().tuneOk, handshakeFrames().open,
      ]),
      delay: 0,
    }],
    idleMs: 400,
    check: (c, _ctx, f) => { if (c.has('connection.open-ok')) f.push(`the handshake went through: ${c.describe()}`); },
  },
  // Field type 'L' (signed 64-bit, read as 'l': RabbitMQ's errata, rabbitmq-server#1093).
  {
    id: 'c17a', title: "found: queue.declare with x-message-ttl of field type 'L'", mode: 'open', channels: [1],
    run: async (c, _ctx, f) => {
      const args = encTable([['x-message-ttl', F.raw(hexBytes('4c 00 00 00 00 00 00 03 e8'))]]);
      await call(c, methodFrame(1, 'queue.declare', { queue: 'fzc.c17a', exclusive: true, arguments: args }), 'queue.declare-ok', 1, f, "x-message-ttl 'L' 1000");
    },
  },
  {
    id: 'c17b', title: "found: a message whose header is of field type 'L', routed by a headers exchange", mode: 'open', channels: [1],
    run: async (c, ctx, f) => {
      const n = names('c17b');
      if (!await setup(c, n, f, [['k', F.long(5)]])) return;
      c.write(publish(1, n.hx, '', encodeProps({ headers: table([['k', F.raw(hexBytes('4c 00 00 00 00 00 00 00 05'))]]) }), 'L'));
      await call(c, methodFrame(1, 'basic.qos', {}), 'basic.qos-ok', 1, f, 'after publishing');
      expectNoClose(c, f, "'L' header");
      await inspect(ctx, n, f, async (d) => { if (!await get(d, n.hq, f)) f.push('the message was not routed to the bound queue'); });
    },
  },
  // RabbitMQ's reader takes only connection methods before connection.open: a channel frame
  // there is 505 UNEXPECTED_FRAME (Warren answered 503 COMMAND_INVALID).
  ...['channel.open', 'queue.declare'].map((m, i): FuzzCase => ({
    id: `c19${'ab'[i]}`, title: `found: ${m} on channel 1 after tune-ok, before connection.open: 505`, mode: 'raw',
    writes: [{ data: Buffer.concat([handshakeFrames().header, handshakeFrames().startOk, handshakeFrames().tuneOk, methodFrame(1, m)]), delay: 0 }],
    idleMs: 1000,
    check: (c, _ctx, f) => expectConnectionClose(c, 505, f, 'UNEXPECTED_FRAME'),
  })),
  // Past tune-ok, RabbitMQ answers any method but connection.open as in the running state: 504
  // "unexpected method in connection state opening" (Warren answered 503 COMMAND_INVALID).
  {
    id: 'c20', title: 'found: tune-ok again instead of connection.open: 504 unexpected method in connection state opening', mode: 'raw',
    writes: [{ data: Buffer.concat([handshakeFrames().header, handshakeFrames().startOk, handshakeFrames().tuneOk, handshakeFrames().tuneOk]), delay: 0 }],
    idleMs: 1000,
    check: (c, _ctx, f) => expectConnectionClose(c, 504, f, 'CHANNEL_ERROR - unexpected method in connection state opening', [10, 31]),
  },
];

export const CORPUS: FuzzCase[] = [...case1, ...case2, ...case3, ...case4, ...case5, ...case6, ...found];
