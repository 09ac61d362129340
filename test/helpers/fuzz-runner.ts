// The machinery of the protocol fuzz test (test/integration/fuzz.test.ts): a raw connection that
// records and strictly checks everything the broker sends back, the runner of one case, the
// generator of random cases from a seed and a case number, a watcher of the broker's log, and a
// bystander connection (amqplib) that publishes with confirms and consumes throughout.
import { connect, type Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { rng } from './random.js';
import {
  Gen, NamePool, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_END, decodeMethod, decodeTableStrict,
  genItem, validSession, mutate, toWrites, handshakeFrames, genProps, methodFrame, frame, deepTable, encTable, F,
  splitProps, splitTable, hex, genMalformedTable, heartbeat, encodeProps, EncodedTable, type Step, type Write, type SessionInfo, type Entry,
} from './fuzz-grammar.js';
import { targetedCase, type TargetKind } from './fuzz-targeted.js';

// ------------------------------------------------------------ raw connection

export interface ServerFrame {
  type: number;
  channel: number;
  payload: Buffer;
  at: number;
  /** Method frames: "channel.close" etc. and decoded arguments. */
  method?: string;
  args?: Record<string, any>;
}

export interface Close {
  kind: 'connection' | 'channel';
  channel: number;
  code: number;
  text: string;
  classId: number;
  methodId: number;
}

/** A message the broker sent (deliver, get-ok, return) with its raw property bytes. */
export interface Content {
  channel: number;
  method: string;
  args: Record<string, any>;
  props: Buffer;
  body: Buffer;
}

const REPLY_CODES = new Set([200, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

/**
 * A raw socket to the broker. Everything received is parsed strictly; anything malformed is
 * recorded in `problems` (the test fails on it). Answers connection.close with close-ok.
 */
export class FuzzConn {
  readonly frames: ServerFrame[] = [];
  readonly closes: Close[] = [];
  readonly contents: Content[] = [];
  /** Malformed output from the broker. */
  readonly problems: string[] = [];
  /** Every write, in order, for printing a case's bytes. */
  readonly sent: Buffer[] = [];
  closed = false;
  localPort = 0;
  lastActivity = Date.now();
  /** The broker answered with a protocol header (refusing ours). */
  protocolHeader: Buffer | null = null;
  autoCloseOk = true;
  autoChannelCloseOk = false;

  private rest: Buffer = Buffer.alloc(0);
  private first = true;
  private waiters: (() => void)[] = [];
  private readonly pending = new Map<number, { method: string; args: Record<string, any>; props?: Buffer; size: bigint; parts: Buffer[]; got: number }>();

  private constructor(readonly socket: Socket) {
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => { /* seen as close */ });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static connect(port: number, host: string, ms = 5000): Promise<FuzzConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, noDelay: true });
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, ms);
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new FuzzConn(s));
      });
    });
  }

  private onData(d: Buffer): void {
    this.lastActivity = Date.now();
    let buf: Buffer = this.rest.length ? Buffer.concat([this.rest, d]) : d;
    if (this.first) {
      if (buf.length < 8 && buf[0] === 0x41) { this.rest = buf; return; }
      this.first = false;
      if (buf[0] === 0x41) {
        this.protocolHeader = buf.subarray(0, 8);
        buf = buf.subarray(8);
      }
    }
    let pos = 0;
    while (pos + 8 <= buf.length) {
      const size = buf.readUInt32BE(pos + 3);
      if (pos + 8 + size > buf.length) break;
      const f: ServerFrame = { type: buf[pos], channel: buf.readUInt16BE(pos + 1), payload: Buffer.from(buf.subarray(pos + 7, pos + 7 + size)), at: Date.now() };
      if (buf[pos + 7 + size] !== FRAME_END) this.problem(`frame with end octet 0x${buf[pos + 7 + size].toString(16)}`);
      this.onFrame(f);
      pos += 8 + size;
    }
    this.rest = Buffer.from(buf.subarray(pos));
    this.notify();
  }

  private problem(what: string): void {
    if (this.problems.length < 20) this.problems.push(what);
  }

  private onFrame(f: ServerFrame): void {
    this.frames.push(f);
    switch (f.type) {
      case FRAME_METHOD: {
        let m;
        try {
          m = decodeMethod(f.payload);
        } catch (e) {
          this.problem(`undecodable method frame on channel ${f.channel}: ${(e as Error).message}: ${hex(f.payload.subarray(0, 64))}`);
          return;
        }
        f.method = m.spec.name;
        f.args = m.args;
        if (this.pending.has(f.channel)) this.problem(`${f.method} on channel ${f.channel} in the middle of a message's content`);
        if (m.spec.content) this.pending.set(f.channel, { method: m.spec.name, args: m.args, size: 0n, parts: [], got: 0 });
        if (f.method === 'connection.close' || f.method === 'channel.close') {
          const a = m.args;
          const c: Close = {
            kind: f.method === 'connection.close' ? 'connection' : 'channel', channel: f.channel, code: a['reply-code'] as number,
            text: (a['reply-text'] as Buffer).toString('utf8'), classId: a['class-id'] as number, methodId: a['method-id'] as number,
          };
          this.closes.push(c);
          if (!REPLY_CODES.has(c.code)) this.problem(`${f.method} with reply code ${c.code}, not one of the spec's`);
          if ((c.kind === 'connection') !== (f.channel === 0)) this.problem(`${f.method} on channel ${f.channel}`);
          if (c.kind === 'connection' && this.autoCloseOk) this.write(methodFrame(0, 'connection.close-ok'));
          if (c.kind === 'channel' && this.autoChannelCloseOk) this.write(methodFrame(f.channel, 'channel.close-ok'));
        }
        return;
      }
      case FRAME_HEADER: case FRAME_BODY: {
        const p = this.pending.get(f.channel);
        if (!p) {
          this.problem(`content ${f.type === FRAME_HEADER ? 'header' : 'body'} frame on channel ${f.channel} without a content method`);
          return;
        }
        if (f.type === FRAME_HEADER) {
          if (p.props) { this.problem(`second content header on channel ${f.channel}`); return; }
          if (f.payload.length < 14) { this.problem(`content header of ${f.payload.length} bytes`); return; }
          p.props = f.payload.subarray(12);
          p.size = f.payload.readBigUInt64BE(4);
          const split = splitProps(p.props);
          if (!split) this.problem(`content header properties that do not parse: ${hex(p.props.subarray(0, 64))}`);
          const headers = split?.get('headers');
          if (headers) {
            try {
              decodeTableStrict(headers, 0, -100_000);
            } catch (e) {
              // (A table too deep for this process's stack to check is not the broker's fault.)
              if (!(e instanceof RangeError)) this.problem(`delivered a message whose headers table is malformed (${(e as Error).message}) with ${p.method}`);
            }
          }
        } else {
          if (!p.props) { this.problem(`content body before its header on channel ${f.channel}`); return; }
          p.parts.push(f.payload);
          p.got += f.payload.length;
          if (BigInt(p.got) > p.size) this.problem(`content body of ${p.got} bytes after a header announcing ${p.size}`);
        }
        if (p.props && BigInt(p.got) >= p.size) {
          this.pending.delete(f.channel);
          this.contents.push({ channel: f.channel, method: p.method, args: p.args, props: p.props, body: Buffer.concat(p.parts) });
        }
        return;
      }
      case FRAME_HEARTBEAT:
        if (f.channel !== 0 || f.payload.length !== 0) this.problem(`heartbeat on channel ${f.channel} with ${f.payload.length} bytes`);
        return;
      default:
        this.problem(`frame of unknown type ${f.type}`);
    }
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves true once cond() holds, false after ms (checked on every read and on close). */
  waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(cond()), ms);
      const check = () => {
        if (cond()) { clearTimeout(timer); resolve(true); } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** Waits until the socket closes, or nothing arrived for idleMs, or capMs passed. */
  async waitQuiet(idleMs: number, capMs: number): Promise<void> {
    const deadline = Date.now() + capMs;
    while (!this.closed && Date.now() < deadline) {
      const quietFor = Date.now() - this.lastActivity;
      if (quietFor >= idleMs) return;
      await this.waitFor(() => this.closed, Math.min(idleMs - quietFor, deadline - Date.now()));
    }
  }

  write(data: Buffer): void {
    this.sent.push(data);
    if (!this.closed && !this.socket.destroyed) this.socket.write(data);
  }

  /** Writes pieces with delays and waits after them; stops once the socket is closed. */
  async writeAll(writes: Write[]): Promise<void> {
    for (const w of writes) {
      if (this.closed) return;
      this.lastActivity = Date.now();
      this.write(w.data);
      if (w.delay > 0) await sleep(w.delay);
      if (w.wait) {
        const { wait, count, ms } = w.wait;
        await this.waitFor(() => this.closed || wait.reduce((n, m) => n + this.count(m), 0) >= count, ms);
      }
    }
    this.lastActivity = Date.now();
  }

  has(method: string, channel?: number): boolean {
    return this.frames.some((f) => f.method === method && (channel === undefined || f.channel === channel));
  }

  count(method: string, channel?: number): number {
    return this.frames.filter((f) => f.method === method && (channel === undefined || f.channel === channel)).length;
  }

  /** Publishes confirmed on `channel` so far: the highest delivery tag acked (acks may cover several with multiple=true). */
  acked(channel: number): number {
    let top = 0;
    for (const f of this.frames) {
      if (f.method === 'basic.ack' && f.channel === channel) top = Math.max(top, Number(f.args?.['delivery-tag'] ?? 0));
    }
    return top;
  }

  /** Waits for `method` (on `channel`); false if it did not come (or the connection closed first). */
  expect(method: string, channel?: number, ms = 5000): Promise<boolean> {
    const n = this.count(method, channel);
    return this.waitFor(() => this.count(method, channel) > n || this.closed || this.closes.some((c) => c.kind === 'connection'), ms)
      .then(() => this.count(method, channel) > n);
  }

  /** Sends the handshake without waiting between frames, then waits for open-ok and channel.open-ok on `channels`. */
  async open(channels: number[] = [1], ms = 5000): Promise<void> {
    const h = handshakeFrames();
    this.write(Buffer.concat([h.header, h.startOk, h.tuneOk, h.open]));
    if (!await this.waitFor(() => this.has('connection.open-ok') || this.closed, ms) || !this.has('connection.open-ok')) {
      throw new Error(`handshake failed: ${this.describe()}`);
    }
    for (const ch of channels) {
      this.write(methodFrame(ch, 'channel.open'));
      if (!await this.expect('channel.open-ok', ch, ms)) throw new Error(`channel.open ${ch} failed: ${this.describe()}`);
    }
  }

  /** Frames received, short. */
  describe(): string {
    const names = this.frames.filter((f) => f.type !== FRAME_HEARTBEAT).map((f) => {
      if (f.method === 'connection.close' || f.method === 'channel.close') {
        return `${f.method}@${f.channel}(${f.args!['reply-code']} ${(f.args!['reply-text'] as Buffer).toString('utf8').slice(0, 120)})`;
      }
      return f.method ? `${f.method}@${f.channel}` : `type${f.type}@${f.channel}`;
    });
    const shown = names.length > 30 ? [...names.slice(0, 12), `... ${names.length - 24} more ...`, ...names.slice(-12)] : names;
    return `[${shown.join(', ')}]${this.closed ? ' socket closed' : ''}`;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------- cases

export interface CaseContext {
  host: string;
  port: number;
  /** Against an external broker (the reference RabbitMQ): its log is not visible. */
  external: boolean;
  /** Opens another raw connection on behalf of the case (its port is recorded for the log). */
  connect(): Promise<FuzzConn>;
}

/** A context for one case: records the local port of every connection the case opens. */
export function caseContext(host: string, port: number, external: boolean, ports: number[]): CaseContext {
  return {
    host, port, external,
    async connect() {
      const c = await FuzzConn.connect(port, host);
      ports.push(c.localPort);
      return c;
    },
  };
}

export interface FuzzCase {
  /** "17" for generated case 17, "c1a" etc. for the corpus. */
  id: string;
  title: string;
  /**
   * 'open': the runner does the handshake and opens `channels` first (the case's bytes then
   * arrive in reads of their own); 'raw': the case's bytes are all there is, handshake included.
   */
  mode: 'open' | 'raw';
  channels?: number[];
  writes?: Write[];
  /** Silence (ms) after the last write after which the case is over. */
  idleMs?: number;
  /** A scripted case: talks to the broker itself (expectations go in `failures`). */
  run?: (c: FuzzConn, ctx: CaseContext, failures: string[]) => Promise<void>;
  /** Checks after the case (corpus expectations). */
  check?: (c: FuzzConn, ctx: CaseContext, failures: string[]) => Promise<void> | void;
  /** An unmutated valid session: no error may come back and the messages must pass through unchanged. */
  session?: SessionInfo;
  autoChannelCloseOk?: boolean;
}

export interface CaseResult {
  id: string;
  title: string;
  /** Everything that makes the case fail (broker bugs, as far as the test can tell). */
  failures: string[];
  /** What is worth knowing but not a failure (e.g. the reference RabbitMQ's own crashes). */
  notes: string[];
  /** Local ports of the case's connections, to match log lines naming their peer. */
  ports: number[];
  writes: Write[] | undefined;
  closes: Close[];
  socketClosed: boolean;
  localPort: number;
  start: number;
  end: number;
  /** Frames received, short. */
  received: string;
  sent: Buffer[];
}

/** Runs one case on a fresh connection and judges what came back. */
export async function runCase(k: FuzzCase, host: string, port: number, external: boolean, idleMs = 150): Promise<CaseResult> {
  const start = Date.now();
  const failures: string[] = [];
  const notes: string[] = [];
  const ports: number[] = [];
  const ctx = caseContext(host, port, external, ports);
  let c: FuzzConn | null = null;
  try {
    c = await ctx.connect();
    c.autoChannelCloseOk = k.autoChannelCloseOk ?? false;
    if (k.mode === 'open') await c.open(k.channels ?? [1]);
    if (k.run) await k.run(c, ctx, failures);
    if (k.writes) {
      await c.writeAll(k.writes);
      await c.waitQuiet(k.idleMs ?? idleMs, 4000);
    }
    if (k.session) checkSession(c, k.session, failures);
    if (k.check) await k.check(c, ctx, failures);
  } catch (e) {
    failures.push(`the case could not run: ${(e as Error).message}`);
  }
  const conn = c;
  if (conn) {
    for (const p of conn.problems) failures.push(`malformed reply: ${p}`);
    // Once open, a connection the broker ends must get connection.close with a code first (or
    // close-ok to the client's own close): RabbitMQ never drops an open connection silently.
    if (k.mode === 'open' && conn.closed && !conn.closes.some((c) => c.kind === 'connection') && !conn.has('connection.close-ok')) {
      failures.push(`the broker closed the socket of an open connection without connection.close: ${conn.describe()}`);
    }
    for (const cl of conn.closes) {
      if (cl.code !== 541) continue;
      const what = `${cl.kind}.close 541 ${cl.text} (method ${cl.classId}/${cl.methodId})`;
      // RabbitMQ's own crash (a channel process dying, e.g. on a table it cannot parse) reads
      // exactly "INTERNAL_ERROR"; against the reference that is its behaviour, not the test's bug.
      if (external && cl.text === 'INTERNAL_ERROR') notes.push(`${what}: the reference broker crashed`);
      // Warren answers properties it cannot decode with RabbitMQ's code, deliberately and cleanly.
      else if (!external && cl.text.startsWith('INTERNAL_ERROR - malformed content header')) notes.push(`${what}: refused as RabbitMQ does`);
      else failures.push(what);
    }
    conn.destroy();
  }
  return {
    id: k.id, title: k.title, failures, notes, ports, writes: k.writes, closes: conn?.closes ?? [], socketClosed: conn?.closed ?? false,
    localPort: conn?.localPort ?? 0, start, end: Date.now(), received: conn?.describe() ?? '', sent: conn?.sent ?? [],
  };
}

/**
 * The oracle of an unmutated valid session (validSession): no error, the session completed, two
 * deliveries carrying exactly the published property bytes, and two dead-lettered messages whose
 * properties other than headers and expiration are unchanged and whose headers still hold every
 * published entry byte for byte.
 */
export function checkSession(c: FuzzConn, s: SessionInfo, failures: string[]): void {
  const before = failures.length;
  for (const cl of c.closes) failures.push(`valid session got ${cl.kind}.close ${cl.code} ${cl.text}`);
  if (failures.length > before) return;
  if (!c.has('connection.close-ok')) {
    failures.push(`valid session did not complete (no connection.close-ok): ${c.describe()}`);
    return;
  }
  const delivered = c.contents.filter((m) => m.method === 'basic.deliver');
  const got = c.contents.filter((m) => m.method === 'basic.get-ok');
  if (delivered.length !== 2) failures.push(`valid session: ${delivered.length} deliveries instead of 2`);
  [s.published[0], s.published[2]].forEach((props, i) => {
    const d = delivered[i];
    if (d && !d.props.equals(props)) failures.push(`delivery ${i + 1} changed the properties: published ${hex(props.subarray(0, 200))}, delivered ${hex(d.props.subarray(0, 200))}`);
  });
  if (got.length !== 2) failures.push(`valid session: ${got.length} dead-lettered messages in the DLQ instead of 2 (get-empty: ${c.count('basic.get-empty')})`);
  const want = [s.published[0], s.published[1]];
  for (const m of got) {
    const i = want.findIndex((p) => sameExceptHeaders(p, m.props));
    if (i < 0) failures.push(`dead-lettered message's properties differ from those published: ${diffProps([s.published[0], s.published[1]], m.props)}`);
    else want.splice(i, 1);
  }
}

const DEATH_KEYS = /^x-(death|first-death-|last-death-)/;

function sameExceptHeaders(published: Buffer, got: Buffer): boolean {
  return diffProps([published], got) === '';
}

/** '' when `got` matches one of `candidates` except headers/expiration (and keeps their header entries). */
function diffProps(candidates: Buffer[], got: Buffer): string {
  const g = splitProps(got);
  if (!g) return `unparseable ${hex(got.subarray(0, 100))}`;
  const diffs: string[] = [];
  for (const p of candidates) {
    const want = splitProps(p)!;
    const d: string[] = [];
    for (const [name, bytes] of want) {
      if (name === 'expiration' || name === 'headers') continue;
      const other = g.get(name);
      if (!other || !other.equals(bytes)) d.push(`${name}: ${hex(bytes.subarray(0, 40))} -> ${other ? hex(other.subarray(0, 40)) : 'missing'}`);
    }
    // Properties the candidate lacks: else a message whose properties are a subset of another's
    // would match both, and the greedy pairing could take the wrong one.
    for (const [name, bytes] of g) {
      if (name !== 'expiration' && name !== 'headers' && !want.has(name)) d.push(`${name}: missing -> ${hex(bytes.subarray(0, 40))}`);
    }
    const wh = want.get('headers');
    if (wh) {
      const we = splitTable(wh);
      const ge = g.get('headers') ? splitTable(g.get('headers')!) : null;
      if (!ge) d.push('headers: unparseable after dead-lettering');
      else if (we && new Set(we.map(([k]) => k.toString('latin1'))).size === we.length) {
        for (const [k, v] of we) {
          if (DEATH_KEYS.test(k.toString('latin1'))) continue;
          const o = ge.find(([k2]) => k2.equals(k));
          if (!o || !o[1].equals(v)) d.push(`header '${k.toString('latin1')}': ${hex(v.subarray(0, 24))} -> ${o ? hex(o[1].subarray(0, 24)) : 'missing'}`);
        }
      }
    }
    if (d.length === 0) return '';
    diffs.push(d.join('; '));
  }
  return diffs.join(' | or | ');
}

// ------------------------------------------------------------- generation

/** The per-case seed: every case is reproducible from (seed, case number) alone. */
export function caseSeed(seed: number, k: number): number {
  return fmix(fmix(seed >>> 0) ^ fmix((k + 0x632be5ab) >>> 0));
}

/** MurmurHash3's 32-bit finalizer. */
function fmix(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export type CaseKind = 'grammar' | 'session' | 'session-mutated' | 'handshake' | 'tables' | 'garbage' | 'targeted';

/** Generated case number k of a seed (of one kind only if `only` is given). */
export function generateCase(seed: number, k: number, only?: CaseKind, target?: TargetKind): FuzzCase {
  const g = new Gen(rng(caseSeed(seed, k)));
  const prefix = `fz${seed}.${k}.`;
  const pool = new NamePool(prefix);
  const picked = g.weighted<CaseKind>([[34, 'grammar'], [10, 'session'], [28, 'session-mutated'], [10, 'handshake'], [12, 'tables'], [6, 'garbage'], [14, 'targeted']]);
  const kind = only ?? picked;
  const id = String(k);
  switch (kind) {
    case 'targeted': return targetedCase(g, id, pool, target);
    case 'grammar': {
      const items = Array.from({ length: g.between(1, 10) }, () => genItem(g, pool));
      const steps: Step[] = items.flatMap((it) => it.frames);
      return { id, title: `grammar: ${items.map((i) => i.desc).join('; ')}`, mode: 'open', writes: toWrites(g, steps) };
    }
    case 'session': {
      const s = validSession(g, prefix, false);
      return { id, title: 'valid session (TTL + DLX, headers exchange, reject, confirms)', mode: 'open', channels: [], writes: toWrites(g, s.steps), session: s.info };
    }
    case 'session-mutated': {
      const withHandshake = g.chance(0.3);
      const s = validSession(g, prefix, withHandshake, () => genProps(g, { valid: g.chance(0.7) }).bytes);
      const done = mutate(g, s.steps, pool, withHandshake ? g.pick([0, 4]) : 0);
      return { id, title: `mutated session${withHandshake ? ' with handshake' : ''}: ${done.join('; ')}`, mode: withHandshake ? 'raw' : 'open', channels: [], writes: toWrites(g, s.steps) };
    }
    case 'handshake': return handshakeCase(g, id, pool);
    case 'tables': {
      // A valid session whose messages carry large, deep or malformed headers.
      const shape = g.pick(['table', 'array', 'mixed'] as const);
      const depth = g.pick([64, 500, 2000, 10_000]);
      let malformed = false;
      const propsOf = () => {
        const r = g.int(3);
        if (r === 0) return genProps(g, { valid: true, depth: 8, density: 1 }).bytes;
        const p = genProps(g, { valid: true }).props;
        if (r === 1) p.headers = deepTable(depth, shape, g.chance(0.5) ? F.str('x') : F.ts(2n ** 64n - 1n));
        else {
          p.headers = genMalformedTable(g, { depth: 3, width: 3 }).bytes;
          malformed = true;
        }
        return encodeProps(p);
      };
      const s = validSession(g, prefix, false, propsOf);
      return {
        id, title: `session with headers nested ${depth} deep (${shape})${malformed ? ' and malformed headers' : ''}`, mode: 'open', channels: [],
        writes: toWrites(g, s.steps, 'none'), session: malformed ? undefined : s.info,
      };
    }
    default: {
      const n = g.between(1, 200);
      const data = g.chance(0.5) ? g.bytes(n) : Buffer.concat(Array.from({ length: g.between(1, 5) }, () => frame(g.int(10), g.pick([0, 1, 2]), g.bytes(g.int(30)))));
      return { id, title: `garbage: ${n} random bytes or frames`, mode: 'open', writes: toWrites(g, [data]) };
    }
  }
}

/** A handshake gone wrong in one of many ways (all bytes sent without waiting). */
function handshakeCase(g: Gen, id: string, pool: NamePool): FuzzCase {
  const h = handshakeFrames();
  const variant = g.weighted<string>([[30, 'mutated'], [8, 'header'], [8, 'client-properties'], [6, 'mechanism'], [6, 'tune'], [6, 'vhost'], [4, 'early']]);
  let steps: Step[] = [h.header, h.startOk, h.tuneOk, h.open];
  let title = '';
  switch (variant) {
    case 'mutated': {
      const done = mutate(g, steps, pool, 0, g.between(1, 2));
      title = done.join('; ');
      break;
    }
    case 'header': {
      const header = g.pick(['AMQP\x00\x00\x09\x01', 'AMQP\x01\x01\x00\x09', 'AMQP\x00\x00\x09', 'AMQP\x00\x01\x00\x00', 'AMQQ\x00\x00\x09\x01', '\x01\x00\x00\x00\x00\x00\x00\xce']);
      steps[0] = Buffer.from(header, 'latin1');
      title = `protocol header ${hex(steps[0] as Buffer)}`;
      break;
    }
    case 'client-properties': {
      const r = g.int(3);
      const props = r === 0 ? deepTable(g.pick([1000, 10_000]), g.pick(['table', 'array', 'mixed'] as const))
        : r === 1 ? genMalformedTable(g, { depth: 2, width: 3 }).bytes
          : encTable([['capabilities', F.str('not a table')], ['product', F.int(5)], ...g.chance(0.5) ? [] : [['x', F.ts(2n ** 64n - 1n)] as Entry]]).bytes;
      steps[1] = methodFrame(0, 'connection.start-ok', { 'client-properties': new EncodedTable(props), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
      title = ['client properties nested deep', 'malformed client properties', 'odd client properties'][r];
      break;
    }
    case 'mechanism': {
      const [mechanism, response] = g.pick<[string, Buffer]>([
        ['PLAIN', Buffer.from('guest')], ['PLAIN', Buffer.alloc(0)], ['PLAIN', Buffer.from('\0\0')], ['PLAIN', Buffer.from('\0guest\0guest\0x')],
        ['AMQPLAIN', genMalformedTable(g, { depth: 1, width: 2 }).bytes.subarray(4)], ['AMQPLAIN', Buffer.from([0xff, 0xff])],
        ['AMQPLAIN', encTable([['LOGIN', F.int(1)], ['PASSWORD', F.str('guest')]]).bytes.subarray(4)],
        ['EXTERNAL', Buffer.alloc(0)], ['', Buffer.alloc(0)], ['PLAIN AMQPLAIN', Buffer.from('\0guest\0guest')],
      ]);
      steps[1] = methodFrame(0, 'connection.start-ok', { 'client-properties': encTable([]), mechanism, response, locale: 'en_US' });
      title = `mechanism '${mechanism}' response ${hex(response.subarray(0, 32))}`;
      break;
    }
    case 'tune': {
      const v = { 'channel-max': g.pick([0, 1, 2047, 2048, 65535]), 'frame-max': g.pick([0, 4095, 4096, 131072, 131073, 0xffff_ffff]), heartbeat: g.pick([0, 1, 65535]) };
      steps[2] = methodFrame(0, 'connection.tune-ok', v);
      title = `tune-ok ${JSON.stringify(v)}`;
      steps.push(methodFrame(1, 'channel.open'), ...genItem(g, pool).frames);
      break;
    }
    case 'vhost': {
      const vhost = g.pick([Buffer.from(''), Buffer.from('nope'), Buffer.from([0x2f, 0xff]), Buffer.alloc(255, 0x2f)]);
      steps[3] = methodFrame(0, 'connection.open', { 'virtual-host': vhost });
      title = `connection.open vhost ${hex(vhost.subarray(0, 16))}`;
      break;
    }
    default: {
      // Methods before the handshake is done.
      const at = g.between(1, 3);
      const item = genItem(g, pool);
      steps.splice(at, 0, ...item.frames);
      title = `${item.desc} before handshake step ${at}`;
    }
  }
  if (g.chance(0.5)) steps = [...steps, methodFrame(1, 'channel.open'), heartbeat()];
  return { id, title: `handshake (${variant}): ${title}`, mode: 'raw', writes: toWrites(g, steps) };
}

// --------------------------------------------------------------- the log

export interface LogFinding {
  at: number;
  line: string;
  /** The client port of the connection that logged it, if the line names one. */
  peerPort?: number;
}

/**
 * Watches the broker's output for what must never appear: fatal lines, uncaught exceptions,
 * "this is a bug in Warren", internal errors.
 */
export class LogWatch {
  readonly findings: LogFinding[] = [];
  private partial = '';

  attach(child: ChildProcess): void {
    const on = (d: Buffer) => this.feed(d.toString());
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  }

  feed(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (!line.trim()) return;
    let j: any = null;
    try { j = JSON.parse(line); } catch { /* not pino */ }
    const bad = j
      ? j.level >= 60 || /uncaught exception|this is a bug in Warren/i.test(line) || (j.level >= 50 && /internal error/i.test(String(j.msg)))
      : /uncaught|this is a bug in Warren|FATAL|RangeError|TypeError|heap out of memory|Maximum call stack/i.test(line);
    if (!bad) return;
    const m = /"peer":"[^"]*:(\d+)"/.exec(line);
    this.findings.push({ at: Date.now(), line, peerPort: m ? Number(m[1]) : undefined });
  }
}

/** What identifies a log line's bug: its message and the error's message (first line). */
export function logSignature(line: string): string {
  try {
    const j = JSON.parse(line);
    return `${j.msg} ${j.method ?? ''} ${String(j.err?.message ?? '').split('\n')[0]}`;
  } catch {
    return line.slice(0, 100);
  }
}

/** A short form of a log line: level, message, error message and the top of its stack. */
export function summarizeLog(line: string): string {
  try {
    const j = JSON.parse(line);
    const stack = j.err?.stack ? String(j.err.stack).split('\n').slice(0, 4).map((s: string) => s.trim()).join(' | ') : '';
    return `level ${j.level} "${j.msg}"${j.method ? ` in ${j.method}` : ''}${stack ? `: ${stack}` : ''}`;
  } catch {
    return line.slice(0, 300);
  }
}

// ---------------------------------------------------------------- bystander

/**
 * A well-behaved client (amqplib) beside the fuzzing: publishes numbered messages with confirms
 * on one connection and consumes them on another, acking each. It must see no error, every
 * confirm must be an ack, and every message must arrive once, in order.
 */
export class Bystander {
  readonly errors: string[] = [];
  published = 0;
  confirmed = 0;
  received = 0;
  private stopping = false;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly pubConn: ChannelModel, private readonly subConn: ChannelModel,
    private readonly pub: ConfirmChannel, readonly queue: string,
  ) {}

  static async start(url: string, tag: string): Promise<Bystander> {
    const pubConn = await amqp.connect(url);
    const subConn = await amqp.connect(url);
    const pub = await pubConn.createConfirmChannel();
    const sub = await subConn.createChannel();
    const queue = `fuzz-bystander-${tag}`;
    await sub.assertQueue(queue, { exclusive: true });
    const b = new Bystander(pubConn, subConn, pub, queue);
    for (const [what, e] of [['publishing connection', pubConn], ['consuming connection', subConn], ['publishing channel', pub], ['consuming channel', sub]] as const) {
      e.on('error', (err: Error) => b.error(`${what} error: ${err.message}`));
      e.on('close', (err?: Error) => { if (!b.stopping) b.error(`${what} closed${err ? `: ${err.message}` : ''}`); });
    }
    pubConn.on('blocked', (reason: string) => b.error(`publishing connection blocked: ${reason}`));
    await sub.prefetch(50);
    await sub.consume(queue, (m) => {
      if (!m) { b.error('consumer cancelled by the broker'); return; }
      const n = Number(m.content.toString());
      if (n !== b.received + 1) b.error(`received message ${n} after ${b.received} (out of order, lost or duplicated)`);
      if (m.properties.headers?.n !== n) b.error(`message ${n} arrived with headers ${JSON.stringify(m.properties.headers)}`);
      b.received = Math.max(b.received, n);
      sub.ack(m);
    });
    b.tick();
    return b;
  }

  private error(e: string): void {
    if (this.errors.length < 10) this.errors.push(e);
  }

  private tick(): void {
    if (this.stopping) return;
    while (this.inFlight < 10) {
      const n = ++this.published;
      this.inFlight++;
      this.pub.sendToQueue(this.queue, Buffer.from(String(n)), { headers: { n }, timestamp: Date.now(), persistent: n % 2 === 0 }, (err) => {
        this.inFlight--;
        if (err) this.error(`message ${n} nacked: ${err}`);
        else this.confirmed++;
      });
    }
    this.timer = setTimeout(() => this.tick(), 10);
  }

  /** Stops publishing, waits for everything published to arrive, closes; returns what went wrong. */
  async stop(ms = 10_000): Promise<string[]> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const deadline = Date.now() + ms;
    while ((this.inFlight > 0 || this.received < this.published) && Date.now() < deadline && this.errors.length === 0) await sleep(20);
    if (this.inFlight > 0) this.error(`${this.inFlight} confirms never came`);
    if (this.received < this.published) this.error(`only ${this.received} of ${this.published} published messages arrived`);
    for (const c of [this.pubConn, this.subConn]) {
      try { await c.close(); } catch { /* already closed */ }
    }
    return this.errors;
  }
}
