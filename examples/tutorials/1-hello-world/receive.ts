// Tutorial 1, consumer: prints every message arriving on the 'hello' queue.
// Usage: node receive.js      (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N messages)
import amqp from 'amqplib';
import { amqpUrl, receiverLifecycle, run } from '../common.js';

const queue = process.env.QUEUE || 'hello';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertQueue(queue, { durable: false });
  console.log(` [*] Waiting for messages in ${queue}. To exit press CTRL+C`);
  await channel.consume(queue, (msg) => {
    if (msg === null) return void receiver.stop(1); // consumer cancelled by the broker
    console.log(` [x] Received '${msg.content.toString()}'`);
    receiver.handled();
  }, { noAck: true }); // automatic acknowledgement: the broker forgets a message once sent
});
