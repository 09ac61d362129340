#!/usr/bin/env node
// Differential tester: runs the same seeded random sequence of AMQP 0-9-1 client operations
// against two brokers (normally Warren and a reference RabbitMQ) and compares the normalised
// outcome of every operation. See README.md in this directory.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { inspect } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(root, 'package.json'));
const amqp = require('amqplib');
const defs = require(join(root, 'node_modules', 'amqplib', 'lib', 'defs.js'));

// ---------------------------------------------------------------------------------------------
// options

function parseArgs(argv) {
  const o = {
    a: 'amqp://guest:guest@127.0.0.1:5700', b: 'amqp://guest:guest@127.0.0.1:5673',
    seeds: [1, 50], seed: null, ops: 60, trace: false, shrink: false, shrinkAll: false,
    settle: 20, quiet: 15, cap: 500, confirmNoise: true, opsFile: null, out: null,
    maxShrinkRuns: 300, verbose: false, json: false,
  };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    switch (k) {
      case '--a': o.a = v(); break;
      case '--b': o.b = v(); break;
      case '--seeds': {
        const s = v();
        const m = /^(\d+)\.\.(\d+)$/.exec(s);
        if (m) o.seeds = [Number(m[1]), Number(m[2])];
        else o.seeds = [Number(s), Number(s)];
        break;
      }
      case '--seed': o.seed = Number(v()); break;
      case '--ops': o.ops = Number(v()); break;
      case '--trace': o.trace = true; break;
      case '--shrink': o.shrink = true; break;
      case '--shrink-all': o.shrinkAll = true; break;
      case '--settle': o.settle = Number(v()); break;
      case '--quiet': o.quiet = Number(v()); break;
      case '--no-noise-check': o.confirmNoise = false; break;
      case '--ops-file': o.opsFile = v(); break;
      case '--out': o.out = v(); break;
      case '--max-shrink-runs': o.maxShrinkRuns = Number(v()); break;
      case '--verbose': o.verbose = true; break;
      case '--timing': o.timing = true; break;
      case '--nagle': o.nagle = true; break;
      case '--strict-text': o.strictText = true; break;
      case '--avoid': o.avoid = v().split(',').filter(Boolean); for (const g of o.avoid) if (!guardFor(g)) throw new Error(`unknown guard ${g}; known: ${Object.keys(GUARDS).join(', ')}`); break;
      case '-h': case '--help':
        console.log(`usage: node tools/differential/run.mjs [--a URL] [--b URL] [--seeds A..B | --seed N]
  [--ops N] [--trace] [--shrink] [--shrink-all] [--settle MS] [--quiet MS]
  [--ops-file FILE.json] [--out DIR] [--no-noise-check] [--max-shrink-runs N]`);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${k}`);
    }
  }
  if (o.seed !== null) o.seeds = [o.seed, o.seed];
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// deterministic generator

function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) { this.r = mulberry32(seed * 2654435761 + 12345); }
  f() { return this.r(); }
  int(n) { return Math.floor(this.r() * n); }
  chance(p) { return this.r() < p; }
  pick(arr) { return arr[this.int(arr.length)]; }
  weighted(table) {
    let total = 0;
    for (const [, w] of table) total += w;
    let x = this.r() * total;
    for (const [v, w] of table) { x -= w; if (x < 0) return v; }
    return table[table.length - 1][0];
  }
}

const NQ = 4, NX = 3, NC = 2, NH = 3;
const PUB_KEYS = ['a', 'b', 'a.b', 'b.c', 'a.b.c', ''];
const BIND_KEYS = ['a', 'b', 'a.*', '#', 'a.#', '*.b', '*', ''];

// References to names are kept abstract in the op list ({$q: i}, {$x: i}, ...) and resolved
// with the run's prefix when executed, so op lists can be shrunk and replayed on fresh names.
function genQueueArgs(r) {
  const a = {};
  if (r.chance(0.25)) a['x-message-ttl'] = r.pick([0, 600000, 600000]);
  if (r.chance(0.25)) a['x-max-length'] = r.int(4);
  if ((a['x-max-length'] !== undefined && r.chance(0.5)) || r.chance(0.05)) a['x-overflow'] = r.pick(['drop-head', 'reject-publish', 'reject-publish-dlx']);
  if (r.chance(0.07)) a['x-max-length-bytes'] = r.pick([5, 20, 60]);
  if (r.chance(0.3)) {
    a['x-dead-letter-exchange'] = r.weighted([[{ $x: r.int(NX) }, 6], ['', 3], [{ $missingX: 1 }, 1]]);
    if (r.chance(0.6)) a['x-dead-letter-routing-key'] = r.chance(0.7) ? { $q: r.int(NQ) } : r.pick(['a', 'a.b']);
  }
  if (r.chance(0.2)) a['x-max-priority'] = r.pick([1, 3, 10]);
  if (r.chance(0.08)) a['x-expires'] = 600000;
  if (r.chance(0.15)) a['x-single-active-consumer'] = true;
  return a;
}

function genBadQueueArgs(r) {
  return r.pick([
    { 'x-max-length': -1 }, { 'x-overflow': 'bogus' }, { 'x-message-ttl': -5 }, { 'x-expires': 0 },
    { 'x-max-priority': 300 }, { 'x-max-length': 'ten' }, { 'x-dead-letter-exchange': 5 },
    { 'x-single-active-consumer': 'yes' }, { 'x-queue-type': 'bogus' }, { 'x-max-priority': -1 },
    { 'x-dead-letter-routing-key': 'a' },
  ]);
}

function genQueueDecl(r) {
  const exclusive = r.chance(0.25);
  return { durable: r.chance(0.5), exclusive, autoDelete: r.chance(0.2), args: genQueueArgs(r) };
}

function genExchangeDecl(r) {
  const d = {
    type: r.pick(['direct', 'fanout', 'topic', 'headers']),
    durable: r.chance(0.5), autoDelete: r.chance(0.15), internal: r.chance(0.1), args: {},
  };
  if (r.chance(0.25)) d.args['alternate-exchange'] = r.chance(0.85) ? { $x: r.int(NX) } : { $missingX: 1 };
  return d;
}

function genHeaders(r) {
  const h = {};
  if (r.chance(0.5)) h.h1 = r.pick(['a', 'b']);
  if (r.chance(0.4)) h.h2 = r.pick([1, 2]);
  if (r.chance(0.2)) h['x-h'] = 'z';
  return h;
}

function genBindArgs(r) {
  if (r.chance(0.6)) return {};
  const a = { 'x-match': r.weighted([['all', 4], ['any', 4], ['any-with-x', 1], ['all-with-x', 1]]) };
  if (r.chance(0.7)) a.h1 = 'a';
  if (r.chance(0.5)) a.h2 = 1;
  if (r.chance(0.15)) a['x-h'] = 'z';
  return a;
}

function genKey(r, keys) {
  return r.chance(0.3) ? { $q: r.int(NQ) } : r.pick(keys);
}

function genSeed(seed, nOps) {
  const r = new Rng(seed);
  const modes = [];
  for (let c = 0; c < NC; c++) {
    modes.push([]);
    for (let h = 0; h < NH; h++) modes[c].push(r.weighted([['plain', 60], ['confirm', 25], ['tx', 15]]));
  }
  const qCanon = Array.from({ length: NQ }, () => genQueueDecl(r));
  const xCanon = Array.from({ length: NX }, () => genExchangeDecl(r));
  const ops = [];
  for (let i = 0; i < nOps; i++) ops.push(genOp(r, i, qCanon, xCanon));
  return { modes, ops };
}

const OP_WEIGHTS = [
  ['publish', 22], ['get', 6], ['ack', 6], ['nack', 3], ['reject', 3], ['consume', 6], ['cancel', 3],
  ['qDeclare', 9], ['qBind', 7], ['qUnbind', 2], ['exDeclare', 5], ['exDelete', 2], ['exBind', 3],
  ['exUnbind', 1], ['qPurge', 2], ['qDelete', 3], ['qos', 3], ['recover', 1.5], ['txCommit', 3],
  ['txRollback', 1.5], ['waitConfirms', 3], ['closeChannel', 1.5], ['closeConn', 0.5], ['checkQueue', 2],
  ['checkExchange', 1], ['modeSelect', 0.5], ['error', 3],
];

function genOp(r, id, qCanon, xCanon) {
  const t = r.weighted(OP_WEIGHTS);
  const op = { id, t, c: r.int(NC), h: r.weighted([[0, 5], [1, 3], [2, 2]]) };
  const q = () => r.int(NQ);
  const x = () => r.int(NX);
  switch (t) {
    case 'publish': {
      const dest = r.weighted([['x', 6], ['default', 4]]);
      if (dest === 'x') { op.x = x(); op.rk = genKey(r, PUB_KEYS); } else { op.x = ''; op.rk = r.chance(0.9) ? { $q: q() } : 'nosuchqueue'; }
      op.mandatory = r.chance(0.4);
      op.persistent = r.chance(0.3);
      if (r.chance(0.3)) op.priority = r.int(12);
      if (r.chance(0.15)) op.expiration = r.pick(['0', '600000']);
      const h = genHeaders(r);
      if (Object.keys(h).length) op.headers = h;
      if (r.chance(0.1)) op.CC = [r.chance(0.7) ? { $q: q() } : r.pick(PUB_KEYS)];
      if (r.chance(0.05)) op.BCC = [{ $q: q() }];
      if (r.chance(0.05)) op.userId = 'guest';
      op.len = r.int(12);
      break;
    }
    case 'get': op.q = q(); op.noAck = r.chance(0.35); break;
    case 'ack': case 'nack': case 'reject':
      op.pick = r.f();
      op.invalid = r.chance(0.08);
      if (t !== 'reject') { op.multiple = r.chance(0.3); op.all = r.chance(0.05); }
      if (t !== 'ack') op.requeue = r.chance(0.5);
      break;
    case 'consume':
      op.q = q();
      op.noAck = r.chance(0.3);
      op.exclusive = r.chance(0.1);
      if (r.chance(0.15)) op.priority = r.int(3);
      op.explicitTag = r.chance(0.5);
      break;
    case 'cancel': op.pick = r.f(); op.bogus = r.chance(0.1); break;
    case 'qDeclare': {
      op.q = q();
      const v = r.weighted([['canon', 60], ['random', 20], ['passive', 12], ['anon', 4], ['badArgs', 4]]);
      if (v === 'canon') Object.assign(op, structuredClone(qCanon[op.q]));
      else if (v === 'random') Object.assign(op, genQueueDecl(r));
      else if (v === 'passive') op.passive = true;
      else if (v === 'anon') { op.anon = true; Object.assign(op, { durable: false, exclusive: true, autoDelete: false, args: {} }); }
      else { Object.assign(op, structuredClone(qCanon[op.q])); op.args = genBadQueueArgs(r); op.q = q(); op.fresh = true; }
      break;
    }
    case 'qBind': case 'qUnbind':
      op.q = q();
      op.x = r.weighted([[x(), 12], ['missing', 1]]);
      op.key = genKey(r, BIND_KEYS);
      op.args = genBindArgs(r);
      break;
    case 'exDeclare': {
      op.x = x();
      const v = r.weighted([['canon', 70], ['random', 25], ['passive', 8]]);
      if (v === 'canon') Object.assign(op, structuredClone(xCanon[op.x]));
      else if (v === 'random') Object.assign(op, genExchangeDecl(r));
      else op.passive = true;
      break;
    }
    case 'exDelete': op.x = x(); op.ifUnused = r.chance(0.4); break;
    case 'exBind': case 'exUnbind':
      op.dst = x(); op.src = r.weighted([[x(), 10], ['missing', 1]]);
      op.key = genKey(r, BIND_KEYS); op.args = genBindArgs(r);
      break;
    case 'qPurge': op.q = q(); break;
    case 'qDelete': op.q = q(); op.ifUnused = r.chance(0.3); op.ifEmpty = r.chance(0.3); break;
    case 'qos': op.count = r.pick([0, 1, 1, 2, 3]); op.global = r.chance(0.3); break;
    case 'checkQueue': op.q = q(); break;
    case 'checkExchange': op.x = x(); break;
    case 'closeConn': break;
    case 'modeSelect': op.mode = r.pick(['tx', 'confirm']); break;
    case 'error': {
      op.kind = r.pick(['pubMissingX', 'consumeMissingQ', 'reservedX', 'reservedQ', 'userId', 'badExType',
        'bindDefault', 'pubInternal', 'deleteDefaultX', 'qDeclareDefaultName', 'dupTag', 'getMissingQ',
        'redeclareExType', 'purgeMissing', 'qos-size', 'passiveMissingX']);
      op.q = q(); op.x = x();
      break;
    }
    default: break;
  }
  return op;
}

// ---------------------------------------------------------------------------------------------
// formatting ops for humans

function refStr(v) {
  if (v && typeof v === 'object') {
    if ('$q' in v) return `q${v.$q}`;
    if ('$x' in v) return `x${v.$x}`;
    if ('$missingX' in v) return 'nosuchx';
    if (Array.isArray(v)) return `[${v.map(refStr).join(',')}]`;
    return `{${Object.entries(v).map(([k, w]) => `${k}:${refStr(w)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function fmtOp(op) {
  const p = `#${op.id} c${op.c}.h${op.h}`;
  const flags = (o, ks) => ks.filter((k) => o[k]).join(' ');
  switch (op.t) {
    case 'publish': {
      const parts = [`publish x=${op.x === '' ? "''" : 'x' + op.x} rk=${refStr(op.rk)}`];
      for (const k of ['mandatory', 'persistent']) if (op[k]) parts.push(k);
      for (const k of ['priority', 'expiration', 'headers', 'CC', 'BCC', 'userId']) if (op[k] !== undefined) parts.push(`${k}=${refStr(op[k])}`);
      parts.push(`body=m${op.id}${'.'.repeat(op.len)}`);
      return `${p} ${parts.join(' ')}`;
    }
    case 'get': return `${p} get q${op.q}${op.noAck ? ' noAck' : ''}`;
    case 'ack': case 'nack': case 'reject':
      return `${p} ${op.t} pick=${op.pick.toFixed(2)} ${flags(op, ['invalid', 'multiple', 'all', 'requeue'])}`;
    case 'consume': return `${p} consume q${op.q} -> k${op.id} ${flags(op, ['noAck', 'exclusive', 'explicitTag'])}${op.priority !== undefined ? ' x-priority=' + op.priority : ''}`;
    case 'cancel': return `${p} cancel pick=${op.pick.toFixed(2)}${op.bogus ? ' bogus-tag' : ''}`;
    case 'qDeclare':
      if (op.passive) return `${p} queue.declare passive q${op.q}`;
      if (op.anon) return `${p} queue.declare '' exclusive`;
      return `${p} queue.declare q${op.q} ${flags(op, ['durable', 'exclusive', 'autoDelete'])} args=${refStr(op.args)}`;
    case 'qBind': case 'qUnbind':
      return `${p} ${op.t === 'qBind' ? 'queue.bind' : 'queue.unbind'} q${op.q} <- ${op.x === 'missing' ? 'nosuchx' : 'x' + op.x} key=${refStr(op.key)} args=${refStr(op.args)}`;
    case 'exDeclare':
      if (op.passive) return `${p} exchange.declare passive x${op.x}`;
      return `${p} exchange.declare x${op.x} ${op.type} ${flags(op, ['durable', 'autoDelete', 'internal'])} args=${refStr(op.args)}`;
    case 'exDelete': return `${p} exchange.delete x${op.x}${op.ifUnused ? ' ifUnused' : ''}`;
    case 'exBind': case 'exUnbind':
      return `${p} ${op.t === 'exBind' ? 'exchange.bind' : 'exchange.unbind'} x${op.dst} <- ${op.src === 'missing' ? 'nosuchx' : 'x' + op.src} key=${refStr(op.key)} args=${refStr(op.args)}`;
    case 'qPurge': return `${p} queue.purge q${op.q}`;
    case 'qDelete': return `${p} queue.delete q${op.q} ${flags(op, ['ifUnused', 'ifEmpty'])}`;
    case 'qos': return `${p} basic.qos ${op.count}${op.global ? ' global' : ''}`;
    case 'checkQueue': return `${p} checkQueue q${op.q}`;
    case 'checkExchange': return `${p} checkExchange x${op.x}`;
    case 'modeSelect': return `${p} ${op.mode}.select`;
    case 'error': return `${p} error:${op.kind} (q${op.q}, x${op.x})`;
    default: return `${p} ${op.t}`;
  }
}

// ---------------------------------------------------------------------------------------------
// normalisation

function makeNormaliser(prefix) {
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(esc, 'g');
  const str = (s) => s.replace(re, '')
    .replace(/amq\.gen-[A-Za-z0-9_-]+/g, 'amq.gen-*')
    .replace(/amq\.ctag-[A-Za-z0-9_-]+/g, 'amq.ctag-*');
  const norm = (v) => {
    if (typeof v === 'string') return str(v);
    if (Buffer.isBuffer(v)) return str(v.toString());
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') {
      const o = {};
      for (const k of Object.keys(v).sort()) if (v[k] !== undefined) o[str(k)] = norm(v[k]);
      return o;
    }
    return v;
  };
  return norm;
}

function normHeaders(h) {
  if (!h) return undefined;
  const o = {};
  for (const [k, v] of Object.entries(h)) {
    // x-last-death-* exist from RabbitMQ 3.13 only (the reference is 3.10)
    if (k.startsWith('x-last-death-')) continue;
    if (k === 'x-death' && Array.isArray(v)) {
      o[k] = v.map((d) => { const e = { ...d }; delete e.time; return e; });
    } else o[k] = v;
  }
  return Object.keys(o).length ? o : undefined;
}

function msgProps(p) {
  const o = {};
  for (const [k, v] of Object.entries(p || {})) {
    if (v === undefined || k === 'timestamp') continue;
    if (k === 'headers') { const h = normHeaders(v); if (h) o.headers = h; continue; }
    o[k] = v;
  }
  return o;
}

function errInfo(e) {
  if (!e) return null;
  const m = /with message "([\s\S]*)"\s*$/.exec(e.message || '');
  const o = { code: e.code ?? null, text: m ? m[1] : (e.message || String(e)) };
  if (e.classId) o.method = `${e.classId}/${e.methodId}`;
  return o;
}

// stable JSON for comparison
function stable(v) {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

// leaf paths that differ, with array indices generalised
function diffPaths(a, b, path = '', out = new Set()) {
  if (stable(a) === stable(b)) return out;
  const isObj = (v) => v && typeof v === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) {
      if (a.length !== b.length) out.add(`${path}[].length`);
      for (let i = 0; i < Math.min(a.length, b.length); i++) diffPaths(a[i], b[i], `${path}[]`, out);
    } else {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const kk = /^k\d+$/.test(k) ? 'k*' : /^c\d\.h\d$/.test(k) ? 'ch*' : k;
        diffPaths(a[k], b[k], path ? `${path}.${kk}` : kk, out);
      }
    }
  } else out.add(path || '(root)');
  return out;
}

// ---------------------------------------------------------------------------------------------
// one broker's side of a run

class Side {
  constructor(label, url, prefix, modes, opts) {
    this.label = label; this.url = url; this.prefix = prefix; this.modes = modes; this.opts = opts;
    this.norm = makeNormaliser(prefix);
    this.conns = Array.from({ length: NC }, () => ({ conn: null, alive: false, slots: Array.from({ length: NH }, () => null) }));
    this.events = [];
    this.lastEvent = 0;
    this.extraConns = [];
    this.sacQueues = new Set(); // queues this run declared with x-single-active-consumer (guard use only)
  }

  // Nagle's algorithm off by default: with it, amqplib's writes are held back ~20-40 ms behind
  // unacknowledged data, longer than the settle time (--nagle turns it back on; it coalesces
  // frames, which exercises different server paths but makes timing noisier)
  sockOpts() { return { noDelay: !this.opts.nagle }; }

  Q(i) { return `${this.prefix}q${i}`; }
  X(i) { return `${this.prefix}x${i}`; }

  resolve(v) {
    if (Array.isArray(v)) return v.map((e) => this.resolve(e));
    if (v && typeof v === 'object') {
      if ('$q' in v) return this.Q(v.$q);
      if ('$x' in v) return this.X(v.$x);
      if ('$missingX' in v) return `${this.prefix}nosuchx`;
      const o = {};
      for (const [k, w] of Object.entries(v)) o[k] = this.resolve(w);
      return o;
    }
    return v;
  }

  ev(e) {
    this.events.push(e);
    this.lastEvent = Date.now();
    if (this.opts.timing) console.log(`      [${this.label} +${Date.now() - this.opStart}ms] ${e.ev}${e.ch ? ' ' + e.ch : ''}${e.k ? ' ' + e.k : ''}${e.body ? ' ' + e.body : ''}`);
  }

  async openConn(c) {
    const cs = this.conns[c];
    const conn = await amqp.connect(this.url, this.sockOpts());
    cs.conn = conn; cs.alive = true;
    cs.slots = Array.from({ length: NH }, () => null);
    conn.on('error', (e) => { this.ev({ ev: 'connError', c, err: errInfo(e) }); });
    conn.on('close', () => {
      if (cs.conn !== conn) return;
      cs.alive = false;
      for (const s of cs.slots) if (s) s.alive = false;
      this.ev({ ev: 'connClosed', c });
    });
    conn.on('blocked', () => this.ev({ ev: 'blocked', c }));
  }

  async openSlot(c, h) {
    const cs = this.conns[c];
    const mode = this.modes[c][h];
    const ch = mode === 'confirm' ? await cs.conn.createConfirmChannel() : await cs.conn.createChannel();
    const s = {
      c, h, ch, alive: true, mode, unacked: new Set(), txAcks: [], consumers: new Map(), maxTag: 0,
      confirmSeq: 0, confirms: [], outstanding: 0,
    };
    cs.slots[h] = s;
    ch.on('error', (e) => { this.ev({ ev: 'chError', ch: `c${c}.h${h}`, err: errInfo(e) }); });
    ch.on('close', () => { if (s.alive) { s.alive = false; this.ev({ ev: 'chClosed', ch: `c${c}.h${h}` }); } });
    ch.on('handler-error', (e) => this.ev({ ev: 'clientHandlerError', ch: `c${c}.h${h}`, msg: String(e && e.message) }));
    ch.on('return', (m) => {
      this.ev({ ev: 'return', ch: `c${c}.h${h}`, code: m.fields.replyCode, text: m.fields.replyText, ex: m.fields.exchange, rk: m.fields.routingKey, body: m.content.toString(), props: msgProps(m.properties) });
    });
    if (mode === 'tx') await ch.rpc(defs.TxSelect, {}, defs.TxSelectOk);
    return s;
  }

  // make sure the op's connection and channel are open; returns what had to be (re)opened
  async ensure(c, h) {
    const notes = [];
    const cs = this.conns[c];
    if (!cs.alive) { notes.push(cs.conn ? `reopen c${c}` : `open c${c}`); await this.openConn(c); }
    const s = cs.slots[h];
    if (!s || !s.alive) { notes.push(s ? `reopen c${c}.h${h}` : `open c${c}.h${h}`); await this.openSlot(c, h); }
    return { notes, slot: cs.slots[h] };
  }

  state() {
    return this.conns.map((cs, c) => `c${c}:${cs.conn ? (cs.alive ? 'open' : 'closed') : '-'}[${cs.slots.map((s) => (s ? (s.alive ? 'o' : 'x') : '-')).join('')}]`).join(' ');
  }

  drain() {
    const evs = this.events;
    this.events = [];
    const out = {};
    const deliveries = {};
    for (const e of evs) {
      if (e.ev === 'deliver') (deliveries[e.k] ||= []).push({ body: e.body, rk: e.rk, ex: e.ex, redelivered: e.redelivered, tag: e.tag, props: e.props });
      else if (e.ev === 'cancelled') (out.serverCancels ||= []).push(e.k);
      else if (e.ev === 'return') (out.returns ||= []).push(e);
      else (out.closures ||= []).push(e);
    }
    if (Object.keys(deliveries).length) out.deliveries = deliveries;
    if (out.serverCancels) out.serverCancels.sort();
    if (out.closures) out.closures = out.closures.map((e) => stable(e)).sort().map((s) => JSON.parse(s));
    return out;
  }

  // -----------------------------------------------------------------------------------------
  // op execution: returns the op's immediate result (reply fields or error)

  async exec(op) {
    this.opStart = Date.now();
    if (this.opts.timing) console.log(`      [${this.label}] start ${fmtOp(op)}`);
    if (op.t === 'closeConn') {
      const cs = this.conns[op.c];
      if (!cs.alive) return { notes: [], res: 'skip: connection not open' };
      try { await cs.conn.close(); } catch (e) { return { notes: [], res: { err: errInfo(e) } }; }
      return { notes: [], res: 'ok' };
    }
    if (op.t === 'closeChannel') {
      const s = this.conns[op.c].slots[op.h];
      if (!this.conns[op.c].alive || !s || !s.alive) return { notes: [], res: 'skip: channel not open' };
      try { await s.ch.close(); } catch (e) { return { notes: [], res: { err: errInfo(e) } }; }
      s.alive = false; s.unacked.clear();
      return { notes: [], res: 'ok' };
    }
    for (const g of this.opts.avoid || []) {
      const guard = guardFor(g);
      if (guard && guard.applies(op) && (await guard.skip(this, op))) return { notes: [], res: `skip: guard ${g}` };
    }
    let ens;
    try { ens = await this.ensure(op.c, op.h); } catch (e) { return { notes: ['open failed'], res: { err: errInfo(e) } }; }
    const s = ens.slot;
    let res;
    try {
      res = await withTimeout(this.run(op, s), 4000);
    } catch (e) {
      if (e && e.timeout) {
        res = { timeout: true };
        // abandon this connection: its channel is stuck waiting for a reply
        try { this.conns[op.c].conn.connection.stream.destroy(); } catch { /* ignore */ }
      } else res = { err: errInfo(e) };
    }
    return { notes: ens.notes, res };
  }

  pickTag(s, op) {
    const tags = [...s.unacked].sort((a, b) => a - b);
    if (op.all) return 0;
    if (op.invalid) return s.maxTag + 1 + Math.floor(op.pick * 3);
    if (!tags.length) return null;
    return tags[Math.floor(op.pick * tags.length)];
  }

  settleAcks(s, tag, multiple) {
    const removed = [];
    for (const t of [...s.unacked]) {
      if ((multiple && t <= tag) || t === tag || (tag === 0 && multiple)) { s.unacked.delete(t); removed.push(t); }
    }
    if (s.mode === 'tx' || s.txMode) s.txAcks.push(...removed);
  }

  onDeliver(s, k, noAck, m) {
    if (m === null) {
      s.consumers.delete(k);
      this.ev({ ev: 'cancelled', k });
      return;
    }
    const f = m.fields;
    s.maxTag = Math.max(s.maxTag, f.deliveryTag);
    if (!noAck) s.unacked.add(f.deliveryTag);
    this.ev({ ev: 'deliver', k, body: m.content.toString(), rk: f.routingKey, ex: f.exchange, redelivered: f.redelivered, tag: f.deliveryTag, props: msgProps(m.properties) });
  }

  async run(op, s) {
    const ch = s.ch;
    const Q = (i) => this.Q(i);
    const X = (i) => this.X(i);
    switch (op.t) {
      case 'publish': {
        const body = Buffer.from(`m${op.id}${'.'.repeat(op.len)}`);
        const o = { mandatory: op.mandatory, persistent: op.persistent };
        if (op.priority !== undefined) o.priority = op.priority;
        if (op.expiration !== undefined) o.expiration = op.expiration;
        if (op.headers) o.headers = { ...op.headers };
        if (op.CC) o.CC = this.resolve(op.CC);
        if (op.BCC) o.BCC = this.resolve(op.BCC);
        if (op.userId) o.userId = op.userId;
        const ex = op.x === '' ? '' : X(op.x);
        const rk = this.resolve(op.rk);
        if (s.mode === 'confirm' || s.confirmMode) {
          const seq = ++s.confirmSeq;
          ch.publish(ex, rk, body, o, (err) => {
            s.outstanding--;
            if (err && err.message === 'channel closed') return; // racy with the close; not compared
            s.confirms.push({ seq, body: `m${op.id}`, ok: !err });
          });
          s.outstanding++;
        } else ch.publish(ex, rk, body, o);
        return 'sent';
      }
      case 'get': {
        const m = await ch.get(Q(op.q), { noAck: op.noAck });
        if (!m) return 'empty';
        if (!op.noAck) s.unacked.add(m.fields.deliveryTag);
        s.maxTag = Math.max(s.maxTag, m.fields.deliveryTag);
        return { body: m.content.toString(), rk: m.fields.routingKey, ex: m.fields.exchange, redelivered: m.fields.redelivered, messageCount: m.fields.messageCount, tag: m.fields.deliveryTag, props: msgProps(m.properties) };
      }
      case 'ack': case 'nack': case 'reject': {
        const tag = this.pickTag(s, op);
        if (tag === null) return 'skip: nothing unacked';
        const multiple = op.all ? true : !!op.multiple;
        const msg = { fields: { deliveryTag: tag } };
        if (op.t === 'ack') ch.ack(msg, multiple);
        else if (op.t === 'nack') ch.nack(msg, multiple, op.requeue);
        else ch.reject(msg, op.requeue);
        this.settleAcks(s, tag, op.t === 'reject' ? false : multiple);
        return { tag: tag === 0 ? 'all' : op.invalid ? 'invalid' : tag, multiple };
      }
      case 'consume': {
        const k = `k${op.id}`;
        const o = { noAck: op.noAck, exclusive: op.exclusive };
        if (op.priority !== undefined) o.priority = op.priority;
        if (op.explicitTag) o.consumerTag = `${this.prefix}${k}`;
        const ok = await ch.consume(Q(op.q), (m) => this.onDeliver(s, k, op.noAck, m), o);
        s.consumers.set(k, ok.consumerTag);
        return { consumerTag: op.explicitTag ? 'explicit' : ok.consumerTag };
      }
      case 'cancel': {
        const ks = [...s.consumers.keys()].sort();
        if (op.bogus) { await ch.cancel(`${this.prefix}bogus`); return 'ok(bogus)'; }
        if (!ks.length) return 'skip: no consumer';
        const k = ks[Math.floor(op.pick * ks.length)];
        const tag = s.consumers.get(k);
        s.consumers.delete(k);
        await ch.cancel(tag);
        return { cancelled: k };
      }
      case 'qDeclare': {
        if (op.passive) { const r = await ch.checkQueue(Q(op.q)); return { messageCount: r.messageCount, consumerCount: r.consumerCount }; }
        const name = op.anon ? '' : op.fresh ? `${Q(op.q)}bad` : Q(op.q);
        const r = await ch.assertQueue(name, { durable: op.durable, exclusive: op.exclusive, autoDelete: op.autoDelete, arguments: this.resolve(op.args) });
        if (!op.anon && !op.fresh) { if (op.args['x-single-active-consumer'] === true) this.sacQueues.add(op.q); else this.sacQueues.delete(op.q); }
        return { queue: r.queue, messageCount: r.messageCount, consumerCount: r.consumerCount };
      }
      case 'qBind': case 'qUnbind': {
        const ex = op.x === 'missing' ? `${this.prefix}nosuchx` : X(op.x);
        const f = op.t === 'qBind' ? ch.bindQueue : ch.unbindQueue;
        await f.call(ch, Q(op.q), ex, this.resolve(op.key), this.resolve(op.args));
        return 'ok';
      }
      case 'exDeclare': {
        if (op.passive) { await ch.checkExchange(X(op.x)); return 'ok'; }
        await ch.assertExchange(X(op.x), op.type, { durable: op.durable, autoDelete: op.autoDelete, internal: op.internal, arguments: this.resolve(op.args) });
        return 'ok';
      }
      case 'exDelete': await ch.deleteExchange(X(op.x), { ifUnused: op.ifUnused }); return 'ok';
      case 'exBind': case 'exUnbind': {
        const src = op.src === 'missing' ? `${this.prefix}nosuchx` : X(op.src);
        const f = op.t === 'exBind' ? ch.bindExchange : ch.unbindExchange;
        await f.call(ch, X(op.dst), src, this.resolve(op.key), this.resolve(op.args));
        return 'ok';
      }
      case 'qPurge': { const r = await ch.purgeQueue(Q(op.q)); return { messageCount: r.messageCount }; }
      case 'qDelete': { const r = await ch.deleteQueue(Q(op.q), { ifUnused: op.ifUnused, ifEmpty: op.ifEmpty }); this.sacQueues.delete(op.q); return { messageCount: r.messageCount }; }
      case 'qos': await ch.qos(op.count, op.global); return 'ok';
      case 'recover': await ch.recover(); s.unacked.clear(); return 'ok';
      case 'txCommit': await ch.rpc(defs.TxCommit, {}, defs.TxCommitOk); s.txAcks = []; return 'ok';
      case 'txRollback': {
        await ch.rpc(defs.TxRollback, {}, defs.TxRollbackOk);
        for (const t of s.txAcks) s.unacked.add(t);
        s.txAcks = [];
        return 'ok';
      }
      case 'modeSelect': {
        if (op.mode === 'tx') { await ch.rpc(defs.TxSelect, {}, defs.TxSelectOk); s.txMode = true; } else {
          await ch.rpc(defs.ConfirmSelect, { nowait: false }, defs.ConfirmSelectOk);
          // a plain amqplib Channel cannot track confirms; mark so that publishes are counted
          if (s.mode !== 'confirm') s.confirmUntracked = true;
        }
        return 'ok';
      }
      case 'waitConfirms': {
        if (s.mode !== 'confirm') return 'skip: not a confirm channel';
        const deadline = Date.now() + 3000;
        while (s.outstanding > 0 && Date.now() < deadline) await sleep(5);
        const confirms = s.confirms.sort((a, b) => a.seq - b.seq).map((c) => `${c.body}:${c.ok ? 'ack' : 'nack'}`);
        s.confirms = [];
        return { confirms, unconfirmed: s.outstanding };
      }
      case 'checkQueue': { const r = await ch.checkQueue(Q(op.q)); return { messageCount: r.messageCount, consumerCount: r.consumerCount }; }
      case 'checkExchange': await ch.checkExchange(X(op.x)); return 'ok';
      case 'error': return this.runError(op, s);
      default: throw new Error(`unknown op ${op.t}`);
    }
  }

  async runError(op, s) {
    const ch = s.ch;
    const Q = this.Q(op.q);
    const X = this.X(op.x);
    switch (op.kind) {
      case 'pubMissingX': ch.publish(`${this.prefix}nosuchx`, 'a', Buffer.from(`m${op.id}`)); return 'sent';
      case 'consumeMissingQ': await ch.consume(`${this.prefix}nosuchq`, () => {}); return 'ok?';
      case 'reservedX': await ch.assertExchange(`amq.${this.prefix}x${op.x}`, 'direct', { durable: false }); return 'ok?';
      case 'reservedQ': await ch.assertQueue(`amq.${this.prefix}q${op.q}`, { durable: false }); return 'ok?';
      case 'userId': ch.publish('', Q, Buffer.from(`m${op.id}`), { userId: 'bob' }); return 'sent';
      case 'badExType': await ch.assertExchange(X, 'x-bogus-type', { durable: false }); return 'ok?';
      case 'bindDefault': await ch.bindQueue(Q, '', 'a'); return 'ok?';
      case 'pubInternal': {
        // declare-or-check the exchange as internal then publish to it
        ch.publish(X, 'a', Buffer.from(`m${op.id}`));
        return 'sent';
      }
      case 'deleteDefaultX': await ch.deleteExchange(''); return 'ok?';
      case 'qDeclareDefaultName': await ch.checkQueue(''); return 'ok?';
      case 'dupTag': {
        const tags = [...s.consumers.values()];
        if (!tags.length) return 'skip: no consumer';
        await ch.consume(Q, () => {}, { consumerTag: tags[0] });
        return 'ok?';
      }
      case 'getMissingQ': await ch.get(`${this.prefix}nosuchq`); return 'ok?';
      case 'redeclareExType': await ch.assertExchange(X, 'fanout', { durable: true }); await ch.assertExchange(X, 'topic', { durable: true }); return 'ok?';
      case 'purgeMissing': await ch.purgeQueue(`${this.prefix}nosuchq`); return 'ok?';
      case 'qos-size': await ch.rpc(defs.BasicQos, { prefetchSize: 10, prefetchCount: 1, global: false }, defs.BasicQosOk); return 'ok?';
      case 'passiveMissingX': await ch.checkExchange(`${this.prefix}nosuchx`); return 'ok?';
      default: throw new Error(`unknown error kind ${op.kind}`);
    }
  }

  // existence check on a side connection (405 = exclusive elsewhere, counts as existing)
  async exists(kind, name, lockedIsMissing = false) {
    if (!this.aux) { this.aux = await amqp.connect(this.url, this.sockOpts()); this.aux.on('error', () => {}); }
    const ch = await this.aux.createChannel();
    ch.on('error', () => {});
    try {
      if (kind === 'q') await ch.checkQueue(name); else await ch.checkExchange(name);
      await ch.close();
      return true;
    } catch (e) {
      return e.code === 405 && !lockedIsMissing;
    }
  }

  async consumerCount(name) {
    if (!this.aux) { this.aux = await amqp.connect(this.url, this.sockOpts()); this.aux.on('error', () => {}); }
    const ch = await this.aux.createChannel();
    ch.on('error', () => {});
    try { const r = await ch.checkQueue(name); await ch.close(); return r.consumerCount; } catch { return 0; }
  }

  // final confirms on every open confirm channel
  async finalConfirms() {
    const out = {};
    for (const cs of this.conns) {
      for (const s of cs.slots) {
        if (!s || !s.alive || s.mode !== 'confirm') continue;
        const deadline = Date.now() + 3000;
        while (s.outstanding > 0 && Date.now() < deadline) await sleep(5);
        out[`c${s.c}.h${s.h}`] = { confirms: s.confirms.sort((a, b) => a.seq - b.seq).map((c) => `${c.body}:${c.ok ? 'ack' : 'nack'}`), unconfirmed: s.outstanding };
        s.confirms = [];
      }
    }
    return out;
  }

  async snapshot() {
    const conn = await amqp.connect(this.url, this.sockOpts());
    conn.on('error', () => {});
    const snap = { queues: {}, exchanges: {} };
    let ch = null;
    const fresh = async () => { ch = await conn.createChannel(); ch.on('error', () => {}); };
    await fresh();
    for (let i = 0; i < NQ; i++) {
      try { const r = await ch.checkQueue(this.Q(i)); snap.queues[`q${i}`] = { messages: r.messageCount, consumers: r.consumerCount }; } catch (e) { snap.queues[`q${i}`] = `error ${e.code}`; await fresh(); }
    }
    for (let i = 0; i < NX; i++) {
      try { await ch.checkExchange(this.X(i)); snap.exchanges[`x${i}`] = 'exists'; } catch (e) { snap.exchanges[`x${i}`] = `error ${e.code}`; await fresh(); }
    }
    await conn.close().catch(() => {});
    return snap;
  }

  async closeAll() {
    if (this.aux) { await this.aux.close().catch(() => {}); this.aux = null; }
    for (const cs of this.conns) {
      if (cs.alive) { try { await withTimeout(cs.conn.close(), 3000); } catch { try { cs.conn.connection.stream.destroy(); } catch { /* */ } } }
      cs.alive = false;
    }
  }

  async cleanup() {
    let conn;
    try { conn = await amqp.connect(this.url, this.sockOpts()); } catch { return; }
    conn.on('error', () => {});
    const names = [];
    for (let i = 0; i < NQ; i++) names.push(['q', this.Q(i)], ['q', `${this.Q(i)}bad`]);
    for (let i = 0; i < NX; i++) names.push(['x', this.X(i)]);
    for (const [kind, name] of names) {
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        if (kind === 'q') await ch.deleteQueue(name); else await ch.deleteExchange(name);
        await ch.close();
      } catch { /* exclusive elsewhere etc. */ }
    }
    await conn.close().catch(() => {});
  }
}

