#!/usr/bin/env node
// What a flood of wrong-password AMQP logins costs Warren: starts a broker, sends N refused logins
// (header and start-ok in one write, half of them announcing authentication_failure_close, never
// answering the broker's close) over C sockets at once, and reports the refusal rate, the broker's
// CPU time per refusal (Linux /proc) and a bystander's publish+confirm+deliver round trips before
// and during the flood. The test (test/integration/auth-flood.test.ts) asserts bounds; this prints numbers.
// Usage: node bench/auth-flood.mjs [N=20000] [C=200]   (after npx tsc -p tsconfig.json)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { DEFAULT_CLIENT_PROPERTIES, M, methodFrame, plainResponse, PROTOCOL_HEADER } from '../dist/test/helpers/raw-amqp.js';

const N = Number(process.argv[2] ?? 20_000);
const C = Number(process.argv[3] ?? 200);
const port = 30000 + Math.floor(Math.random() * 5000);
const dir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
const child = spawn(process.execPath, ['dist/src/cli/warren.js', '--port', String(port), '--bind', '127.0.0.1', '--data-dir', dir,
  '--management-port', 'off', '--prometheus-port', 'off'], { stdio: 'inherit', env: { ...process.env, WARREN_LOG_LEVEL: 'error' } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The broker's user+system CPU time, ms (clock ticks of 10 ms). */
const cpuMs = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const attackBytes = (caps) => Buffer.concat([PROTOCOL_HEADER, methodFrame(0, M.encodeConnectionStartOk, {
  clientProperties: caps ? DEFAULT_CLIENT_PROPERTIES : { product: 'flood' },
  mechanism: 'PLAIN', response: plainResponse('flood', 'wrong'), locale: 'en_US',
})]);
const attack = (bytes) => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.on('connect', () => s.write(bytes));
  s.on('data', () => {});
  s.on('error', () => {});
  s.on('end', () => s.end());
  s.on('close', resolve);
});
try {
  let conn;
  for (let i = 0; i < 100 && conn === undefined; i++) conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`).catch(() => sleep(100));
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  let delivered = () => {};
  await ch.consume(queue, () => delivered(), { noAck: true });
  let phase = 'before';
  const trips = { before: [], during: [] };
  const bystander = (async () => {
    while (phase !== 'done') {
      const t0 = Date.now();
      await Promise.all([new Promise((r) => { delivered = r; }), new Promise((r) => ch.publish('', queue, Buffer.from('tick'), {}, r))]);
      trips[phase]?.push(Date.now() - t0);
      await sleep(5);
    }
  })();
  await sleep(2000);
  const bytes = [attackBytes(true), attackBytes(false)];
  const cpu0 = cpuMs();
  const t0 = Date.now();
  phase = 'during';
  let sent = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (sent < N) await attack(bytes[sent++ % 2]);
  }));
  const ms = Date.now() - t0;
  const cpu = cpuMs() - cpu0;
  phase = 'done';
  await bystander;
  await conn.close();
  console.log(`${N} refused logins over ${C} sockets in ${ms} ms: ${Math.round(N / (ms / 1000))}/s; broker CPU ${cpu} ms (${(cpu / N).toFixed(3)} ms a refusal)`);
  for (const [p, xs] of Object.entries(trips)) {
    console.log(`bystander round trips ${p} the flood: ${xs.length}, median ${pct(xs, 0.5)} ms, p99 ${pct(xs, 0.99)} ms, max ${Math.max(...xs)} ms`);
  }
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
