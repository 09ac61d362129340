// Tutorial 1, producer: puts one message on the 'hello' queue and exits.
// Usage: node send.js [message]        (default message: Hello World!)
import amqp from 'amqplib';
import { amqpUrl, run } from '../common.js';

const queue = process.env.QUEUE || 'hello';
const text = process.argv.slice(2).join(' ') || 'Hello World!';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  // Declaring is idempotent: whichever of sender and receiver starts first creates the queue.
  await channel.assertQueue(queue, { durable: false });
  // The default exchange ('') routes a message to the queue named by its routing key.
  channel.sendToQueue(queue, Buffer.from(text));
  console.log(` [x] Sent '${text}'`);
  // Closing the channel waits for the broker's reply, so the message has reached it.
  await channel.close();
  await connection.close();
});
