// Runs the six RabbitMQ tutorials in examples/tutorials (compiled to dist/examples/tutorials)
// as child processes against a broker and checks exactly what they print.
// Every run uses its own queue and exchange names (QUEUE / EXCHANGE env), so leftovers on a
// shared broker (WARREN_TEST_URL) cannot interfere; they are deleted again at the end.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';

// dist/test/examples -> dist/examples/tutorials
const TUTORIALS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'tutorials');

// Unique names per run (and per test where a test leaves state behind), deleted in after().
const runId = randomUUID().slice(0, 8);
const queues = new Set<string>();
const exchanges = new Set<string>();
let serial = 0;
function newQueue(base: string): string {
  const name = `tutorial-${base}-${runId}-${++serial}`;
  queues.add(name);
  return name;
}
function newExchange(base: string): string {
  const name = `tutorial-${base}-${runId}-${++serial}`;
  exchanges.add(name);
  return name;
}

const WAIT_MS = 10_000;
const WAITING = ' [*] Waiting for logs. To exit press CTRL+C';
const waitingIn = (queue: string) => ` [*] Waiting for messages in ${queue}. To exit press CTRL+C`;

let broker: TestBroker;
const running = new Set<Program>();

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One tutorial program running as a child process, with its output split into lines. */
class Program {
  readonly lines: string[] = [];
  stderr = '';
  closed = false;
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private partial = '';
  private readonly listeners = new Set<() => boolean>();

