// Tutorial 6, RPC client: asks the server(s) for fib(n) for each number given, all at once,
// and prints each answer. Replies arrive on a private callback queue, possibly out of order;
// the correlation_id of a reply says which request it answers.
// Usage: node rpc-client.js <n>...      (e.g. node rpc-client.js 30)
import amqp from 'amqplib';
import { randomUUID } from 'node:crypto';
import { amqpUrl, run, usage } from '../common.js';

const queue = process.env.QUEUE || 'rpc_queue';
const args = process.argv.slice(2);
if (args.length === 0 || !args.every((a) => /^\d+$/.test(a))) usage('rpc-client.js <n>...');
const numbers = args.map(Number);

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const { queue: callbackQueue } = await channel.assertQueue('', { exclusive: true });

  const pending = new Map<string, (answer: string) => void>();
  await channel.consume(callbackQueue, (msg) => {
    if (msg === null) {
      console.error('reply consumer cancelled by the broker');
      process.exit(1);
    }
    const resolve = pending.get(msg.properties.correlationId);
    if (!resolve) return; // not one of ours (e.g. a late duplicate): ignore it
    pending.delete(msg.properties.correlationId);
    resolve(msg.content.toString());
  }, { noAck: true });

  const calls = numbers.map((n) => {
    const correlationId = randomUUID();
    const answer = new Promise<string>((resolve) => pending.set(correlationId, resolve));
    console.log(` [x] Requesting fib(${n})`);
    channel.sendToQueue(queue, Buffer.from(String(n)), { correlationId, replyTo: callbackQueue });
    return answer.then((result) => console.log(` [.] Got fib(${n}) = ${result}`));
  });
  await Promise.all(calls);
  await channel.close();
  await connection.close();
});
