// Tutorial 3, subscriber: gets a copy of every message published to the fanout exchange 'logs'
// from the moment it has bound its own private queue.
// Usage: node receive-logs.js      (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N messages)
import amqp from 'amqplib';
import { amqpUrl, receiverLifecycle, run } from '../common.js';

const exchange = process.env.EXCHANGE || 'logs';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertExchange(exchange, 'fanout', { durable: false });
  // Empty name: the broker picks a fresh name (amq.gen-...). Exclusive: the queue belongs to
  // this connection and is deleted when it closes.
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, exchange, '');
  console.log(' [*] Waiting for logs. To exit press CTRL+C');
  await channel.consume(queue, (msg) => {
    if (msg === null) return void receiver.stop(1);
    console.log(` [x] Received '${msg.content.toString()}'`);
    receiver.handled();
  }, { noAck: true });
});
