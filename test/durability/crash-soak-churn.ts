// The crash soak's topology churn: a worker that keeps declaring and deleting durable queues,
// exchanges and bindings, and a model of what must exist. Only an operation whose -ok came back
// changes the model; the one operation in flight at a kill may or may not have happened, so
// after the restart the items it touches take whatever state the broker recovered, and every
// other item must be exactly as the model says: present with its arguments, kind and bindings,
// or gone. Checked through passive declares (AMQP) and the management API.
import type { Channel } from 'amqplib';
import { api, enc } from '../helpers/admin-api.js';
import { channel, type Conn } from '../helpers/durability.js';

const QUEUES = 6;
const EXCHANGES = 4;
const KINDS = ['direct', 'topic', 'fanout', 'headers'];

const qName = (i: number) => `churn.q.${i}`;
const xName = (j: number) => `churn.x.${j}`;
const bKey = (i: number, j: number) => `${i}:${j}`;
/** Arguments differ per queue and never change, so a redeclare is always equivalent. */
const queueArgs = (i: number): Record<string, unknown> => (i % 2 === 0
  ? { 'x-max-length': 100 + i, 'x-message-ttl': 60_000 * (i + 1), 'x-dead-letter-exchange': 'churn.dlx' }
  : { 'x-max-priority': i, 'x-overflow': 'reject-publish' });
const exchangeArgs = (j: number): Record<string, unknown> => (j === 1 ? { 'alternate-exchange': 'churn.ae' } : {});
const bindingKey = (i: number) => `k.${i}`;
const bindingArgs = (i: number, j: number): Record<string, unknown> => (KINDS[j] === 'headers' ? { 'x-match': 'all', q: String(i) } : {});

type Op =
  | { kind: 'declare-queue' | 'delete-queue'; i: number }
  | { kind: 'declare-exchange' | 'delete-exchange'; j: number }
  | { kind: 'bind' | 'unbind'; i: number; j: number };

export class ChurnModel {
  readonly queues = new Set<number>();
  readonly exchanges = new Set<number>();
  readonly bindings = new Set<string>();
  /** The operation sent whose -ok has not come back (at most one: the worker waits for each). */
  inFlight: Op | null = null;
  okCount = 0;

  private apply(op: Op): void {
    switch (op.kind) {
      case 'declare-queue': this.queues.add(op.i); break;
      case 'delete-queue':
        this.queues.delete(op.i);
        for (let j = 0; j < EXCHANGES; j++) this.bindings.delete(bKey(op.i, j));
        break;
      case 'declare-exchange': this.exchanges.add(op.j); break;
      case 'delete-exchange':
        this.exchanges.delete(op.j);
        for (let i = 0; i < QUEUES; i++) this.bindings.delete(bKey(i, op.j));
        break;
      case 'bind': this.bindings.add(bKey(op.i, op.j)); break;
      case 'unbind': this.bindings.delete(bKey(op.i, op.j)); break;
    }
  }

  /** A random operation that is valid in the modelled state (never a 404 or 406). */
  pick(random: () => number): Op {
    for (;;) {
      const i = Math.floor(random() * QUEUES);
      const j = Math.floor(random() * EXCHANGES);
      const r = random();
      if (r < 0.2) return { kind: 'declare-queue', i };
      if (r < 0.35) { if (this.queues.has(i)) return { kind: 'delete-queue', i }; continue; }
      if (r < 0.5) return { kind: 'declare-exchange', j };
      if (r < 0.6) { if (this.exchanges.has(j)) return { kind: 'delete-exchange', j }; continue; }
      if (r < 0.85) { if (this.queues.has(i) && this.exchanges.has(j)) return { kind: 'bind', i, j }; continue; }
      if (this.bindings.has(bKey(i, j))) return { kind: 'unbind', i, j };
    }
  }

  /** Runs operations one after another until `stopped()` or the broker goes away. Returns an error unless the kill ended it. */
  async run(ch: Channel, random: () => number, stopped: () => boolean): Promise<string | null> {
    while (!stopped()) {
      const op = this.pick(random);
      this.inFlight = op;
      try {
        await send(ch, op);
      } catch (e) {
        return stopped() ? null : `churn ${JSON.stringify(op)} failed before the kill: ${(e as Error).message}`;
      }
      this.apply(op);
      this.inFlight = null;
      this.okCount++;
    }
    return null;
  }

