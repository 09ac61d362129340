// Per-vhost totals for vhost objects: queue depths summed over the vhost's queues, and message
// counters summed over its live channels plus what its closed channels left behind. Rates come
// from the stats sampler (stats-sampler.ts), passed in as `rateOf` (field name -> per-second rate).
import type { ManagementContext } from './context.js';
import { MessageCounters } from '../server/stats.js';

/**
 * The counters of every channel, live and closed, summed per vhost (of `vhosts`), in one pass
 * over the connections however many vhosts are listed.
 */
export function vhostCounters(ctx: ManagementContext, vhosts: string[]): Map<string, MessageCounters> {
  const totals = new Map<string, MessageCounters>();
  for (const v of vhosts) {
    const total = new MessageCounters();
    total.add(ctx.amqp.closedChannelStats(v));
    totals.set(v, total);
  }
  for (const conn of ctx.amqp.connections) {
    const total = conn.vhost === null ? undefined : totals.get(conn.vhost.name);
    if (total === undefined) continue;
    // A closing channel's counts are already in its vhost's closed-channel totals.
    for (const ch of conn.channels.values()) if (!ch.closing) total.add(ch.stats);
  }
  return totals;
}

/** A field's per-second rate; the sampler supplies it. */
export type RateOf = (field: string) => number;
const noRates: RateOf = () => 0.0;

/** RabbitMQ's message_stats object for counters (counts with `_details`). */
export function messageStatsJson(c: MessageCounters, rateOf: RateOf = noRates): Record<string, unknown> {
  const fields: [string, number][] = [
    ['publish', c.publish], ['confirm', c.confirm], ['return_unroutable', c.returnUnroutable], ['drop_unroutable', c.dropUnroutable],
    ['deliver_get', c.deliver + c.deliverNoAck + c.get + c.getNoAck], ['deliver', c.deliver], ['deliver_no_ack', c.deliverNoAck],
    ['get', c.get], ['get_no_ack', c.getNoAck], ['get_empty', c.getEmpty], ['redeliver', c.redeliver], ['ack', c.ack],
  ];
  const out: Record<string, unknown> = {};
  for (const [name, value] of fields) {
    out[name] = value;
    out[`${name}_details`] = { rate: rateOf(name) };
  }
  return out;
}

/** messages / messages_ready / messages_unacknowledged of a vhost's queues. */
export function vhostQueueTotals(ctx: ManagementContext, vhost: string, rateOf: RateOf = noRates): Record<string, unknown> {
  let ready = 0;
  let unacked = 0;
  for (const q of ctx.broker.vhost(vhost)?.queues.values() ?? []) {
    ready += q.messageCount;
    unacked += q.unackedCount;
  }
  return {
    messages: ready + unacked, messages_details: { rate: rateOf('messages') },
    messages_ready: ready, messages_ready_details: { rate: rateOf('messages_ready') },
    messages_unacknowledged: unacked, messages_unacknowledged_details: { rate: rateOf('messages_unacknowledged') },
  };
}
