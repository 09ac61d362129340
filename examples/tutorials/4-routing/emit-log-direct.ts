// Tutorial 4, publisher: sends a log message with a severity through the direct exchange
// 'direct_logs'; the severity is the routing key.
// Usage: node emit-log-direct.js [severity] [message words...]   (default: info Hello World!)
import amqp from 'amqplib';
import { amqpUrl, run } from '../common.js';

const exchange = process.env.EXCHANGE || 'direct_logs';
const [severity = 'info', ...words] = process.argv.slice(2);
const text = words.join(' ') || 'Hello World!';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'direct', { durable: false });
  // A direct exchange delivers to the queues bound with exactly this routing key.
  channel.publish(exchange, severity, Buffer.from(text));
  console.log(` [x] Sent ${severity}:'${text}'`);
  await channel.close();
  await connection.close();
});
