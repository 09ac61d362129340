// exchange.* and queue.* methods: declarations, bindings, purge and delete, with RabbitMQ's
// permission checks (configure to declare/delete, write on the destination and read on the
// source to bind, read to purge).
import type { Reader } from '../amqp/codec.js';
import * as M from '../amqp/methods.js';
import { AmqpError, preconditionFailed } from '../broker/errors.js';
import type { FieldTable } from '../amqp/field-table.js';
import { checkExchangeType, type Destination } from '../broker/exchange.js';
import { Queue } from '../broker/queue.js';
import type { Channel } from './channel.js';
import { generateTag } from './channel.js';

/** Handles the method if it is one of exchange.* / queue.*; returns false otherwise. */
export function handleDefinitionMethod(ch: Channel, id: number, r: Reader): boolean {
  switch (id) {
    case M.EXCHANGE_DECLARE: exchangeDeclare(ch, M.decodeExchangeDeclare(r)); return true;
    case M.EXCHANGE_DELETE: exchangeDelete(ch, M.decodeExchangeDelete(r)); return true;
    case M.EXCHANGE_BIND: exchangeBind(ch, M.decodeExchangeBind(r), true); return true;
    case M.EXCHANGE_UNBIND: exchangeBind(ch, M.decodeExchangeUnbind(r), false); return true;
    case M.QUEUE_DECLARE: queueDeclare(ch, M.decodeQueueDeclare(r)); return true;
    case M.QUEUE_BIND: queueBind(ch, M.decodeQueueBind(r), true); return true;
    case M.QUEUE_UNBIND: queueBind(ch, { ...M.decodeQueueUnbind(r), nowait: false }, false); return true;
    case M.QUEUE_PURGE: queuePurge(ch, M.decodeQueuePurge(r)); return true;
    case M.QUEUE_DELETE: queueDelete(ch, M.decodeQueueDelete(r)); return true;
  }
  return false;
}

function exchangeDeclare(ch: Channel, a: M.ExchangeDeclare): void {
  const vhost = ch.vhost;
  if (!a.passive) checkExchangeType(a.type);
  if (a.exchange === '' && !a.passive) {
    throw new AmqpError(403, `operation not permitted on the default exchange`);
  }
  if (!a.passive) ch.checkAccess('configure', 'exchange', a.exchange);
  const ae = a.arguments['alternate-exchange'];
  if (ae !== undefined && typeof ae !== 'string') {
    throw preconditionFailed(`invalid arg 'alternate-exchange' for exchange '${a.exchange}': must be a string`);
  }
  // Whoever names an alternate exchange makes messages flow into it: RabbitMQ asks for read on
  // this exchange and write on the alternate.
  if (!a.passive && typeof ae === 'string') {
    ch.checkAccess('read', 'exchange', a.exchange);
    ch.checkAccess('write', 'exchange', ae);
  }
  vhost.declareExchange({
    name: a.exchange, type: a.type, durable: a.durable, autoDelete: a.autoDelete,
    internal: a.internal, arguments: a.arguments,
  }, a.passive);
  if (!a.nowait) ch.send(M.encodeExchangeDeclareOk);
}

function exchangeDelete(ch: Channel, a: M.ExchangeDelete): void {
  const vhost = ch.vhost;
  ch.checkAccess('configure', 'exchange', a.exchange);
  if (vhost.exchanges.has(a.exchange) || a.exchange === '') vhost.deleteExchange(a.exchange, a.ifUnused);
  if (!a.nowait) ch.send(M.encodeExchangeDeleteOk);
}

function exchangeBind(ch: Channel, a: M.ExchangeBind, bind: boolean): void {
  bindingAction(ch, bind, a.source, 'exchange', a.destination, a.routingKey, a.arguments);
  if (!a.nowait) ch.send(bind ? M.encodeExchangeBindOk : M.encodeExchangeUnbindOk);
}

/**
 * Binds or unbinds in RabbitMQ's order of checks: write on the destination, the default
 * exchange (403), read on the source, then existence (source first), then exclusivity. An
 * unbind naming a missing exchange or queue succeeds, as RabbitMQ's does.
 */
