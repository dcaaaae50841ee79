/**
 * What the clients received in the current phase: per-client counts of promotions and user events
 * against what the phase expects, and the latency of every timed delivery.
 *
 * Hot path: `promotion` and `userEvent` run once per delivery (hundreds of thousands per second), so they
 * only bump typed-array counters and, in timed phases, store one float. Everything else (shortfall per
 * client, sorting latencies) happens when the orchestrator asks for a report.
 */
import {
  CURVE_PERCENTILES,
  type Expectation,
  type LatencySummary,
  type Progress,
} from '../generator-protocol.js';

export const now = (): number => performance.timeOrigin + performance.now();

export class Tally {
  phase = 'idle';
  timed: Expectation['timed'] = 'none';
  /** Called once when every expected delivery of the phase arrived, with the last one's receive time. */
  onDone: (phase: string, at: number) => void = () => undefined;

  private promotionsEach = 0;
  private promotions: Int32Array;
  private user: Int32Array;
  private userExpected: Int32Array;
  private arrived = 0;
  private expected = 0;
  private extra = 0;
  private latencies = new Float64Array(0);
  private timedCount = 0;

  constructor(private readonly clients: number) {
    this.promotions = new Int32Array(clients);
    this.user = new Int32Array(clients);
    this.userExpected = new Int32Array(clients);
  }

  arm(e: Expectation): void {
    this.phase = e.phase;
    this.timed = e.timed;
    this.promotionsEach = e.promotions;
    this.promotions.fill(0);
    this.user.fill(0);
    this.userExpected.fill(0);
    for (const i of e.userTargets) this.userExpected[i]!++;
    this.arrived = 0;
    this.extra = 0;
    this.expected = this.clients * e.promotions + e.userTargets.length;
    const timedTotal =
      e.timed === 'promotions' ? this.clients * e.promotions : e.timed === 'user' ? e.userTargets.length : 0;
    if (this.latencies.length < timedTotal) this.latencies = new Float64Array(timedTotal);
    this.timedCount = 0;
  }

  /** A promotion reached client `index`; `sentAt` is its publish time (NaN outside timed phases). */
  promotion(index: number, sentAt: number): void {
    const count = ++this.promotions[index]!;
    if (count > this.promotionsEach) {
      this.extra++;
      return;
    }
    if (this.timed === 'promotions') this.latencies[this.timedCount++] = now() - sentAt;
    this.arrivedOne();
  }

  /** A user-targeted event reached client `index`. */
  userEvent(index: number, sentAt: number): void {
    const count = ++this.user[index]!;
    if (count > this.userExpected[index]!) {
      this.extra++;
      return;
    }
    if (this.timed === 'user') this.latencies[this.timedCount++] = now() - sentAt;
    this.arrivedOne();
  }

  private arrivedOne(): void {
    if (++this.arrived === this.expected) this.onDone(this.phase, now());
  }

  progress(final: boolean): Progress {
    let clientsShort = 0;
    let missing = 0;
    const shortSamples: string[] = [];
    for (let i = 0; i < this.clients; i++) {
      const short =
        Math.max(0, this.promotionsEach - this.promotions[i]!) +
        Math.max(0, this.userExpected[i]! - this.user[i]!);
      if (short === 0) continue;
      clientsShort++;
      missing += short;
      if (shortSamples.length < 5)
        shortSamples.push(
          `bench-${i}: promotions ${this.promotions[i]}/${this.promotionsEach}, user ${this.user[i]}/${this.userExpected[i]}`,
        );
    }
    const report: Progress = {
      phase: this.phase,
      arrived: this.arrived,
      expected: this.expected,
      clientsShort,
      missing,
      extra: this.extra,
      shortSamples,
    };
    if (final && this.timed !== 'none')
      report.latency = summarize(this.latencies.subarray(0, this.timedCount));
    return report;
  }
}

export function summarize(values: Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number =>
    sorted.length === 0
      ? NaN
      : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return {
    count: sorted.length,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    curve: CURVE_PERCENTILES.map(at),
  };
}