// --avoid NAME: skip (on both sides, identically) ops that would hit an already known difference,
// so that it does not hide others. A guard's decision is part of the compared outcome.
const GUARDS = {
  // queue.declare with x-max-length 0 (a waiting consumer gets the message on RabbitMQ)
  // bind/unbind naming a missing (or exclusively locked) queue or exchange: RabbitMQ's error order differs
  'bind-missing': {
    applies: (op) => ['qBind', 'qUnbind', 'exBind', 'exUnbind'].includes(op.t),
    async skip(side, op) {
      if (op.t === 'qBind' || op.t === 'qUnbind') return op.x === 'missing' || !(await side.exists('q', side.Q(op.q), true)) || !(await side.exists('x', side.X(op.x)));
      return op.src === 'missing' || !(await side.exists('x', side.X(op.src))) || !(await side.exists('x', side.X(op.dst)));
    },
  },
  // basic.consume on a queue that already has consumers (round-robin order differs), unless the
  // queue was declared (on this side, by this run) with x-single-active-consumer
  'multi-consumer': {
    applies: (op) => op.t === 'consume',
    async skip(side, op) { return !side.sacQueues.has(op.q) && (await side.consumerCount(side.Q(op.q))) > 0; },
  },
  // durable queue + persistent message + TTL 0 (queue or per message): RabbitMQ delivers to a waiting consumer
  'ttl0': {
    applies: (op) => (op.t === 'qDeclare' && op.args && op.args['x-message-ttl'] === 0) || (op.t === 'publish' && op.expiration === '0'),
    skip: async () => true,
  },
  // auto-delete exchanges (RabbitMQ also deletes them when the last binding goes with its destination)
  'autodelete-x': {
    applies: (op) => op.t === 'exDeclare' && op.autoDelete,
    skip: async () => true,
  },
  // exclusive basic.consume (RabbitMQ refuses it on single-active-consumer queues)
  'exclusive-consume': {
    applies: (op) => op.t === 'consume' && op.exclusive,
    skip: async () => true,
  },
  // queue.declare exclusive + durable (RabbitMQ makes exclusive queues non-durable)
  'exclusive-durable': {
    applies: (op) => op.t === 'qDeclare' && op.exclusive && op.durable,
    skip: async () => true,
  },
  // queue.declare with x-max-length 0 or any x-max-length-bytes (with drop-head, a message that
  // does not fit still goes to a waiting consumer on RabbitMQ)
  // exchange.delete if-unused (RabbitMQ counts only bindings where the exchange is the source)
  'exdelete-ifunused': {
    applies: (op) => op.t === 'exDelete' && op.ifUnused,
    skip: async () => true,
  },
  'maxlen0': {
    applies: (op) => op.t === 'qDeclare' && op.args && (op.args['x-max-length'] === 0 || op.args['x-max-length-bytes'] !== undefined),
    skip: async () => true,
  },
  // queue.unbind / exchange.unbind naming a missing queue or exchange
  'unbind-missing': {
    applies: (op) => op.t === 'qUnbind' || op.t === 'exUnbind',
    async skip(side, op) {
      if (op.t === 'qUnbind') return op.x === 'missing' || !(await side.exists('q', side.Q(op.q))) || !(await side.exists('x', side.X(op.x)));
      return op.src === 'missing' || !(await side.exists('x', side.X(op.src))) || !(await side.exists('x', side.X(op.dst)));
    },
  },
};

