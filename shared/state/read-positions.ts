import { InvalidArgumentError } from '../core/contract-errors.js';
import type { ChannelPosition } from '../protocol/frames.js';

/**
 * Read positions: how far each user has read each channel (read receipts, the inbox's unread counts).
 * A client marks messages read with an `ack` frame (docs/protocol.md 3.1); the position is kept here,
 * per user and channel, so every connection of the user, on any node, sees the same unread count.
 *
 * A position is an offset within one epoch of the channel (history.ts): offsets of another epoch are
 * not comparable, so a position whose epoch is not the channel's current one counts as nothing read
 * in the current run (the caller compares: `readOffset` below).
 *
 * Every driver keeps the guarantees documented on each method
 * (test/contracts/read-positions.contract.ts runs them against memory and Redis). Users and channels
 * never see each other's positions. A Redis call that cannot be answered in time rejects with
 * `StateUnavailableError` (`temporary`); bad arguments reject with `InvalidArgumentError` (a
 * TypeError, not temporary), checked before anything is recorded.
 */
/** The last message a user has read: a position like any other (the protocol's ChannelPosition). */
export type ReadPosition = ChannelPosition;

export interface AdvanceResult {
  /** The position recorded now (the one passed when it moved, else the one kept). */
  position: ReadPosition;
  moved: boolean;
}

export interface ReadPositions {
  /**
   * One atomic step: with no position recorded for (user, channel), or one of another epoch, or one of
   * the same epoch with a lower offset, it records `position` and answers it with `moved: true`;
   * otherwise (same epoch, offset not lower) it keeps the recorded one and answers that with
   * `moved: false`. So concurrent acks from several nodes never move a position back within an epoch,
   * and the answer is the position now recorded either way (never below the one passed, within an
   * epoch). An ack of an older epoch arriving after one of a newer epoch replaces it: the caller
   * passes the channel's current epoch, read just before, so that needs an epoch change in between.
   *
   * Lifetime: the user's positions (all channels together) expire `ttlSeconds` after the user's last
   * `advance`, moved or not. Offsets up to 2^53 - 1 are kept exactly. A `ttlSeconds` that is not
   * positive, or a position whose offset is not a non-negative safe integer or whose epoch is empty
   * or holds a space, rejects with `InvalidArgumentError` and records nothing.
   */
  advance(
    userId: string,
    channel: string,
    position: ReadPosition,
    ttlSeconds: number,
  ): Promise<AdvanceResult>;
  /** The recorded position of (user, channel), or undefined (none, or expired). Never extends the lifetime. */
  get(userId: string, channel: string): Promise<ReadPosition | undefined>;
  /** Every channel of the user that has a recorded position (empty when none, or expired). */
  list(userId: string): Promise<Map<string, ReadPosition>>;
  /** Releases the driver; resolves once done. */
  close(): Promise<void>;
}

/** The argument checks every driver makes (the contract's InvalidArgumentErrors). */
export function checkAdvance(position: ReadPosition, ttlSeconds: number): void {
  if (!(ttlSeconds > 0)) throw new InvalidArgumentError('ttlSeconds must be positive');
  if (!Number.isSafeInteger(position.offset) || position.offset < 0)
    throw new InvalidArgumentError('offset must be a non-negative safe integer');
  if (typeof position.epoch !== 'string' || position.epoch === '' || position.epoch.includes(' '))
    throw new InvalidArgumentError('epoch must be a non-empty string without spaces');
}

/**
 * How much of a channel at `current` (its newest offset and epoch) the user has read, by `recorded`:
 * its offset in the same epoch (never above the newest), else 0.
 */
export function readOffset(recorded: ReadPosition | undefined, current: ReadPosition): number {
  if (recorded === undefined || recorded.epoch !== current.epoch) return 0;
  return Math.min(recorded.offset, current.offset);
}
