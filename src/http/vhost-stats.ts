// Per-vhost totals for vhost objects: queue depths summed over the vhost's queues, and message
// counters summed over its live channels plus what its closed channels left behind. Rates come
// from the sampler (not part of this file); until it is wired in they are reported as 0.0.
import type { ManagementContext } from './context.js';
import { MessageCounters } from '../server/stats.js';

/** The counters of every channel in `vhost`, live and closed. */
export function vhostCounters(ctx: ManagementContext, vhost: string): MessageCounters {
  const total = new MessageCounters();
  total.add(ctx.amqp.closedChannelStats(vhost));
  for (const conn of ctx.amqp.connections) {
    if (conn.vhost?.name !== vhost) continue;
    for (const ch of conn.channels.values()) total.add(ch.stats);
  }
  return total;
}

const rate = { rate: 0.0 };

/** RabbitMQ's message_stats object for counters (counts with `_details`). */
export function messageStatsJson(c: MessageCounters): Record<string, unknown> {
  const fields: [string, number][] = [
    ['publish', c.publish], ['confirm', c.confirm], ['return_unroutable', c.returnUnroutable], ['drop_unroutable', c.dropUnroutable],
    ['deliver_get', c.deliver + c.deliverNoAck + c.get + c.getNoAck], ['deliver', c.deliver], ['deliver_no_ack', c.deliverNoAck],
    ['get', c.get], ['get_no_ack', c.getNoAck], ['get_empty', c.getEmpty], ['redeliver', c.redeliver], ['ack', c.ack],
  ];
  const out: Record<string, unknown> = {};
  for (const [name, value] of fields) {
    out[name] = value;
    out[`${name}_details`] = { ...rate };
  }
  return out;
}

/** messages / messages_ready / messages_unacknowledged of a vhost's queues. */
export function vhostQueueTotals(ctx: ManagementContext, vhost: string): Record<string, unknown> {
  let ready = 0;
  let unacked = 0;
  for (const q of ctx.broker.vhost(vhost)?.queues.values() ?? []) {
    ready += q.messageCount;
    unacked += q.unackedCount;
  }
  return {
    messages: ready + unacked, messages_details: { ...rate },
    messages_ready: ready, messages_ready_details: { ...rate },
    messages_unacknowledged: unacked, messages_unacknowledged_details: { ...rate },
  };
}
