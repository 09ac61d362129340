// Exchanges and bindings. Each exchange kind keeps its bindings in the shape that makes routing
// cheap: a map by key (direct), a list (fanout), a trie (topic), parsed patterns (headers).
import type { FieldTable, FieldValue } from '../amqp/field-table.js';
import type { DelaySchedule } from './delayed.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';
import { TopicTrie } from './topic-trie.js';
import { commandInvalid } from './errors.js';

export type Destination = Queue | Exchange;

export class Binding {
  constructor(
    readonly source: Exchange,
    readonly destination: Destination,
    readonly routingKey: string,
    readonly args: FieldTable,
    /** Identity: destination kind and name, key, arguments. */
    readonly id: string,
  ) {}
}

/** Collects routing results; implemented by the vhost's router. */
export interface RouteSink {
  add(destination: Destination): void;
}

export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers'] as const;

/** 503 for a type Warren does not know, RabbitMQ's very first check on exchange.declare. */
export function checkExchangeType(type: string): void {
  if (type === 'x-delayed-message') return; // see delayed.ts
  if (!(EXCHANGE_TYPES as readonly string[]).includes(type)) throw commandInvalid(`unknown exchange type '${type}'`);
}

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export abstract class Exchange {
  readonly bindings = new Map<string, Binding>();
  /** Router bookkeeping: the last route pass that visited this exchange. */
  visitMark = 0;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** Set once removed from its vhost, so cached references notice. */
  deleted = false;
  publishInCount = 0;
  publishOutCount = 0;
  /** Pending messages of a delayed exchange (x-delayed-message); null for other kinds. */
  delays: DelaySchedule | null = null;

  constructor(readonly name: string, readonly type: string, readonly vhost: string, opts: ExchangeOptions) {
    this.durable = opts.durable;
    this.autoDelete = opts.autoDelete;
    this.internal = opts.internal;
    this.arguments = opts.arguments;
    const ae = opts.arguments['alternate-exchange'];
    this.alternate = typeof ae === 'string' ? ae : null;
  }

  /** The kind whose routing rules apply (a delayed exchange routes as its x-delayed-type). */
  get routingType(): string {
    return this.type;
  }

  /** Where unroutable messages go: the alternate-exchange argument, or a policy's (see applyPolicy). */
  alternate: string | null;
  /** The policy and operator policy in effect (names), and their merged definition. */
  policy: string | null = null;
  operatorPolicy: string | null = null;
  effectivePolicyDefinition: Record<string, unknown> = {};

  applyPolicy(policy: string | null, operatorPolicy: string | null, definition: Record<string, unknown>, alternate: string | null): void {
    this.policy = policy;
    this.operatorPolicy = operatorPolicy;
    this.effectivePolicyDefinition = definition;
    this.alternate = alternate;
  }

  addBinding(b: Binding): boolean {
    if (this.bindings.has(b.id)) return false;
    this.bindings.set(b.id, b);
    this.indexBinding(b);
    return true;
  }

  removeBinding(b: Binding): void {
    if (!this.bindings.delete(b.id)) return;
    this.unindexBinding(b);
  }

  protected abstract indexBinding(b: Binding): void;
  protected abstract unindexBinding(b: Binding): void;
  abstract route(msg: Message, routingKey: string, sink: RouteSink): void;
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

export class DirectExchange extends Exchange {
  private readonly byKey = new Map<string, Binding[]>();

  protected indexBinding(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (list) list.push(b);
    else this.byKey.set(b.routingKey, [b]);
  }

  protected unindexBinding(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (!list) return;
    removeFrom(list, b);
    if (list.length === 0) this.byKey.delete(b.routingKey);
  }

  route(_msg: Message, routingKey: string, sink: RouteSink): void {
    const list = this.byKey.get(routingKey);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) sink.add(list[i].destination);
  }
}

export class FanoutExchange extends Exchange {
  private readonly all: Binding[] = [];

  protected indexBinding(b: Binding): void {
    this.all.push(b);
  }

  protected unindexBinding(b: Binding): void {
    removeFrom(this.all, b);
  }

  route(_msg: Message, _routingKey: string, sink: RouteSink): void {
    const all = this.all;
    for (let i = 0; i < all.length; i++) sink.add(all[i].destination);
  }
}

export class TopicExchange extends Exchange {
  private readonly trie = new TopicTrie<Binding>();

  protected indexBinding(b: Binding): void {
    this.trie.add(b.routingKey, b);
  }

  protected unindexBinding(b: Binding): void {
    this.trie.remove(b.routingKey, b);
  }

  route(_msg: Message, routingKey: string, sink: RouteSink): void {
    const matches = this.trie.match(routingKey);
    for (let i = 0; i < matches.length; i++) sink.add(matches[i].destination);
  }
}

interface HeadersPattern {
  binding: Binding;
  any: boolean;
  /** [key, value]; value undefined means "present with any value" (a void in the binding). */
  pairs: [string, FieldValue][];
}

export class HeadersExchange extends Exchange {
  private patterns: HeadersPattern[] = [];

  protected indexBinding(b: Binding): void {
    const mode = typeof b.args['x-match'] === 'string' ? b.args['x-match'] : 'all';
    const withX = mode.endsWith('-with-x');
    const pairs: [string, FieldValue][] = [];
    for (const [k, v] of Object.entries(b.args)) {
      if (k === 'x-match' || (!withX && k.startsWith('x-'))) continue;
      pairs.push([k, v === null ? undefined : v]);
    }
    this.patterns.push({ binding: b, any: mode.startsWith('any'), pairs });
  }

  protected unindexBinding(b: Binding): void {
    this.patterns = this.patterns.filter((p) => p.binding !== b);
  }

  route(msg: Message, _routingKey: string, sink: RouteSink): void {
    if (this.patterns.length === 0) return;
    const headers = msg.headers();
    for (const p of this.patterns) {
      if (headersMatch(p, headers)) sink.add(p.binding.destination);
    }
  }
}

function headersMatch(p: HeadersPattern, headers: FieldTable | null): boolean {
  if (p.any) {
    if (headers === null) return false;
    for (const [k, v] of p.pairs) {
      if (k in headers && (v === undefined || valuesEqual(v, headers[k]))) return true;
    }
    return false;
  }
  for (const [k, v] of p.pairs) {
    if (headers === null || !(k in headers)) return false;
    if (v !== undefined && !valuesEqual(v, headers[k])) return false;
  }
  return true;
}

/** Equality of field values as RabbitMQ compares them (numbers by value, bytes by content). */
export function valuesEqual(a: FieldValue, b: FieldValue): boolean {
  if (a === b) return true;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    // eslint-disable-next-line eqeqeq
    return a == b;
  }
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => valuesEqual(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)
    && !Buffer.isBuffer(a) && !Buffer.isBuffer(b)) {
    const ta = a as FieldTable;
    const tb = b as FieldTable;
    const keys = Object.keys(ta);
    return keys.length === Object.keys(tb).length && keys.every((k) => k in tb && valuesEqual(ta[k], tb[k]));
  }
  return false;
}

export function createExchange(name: string, type: string, vhost: string, opts: ExchangeOptions): Exchange {
  switch (type) {
    case 'direct': return new DirectExchange(name, type, vhost, opts);
    case 'fanout': return new FanoutExchange(name, type, vhost, opts);
    case 'topic': return new TopicExchange(name, type, vhost, opts);
    case 'headers': return new HeadersExchange(name, type, vhost, opts);
  }
  throw new Error(`unknown exchange type ${type}`);
}
