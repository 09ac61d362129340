// Tutorial 2, worker: takes tasks from 'task_queue' one at a time, "works" 100 ms per '.' in
// the task, then acknowledges it. Run several workers to share the load. A task whose worker
// dies before acknowledging it goes back to the queue and is delivered to another worker.
// Usage: node worker.js       (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N tasks)
import amqp from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { amqpUrl, receiverLifecycle, run } from '../common.js';

const queue = process.env.QUEUE || 'task_queue';
const msPerDot = 100;

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertQueue(queue, { durable: true });
  // Fair dispatch: at most one unacknowledged task per worker, so a busy worker is skipped.
  await channel.prefetch(1);
  console.log(` [*] Waiting for messages in ${queue}. To exit press CTRL+C`);
  await channel.consume(queue, async (msg) => {
    if (msg === null) return void receiver.stop(1); // consumer cancelled by the broker
    const task = msg.content.toString();
    const again = msg.fields.redelivered ? ' (redelivered)' : '';
    console.log(` [x] Received '${task}'${again}`);
    const dots = task.split('.').length - 1;
    await sleep(dots * msPerDot);
    if (receiver.stopping) return; // the channel is closing; the broker requeues the task
    console.log(` [x] Done '${task}'`);
    channel.ack(msg); // manual acknowledgement, only once the work is finished
    receiver.handled();
  }, { noAck: false });
});
