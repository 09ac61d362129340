// Tutorial 2, producer: sends one task to the durable 'task_queue'. Each '.' in the task
// stands for 100 ms of work.
// Usage: node new-task.js [task words...]     (default task: Hello World!)
import amqp from 'amqplib';
import { amqpUrl, run } from '../common.js';

const queue = process.env.QUEUE || 'task_queue';
const task = process.argv.slice(2).join(' ') || 'Hello World!';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  // A durable queue survives a broker restart...
  await channel.assertQueue(queue, { durable: true });
  // ...and a persistent message in it survives too.
  channel.sendToQueue(queue, Buffer.from(task), { persistent: true });
  console.log(` [x] Sent '${task}'`);
  await channel.close();
  await connection.close();
});
