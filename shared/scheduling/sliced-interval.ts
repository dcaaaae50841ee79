/**
 * Spreads periodic per-item work (pings, TTL refreshes) over its period instead of doing it in one
 * burst: every `periodMs / slices` it calls `run(slice)` with the next slice number, so each item
 * (assigned a slice) is visited once per period and no single tick touches more than ~1/slices of
 * them. With thousands of connections per node, one burst would stall the event loop (and Redis) for
 * tens of milliseconds; sliced, each tick costs a fraction of that.
 */
export class SlicedInterval {
  private next = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    periodMs: number,
    readonly slices: number,
    run: (slice: number) => void,
  ) {
    if (!(slices >= 1 && Number.isInteger(slices))) throw new TypeError('slices must be a positive integer');
    this.timer = setInterval(
      () => {
        const slice = this.next;
        this.next = (this.next + 1) % slices;
        run(slice);
      },
      Math.max(1, periodMs / slices),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A stable slice for a string key (FNV-1a), so an item keeps its slice for its whole life. */
export function sliceOf(key: string, slices: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % slices;
}
