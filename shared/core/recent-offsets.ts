/**
 * Duplicate filter for one channel's messages on one node. The bus delivers at least once (RabbitMQ
 * redelivers what was in flight when a link dropped), so the core drops a (epoch, offset) it has
 * already delivered.
 *
 * While offsets arrive in order (the usual case) the filter is three fields: every offset up to the
 * highest seen was seen, nothing above it. Once one is skipped (concurrent publishers on other nodes
 * can land slightly out of order) it remembers the last WINDOW offsets below the highest seen, in a
 * 256-bit ring (32 bytes, allocated then), and judges every offset inside the window exactly. An
 * offset older than the window is then delivered (it cannot be told apart, and losing a message is
 * worse than repeating one), except at or below a seeded position, which counts as seen however far
 * back. A new epoch (the counter was lost and restarted) resets everything.
 */
export const RECENT_OFFSETS_WINDOW = 256;

export class RecentOffsets {
  private epoch = '';
  private high = 0;
  /** Offsets at or below this (in `epoch`) were seeded as seen. */
  private floor = 0;
  /** Which of the WINDOW offsets up to `high` were seen; undefined while all of them were. */
  private seen: Uint32Array | undefined;

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
    this.floor = offset;
    this.seen = undefined;
  }

  /** True when every offset up to `offset` of `epoch` counts as seen (a copy of any would be dropped). */
  covers(epoch: string, offset: number): boolean {
    if (epoch !== this.epoch) return false;
    if (offset <= this.floor) return true;
    if (offset > this.high) return false;
    const seen = this.seen;
    if (seen === undefined) return true;
    for (let o = offset; o > this.floor; o--) {
      if (o <= this.high - RECENT_OFFSETS_WINDOW) return false; // older than the window: judged unseen
      const slot = o % RECENT_OFFSETS_WINDOW;
      if ((seen[slot >>> 5]! & (1 << (slot & 31))) === 0) return false;
    }
    return true;
  }

  /** True the first time (epoch, offset) is offered; false for a repeat. */
  firstSight(epoch: string, offset: number): boolean {
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.high = 0;
      this.floor = 0;
      this.seen = undefined;
    }
    if (offset <= this.floor) return false;
    let seen = this.seen;
    if (seen === undefined) {
      if (offset <= this.high) return false;
      if (offset === this.high + 1) {
        this.high = offset;
        return true;
      }
      // The first skipped offset: from now on the window is tracked bit by bit (all up to high seen).
      this.seen = seen = new Uint32Array(RECENT_OFFSETS_WINDOW / 32).fill(0xffffffff);
    }
    if (offset > this.high) {
      if (offset - this.high >= RECENT_OFFSETS_WINDOW) seen.fill(0);
      else for (let o = this.high + 1; o < offset; o++) flip(seen, o, false);
      this.high = offset;
      flip(seen, offset, true);
      return true;
    }
    if (offset <= this.high - RECENT_OFFSETS_WINDOW) return true;
    const slot = offset % RECENT_OFFSETS_WINDOW;
    const bit = 1 << (slot & 31);
    if ((seen[slot >>> 5]! & bit) !== 0) return false;
    seen[slot >>> 5]! |= bit;
    return true;
  }
}

function flip(seen: Uint32Array, offset: number, on: boolean): void {
  const slot = offset % RECENT_OFFSETS_WINDOW;
  if (on) seen[slot >>> 5]! |= 1 << (slot & 31);
  else seen[slot >>> 5]! &= ~(1 << (slot & 31));
}