  constructor(readonly label: string, script: string, args: string[] = [], env: Record<string, string> = {}) {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, AMQP_URL: broker.url, ...env };
    for (const key of ['QUEUE', 'EXCHANGE', 'EXIT_AFTER']) if (!(key in env)) delete childEnv[key];
    this.child = spawn(process.execPath, [join(TUTORIALS, script), ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.notify();
    });
    this.child.stderr!.on('data', (chunk: string) => { this.stderr += chunk; });
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams have ended, so all lines are in.
      this.child.once('close', (code, signal) => {
        if (this.partial) this.lines.push(this.partial);
        this.partial = '';
        this.closed = true;
        running.delete(this);
        this.notify();
        resolve({ code, signal });
      });
    });
  }

  private notify(): void {
    for (const check of [...this.listeners]) check();
  }

  transcript(): string {
    return `--- ${this.label} stdout:\n${this.lines.join('\n')}\n--- ${this.label} stderr:\n${this.stderr}`;
  }

  /** Resolves with the first line (already printed or still to come) equal to / matching `match`. */
  waitFor(match: string | RegExp, timeoutMs = WAIT_MS): Promise<string> {
    const matches = (line: string) => (typeof match === 'string' ? line === match : match.test(line));
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = this.lines.find(matches);
        if (line !== undefined) {
          done();
          resolve(line);
          return true;
        }
        if (this.closed) {
          done();
          reject(new Error(`${this.label} exited before printing ${String(match)}\n${this.transcript()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label} did not print ${String(match)} within ${timeoutMs} ms\n${this.transcript()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      if (!check()) this.listeners.add(check);
    });
  }

  /** Waits for the process to end on its own. */
  async finish(timeoutMs = WAIT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} still running after ${timeoutMs} ms\n${this.transcript()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (!this.closed) this.child.kill(signal);
    return this.finish();
  }

  /** Lines that report a received message. */
  received(): string[] {
    return this.lines.filter((line) => line.startsWith(' [x] Received '));
  }
}

/** Asserts the program ended by itself with exit code 0 and printed exactly `expected`. */
async function expectClean(p: Program, expected: string[]): Promise<void> {
  const exit = await p.finish();
  assert.deepEqual(exit, { code: 0, signal: null }, `${p.label} should exit with code 0\n${p.transcript()}`);
  assert.deepEqual(p.lines, expected, p.transcript());
}

/** Runs a program that is expected to do its job and exit 0; returns its output lines. */
async function runToEnd(label: string, script: string, args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const p = new Program(label, script, args, env);
  const exit = await p.finish();
  assert.deepEqual(exit, { code: 0, signal: null }, `${label} should exit with code 0\n${p.transcript()}`);
  return p.lines;
}

/** Starts a receiver and waits until it has said it is ready (queue declared and bound). */
async function startReceiver(label: string, script: string, args: string[], env: Record<string, string>, ready: string): Promise<Program> {
  const p = new Program(label, script, args, env);
  await p.waitFor(ready);
  return p;
}

async function withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    return await fn(ch);
  } finally {
    await conn.close();
  }
}

/** Ready-message count of a queue (for checking that nothing was left unacknowledged). */
function messagesIn(queue: string): Promise<number> {
  return withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
}

before(async () => {
  assert.ok(
    existsSync(join(TUTORIALS, '1-hello-world', 'send.js')),
    `compiled tutorials not found in ${TUTORIALS}; run npx tsc -p tsconfig.json first`,
  );
  broker = await startBroker();
});

after(async () => {
  await Promise.all([...running].map((p) => p.stop('SIGKILL').catch(() => undefined)));
  if (broker) {
    try {
      await withChannel(async (ch) => {
        for (const q of queues) await ch.deleteQueue(q);
        for (const x of exchanges) await ch.deleteExchange(x);
      });
    } catch (err) {
      console.error(`cleanup failed: ${(err as Error).message}`);
    }
    await broker.stop();
  }
});

describe('tutorial 1: hello world', () => {
  test('a running receiver gets the message the sender sends', async () => {
    const q = newQueue('hello');
    const env = { QUEUE: q };
    const receiver = await startReceiver('receive', '1-hello-world/receive.js', [], { ...env, EXIT_AFTER: '1' }, waitingIn(q));
    const sent = await runToEnd('send', '1-hello-world/send.js', [], env);
    assert.deepEqual(sent, [" [x] Sent 'Hello World!'"]);
    await expectClean(receiver, [waitingIn(q), " [x] Received 'Hello World!'"]);
  });

  test('a message sent before any receiver runs waits in the queue', async () => {
    const q = newQueue('hello');
    const env = { QUEUE: q };
    const sent = await runToEnd('send', '1-hello-world/send.js', ['Anyone', 'there?'], env);
    assert.deepEqual(sent, [" [x] Sent 'Anyone there?'"]);
    const receiver = new Program('receive', '1-hello-world/receive.js', [], { ...env, EXIT_AFTER: '1' });
    await expectClean(receiver, [waitingIn(q), " [x] Received 'Anyone there?'"]);
    assert.equal(await messagesIn(q), 0);
  });

  test('a receiver runs until SIGTERM, then exits 0', async () => {
    const q = newQueue('hello');
    const env = { QUEUE: q };
    const receiver = await startReceiver('receive', '1-hello-world/receive.js', [], env, waitingIn(q));
    await runToEnd('send', '1-hello-world/send.js', ['first'], env);
    await runToEnd('send', '1-hello-world/send.js', ['second'], env);
    await receiver.waitFor(" [x] Received 'second'");
    assert.deepEqual(await receiver.stop('SIGTERM'), { code: 0, signal: null }, receiver.transcript());
    assert.deepEqual(receiver.lines, [waitingIn(q), " [x] Received 'first'", " [x] Received 'second'"]);
  });
});

describe('tutorial 2: work queues', () => {
  const newTask = (queue: string, task: string) =>
    runToEnd(`new-task ${task}`, '2-work-queues/new-task.js', task.split(' '), { QUEUE: queue });

  test('prefetch 1: a busy worker gets no new task while the other one takes them all', async () => {
    const q = newQueue('task_queue');
    const env = { QUEUE: q };
    const workers = await Promise.all(
      ['worker A', 'worker B'].map((label) => startReceiver(label, '2-work-queues/worker.js', [], env, waitingIn(q))),
    );
    const long = 'long task' + '.'.repeat(40); // 4 s of "work"
    assert.deepEqual(await newTask(q, long), [` [x] Sent '${long}'`]);
    // Whichever worker got the long task is now busy with its one unacknowledged task.
    const busyIndex = await Promise.any(workers.map((w, i) => w.waitFor(` [x] Received '${long}'`).then(() => i)));
    const busy = workers[busyIndex]!;
    const free = workers[1 - busyIndex]!;

    const short = [1, 2, 3, 4, 5, 6].map((i) => `short task ${i}.`);
    // Sent at once: six senders one after another took longer than the long task on a busy machine.
    const sent = await Promise.all(short.map((task) => newTask(q, task)));
    assert.deepEqual(sent, short.map((task) => [` [x] Sent '${task}'`]));
    for (const task of short) await free.waitFor(` [x] Done '${task}'`);
    assert.ok(
      !busy.lines.includes(` [x] Done '${long}'`),
      'the long task ended before the short ones were dispatched; the test premise needs a longer task',
    );
    await busy.waitFor(` [x] Done '${long}'`);

    for (const w of workers) assert.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null }, w.transcript());
    assert.deepEqual(busy.lines, [waitingIn(q), ` [x] Received '${long}'`, ` [x] Done '${long}'`]);
    // One task at a time (prefetch 1), each done before the next is received; in the order they arrived.
    const order = free.lines.slice(1).filter((_, i) => i % 2 === 0).map((l) => l.slice(" [x] Received '".length, -1));
    assert.deepEqual([...order].sort(), short);
    assert.deepEqual(free.lines, [
      waitingIn(q),
      ...order.flatMap((task) => [` [x] Received '${task}'`, ` [x] Done '${task}'`]),
    ]);
    assert.equal(await messagesIn(q), 0, 'every task was acknowledged');
  });

  test('the task of a worker killed mid-task is redelivered to another worker', async () => {
    const q = newQueue('task_queue');
    const env = { QUEUE: q };
    const doomed = await startReceiver('worker A', '2-work-queues/worker.js', [], env, waitingIn(q));
    const task = 'crash test' + '.'.repeat(15); // 1.5 s
    await newTask(q, task);
    await doomed.waitFor(` [x] Received '${task}'`);

    const survivor = await startReceiver('worker B', '2-work-queues/worker.js', [], { ...env, EXIT_AFTER: '1' }, waitingIn(q));
    assert.deepEqual(survivor.received(), [], 'the task is held by worker A until it dies');
    assert.deepEqual(await doomed.stop('SIGKILL'), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(doomed.lines, [waitingIn(q), ` [x] Received '${task}'`]);

    await expectClean(survivor, [
      waitingIn(q),
      ` [x] Received '${task}' (redelivered)`,
      ` [x] Done '${task}'`,
    ]);
    assert.equal(await messagesIn(q), 0, 'the redelivered task was acknowledged');
  });
});

describe('tutorial 3: publish/subscribe', () => {
  const exchange = newExchange('logs');
  const env = { EXCHANGE: exchange };
  const emit = (text: string) => runToEnd(`emit-log ${text}`, '3-publish-subscribe/emit-log.js', text.split(' '), env);

  test('every subscriber gets every log published after it bound its queue', async () => {
    // Nobody is bound yet: the fanout exchange drops this one.
    assert.deepEqual(await emit('info: nobody hears this'), [" [x] Sent 'info: nobody hears this'"]);

    const receivers = await Promise.all(
      ['receive-logs 1', 'receive-logs 2'].map((label) =>
        startReceiver(label, '3-publish-subscribe/receive-logs.js', [], { ...env, EXIT_AFTER: '3' }, WAITING)),
    );
    const logs = ['info: service started', 'warning: disk almost full', 'error: disk full'];
    for (const text of logs) assert.deepEqual(await emit(text), [` [x] Sent '${text}'`]);
    for (const r of receivers) {
      await expectClean(r, [WAITING, ...logs.map((text) => ` [x] Received '${text}'`)]);
    }
  });
});

describe('tutorial 4: routing', () => {
  const exchange = newExchange('direct_logs');
  const env = { EXCHANGE: exchange };

  test('each receiver gets only the severities it bound', async () => {
    const errors = await startReceiver('errors', '4-routing/receive-logs-direct.js', ['error'], { ...env, EXIT_AFTER: '2' }, WAITING);
    const all = await startReceiver('all', '4-routing/receive-logs-direct.js', ['info', 'warning', 'error'], { ...env, EXIT_AFTER: '4' }, WAITING);
    const warnings = await startReceiver('warnings', '4-routing/receive-logs-direct.js', ['warning', 'error'], env, WAITING);

    const sent: [string, string][] = [
      ['info', 'Starting up'],
      ['debug', 'Nobody listens to debug'],
      ['warning', 'Disk 90% full'],
      ['error', 'Disk full'],
      ['error', 'Shutting down'], // last, and bound by every receiver
    ];
    for (const [severity, text] of sent) {
      const out = await runToEnd(`emit-log-direct ${severity}`, '4-routing/emit-log-direct.js', [severity, ...text.split(' ')], env);
      assert.deepEqual(out, [` [x] Sent ${severity}:'${text}'`]);
    }
    await expectClean(errors, [WAITING, " [x] Received error:'Disk full'", " [x] Received error:'Shutting down'"]);
    await expectClean(all, [
      WAITING,
      " [x] Received info:'Starting up'",
      " [x] Received warning:'Disk 90% full'",
      " [x] Received error:'Disk full'",
      " [x] Received error:'Shutting down'",
    ]);
    await warnings.waitFor(" [x] Received error:'Shutting down'");
    assert.deepEqual(await warnings.stop('SIGINT'), { code: 0, signal: null }, warnings.transcript());
    assert.deepEqual(warnings.lines, [
      WAITING,
      " [x] Received warning:'Disk 90% full'",
      " [x] Received error:'Disk full'",
      " [x] Received error:'Shutting down'",
    ]);
  });

  test('the receiver needs at least one severity', async () => {
    const p = new Program('receive-logs-direct', '4-routing/receive-logs-direct.js', [], env);
    assert.deepEqual(await p.finish(), { code: 1, signal: null });
    assert.deepEqual(p.lines, []);
    assert.match(p.stderr, /^Usage: receive-logs-direct\.js \[info\] \[warning\] \[error\]\n$/);
  });
});

describe('tutorial 5: topics', () => {
  const exchange = newExchange('topic_logs');
  const env = { EXCHANGE: exchange };

  // Binding keys of each receiver, and which receivers each routing key reaches.
  const receivers: Record<string, string[]> = {
    A: ['kern.*'],
    B: ['*.critical'],
    C: ['#'],
    D: ['kern.#'],
    E: ['kern.*', '*.critical'], // a message matching both bindings arrives once
  };
  const table: [routingKey: string, reaches: string][] = [
    ['kern.info', 'A C D E'],
    ['auth.critical', 'B C E'],
    ['kern.disk.full', 'C D'],
    ['auth.info', 'C'],
    ['kern', 'C D'], // '#' matches zero words
    ['critical', 'C'], // '*' needs exactly one word
    ['kern.disk.critical', 'C D'],
    ['app.kern.info', 'C'],
    ['kern.critical', 'A B C D E'], // last, and reaching everyone
  ];

  test('binding patterns with * and # select the routing keys', async () => {
    const expected = (id: string) => table.flatMap(([key, reaches], i) =>
      reaches.split(' ').includes(id) ? [` [x] Received ${key}:'message ${i + 1}'`] : []);
    const programs = await Promise.all(Object.entries(receivers).map(([id, keys]) =>
      startReceiver(`receive-logs-topic ${id} ${keys.join(' ')}`, '5-topics/receive-logs-topic.js', keys,
        { ...env, EXIT_AFTER: String(expected(id).length) }, WAITING).then((p) => [id, p] as const)));

    for (const [i, [key]] of table.entries()) {
      const out = await runToEnd(`emit-log-topic ${key}`, '5-topics/emit-log-topic.js', [key, 'message', String(i + 1)], env);
      assert.deepEqual(out, [` [x] Sent ${key}:'message ${i + 1}'`]);
    }
    for (const [id, p] of programs) await expectClean(p, [WAITING, ...expected(id)]);
  });

  test('the receiver needs at least one binding key', async () => {
    const p = new Program('receive-logs-topic', '5-topics/receive-logs-topic.js', [], env);
    assert.deepEqual(await p.finish(), { code: 1, signal: null });
    assert.match(p.stderr, /^Usage: receive-logs-topic\.js <binding\.key>\.\.\.\n$/);
  });
});

describe('tutorial 6: RPC', () => {
  const fib: Record<number, number> = { 0: 0, 1: 1, 2: 1, 3: 2, 10: 55, 15: 610, 20: 6765, 25: 75025, 30: 832040 };

  /** Runs a client; checks requests go out in argument order and every answer comes back once. */
  async function ask(queue: string, numbers: number[]): Promise<void> {
    const lines = await runToEnd(`rpc-client ${numbers.join(' ')}`, '6-rpc/rpc-client.js', numbers.map(String), { QUEUE: queue });
    assert.deepEqual(lines.filter((l) => l.startsWith(' [x] ')), numbers.map((n) => ` [x] Requesting fib(${n})`));
    const answers = lines.filter((l) => !l.startsWith(' [x] '));
    // Replies may arrive in any order; the correlation id pairs each with its request.
    assert.deepEqual([...answers].sort(), numbers.map((n) => ` [.] Got fib(${n}) = ${fib[n]}`).sort());
    assert.equal(lines.length, 2 * numbers.length);
  }

  test('clients get fib(n) back, replies matched by correlation id', async () => {
    const q = newQueue('rpc_queue');
    const env = { QUEUE: q };
    const servers = await Promise.all(['rpc-server 1', 'rpc-server 2'].map((label) =>
      startReceiver(label, '6-rpc/rpc-server.js', [], env, ' [x] Awaiting RPC requests')));

    assert.deepEqual(
      await runToEnd('rpc-client 10', '6-rpc/rpc-client.js', ['10'], env),
      [' [x] Requesting fib(10)', ' [.] Got fib(10) = 55'],
    );
    // Several requests in flight at once from two clients, served by two servers: a slow
    // fib(30) first, so quicker answers can overtake it.
    await Promise.all([ask(q, [30, 1, 2, 3]), ask(q, [0, 15, 20, 25])]);

    const asked = [10, 30, 1, 2, 3, 0, 15, 20, 25];
    for (const s of servers) assert.deepEqual(await s.stop('SIGTERM'), { code: 0, signal: null }, s.transcript());
    const served = servers.flatMap((s) => s.lines.filter((l) => l !== ' [x] Awaiting RPC requests'));
    assert.deepEqual([...served].sort(), asked.map((n) => ` [.] fib(${n})`).sort(), 'each request served exactly once');
    assert.equal(await messagesIn(q), 0);
  });

  test('the client wants non-negative integers', async () => {
    const p = new Program('rpc-client', '6-rpc/rpc-client.js', ['ten']);
    assert.deepEqual(await p.finish(), { code: 1, signal: null });
    assert.match(p.stderr, /^Usage: rpc-client\.js <n>\.\.\.\n$/);
  });
});
