// Generated cases whose answer is known in advance (fuzz.test.ts's "targeted" kind): huge length
// fields, frames past frame_max, methods in the wrong state of the connection and channel state
// machines, floods of channel opens up to and past channel_max, open/close churn. Each case
// carries the exact reply RabbitMQ 3.13 gives (checked against the reference RabbitMQ with
// WARREN_TEST_URL), so a broker that merely closes the socket, or answers with another code,
// fails the case.
import {
  Gen, NamePool, FRAME_BODY, FRAME_MAX, METHOD_BY_NAME, METHODS, EncodedTable, F, frame, headerFrame, methodFrame, methodPayload,
  handshakeFrames, table, toWrites, genArgs, type Step,
} from './fuzz-grammar.js';
import type { FuzzCase, FuzzConn } from './fuzz-runner.js';

/** What the broker must answer: a connection.close or channel.close with this code (and text prefix), or no close at all. */
export interface Expect {
  kind: 'connection' | 'channel' | 'none';
  code?: number;
  text?: string;
  /** Only Warren's answer is checked (the reference answers otherwise, e.g. by a silent close later). */
  warrenOnly?: boolean;
  /** At least this many of a method must have come back (e.g. channel.open-ok of a flood). */
  count?: [method: string, n: number];
}

/** Records a failure unless the connection got exactly what `e` says. */
export function checkExpect(c: FuzzConn, e: Expect, failures: string[], external = false): void {
  if (external && e.warrenOnly) return;
  if (e.count) {
    const [m, n] = e.count;
    const got = c.count(m);
    if (got < n) failures.push(`expected at least ${n} ${m}, got ${got}`);
  }
  const want = e.kind === 'none' ? 'no close' : `${e.kind}.close ${e.code}${e.text ? ` "${e.text}..."` : ''}`;
  if (e.kind === 'none') {
    for (const cl of c.closes) failures.push(`expected ${want}, got ${cl.kind}.close ${cl.code} ${cl.text}`);
    return;
  }
  const cl = c.closes.find((x) => x.kind === e.kind);
  if (!cl) {
    failures.push(`expected ${want}, got ${c.describe()}${c.closed ? '' : ' (socket still open)'}`);
    return;
  }
  // RabbitMQ's own crash (its reader dying on a huge longstr) is not the test's concern.
  if (external && cl.code === 541 && cl.text === 'INTERNAL_ERROR') return;
  if (cl.code !== e.code || (e.text !== undefined && !cl.text.startsWith(e.text))) failures.push(`expected ${want}, got ${cl.kind}.close ${cl.code} "${cl.text}"`);
  if (e.kind === 'connection') {
    const ch = c.closes.find((x) => x.kind === 'channel');
    if (ch) failures.push(`expected a connection error only, also got channel.close ${ch.code} ${ch.text}`);
  }
}

export type TargetKind = 'huge-length' | 'oversize-frame' | 'unopened-channel' | 'double-open' | 'orphan-content' | 'method-in-content'
  | 'server-method' | 'handshake-again' | 'connection-method-on-channel' | 'before-open' | 'after-close' | 'channel-flood'
  | 'channel-max-tuned' | 'channel-churn' | 'closing-channel' | 'handshake-order';

/** Methods only a server sends; a client sending one breaks the protocol. */
const SERVER_ONLY = ['channel.open-ok', 'queue.declare-ok', 'exchange.declare-ok', 'basic.deliver', 'basic.get-ok', 'basic.get-empty',
  'basic.return', 'basic.consume-ok', 'basic.qos-ok', 'queue.bind-ok', 'tx.select-ok', 'confirm.select-ok'];
const TABLE_METHODS = METHODS.filter((m) => m.name.split('.')[0] !== 'connection' && m.args.some((a) => a.type === 'table'));
const SHORTSTR_METHODS = METHODS.filter((m) => ['queue', 'exchange', 'basic'].includes(m.name.split('.')[0])
  && !SERVER_ONLY.includes(m.name) && !/-ok$|deliver|return|get-empty/.test(m.name) && m.args.some((a) => a.type === 'shortstr'));
/** Channel-level client methods that must be refused on an unopened channel. */
const CHANNEL_METHODS = ['queue.declare', 'exchange.declare', 'basic.qos', 'basic.get', 'basic.consume', 'confirm.select',
  'tx.select', 'queue.bind', 'basic.ack', 'channel.flow', 'basic.recover'];
