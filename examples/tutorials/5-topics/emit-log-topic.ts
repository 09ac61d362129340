// Tutorial 5, publisher: sends a message through the topic exchange 'topic_logs' with a
// routing key of dot-separated words, e.g. "kern.critical" (<facility>.<severity>).
// Usage: node emit-log-topic.js [routing.key] [message words...]
//        (default: anonymous.info Hello World!)
import amqp from 'amqplib';
import { amqpUrl, run } from '../common.js';

const exchange = process.env.EXCHANGE || 'topic_logs';
const [key = 'anonymous.info', ...words] = process.argv.slice(2);
const text = words.join(' ') || 'Hello World!';

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: false });
  channel.publish(exchange, key, Buffer.from(text));
  console.log(` [x] Sent ${key}:'${text}'`);
  await channel.close();
  await connection.close();
});
