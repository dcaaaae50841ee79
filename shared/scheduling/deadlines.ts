/**
 * Deadlines of many items on one timer (auth timeouts, token expiries of thousands of connections):
 * an item costs a Set entry in the bucket of its due time instead of a Timeout of its own. While any
 * item waits, a tick every `resolutionMs` hands each item whose time has come to `onDue`, once; an
 * item is therefore due up to `resolutionMs` late, never early.
 */
export class Deadlines<T> {
  /** Bucket number (due time / resolution, rounded up) → items due then. */
  private readonly buckets = new Map<number, Set<T>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly resolutionMs: number,
    private readonly onDue: (item: T) => void,
    /** Told what `onDue` threw (the other items due in that tick are still handed over). */
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    if (!(resolutionMs > 0)) throw new TypeError('resolutionMs must be positive');
  }

  /** How many items wait. */
  get size(): number {
    let size = 0;
    for (const bucket of this.buckets.values()) size += bucket.size;
    return size;
  }

  /** `item` becomes due at `at` (ms since the epoch); `delete` needs the same `at`. */
  add(item: T, at: number): void {
    const key = Math.ceil(at / this.resolutionMs);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, (bucket = new Set()));
    bucket.add(item);
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, this.resolutionMs);
      this.timer.unref();
    }
  }

  delete(item: T, at: number): void {
    const key = Math.ceil(at / this.resolutionMs);
    const bucket = this.buckets.get(key);
    if (bucket?.delete(item) && bucket.size === 0) this.buckets.delete(key);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.buckets.clear();
  }

  private readonly tick = (): void => {
    const now = this.now();
    for (const [key, bucket] of this.buckets) {
      if (key * this.resolutionMs > now) continue;
      this.buckets.delete(key);
      for (const item of bucket) {
        try {
          this.onDue(item);
        } catch (err) {
          this.onError(err);
        }
      }
    }
    if (this.buckets.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