function guardFor(name) {
  if (GUARDS[name]) return GUARDS[name];
  const m = /^error:(\w[\w-]*)$/.exec(name);
  if (m) return { applies: (op) => op.t === 'error' && op.kind === m[1], skip: async () => true };
  return null;
}

function withTimeout(p, ms) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(Object.assign(new Error('timeout'), { timeout: true })), ms); })]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------------------------------------
// a run: one op list against both brokers

let runCounter = 0;
const RUN_TAG = randomBytes(3).toString('hex');

function opSettleExtra(op) {
  if (op.t === 'closeConn' || op.t === 'closeChannel') return 120;
  if (op.t === 'error' && op.kind === 'badExType') return 120;
  return 0;
}

async function settle(sides, opts, extra = 0) {
  const start = Date.now();
  await sleep(opts.settle + extra);
  for (;;) {
    const last = Math.max(...sides.map((s) => s.lastEvent));
    const now = Date.now();
    if (now - last >= opts.quiet || now - start >= opts.cap) return;
    await sleep(3);
  }
}

function outcomeOf(side, r) {
  const d = side.drain();
  const o = {};
  if (r.notes.length) o.opened = r.notes;
  o.res = r.res;
  Object.assign(o, d);
  o.state = side.state();
  return side.norm(o);
}

