// The log of refused logins (AMQP and management HTTP). Each refusal is one warn line naming the
// peer and the user name, up to BURST lines per WINDOW_MS; beyond that they are only counted and
// summed up in one line when the window ends. A flood of wrong passwords (a scanner, a client
// retrying in a loop) then costs a few lines, not one synchronous write per attempt, and the
// per-source Prometheus counters (rabbitmq_detailed_auth_attempts_detailed_*) still say who it was.
import type { Logger } from 'pino';

const WINDOW_MS = 10_000;
const BURST = 20;

export class FailedLogins {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Logger) {}

  /** `protocol` as people say it (AMQP, HTTP); `peer` address and port. */
  refused(protocol: string, peer: string, user: string, reason: string): void {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.summarise();
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (++this.inWindow <= BURST) {
      this.log.warn({ protocol, peer, user }, `${protocol} login refused from ${peer}: user '${user}' - ${reason}`);
      return;
    }
    this.suppressed++;
    this.timer ??= setTimeout(() => this.summarise(), this.windowStart + WINDOW_MS - now);
    this.timer.unref();
  }

  private summarise(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed === 0) return;
    this.log.warn({ suppressed: this.suppressed }, `${this.suppressed} more logins were refused in ${WINDOW_MS / 1000} s `
      + '(not logged one by one; rabbitmq_detailed_auth_attempts_detailed_failed_total on the Prometheus port says from where and as whom)');
    this.suppressed = 0;
  }
}
