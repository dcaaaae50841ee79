/**
 * Exponential backoff with full jitter, for reconnecting and for retrying a refused subscribe.
 *
 * Why full jitter: when a node shuts down (1001) or drops a crowd of slow consumers, thousands of
 * clients lose their connection in the same instant; a deterministic delay would bring them back in
 * the same instant too. Each delay is drawn uniformly from [0, ceiling), where the ceiling doubles
 * from `minDelayMs` per attempt up to `maxDelayMs` ("full jitter", as in AWS's architecture blog and
 * the checklist of docs/protocol.md section 12). The attempt count is reset once a connection has
 * stayed up for a while, not at the first `welcome`, so a server that accepts and drops at once still
 * gets longer and longer pauses.
 */

export interface BackoffOptions {
  /** Ceiling of the first delay, in ms. */
  minDelayMs: number;
  /** Largest ceiling, in ms. */
  maxDelayMs: number;
  /** Uniform random number in [0, 1); injectable for tests. */
  random?: () => number;
}

/** Beyond this many doublings the ceiling is the cap anyway; keeps 2^n finite. */
const MAX_DOUBLINGS = 30;

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    const { minDelayMs, maxDelayMs } = options;
    if (!(Number.isFinite(minDelayMs) && minDelayMs > 0)) throw new RangeError('minDelayMs must be > 0');
    if (!(Number.isFinite(maxDelayMs) && maxDelayMs >= minDelayMs))
      throw new RangeError('maxDelayMs must be >= minDelayMs');
    this.random = options.random ?? Math.random;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Ceiling of the next delay: min(maxDelayMs, minDelayMs × 2^(attempts + boost)). */
  ceiling(boost = 0): number {
    const doublings = Math.min(this.attempt + boost, MAX_DOUBLINGS);
    return Math.min(this.options.maxDelayMs, this.options.minDelayMs * 2 ** doublings);
  }

  /**
   * The next delay, uniformly in [0, ceiling), and one more attempt. `boost` starts from a higher
   * ceiling (e.g. after `too_many_connections`, which deserves a long pause).
   */
  next(boost = 0): number {
    const ceiling = this.ceiling(boost);
    this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