// Runs `ops` (with the given channel modes); stops at the first difference.
// Returns { steps: [{op, a, b}], diff: null | {index, op, a, b, paths, sig} }
async function runOps(seed, modes, ops, opts, { trace = false, settleMul = 1 } = {}) {
  const attempt = runCounter++;
  const prefix = `dt${RUN_TAG}.${seed}.${attempt}.`;
  const o2 = { ...opts, settle: opts.settle * settleMul, quiet: opts.quiet * settleMul, cap: opts.cap * settleMul };
  const A = new Side('A', opts.a, prefix, modes, o2);
  const B = new Side('B', opts.b, prefix, modes, o2);
  const sides = [A, B];
  const steps = [];
  const soft = [];
  let diff = null;
  const compare = (index, op, a, b) => {
    if (stable(a) === stable(b)) return false;
    if (!opts.strictText && stable(stripTexts(a)) === stable(stripTexts(b))) {
      // only reply texts differ: record as a "soft" difference and carry on
      const ta = collectTexts(a), tb = collectTexts(b);
      const key = `${op.t === 'error' ? 'error:' + op.kind : op.t}: A "${roles(op, ta.join(' | '))}" / B "${roles(op, tb.join(' | '))}"`;
      soft.push({ index, op, key, a, b });
      if (trace) console.log(`     (reply text differs only: recorded, continuing)`);
      return false;
    }
    const paths = [...diffPaths(a, b)].sort();
    diff = { index, op, a, b, paths, sig: signature(op, a, b, paths) };
    return true;
  };
  try {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const [ra, rb] = await Promise.all([A.exec(op), B.exec(op)]);
      await settle(sides, o2, opSettleExtra(op));
      const a = outcomeOf(A, ra);
      const b = outcomeOf(B, rb);
      steps.push({ op, a, b });
      if (trace) printStep(op, a, b);
      if (compare(i, op, a, b)) break;
    }
    if (!diff) {
      const fin = { id: 'final', t: 'final-confirms', c: '-', h: '-' };
      const [fa, fb] = await Promise.all([A.finalConfirms(), B.finalConfirms()]);
      const a = A.norm({ confirms: fa }), b = B.norm({ confirms: fb });
      if (trace) printStep(fin, a, b);
      compare(ops.length, fin, a, b);
    }
    if (!diff) {
      const fin = { id: 'final', t: 'snapshot-open', c: '-', h: '-' };
      await settle(sides, o2, 30);
      const [sa, sb] = await Promise.all([A.snapshot(), B.snapshot()]);
      if (trace) printStep(fin, sa, sb);
      compare(ops.length, fin, sa, sb);
    }
    if (!diff) {
      await Promise.all([A.closeAll(), B.closeAll()]);
      const fin = { id: 'final', t: 'snapshot-closed', c: '-', h: '-' };
      // RabbitMQ deletes exclusive/auto-delete queues asynchronously: poll until equal (or 2 s)
      let sa, sb;
      const deadline = Date.now() + 2000;
      for (;;) {
        [sa, sb] = await Promise.all([A.snapshot(), B.snapshot()]);
        if (stable(sa) === stable(sb) || Date.now() > deadline) break;
        await sleep(100);
      }
      if (trace) printStep(fin, sa, sb);
      compare(ops.length, fin, sa, sb);
    }
  } finally {
    await Promise.all([A.closeAll(), B.closeAll()]).catch(() => {});
    await Promise.all([A.cleanup(), B.cleanup()]).catch(() => {});
  }
  return { steps, diff, soft };
}

