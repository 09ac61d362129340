// Tutorial 4, subscriber: receives only the log messages of the severities given as arguments.
// Usage: node receive-logs-direct.js [info] [warning] [error]
//        (runs until Ctrl+C / SIGTERM, or EXIT_AFTER=N messages)
import amqp from 'amqplib';
import { amqpUrl, receiverLifecycle, run, usage } from '../common.js';

const exchange = process.env.EXCHANGE || 'direct_logs';
const severities = process.argv.slice(2);
if (severities.length === 0) usage('receive-logs-direct.js [info] [warning] [error]');

run(async () => {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const receiver = receiverLifecycle(connection, channel);
  await channel.assertExchange(exchange, 'direct', { durable: false });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  // One binding per severity; a message matching several bindings still arrives once.
  for (const severity of severities) await channel.bindQueue(queue, exchange, severity);
  console.log(' [*] Waiting for logs. To exit press CTRL+C');
  await channel.consume(queue, (msg) => {
    if (msg === null) return void receiver.stop(1);
    console.log(` [x] Received ${msg.fields.routingKey}:'${msg.content.toString()}'`);
    receiver.handled();
  }, { noAck: true });
});
