/**
 * Read positions: how far each user has read each channel (read receipts, the inbox's unread counts).
 * A client marks messages read with an `ack` frame (docs/protocol.md 3.1); the position is kept here,
 * per user and channel, so every connection of the user, on any node, sees the same unread count.
 *
 * A position is an offset within one epoch of the channel (history.ts): offsets of another epoch are
 * not comparable, so a position whose epoch is not the channel's current one counts as nothing read
 * in the current run (the caller compares).
 *
 * Semantics every driver keeps (test/contracts/read-positions.contract.ts):
 *  - `advance` is one atomic step: with no position recorded for (user, channel), or one of another
 *    epoch, or one of the same epoch with a lower offset, it records `position` and answers it with
 *    `moved: true`; otherwise (same epoch, offset not lower) it keeps the recorded one, which it
 *    answers with `moved: false`. So concurrent acks from several nodes never move a position back
 *    within an epoch, and the answer is the position now recorded either way. (An ack of an older
 *    epoch arriving after one of a newer epoch replaces it: the caller passes the channel's current
 *    epoch, read just before, so that needs an epoch change in between.)
 *  - Lifetime: a user's positions (all channels together) are kept `ttlSeconds` after the user's
 *    last `advance`, moved or not; then `get` and `list` answer nothing for them.
 *  - `get` answers the recorded position of (user, channel), or undefined; `list` every channel of the
 *    user that has one. Users and channels never see each other's positions.
 *  - A `ttlSeconds` that is not positive, or a position whose offset is not a non-negative safe
 *    integer or whose epoch is empty, is a TypeError.
 */
export interface ReadPosition {
  offset: number;
  epoch: string;
}

export interface AdvanceResult {
  /** The position recorded now (the one passed when it moved, else the one kept). */
  position: ReadPosition;
  moved: boolean;
}

export interface ReadPositions {
  advance(
    userId: string,
    channel: string,
    position: ReadPosition,
    ttlSeconds: number,
  ): Promise<AdvanceResult>;
  get(userId: string, channel: string): Promise<ReadPosition | undefined>;
  list(userId: string): Promise<Map<string, ReadPosition>>;
  close(): Promise<void>;
}

/** The argument checks every driver makes (the contract's TypeErrors). */
export function checkAdvance(position: ReadPosition, ttlSeconds: number): void {
  if (!(ttlSeconds > 0)) throw new TypeError('ttlSeconds must be positive');
  if (!Number.isSafeInteger(position.offset) || position.offset < 0)
    throw new TypeError('offset must be a non-negative safe integer');
  if (typeof position.epoch !== 'string' || position.epoch === '' || position.epoch.includes(' '))
    throw new TypeError('epoch must be a non-empty string without spaces');
}

/**
 * How much of a channel at `current` (its newest offset and epoch) the user has read, by `recorded`:
 * its offset in the same epoch (never above the newest), else 0.
 */
export function readOffset(recorded: ReadPosition | undefined, current: ReadPosition): number {
  if (recorded === undefined || recorded.epoch !== current.epoch) return 0;
  return Math.min(recorded.offset, current.offset);
}