// names in a reply text replaced by their role in the op, so that texts group across seeds
function roles(op, text) {
  let t = text;
  if (op.t === 'exBind' || op.t === 'exUnbind') {
    if (op.dst === op.src) t = t.replace(new RegExp(`'x${op.dst}'`, 'g'), "'DST=SRC'");
    t = t.replace(new RegExp(`'x${op.dst}'`, 'g'), "'DST'");
    if (op.src !== 'missing') t = t.replace(new RegExp(`'x${op.src}'`, 'g'), "'SRC'");
    t = t.replace(/'nosuchx'/g, "'SRC(missing)'");
  } else if (op.t === 'qBind' || op.t === 'qUnbind') {
    t = t.replace(new RegExp(`'q${op.q}'`, 'g'), "'QUEUE'");
    if (op.x !== 'missing') t = t.replace(new RegExp(`'x${op.x}'`, 'g'), "'EXCHANGE'");
    t = t.replace(/'nosuchx'/g, "'EXCHANGE(missing)'");
  }
  return t.replace(/'q\d'/g, "'q*'").replace(/'x\d'/g, "'x*'").replace(/delivery tag \d+/g, 'delivery tag N');
}

// a copy without reply texts (error texts and basic.return texts)
function stripTexts(v) {
  if (Array.isArray(v)) return v.map(stripTexts);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, w] of Object.entries(v)) if (k !== 'text') o[k] = stripTexts(w);
    return o;
  }
  return v;
}