const HUGE_LENGTHS = [0xffff_ffff, 0xffff_fffc, 0x8000_0000, 0x7fff_ffff, 0x1_0000, 1_000_000];

/** A method frame whose `kind` length field (of the first such argument) is replaced by `length`. */
function withHugeLength(g: Gen, pool: NamePool, name: string, kind: 'table' | 'shortstr' | 'longstr', channel: number): { frame: Buffer; desc: string } {
  const spec = METHOD_BY_NAME.get(name)!;
  const args = genArgs(g, spec, pool, []);
  const arg = spec.args.find((a) => a.type === kind)!;
  // A marker value whose length field is easy to find in the payload.
  const marker = Buffer.from('HUGEMARK');
  if (kind === 'table') args[arg.name] = new EncodedTable(table([['HUGEMARK', F.int(1)]]));
  else args[arg.name] = marker;
  const p = methodPayload(name, args);
  const at = kind === 'table' ? p.indexOf(Buffer.concat([Buffer.from([8]), marker])) - 4 : p.indexOf(marker) - (kind === 'longstr' ? 4 : 1);
  let length: number;
  if (kind === 'shortstr') {
    // A shortstr cannot be longer than 255: the most it can claim, past the end of the frame.
    length = 255;
    p[at] = length;
  } else {
    length = g.chance(0.2) ? p.length - at - 4 + g.between(1, 3) : g.pick(HUGE_LENGTHS);
    p.writeUInt32BE(length >>> 0, at);
  }
  return { frame: frame(1, channel, p), desc: `${name} ${arg.name} (${kind}) length ${length}` };
}

