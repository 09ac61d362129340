// RabbitMQ's message_stats as the UI shows them: the rates the API reports (`x_details.rate`),
// or, if a counter comes without one, the change since the previous poll.
export type MessageStats = Record<string, number | { rate: number } | undefined>;

export const RATE_SERIES: { label: string; keys: string[] }[] = [
  { label: 'Publish', keys: ['publish'] },
  { label: 'Confirm', keys: ['confirm'] },
  { label: 'Deliver', keys: ['deliver', 'deliver_no_ack'] },
  { label: 'Get', keys: ['get', 'get_no_ack'] },
  { label: 'Ack', keys: ['ack'] },
  { label: 'Redeliver', keys: ['redeliver'] },
  { label: 'Return', keys: ['return_unroutable'] },
];

export function statRate(ms: MessageStats | undefined, key: string): number {
  const d = ms?.[`${key}_details`];
  return typeof d === 'object' && d !== null && typeof d.rate === 'number' ? d.rate : 0;
}

export function statCount(ms: MessageStats | undefined, key: string): number {
  const v = ms?.[key];
  return typeof v === 'number' ? v : 0;
}

/** Turns successive message_stats snapshots into one rate per series (per second). */
export class RateTracker {
  private prev: { at: number; counts: number[] } | undefined;
  constructor(private readonly series = RATE_SERIES) {}
  rates(ms: MessageStats | undefined, at = Date.now()): number[] {
    const counts = this.series.map((s) => s.keys.reduce((a, k) => a + statCount(ms, k), 0));
    const reported = this.series.map((s) => s.keys.some((k) => ms?.[`${k}_details`] !== undefined));
    const prev = this.prev;
    this.prev = { at, counts };
    return this.series.map((s, i) => {
      if (reported[i]) return s.keys.reduce((a, k) => a + statRate(ms, k), 0);
      if (prev === undefined || at <= prev.at) return 0;
      return Math.max(0, ((counts[i] - prev.counts[i]) * 1000) / (at - prev.at));
    });
  }
}
