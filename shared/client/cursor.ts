/**
 * Where the client stands on one channel, and deduplication by (channel, epoch, offset).
 *
 * Why: Herald delivers each offset of a channel once per subscription, but a reconnect, a resumed
 * session, a resubscribe after a gap or an in-flight copy can hand the same message over twice
 * (docs/protocol.md sections 5.3 and 6). The position is also what recovery needs: the `offset` of the
 * last message processed, in the `epoch` it belongs to, sent in `subscribe` / `resume`.
 *
 * Rule: a message whose epoch is the stored one and whose offset is at or below the stored offset is
 * a duplicate and is dropped. A message of another epoch starts over (the channel lost its state and
 * counts from 1 again), so it is delivered and becomes the position.
 */
import type { ChannelPosition } from '../protocol/frames.js';

/** The last message a client has on a channel: its offset within an epoch (the protocol's ChannelPosition). */
export type Position = ChannelPosition;

export class Cursor {
  private current: Position | undefined;

  constructor(seed?: Position) {
    if (seed !== undefined) this.reset(seed);
  }

  /** A copy of the position, or undefined before anything was received or seeded. */
  get position(): Position | undefined {
    return this.current === undefined ? undefined : { ...this.current };
  }

  /** Records a message; returns false if it is a duplicate (to be dropped), true if it is new. */
  accept(epoch: string, offset: number): boolean {
    const current = this.current;
    if (current !== undefined && current.epoch === epoch && offset <= current.offset) return false;
    this.current = { offset, epoch };
    return true;
  }

  /** Replaces the position (a seed, or the server's position after `recovered: false`). */
  reset(position: Position): void {
    if (!isPosition(position))
      throw new TypeError('a position is {offset: non-negative integer, epoch: string}');
    this.current = { offset: position.offset, epoch: position.epoch };
  }
}

export function isPosition(value: unknown): value is Position {
  if (typeof value !== 'object' || value === null) return false;
  const { offset, epoch } = value as Record<string, unknown>;
  return (
    typeof offset === 'number' &&
    Number.isSafeInteger(offset) &&
    offset >= 0 &&
    typeof epoch === 'string' &&
    epoch.length > 0
  );
}
