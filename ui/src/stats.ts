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

interface Sample { sample: number; timestamp: number }
function samplesOf(o: Record<string, unknown> | undefined, key: string): Sample[] | undefined {
  const d = o?.[`${key}_details`] as { samples?: Sample[] } | undefined;
  return Array.isArray(d?.samples) ? d.samples : undefined;
}

/**
 * The history the API keeps (RabbitMQ's msg_rates_age/lengths_age samples) as chart rows:
 * rates from the change of each counter between samples, lengths as they were.
 * Rows are [time (s), ...values], oldest first; empty when the broker kept no history.
 */
export function historyRows(ms: MessageStats | undefined, totals: Record<string, unknown> | undefined, lengthKeys: string[], series: { keys: string[] }[] = RATE_SERIES): { rates: number[][]; lengths: number[][] } {
  const perSeries = series.map((s) => s.keys.map((k) => samplesOf(ms as Record<string, unknown>, k)));
  const base = perSeries.flat().find((x) => x !== undefined && x.length > 1);
  const rates: number[][] = [];
  if (base) {
    const times = base.map((x) => x.timestamp).sort((a, b) => a - b);
    const at = perSeries.map((keys) => keys.map((ss) => new Map((ss ?? []).map((x) => [x.timestamp, x.sample]))));
    const count = (i: number, t: number) => at[i].reduce((a, m) => a + (m.get(t) ?? 0), 0);
    for (let j = 1; j < times.length; j++) {
      const dt = (times[j] - times[j - 1]) / 1000;
      rates.push([times[j] / 1000, ...series.map((_, i) => Math.max(0, (count(i, times[j]) - count(i, times[j - 1])) / dt))]);
    }
  }
  const lengthSamples = lengthKeys.map((k) => samplesOf(totals, k));
  const lbase = lengthSamples.find((x) => x !== undefined && x.length > 0);
  const lengths: number[][] = [];
  if (lbase) {
    const maps = lengthSamples.map((ss) => new Map((ss ?? []).map((x) => [x.timestamp, x.sample])));
    for (const t of lbase.map((x) => x.timestamp).sort((a, b) => a - b)) lengths.push([t / 1000, ...maps.map((m) => m.get(t) ?? 0)]);
  }
  return { rates, lengths };
}

/** The query asking for `windowS` seconds of history, about 60 samples (at least 5 s apart). */
export function historyQuery(windowS: number): Record<string, number> {
  const incr = Math.max(5, Math.round(windowS / 60));
  return { msg_rates_age: windowS, msg_rates_incr: incr, lengths_age: windowS, lengths_incr: incr };
}
