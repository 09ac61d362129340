// Tutorial 6, RPC server: answers "fib(n)" requests from 'rpc_queue'. Each reply goes to the
// queue named in the request's reply_to property and carries the request's correlation_id.
// Run several servers to share the load.
// Usage: node rpc-server.js     (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N requests)
import amqp from 'amqplib';
import { amqpUrl, receiverLifecycle, run } from '../common.js';

const queue = process.env.QUEUE || 'rpc_queue';

/** Deliberately slow (recursive) Fibonacci: fib(0)=0, fib(1)=1. */
function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1); // one request at a time per server
  console.log(' [x] Awaiting RPC requests');
  await channel.consume(queue, (msg) => {
    if (msg === null) return void receiver.stop(1);
    const n = Number.parseInt(msg.content.toString(), 10);
    console.log(` [.] fib(${n})`);
    const { replyTo, correlationId } = msg.properties;
    if (replyTo) {
      channel.sendToQueue(replyTo, Buffer.from(String(fib(n))), { correlationId });
    }
    channel.ack(msg);
    receiver.handled();
  }, { noAck: false });
});
