/**
 * Hold, sort, dedupe: the one mechanism that keeps a channel's messages in offset order, each once,
 * across an asynchronous step. Two callers:
 *  - the fan-out's gap repair: while missing offsets are read from history, newer messages of the
 *    channel wait here; the repaired ones and then the held ones go out in offset order;
 *  - a subscribe: while `subscribed` and the replay are being written, live messages for the new
 *    subscriber wait here; then those past the reported position go out, and later copies at or
 *    below it (still in flight on the bus when the position was read) are dropped.
 * Dedupe is RecentOffsets': a seeded position and everything below it count as seen.
 */
import { RecentOffsets } from '../../../shared/core/recent-offsets.js';

export interface Positioned {
  offset: number;
  epoch: string;
}

export class OffsetGate<T extends Positioned> {
  protected readonly seen = new RecentOffsets();
  private held: T[] | undefined;
  /** The position `seed` was given: items of its epoch at or below it never pass, whatever came first. */
  private seededEpoch = '';
  private seededOffset = 0;

  constructor(holding = false) {
    if (holding) this.held = [];
  }

  /** True while messages are held back. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  get currentEpoch(): string {
    return this.seen.currentEpoch;
  }

  /** The seeded position's offset in `epoch` (0 when none was seeded in it). */
  floorIn(epoch: string): number {
    return epoch === this.seededEpoch && epoch === this.seen.currentEpoch ? this.seededOffset : 0;
  }

  /** Highest offset let through in `epoch` (0 when none). */
  highIn(epoch: string): number {
    return this.seen.highIn(epoch);
  }

  /** `offset` of `epoch` and everything below it count as let through already. */
  seed(epoch: string, offset: number): void {
    this.seen.seed(epoch, offset);
    this.seededEpoch = epoch;
    this.seededOffset = offset;
  }

  /** True when `other` already drops every copy this gate's seeded position would: this gate adds nothing. */
  coveredBy(other: OffsetGate<Positioned>): boolean {
    return other.seen.covers(this.seededEpoch, this.seededOffset);
  }

  /** True the first time (epoch, offset) is offered, which lets it through; false for a repeat. */
  admit(epoch: string, offset: number): boolean {
    return this.seen.firstSight(epoch, offset);
  }

  /**
   * The first range of offsets of `epoch` missing between `high` and the newest held item, as
   * (after, upTo]; undefined when the held items continue `high` without a hole.
   */
  firstHeldGap(epoch: string, high: number): [number, number] | undefined {
    const offsets = (this.held ?? [])
      .filter((item) => item.epoch === epoch && item.offset > high)
      .map((item) => item.offset)
      .sort((x, y) => x - y);
    let expected = high + 1;
    for (const offset of offsets) {
      if (offset > expected) return [expected - 1, offset - 1];
      if (offset === expected) expected++;
    }
    return undefined;
  }

  /** Starts holding (if not yet), keeping `item` when one is given. */
  hold(item?: T): void {
    this.held ??= [];
    if (item !== undefined) this.held.push(item);
  }

  /**
   * Stops holding and lets the held items through, oldest offset first, each that `admit` accepts
   * passed to `pass`; items of the seeded epoch at or below the seeded offset never pass (also when
   * an item of another epoch came first and reset the filter). Returns how many were dropped.
   */
  release(pass: (item: T) => void): number {
    const held = this.held;
    this.held = undefined;
    if (held === undefined) return 0;
    held.sort((x, y) => x.offset - y.offset);
    let dropped = 0;
    for (const item of held) {
      const seededAway = item.epoch === this.seededEpoch && item.offset <= this.seededOffset;
      if (!seededAway && this.admit(item.epoch, item.offset)) pass(item);
      else dropped++;
    }
    return dropped;
  }
}