function collectTexts(v, out = []) {
  if (Array.isArray(v)) v.forEach((e) => collectTexts(e, out));
  else if (v && typeof v === 'object') for (const [k, w] of Object.entries(v)) { if (k === 'text' && typeof w === 'string') { if (!out.includes(w)) out.push(w); } else collectTexts(w, out); }
  return out;
}

// a coarse classification of a difference, used to group findings and to keep shrinking honest
function signature(op, a, b, paths) {
  let what = op.t === 'error' ? `error:${op.kind}` : op.t;
  if (op.t === 'qDeclare' && op.passive) what = 'qDeclare(passive)';
  const gen = [...new Set(paths.map((p) => {
    let m = /^deliveries\.k\*(?:\[\]\.(length|props\.headers\.[\w-]+|props\.\w+|\w+))?/.exec(p);
    if (m) return `deliveries${m[1] ? '.' + m[1].replace(/\[\].*$/, '') : ''}`;
    m = /^(closures|returns|serverCancels|opened|state|confirms)/.exec(p);
    if (m) return m[1];
    if (p.startsWith('res.err')) return p.split('.').slice(0, 3).join('.');
    if (p.startsWith('res.confirms')) return 'res.confirms';
    if (p.startsWith('res.props')) return p.split('.').slice(0, 3).join('.');
    return p.replace(/\bq\d\b/, 'q*').replace(/\bx\d\b/, 'x*').split('.').slice(0, 3).join('.');
  }))].sort();
  let detail = '';
  const ea = a?.res?.err, eb = b?.res?.err;
  if (ea || eb) {
    if ((ea?.code ?? 'none') !== (eb?.code ?? 'none')) detail = ` (A ${ea ? ea.code : 'ok'} / B ${eb ? eb.code : 'ok'})`;
    else if (ea && eb && ea.text !== eb.text) detail = ` (text, code ${ea.code})`;
  }
  return `${what}: ${gen.join(', ')}${detail}`;
}

