// Consumer (delivery acknowledgement) timeouts, as RabbitMQ's channel checks them: only the
// oldest unacked delivery of a channel is looked at, with the timeout that applies to it.
// Unacked deliveries are kept in delivery-tag order, so that is the first entry of the channel's
// map: a check is O(1) per channel holding unacked deliveries, and no timer runs while none does.

/** What the checker needs of a channel. */
export interface AckTimeoutSubject {
  /** Whether it still holds unacked deliveries (false: stop watching it). */
  readonly holdsUnacked: boolean;
  /**
   * Checks its oldest unacked delivery at `now`; closes the channel when it is overdue. Returns
   * the timeout that applies to it (ms), or -1 when none does or the channel was closed.
   */
  checkAckTimeout(now: number): number;
  /** Set while watched, so that watching again costs nothing. */
  ackWatched: boolean;
}

/** Shortest and longest pause between checks. */
const MIN_INTERVAL = 100;
const MAX_INTERVAL = 1000;

/** RabbitMQ checks once a minute; a tenth of the timeout (within 0.1-1 s) keeps short ones honest. */
function checkInterval(timeout: number): number {
  return Math.min(MAX_INTERVAL, Math.max(MIN_INTERVAL, Math.floor(timeout / 10)));
}

export class AckTimeouts {
  private readonly watched = new Set<AckTimeoutSubject>();
  private timer: NodeJS.Timeout | null = null;
  /** When the scheduled check runs (Date.now() based). */
  private dueAt = 0;

  /** A channel now holds unacked deliveries (its first since it held none). */
  watch(s: AckTimeoutSubject, timeout: number): void {
    s.ackWatched = true;
    this.watched.add(s);
    // With no timeout for this delivery, a later one of the channel may have one: look now and then.
    this.schedule(timeout >= 0 ? checkInterval(timeout) : MAX_INTERVAL);
  }

  /** Stops every check (the listener is closing). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const s of this.watched) s.ackWatched = false;
    this.watched.clear();
  }

  private schedule(interval: number): void {
    const due = Date.now() + interval;
    if (this.timer !== null) {
      if (this.dueAt <= due) return;
      clearTimeout(this.timer);
    }
    this.dueAt = due;
    this.timer = setTimeout(this.run, interval);
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = null;
    const now = Date.now();
    let interval = MAX_INTERVAL + 1;
    for (const s of this.watched) {
      const t = s.checkAckTimeout(now);
      if (!s.holdsUnacked) {
        s.ackWatched = false;
        this.watched.delete(s);
        continue;
      }
      interval = Math.min(interval, t >= 0 ? checkInterval(t) : MAX_INTERVAL);
    }
    if (this.watched.size !== 0) this.schedule(interval);
  };
}
