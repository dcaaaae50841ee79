/**
 * A log line about something a client or a failing dependency can cause as often as it likes (a
 * refused origin, a full webhook outbox, a state store that is down): written for the first
 * occurrence, then at most once per interval, with how many happened since (a metric counts each).
 */
export class LogEvery {
  private count = 0;
  private lastAt = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one occurrence; answers how many since the last line when one is due now, else undefined. */
  take(): number | undefined {
    this.count += 1;
    const now = this.now();
    if (now - this.lastAt < this.intervalMs) return undefined;
    const count = this.count;
    this.count = 0;
    this.lastAt = now;
    return count;
  }
}
