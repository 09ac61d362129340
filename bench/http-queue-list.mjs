#!/usr/bin/env node
// Times the management API's queue list with many queues: 100k queues (default) are declared
// over AMQP (every 10th gets a few messages), then paged, sorted and unpaged lists are fetched.
// Usage: node bench/http-queue-list.mjs [queues]   (after npx tsc -p tsconfig.json)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';

const N = Number(process.argv[2] ?? 100_000);
const port = 30000 + Math.floor(Math.random() * 5000);
const httpPort = port + 1;
const dir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
const child = spawn(process.execPath, ['dist/src/cli/warren.js', '--port', String(port), '--bind', '127.0.0.1', '--data-dir', dir,
  '--management-port', String(httpPort), '--prometheus-port', 'off'], { stdio: 'inherit', env: { ...process.env, WARREN_LOG_LEVEL: 'warn' } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
try {
  let conn;
  for (let i = 0; i < 100 && conn === undefined; i++) conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`).catch(() => sleep(100));
  const ch = await conn.createChannel();
  const t0 = Date.now();
  for (let i = 0; i < N; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 1000); j++) batch.push(ch.assertQueue(`bench-q-${j}`, { durable: false }));
    await Promise.all(batch);
  }
  for (let j = 0; j < N; j += 10) for (let k = 0; k < (j / 10) % 5; k++) ch.sendToQueue(`bench-q-${j}`, Buffer.from('x'));
  await ch.checkQueue('bench-q-0');
  console.log(`declared ${N} queues in ${Date.now() - t0} ms`);
  const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
  const time = async (path, runs = 5) => {
    const ms = [];
    let body;
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      const r = await fetch(`http://127.0.0.1:${httpPort}/api/${path}`, { headers: auth });
      body = await r.json();
      ms.push(performance.now() - s);
    }
    ms.sort((a, b) => a - b);
    console.log(`GET /api/${path}: median ${ms[Math.floor(runs / 2)].toFixed(1)} ms, max ${ms[runs - 1].toFixed(1)} ms`);
    return body;
  };
  await sleep(6000); // let the sampler tick with every queue
  await time('whoami', 9);
  await time('queues?page=1&page_size=1&name=bench-q-99999', 9);
  const page = await time('queues?page=1&page_size=100&sort=messages&sort_reverse=true', 9);
  console.log(`  page: ${page.items.length} items of ${page.filtered_count}, top messages ${page.items[0].messages}`);
  await time('queues?page=1&page_size=100', 9);
  await time('queues?page=500&page_size=100&name=bench-q-1&sort=messages', 9);
  await time('queues/%2F?page=1&page_size=100&sort=message_stats.publish_details.rate', 3);
  await time('overview', 9);
  const all = await time('queues', 3);
  console.log(`  unpaged: ${all.length} queues`);
  // A 1k msg/s flow: its latency alone, then while the unpaged list is fetched twice.
  const flow = await conn.createChannel();
  await flow.assertQueue('bench-flow', { durable: false });
  let lat = [];
  await flow.consume('bench-flow', (m) => { lat.push(performance.now() - Number(m.content.toString())); }, { noAck: true });
  const timer = setInterval(() => flow.sendToQueue('bench-flow', Buffer.from(String(performance.now()))), 1);
  const report = (what) => {
    lat.sort((a, b) => a - b);
    console.log(`1k msg/s flow ${what}: ${lat.length} msgs, p50 ${lat[Math.floor(lat.length / 2)].toFixed(1)} ms, p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms`);
    lat = [];
  };
  await sleep(5000);
  report('alone');
  // Read and dropped, not parsed: parsing 100+ MB here would stall this process's own consumer.
  for (let i = 0; i < 2; i++) {
    const s = performance.now();
    const r = await fetch(`http://127.0.0.1:${httpPort}/api/queues`, { headers: auth });
    let bytes = 0;
    for await (const chunk of r.body) bytes += chunk.length;
    console.log(`GET /api/queues (not parsed): ${(performance.now() - s).toFixed(0)} ms, ${(bytes / 1e6).toFixed(0)} MB`);
  }
  report('during unpaged GET /api/queues');
  for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${httpPort}/api/queues?page=1&page_size=100&sort=messages`, { headers: auth })).arrayBuffer();
  report('during 20 paged sorted GETs');
  clearInterval(timer);
  await conn.close();
} finally {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill();
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
