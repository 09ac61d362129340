// Tutorial 3, publisher: broadcasts one log message through the fanout exchange 'logs'.
// Usage: node emit-log.js [message words...]     (default: info: Hello World!)
import amqp from 'amqplib';
import { amqpUrl, run } from '../common.js';

const exchange = process.env.EXCHANGE || 'logs';
const text = process.argv.slice(2).join(' ') || 'info: Hello World!';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'fanout', { durable: false });
  // A fanout exchange ignores the routing key and copies the message to every bound queue.
  // With no queue bound yet, the message is simply dropped.
  channel.publish(exchange, '', Buffer.from(text));
  console.log(` [x] Sent '${text}'`);
  await channel.close();
  await connection.close();
});