function bindingAction(
  ch: Channel, bind: boolean, sourceName: string, kind: 'queue' | 'exchange', destinationName: string,
  routingKey: string, args: FieldTable,
): void {
  const vhost = ch.vhost;
  ch.checkAccess('write', kind, destinationName);
  if (sourceName === '' || (kind === 'exchange' && destinationName === '')) {
    throw new AmqpError(403, `operation not permitted on the default exchange`);
  }
  ch.checkAccess('read', 'exchange', sourceName);
  const source = vhost.exchanges.get(sourceName);
  if (source?.type === 'topic') ch.checkTopicAccess('read', sourceName, routingKey);
  const destination: Destination | undefined =
    kind === 'queue' ? vhost.queues.get(destinationName) : vhost.exchanges.get(destinationName);
  if (!source || !destination) {
    if (!bind) return;
    if (!source) vhost.exchange(sourceName);
    if (kind === 'queue') vhost.queue(destinationName);
    vhost.exchange(destinationName);
  }
  // As in RabbitMQ, an unbind that would change nothing does not look at exclusivity.
  if (destination instanceof Queue && (bind || vhost.hasBinding(source!, destination, routingKey, args))) {
    vhost.checkExclusive(destination, ch.conn);
  }
  if (bind) vhost.bind(source!, destination!, routingKey, args);
  else vhost.unbind(source!, destination!, routingKey, args);
}

function queueDeclare(ch: Channel, a: M.QueueDeclare): void {
  const vhost = ch.vhost;
  const name = a.queue === '' ? generateTag('amq.gen-') : a.queue;
  if (!a.passive) {
    ch.checkAccess('configure', 'queue', name);
    // Dead-lettering publishes into the DLX: read on the queue and write on the DLX, as RabbitMQ.
    const dlx = a.arguments['x-dead-letter-exchange'];
    if (typeof dlx === 'string') {
      ch.checkAccess('read', 'queue', name);
      ch.checkAccess('write', 'exchange', dlx);
    }
    const qtype = a.arguments['x-queue-type'];
    if (qtype === 'quorum' && (!a.durable || a.exclusive || a.autoDelete)) {
      throw preconditionFailed(`invalid property '${!a.durable ? 'non-durable' : a.exclusive ? 'exclusive' : 'auto-delete'}' for queue '${name}'`);
    }
  }
  const { queue } = vhost.declareQueue({
    name: a.queue === '' && !a.passive ? name : a.queue, serverNamed: a.queue === '', durable: a.durable, exclusive: a.exclusive,
    autoDelete: a.autoDelete, arguments: a.arguments,
  }, a.passive, ch.conn);
  ch.lastQueue = queue.name;
  if (!a.nowait) {
    ch.send(M.encodeQueueDeclareOk, {
      queue: queue.name, messageCount: queue.messageCount, consumerCount: queue.consumerCount,
    });
  }
}

function queueBind(ch: Channel, a: M.QueueBind, bind: boolean): void {
  const qname = ch.queueName(a.queue);
  // An empty routing key with an unnamed queue means the queue's name (AMQP 0-9-1 rule).
  const routingKey = a.queue === '' && a.routingKey === '' ? qname : a.routingKey;
  bindingAction(ch, bind, a.exchange, 'queue', qname, routingKey, a.arguments);
  if (bind && !a.nowait) ch.send(M.encodeQueueBindOk);
  if (!bind) ch.send(M.encodeQueueUnbindOk);
}

function queuePurge(ch: Channel, a: M.QueuePurge): void {
  const vhost = ch.vhost;
  const qname = ch.queueName(a.queue);
  ch.checkAccess('read', 'queue', qname);
  const q = vhost.queue(qname);
  vhost.checkExclusive(q, ch.conn);
  const n = q.purge();
  if (!a.nowait) ch.send(M.encodeQueuePurgeOk, { messageCount: n });
}

function queueDelete(ch: Channel, a: M.QueueDelete): void {
  const vhost = ch.vhost;
  const qname = ch.queueName(a.queue);
  ch.checkAccess('configure', 'queue', qname);
  // Deleting a queue that does not exist succeeds with a count of 0, as in RabbitMQ.
  const n = vhost.queues.has(qname) ? vhost.deleteQueue(qname, a.ifUnused, a.ifEmpty, ch.conn) : 0;
  if (!a.nowait) ch.send(M.encodeQueueDeleteOk, { messageCount: n });
}