// ---------------------------------------------------------------------------------------------
// output

function show(v) { return inspect(v, { depth: 8, breakLength: 140, colors: false }); }

function printStep(op, a, b) {
  const same = stable(a) === stable(b);
  console.log(`${same ? '  ' : '!!'} ${op.id === 'final' ? op.t : fmtOp(op)}`);
  if (same) console.log(`     both: ${show(a).replace(/\n/g, '\n           ')}`);
  else {
    console.log(`     A: ${show(a).replace(/\n/g, '\n        ')}`);
    console.log(`     B: ${show(b).replace(/\n/g, '\n        ')}`);
  }
}

function printDiff(seed, modes, diff, prefixOps, label = '') {
  console.log(`\n=== seed ${seed}${label}: difference at op ${diff.index} (${diff.sig})`);
  console.log(`channel modes: ${modes.map((m, c) => `c${c}=[${m.join(',')}]`).join(' ')}`);
  console.log(`op: ${diff.op.id === 'final' ? diff.op.t : fmtOp(diff.op)}`);
  console.log(`differing: ${diff.paths.join(', ')}`);
  console.log(`A: ${show(diff.a)}`);
  console.log(`B: ${show(diff.b)}`);
  if (prefixOps) {
    console.log(`reproduce with the ${prefixOps.length} ops:`);
    for (const op of prefixOps) console.log(`   ${fmtOp(op)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// shrinking (ddmin over the op list, keeping the same difference signature)

async function reproduces(seed, modes, ops, sig, opts, tries = 1) {
  for (let i = 0; i < tries; i++) {
    const r = await runOps(seed, modes, ops, opts);
    if (!r.diff || r.diff.sig !== sig) return null;
    if (i === tries - 1) return r;
  }
  return null;
}

function* simplifications(op) {
  const base = structuredClone(op);
  if (op.args && typeof op.args === 'object') {
    for (const k of Object.keys(op.args)) { const m = structuredClone(base); delete m.args[k]; yield m; }
  }
  for (const k of ['headers', 'priority', 'expiration', 'CC', 'BCC', 'userId']) {
    if (op[k] !== undefined) { const m = structuredClone(base); delete m[k]; yield m; }
  }
  for (const k of ['mandatory', 'persistent', 'durable', 'autoDelete', 'internal', 'exclusive', 'noAck', 'multiple', 'requeue', 'ifUnused', 'ifEmpty', 'explicitTag', 'global']) {
    if (op[k] === true) { const m = structuredClone(base); m[k] = false; yield m; }
  }
  if (op.len) { const m = structuredClone(base); m.len = 0; yield m; }
}

async function shrink(seed, modes, ops, sig, opts) {
  let cur = ops.slice();
  let runs = 0;
  let n = 2;
  const budget = opts.maxShrinkRuns;
  const check = async (cand) => {
    runs++;
    const r = await reproduces(seed, modes, cand, sig, opts);
    if (r) cur = r.steps.map((s) => s.op).filter((op) => op.id !== 'final');
    return !!r;
  };
  while (cur.length >= 2 && runs < budget) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < cur.length && runs < budget; i += chunk) {
      const cand = cur.slice(0, i).concat(cur.slice(i + chunk));
      if (cand.length === 0) continue;
      if (await check(cand)) { n = Math.max(n - 1, 2); reduced = true; break; }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  // one-at-a-time pass
  for (let i = cur.length - 1; i >= 0 && runs < budget; i--) {
    if (i >= cur.length) continue;
    const cand = cur.slice(0, i).concat(cur.slice(i + 1));
    if (cand.length && (await check(cand))) i = Math.min(i, cur.length);
  }
  // simplify op parameters (drop arguments, headers, flags) where the difference persists
  for (let i = 0; i < cur.length && runs < budget; i++) {
    let changed = true;
    while (changed && i < cur.length && runs < budget) {
      changed = false;
      for (const mut of simplifications(cur[i])) {
        if (runs >= budget) break;
        const cand = cur.slice();
        cand[i] = mut;
        if (await check(cand)) { changed = true; break; }
      }
    }
  }
  // simplify channel modes to plain where the difference persists
  let m2 = modes.map((r) => r.slice());
  for (let c = 0; c < NC; c++) {
    for (let h = 0; h < NH; h++) {
      if (m2[c][h] === 'plain' || runs >= budget) continue;
      const cand = m2.map((r) => r.slice());
      cand[c][h] = 'plain';
      runs++;
      if (await reproduces(seed, cand, cur, sig, opts)) m2 = cand;
    }
  }
  const final = await reproduces(seed, m2, cur, sig, opts, 2);
  return { ops: cur, modes: m2, runs, stable: !!final, result: final };
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseArgs(process.argv);
  const out = opts.out || `/tmp/differential-${RUN_TAG}`;
  mkdirSync(out, { recursive: true });
  console.log(`differential run ${RUN_TAG}: A=${opts.a} B=${opts.b} seeds ${opts.seeds[0]}..${opts.seeds[1]} ops ${opts.ops}; repro files in ${out}`);

  if (opts.opsFile) {
    const f = JSON.parse(readFileSync(opts.opsFile, 'utf8'));
    const r = await runOps(f.seed ?? 0, f.modes, f.ops, opts, { trace: true });
    if (r.diff) printDiff(f.seed ?? 0, f.modes, r.diff, null);
    else console.log('no difference');
    process.exit(r.diff ? 1 : 0);
  }

  const groups = new Map(); // sig -> {seeds: [], best: {seed, len, modes, ops, diff}}
  const softGroups = new Map(); // reply-text-only differences
  let flaky = 0, confirmed = 0, clean = 0;
  const flakyList = [];
  const timingDep = [];
  const t0 = Date.now();
  for (let seed = opts.seeds[0]; seed <= opts.seeds[1]; seed++) {
    const { modes, ops } = genSeed(seed, opts.ops);
    if (opts.trace) console.log(`\n--- seed ${seed} modes ${modes.map((m, c) => `c${c}=[${m.join(',')}]`).join(' ')}`);
    let r;
    try { r = await runOps(seed, modes, ops, opts, { trace: opts.trace }); } catch (e) {
      console.log(`seed ${seed}: harness error ${e.stack || e}`);
      continue;
    }
    for (const sd of r.soft) {
      const g = softGroups.get(sd.key) || { seeds: [], best: null };
      if (!g.seeds.includes(seed)) g.seeds.push(seed);
      if (!g.best || sd.index < g.best.index) g.best = { seed, index: sd.index, op: sd.op, ops: ops.slice(0, sd.index + 1), a: sd.a, b: sd.b };
      softGroups.set(sd.key, g);
    }
    if (!r.diff) { clean++; if (opts.verbose || opts.trace) console.log(`seed ${seed}: no difference`); continue; }
    const prefixOps = ops.slice(0, Math.min(r.diff.index + 1, ops.length));
    let label = '';
    if (opts.confirmNoise) {
      // re-run with 4x the settle time; a difference that goes away is timing noise
      const r2 = await runOps(seed, modes, prefixOps, opts, { settleMul: 4 });
      if (!r2.diff || r2.diff.sig !== r.diff.sig) {
        // gone with slower settling: timing. Does it come back at normal speed?
        let again = 0;
        for (let k = 0; k < 2; k++) {
          const r3 = await runOps(seed, modes, prefixOps, opts);
          if (r3.diff && r3.diff.sig === r.diff.sig) again++;
        }
        if (again > 0) {
          timingDep.push({ seed, sig: r.diff.sig, again, diff: r.diff, ops: prefixOps, modes });
          console.log(`\nseed ${seed}: difference at op ${r.diff.index} (${r.diff.sig}) is timing-dependent: gone with 4x settle, back ${again}/2 times at normal speed`);
          printDiff(seed, modes, r.diff, null, ' [timing-dependent]');
          continue;
        }
        flaky++;
        flakyList.push({ seed, sig: r.diff.sig, recheck: r2.diff ? r2.diff.sig : 'no difference' });
        console.log(`\nseed ${seed}: difference at op ${r.diff.index} (${r.diff.sig}) did NOT reproduce with slower settling (${r2.diff ? r2.diff.sig : 'no difference'}): counted as noise`);
        if (opts.verbose) printDiff(seed, modes, r.diff, null, ' [noise]');
        continue;
      }
      label = ' [reproduced with 4x settle]';
    }
    confirmed++;
    printDiff(seed, modes, r.diff, prefixOps, label);
    const g = groups.get(r.diff.sig) || { seeds: [], best: null };
    g.seeds.push(seed);
    if (!g.best || prefixOps.length < g.best.ops.length) g.best = { seed, modes, ops: prefixOps, diff: r.diff };
    groups.set(r.diff.sig, g);
    writeFileSync(join(out, `seed-${seed}.json`), JSON.stringify({ seed, modes, ops: prefixOps, sig: r.diff.sig }, null, 1));
    if (opts.shrink && opts.seeds[0] === opts.seeds[1]) {
      console.log(`\nshrinking seed ${seed} (${prefixOps.length} ops)...`);
      const s = await shrink(seed, modes, prefixOps, r.diff.sig, opts);
      reportShrunk(seed, s, out);
    }
  }

  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  console.log(`\n================ summary (${secs}s) ================`);
  const total = opts.seeds[1] - opts.seeds[0] + 1;
  console.log(`seeds: ${total}; no difference: ${clean}; confirmed differences: ${confirmed}; noise (not reproduced with slower settling): ${flaky}`);
  for (const f of flakyList) console.log(`  noise: seed ${f.seed}: ${f.sig} -> recheck: ${f.recheck}`);
  if (timingDep.length) console.log(`timing-dependent differences (gone with 4x settle, back at normal speed): ${timingDep.length}`);
  for (const f of timingDep) console.log(`  timing: seed ${f.seed} op ${f.diff.index}: ${f.sig} (back ${f.again}/2)`);
  const sorted = [...groups.entries()].sort((x, y) => y[1].seeds.length - x[1].seeds.length);
  for (const [sig, g] of sorted) {
    console.log(`\n* ${sig}\n  seeds (${g.seeds.length}): ${g.seeds.slice(0, 15).join(' ')}${g.seeds.length > 15 ? ' ...' : ''}\n  shortest: seed ${g.best.seed} with ${g.best.ops.length} ops (--seed ${g.best.seed} --ops ${g.best.ops.length})`);
    console.log(`  op: ${fmtOp(g.best.diff.op.id === 'final' ? { ...g.best.diff.op, id: 'final' } : g.best.diff.op)}`);
    console.log(`  A: ${show(g.best.diff.a).replace(/\n/g, '\n     ')}`);
    console.log(`  B: ${show(g.best.diff.b).replace(/\n/g, '\n     ')}`);
  }
  if (softGroups.size) console.log(`\n---------------- reply-text-only differences (codes and effects equal) ----------------`);
  for (const [key, g] of softGroups) {
    console.log(`\n* ${key}\n  seeds (${g.seeds.length}): ${g.seeds.slice(0, 15).join(' ')}${g.seeds.length > 15 ? ' ...' : ''}\n  first: seed ${g.best.seed} op ${g.best.index}: ${fmtOp(g.best.op)}`);
    if (opts.verbose) for (const op of g.best.ops) console.log(`     ${fmtOp(op)}`);
  }
  if (opts.shrinkAll) {
    for (const [sig, g] of sorted) {
      console.log(`\n--- shrinking "${sig}" from seed ${g.best.seed} (${g.best.ops.length} ops)`);
      const s = await shrink(g.best.seed, g.best.modes, g.best.ops, sig, opts);
      reportShrunk(g.best.seed, s, out);
    }
  }
}

function reportShrunk(seed, s, out) {
  console.log(`shrunk to ${s.ops.length} ops after ${s.runs} runs${s.stable ? '' : ' (NOT stable on re-check)'}; modes ${s.modes.map((m, c) => `c${c}=[${m.join(',')}]`).join(' ')}`);
  for (const op of s.ops) console.log(`   ${fmtOp(op)}`);
  if (s.result?.diff) {
    const d = s.result.diff;
    console.log(`   => at ${d.op.id === 'final' ? d.op.t : '#' + d.op.id}: ${d.sig}`);
    console.log(`   A: ${show(d.a).replace(/\n/g, '\n      ')}`);
    console.log(`   B: ${show(d.b).replace(/\n/g, '\n      ')}`);
  }
  const file = join(out, `shrunk-seed-${seed}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ seed, modes: s.modes, ops: s.ops, sig: s.result?.diff?.sig }, null, 1));
  console.log(`   replay: node tools/differential/run.mjs --ops-file ${file}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(2); });
