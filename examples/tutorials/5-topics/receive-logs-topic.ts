// Tutorial 5, subscriber: receives the messages whose routing key matches one of the binding
// patterns given as arguments. In a pattern '*' stands for exactly one word and '#' for zero
// or more words, e.g. "kern.*", "*.critical", "kern.#", or "#" for everything.
// Usage: node receive-logs-topic.js <binding.key>...
//        (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N messages)
import amqp from 'amqplib';
import { amqpUrl, receiverLifecycle, run, usage } from '../common.js';

const exchange = process.env.EXCHANGE || 'topic_logs';
const patterns = process.argv.slice(2);
if (patterns.length === 0) usage('receive-logs-topic.js <binding.key>...');

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertExchange(exchange, 'topic', { durable: false });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  for (const pattern of patterns) await channel.bindQueue(queue, exchange, pattern);
  console.log(' [*] Waiting for logs. To exit press CTRL+C');
  await channel.consume(queue, (msg) => {
    if (msg === null) return void receiver.stop(1);
    console.log(` [x] Received ${msg.fields.routingKey}:'${msg.content.toString()}'`);
    receiver.handled();
  }, { noAck: true });
});
