/**
 * Per-channel offsets: every message on a channel gets the next offset, starting at 1, with no gaps
 * and no repeats, even under concurrent publishers (on different nodes, once clustered). The epoch
 * names one continuous run of offsets; it changes if the counter is lost (e.g. Redis flushed), so a
 * client can tell "offset 7 of a new run" from "offset 7 I already saw".
 *
 * Semantics every driver keeps (test/contracts/channel-offsets.contract.ts):
 *  - `next` atomically reserves and returns the next offset with the channel's epoch.
 *  - `current` returns the newest reserved offset (0 when none) and the epoch, reserving nothing;
 *    the epoch `current` reports is the one the next `next` will carry.
 */
export interface ChannelPosition {
  offset: number;
  epoch: string;
}

export interface ChannelOffsets {
  next(channel: string): Promise<ChannelPosition>;
  current(channel: string): Promise<ChannelPosition>;
  close(): Promise<void>;
}