  /**
   * Compares the broker's churn.* topology with the model; returns the differences. The items the
   * in-flight operation touched take the observed state. Then the model is certain again.
   */
  async check(conn: Conn, httpBase: string): Promise<string[]> {
    const seen = await observe(httpBase);
    const out: string[] = [];
    const op = this.inFlight;
    const touchesQueue = (i: number) => op !== null && 'i' in op && op.i === i && (op.kind === 'declare-queue' || op.kind === 'delete-queue');
    const touchesExchange = (j: number) => op !== null && 'j' in op && op.j === j && (op.kind === 'declare-exchange' || op.kind === 'delete-exchange');
    const touchesBinding = (i: number, j: number) => op !== null && (
      (op.kind === 'delete-queue' && op.i === i) || (op.kind === 'delete-exchange' && op.j === j)
      || ((op.kind === 'bind' || op.kind === 'unbind') && op.i === i && op.j === j));
    const settle = <T>(set: Set<T>, item: T, present: boolean, uncertain: boolean, what: string) => {
      const want = set.has(item);
      if (uncertain) { if (present) set.add(item); else set.delete(item); return; }
      if (want !== present) out.push(`${what} ${want ? 'was -ok\'ed and not deleted, but is gone' : 'was deleted (-ok), but exists'}`);
    };
    for (let i = 0; i < QUEUES; i++) {
      const q = seen.queues.get(qName(i));
      settle(this.queues, i, q !== undefined, touchesQueue(i), `queue ${qName(i)}`);
      if (q && (!q.durable || JSON.stringify(sorted(q.arguments)) !== JSON.stringify(sorted(queueArgs(i))))) {
        out.push(`queue ${qName(i)} came back with durable=${q.durable} arguments ${JSON.stringify(q.arguments)}, declared with ${JSON.stringify(queueArgs(i))}`);
      }
    }
    for (let j = 0; j < EXCHANGES; j++) {
      const x = seen.exchanges.get(xName(j));
      settle(this.exchanges, j, x !== undefined, touchesExchange(j), `exchange ${xName(j)}`);
      if (x && (x.type !== KINDS[j] || !x.durable || JSON.stringify(sorted(x.arguments)) !== JSON.stringify(sorted(exchangeArgs(j))))) {
        out.push(`exchange ${xName(j)} came back as ${JSON.stringify(x)}, declared as ${KINDS[j]} durable ${JSON.stringify(exchangeArgs(j))}`);
      }
    }
    for (let i = 0; i < QUEUES; i++) {
      for (let j = 0; j < EXCHANGES; j++) {
        const b = seen.bindings.get(bKey(i, j));
        settle(this.bindings, bKey(i, j), b !== undefined, touchesBinding(i, j), `binding ${xName(j)} -> ${qName(i)}`);
        if (b && (b.routing_key !== bindingKey(i) || JSON.stringify(sorted(b.arguments)) !== JSON.stringify(sorted(bindingArgs(i, j))))) {
          out.push(`binding ${xName(j)} -> ${qName(i)} came back as ${JSON.stringify(b)}`);
        }
      }
    }
    this.inFlight = null;
    out.push(...await checkPassive(conn, this));
    return out;
  }
}

async function send(ch: Channel, op: Op): Promise<void> {
  switch (op.kind) {
    case 'declare-queue': await ch.assertQueue(qName(op.i), { durable: true, arguments: queueArgs(op.i) }); return;
    case 'delete-queue': await ch.deleteQueue(qName(op.i)); return;
    case 'declare-exchange': await ch.assertExchange(xName(op.j), KINDS[op.j], { durable: true, arguments: exchangeArgs(op.j) }); return;
    case 'delete-exchange': await ch.deleteExchange(xName(op.j)); return;
    case 'bind': await ch.bindQueue(qName(op.i), xName(op.j), bindingKey(op.i), bindingArgs(op.i, op.j)); return;
    case 'unbind': await ch.unbindQueue(qName(op.i), xName(op.j), bindingKey(op.i), bindingArgs(op.i, op.j)); return;
  }
}

const sorted = (o: Record<string, unknown> | undefined) => Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));

interface Observed {
  queues: Map<string, { durable: boolean; arguments: Record<string, unknown> }>;
  exchanges: Map<string, { type: string; durable: boolean; arguments: Record<string, unknown> }>;
  bindings: Map<string, { routing_key: string; arguments: Record<string, unknown> }>;
}

async function getList(base: string, path: string): Promise<any[]> {
  const r = await api(base, 'GET', path);
  if (r.status !== 200 || !Array.isArray(r.body)) throw new Error(`GET /api/${path} answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

async function observe(base: string): Promise<Observed> {
  const v = enc('/');
  const seen: Observed = { queues: new Map(), exchanges: new Map(), bindings: new Map() };
  for (const q of await getList(base, `queues/${v}`)) if (q.name.startsWith('churn.q.')) seen.queues.set(q.name, q);
  for (const x of await getList(base, `exchanges/${v}`)) if (x.name.startsWith('churn.x.')) seen.exchanges.set(x.name, x);
  for (const b of await getList(base, `bindings/${v}`)) {
    const i = /^churn\.q\.(\d+)$/.exec(b.destination)?.[1];
    const j = /^churn\.x\.(\d+)$/.exec(b.source)?.[1];
    if (i !== undefined && j !== undefined && b.destination_type === 'queue') seen.bindings.set(bKey(Number(i), Number(j)), b);
  }
  return seen;
}

/** Passive declares: every modelled queue and exchange answers -ok, every other one 404. */
async function checkPassive(conn: Conn, m: ChurnModel): Promise<string[]> {
  const out: string[] = [];
  let ch = await channel(conn);
  const probe = async (what: string, present: boolean, declare: (c: Channel) => Promise<unknown>) => {
    try {
      await declare(ch);
      if (!present) out.push(`passive declare of ${what} succeeded, but it was deleted`);
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (present) out.push(`passive declare of ${what} failed: ${(e as Error).message}`);
      else if (code !== 404) out.push(`passive declare of deleted ${what}: expected 404, got ${(e as Error).message}`);
      ch = await channel(conn);
    }
  };
  for (let i = 0; i < QUEUES; i++) await probe(`queue ${qName(i)}`, m.queues.has(i), (c) => c.checkQueue(qName(i)));
  for (let j = 0; j < EXCHANGES; j++) await probe(`exchange ${xName(j)}`, m.exchanges.has(j), (c) => c.checkExchange(xName(j)));
  await ch.close().catch(() => {});
  return out;
}
