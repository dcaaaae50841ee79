/**
 * Duplicate filter for one channel's messages on one node. The bus delivers at least once (RabbitMQ
 * redelivers what was in flight when a link dropped), so the core drops a (epoch, offset) it has
 * already delivered. It remembers the last WINDOW offsets below the highest seen, in a 256-bit ring
 * (32 bytes per channel): concurrent publishers on other nodes can land slightly out of order, and
 * every offset inside the window is judged exactly. An offset older than the window is delivered
 * (it cannot be told apart, and losing a message is worse than repeating one). A new epoch (the
 * counter was lost and restarted) resets the window.
 */
export const RECENT_OFFSETS_WINDOW = 256;

export class RecentOffsets {
  private epoch = '';
  private high = 0;
  private readonly seen = new Uint32Array(RECENT_OFFSETS_WINDOW / 32);

  get currentEpoch(): string {
    return this.epoch;
  }

  /** Highest offset seen in `epoch` (0 when nothing was seen in it). */
  highIn(epoch: string): number {
    return epoch === this.epoch ? this.high : 0;
  }

  /**
   * Starts a run at a known position (a subscriber read it from history): `offset` and everything
   * below it count as seen, so a late copy of an older message is never delivered after it.
   */
  seed(epoch: string, offset: number): void {
    this.epoch = epoch;
    this.high = offset;
    this.seen.fill(0xffffffff);
  }

  /** True the first time (epoch, offset) is offered; false for a repeat inside the window. */
  firstSight(epoch: string, offset: number): boolean {
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.high = 0;
      this.seen.fill(0);
    }
    if (offset > this.high) {
      if (offset - this.high >= RECENT_OFFSETS_WINDOW) this.seen.fill(0);
      else for (let o = this.high + 1; o < offset; o++) this.clear(o);
      this.high = offset;
      this.mark(offset);
      return true;
    }
    if (offset <= this.high - RECENT_OFFSETS_WINDOW) return true;
    const slot = offset % RECENT_OFFSETS_WINDOW;
    const bit = 1 << (slot & 31);
    if ((this.seen[slot >>> 5]! & bit) !== 0) return false;
    this.seen[slot >>> 5]! |= bit;
    return true;
  }

  private mark(offset: number): void {
    const slot = offset % RECENT_OFFSETS_WINDOW;
    this.seen[slot >>> 5]! |= 1 << (slot & 31);
  }

  private clear(offset: number): void {
    const slot = offset % RECENT_OFFSETS_WINDOW;
    this.seen[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}