/** A targeted case of a kind (picked at random unless given). */
export function targetedCase(g: Gen, id: string, pool: NamePool, kind?: TargetKind): FuzzCase & { expect: Expect } {
  const k = kind ?? g.weighted<TargetKind>([
    [8, 'huge-length'], [4, 'oversize-frame'], [6, 'unopened-channel'], [2, 'double-open'], [4, 'orphan-content'], [3, 'method-in-content'],
    [4, 'server-method'], [3, 'handshake-again'], [2, 'connection-method-on-channel'], [3, 'before-open'], [3, 'after-close'],
    [1, 'channel-flood'], [2, 'channel-max-tuned'], [2, 'channel-churn'], [3, 'closing-channel'], [4, 'handshake-order'],
  ]);
  let steps: Step[] = [];
  let expect: Expect;
  let desc: string;
  let mode: 'open' | 'raw' = 'open';
  // Silence after which a case is over: long, as a broker busy with a flood answers late.
  let idleMs = 1000;
  switch (k) {
    case 'huge-length': {
      const kinds = g.pick(['table', 'shortstr', 'longstr'] as const);
      const m = kinds === 'table' ? g.pick(TABLE_METHODS).name : kinds === 'shortstr' ? g.pick(SHORTSTR_METHODS).name : 'connection.update-secret';
      const f = withHugeLength(g, pool, m, kinds, kinds === 'longstr' ? 0 : 1);
      steps = [f.frame];
      desc = f.desc;
      expect = { kind: 'connection', code: 501, text: 'FRAME_ERROR' };
      break;
    }
    case 'oversize-frame': {
      const size = g.pick([FRAME_MAX + 1, FRAME_MAX + 8, 0x00ff_ffff, 0x7fff_ffff, 0xffff_ffff]);
      const type = g.pick([1, 2, 3]);
      const head = Buffer.alloc(7);
      head[0] = type;
      head.writeUInt16BE(g.pick([0, 1]), 1);
      head.writeUInt32BE(size, 3);
      steps = [Buffer.concat([head, g.bytes(g.between(0, 64))])];
      desc = `frame of type ${type} announcing ${size} bytes`;
      expect = { kind: 'connection', code: 501, text: 'FRAME_ERROR' };
      break;
    }
    case 'unopened-channel': {
      const ch = g.pick([2, 3, 100, 2047, 65535, g.between(2, 65535)]);
      const m = g.pick(CHANNEL_METHODS);
      // Arguments that decode (RabbitMQ decodes a method before it looks at the channel).
      // Names given: RabbitMQ resolves an empty queue name ("the last declared") even before it
      // looks at the channel, answering 404 on a channel that was never opened.
      steps = [methodFrame(ch, m, { queue: `${pool.prefix}q0`, exchange: `${pool.prefix}x0`, type: 'direct' })];
      desc = `${m} on unopened channel ${ch}`;
      expect = { kind: 'connection', code: 504, text: 'CHANNEL_ERROR' };
      break;
    }
    case 'double-open':
      steps = [methodFrame(1, 'channel.open')];
      desc = 'channel.open on an open channel';
      expect = { kind: 'connection', code: 504, text: 'CHANNEL_ERROR' };
      break;
    case 'orphan-content': {
      const header = g.chance(0.5);
      steps = [header ? headerFrame(1, g.int(100), Buffer.from([0, 0])) : frame(FRAME_BODY, 1, g.bytes(g.between(1, 30)))];
      desc = `content ${header ? 'header' : 'body'} frame without a basic.publish`;
      expect = { kind: 'connection', code: 505, text: 'UNEXPECTED_FRAME' };
      break;
    }
    case 'method-in-content': {
      const m = g.pick(['basic.qos', 'queue.declare', 'basic.publish', 'channel.close', 'basic.ack']);
      const body = g.chance(0.5);
      steps = [methodFrame(1, 'basic.publish', { exchange: '', 'routing-key': 'nowhere' }),
        ...(body ? [headerFrame(1, 10, Buffer.from([0, 0])), frame(FRAME_BODY, 1, Buffer.from('abc'))] : []),
        methodFrame(1, m, m === 'channel.close' ? { 'reply-code': 200 } : {})];
      desc = `${m} in the middle of a message's content (${body ? 'after part of the body' : 'instead of the header'})`;
      expect = { kind: 'connection', code: 505, text: 'UNEXPECTED_FRAME' };
      break;
    }
    case 'server-method': {
      const m = g.pick(SERVER_ONLY);
      // Content-carrying ones come with their content (else the broker rightly waits for it).
      const content = METHOD_BY_NAME.get(m)!.content ? [headerFrame(1, 3, Buffer.from([0, 0])), frame(FRAME_BODY, 1, Buffer.from('abc'))] : [];
      steps = [methodFrame(1, m), ...content];
      desc = `server method ${m} from the client`;
      expect = { kind: 'connection', code: 503, text: 'COMMAND_INVALID' };
      break;
    }
    case 'handshake-again': {
      const h = handshakeFrames();
      const [f, name] = g.pick([[h.startOk, 'start-ok'], [h.tuneOk, 'tune-ok'], [h.open, 'open']] as const);
      steps = [f];
      desc = `connection.${name} again after the handshake`;
      expect = { kind: 'connection', code: 504, text: 'CHANNEL_ERROR - unexpected method in connection state running' };
      break;
    }
    case 'connection-method-on-channel': {
      const m = g.pick(['connection.open', 'connection.tune-ok', 'connection.close', 'connection.start-ok']);
      steps = [methodFrame(1, m)];
      desc = `${m} on channel 1`;
      expect = { kind: 'connection', code: 503, text: 'COMMAND_INVALID' };
      break;
    }
    case 'before-open': {
      // Channel methods after tune-ok but before connection.open.
      mode = 'raw';
      const h = handshakeFrames();
      const m = g.pick(['channel.open', 'queue.declare', 'basic.publish']);
      steps = [h.header, h.startOk, h.tuneOk, methodFrame(1, m)];
      desc = `${m} before connection.open`;
      expect = { kind: 'connection', code: 505, text: 'UNEXPECTED_FRAME' };
      break;
    }
    case 'after-close': {
      // After the client's connection.close, the broker answers close-ok and ignores the rest.
      const m = g.pick(['queue.declare', 'channel.open', 'basic.publish', 'connection.open']);
      steps = [methodFrame(0, 'connection.close', { 'reply-code': 200, 'reply-text': 'bye' }), methodFrame(m === 'connection.open' ? 0 : 1, m)];
      desc = `${m} after the client's connection.close`;
      expect = { kind: 'none', count: ['connection.close-ok', 1] };
      break;
    }
    case 'channel-flood': {
      // channel_max (2047) open at once (channel 1 is), then one more.
      const n = 2047;
      const opens: Buffer[] = [];
      for (let ch = 2; ch <= n; ch++) opens.push(methodFrame(ch, 'channel.open'));
      steps = [Buffer.concat(opens), { wait: ['channel.open-ok'], count: n, ms: 15_000 }, methodFrame(n + g.between(1, 60000 - n), 'channel.open')];
      desc = `${n} channels open, then one more`;
      idleMs = 3000;
      expect = { kind: 'connection', code: 530, text: 'NOT_ALLOWED', count: ['channel.open-ok', n] };
      break;
    }
    case 'channel-max-tuned': {
      mode = 'raw';
      const max = g.between(1, 8);
      const h = handshakeFrames();
      const tuneOk = methodFrame(0, 'connection.tune-ok', { 'channel-max': max, 'frame-max': FRAME_MAX, heartbeat: 0 });
      const opens: Buffer[] = [];
      for (let ch = 1; ch <= max; ch++) opens.push(methodFrame(ch, 'channel.open'));
      steps = [h.header, h.startOk, tuneOk, h.open, { wait: ['connection.open-ok'], count: 1, ms: 5000 }, Buffer.concat(opens),
        { wait: ['channel.open-ok'], count: max, ms: 5000 }, methodFrame(max + 1, 'channel.open')];
      desc = `channel_max ${max} tuned, ${max + 1} channels opened`;
      expect = { kind: 'connection', code: 530, text: 'NOT_ALLOWED', count: ['channel.open-ok', max] };
      break;
    }
    case 'channel-churn': {
      // Batches of channels opened and closed at once, numbers reused from batch to batch (a
      // number is free again once its close-ok came), then channel 1 must still work.
      const batches = g.between(3, 12);
      let total = 0;
      for (let b = 0; b < batches; b++) {
        const chans = [...new Set(Array.from({ length: g.between(1, 40) }, () => 2 + g.int(200)))];
        total += chans.length;
        steps.push(Buffer.concat(chans.flatMap((ch) => [methodFrame(ch, 'channel.open'), methodFrame(ch, 'channel.close', { 'reply-code': 200 })])),
          { wait: ['channel.close-ok'], count: total, ms: 10_000 });
      }
      steps.push(methodFrame(1, 'basic.qos', { 'prefetch-count': 1 }), { wait: ['basic.qos-ok'], count: 1, ms: 5000 });
      desc = `${batches} batches of channel open/close (${total} channels)`;
      expect = { kind: 'none', count: ['channel.close-ok', total] };
      break;
    }
    case 'handshake-order': {
      // The wrong connection method in each state of the handshake.
      mode = 'raw';
      const h = handshakeFrames();
      const done = g.int(3); // 0: waiting for start-ok, 1: for tune-ok, 2: for open
      const wrong = [[h.tuneOk, h.open, methodFrame(0, 'connection.close-ok')], [h.startOk, h.open, methodFrame(0, 'connection.close-ok')],
        [h.startOk, h.tuneOk, methodFrame(0, 'connection.close-ok')]][done];
      const f = g.pick(wrong);
      steps = [h.header, ...[h.startOk, h.tuneOk].slice(0, done), f];
      desc = `${['tune-ok/open/close-ok before start-ok', 'start-ok/open/close-ok before tune-ok', 'start-ok/tune-ok/close-ok before open'][done]}: ${wrong.indexOf(f)}`;
      // Past tune-ok RabbitMQ answers 504; before it, it closes the socket without a word after 3 s
      // (Warren answers 503 there, which RabbitMQ's own answer cannot be checked against).
      expect = done === 2 ? { kind: 'connection', code: 504, text: 'CHANNEL_ERROR - unexpected method in connection state opening' }
        : { kind: 'connection', code: 503, text: 'COMMAND_INVALID', warrenOnly: true };
      break;
    }
    default: {
      // A channel the broker is closing (404 on a passive declare): what the client sends
      // before its close-ok is ignored, then the number can be opened again.
      const m = g.pick(['queue.declare', 'basic.qos', 'exchange.declare', 'basic.get']);
      steps = [methodFrame(1, 'queue.declare', { queue: `${pool.prefix}missing`, passive: true }), methodFrame(1, m),
        { wait: ['channel.close'], count: 1, ms: 5000 }, methodFrame(1, 'channel.close-ok'), methodFrame(1, 'channel.open'),
        { wait: ['channel.open-ok'], count: 2, ms: 5000 }];
      desc = `${m} on a channel the broker is closing, then close-ok and reopen`;
      expect = { kind: 'channel', code: 404, text: 'NOT_FOUND', count: ['channel.open-ok', 2] };
    }
  }
  return {
    id, title: `targeted (${k}): ${desc}`, mode, writes: toWrites(g, steps, 'none'), idleMs, expect,
    check: (c, ctx, failures) => checkExpect(c, expect, failures, ctx.external),
  };
}
