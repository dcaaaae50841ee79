/**
 * Channel recovery on subscribe: a client that names the last (offset, epoch) it saw gets every
 * message after it from history, in order, or is told plainly that this is impossible.
 *
 * Recovered (`recovered: true`) only when the epoch is the channel's current one and history holds
 * every offset from `offset + 1` to the newest without a hole, within `replayLimit` messages. Anything
 * else (another epoch, trimmed or aged out, too far back, an offset from the future) answers
 * `recovered: false` with the current position, so the app refetches what it shows.
 *
 * The `history` frame's reply (historyReply) reads the same history into the same message frames
 * (history-frames.ts builds them, for gap repair too).
 */
import type { ChannelPosition, Ref } from '../../shared/protocol/frames.js';
import type { History } from '../../shared/state/history.js';
import { historyReplyJson, replayFrame, type ReplayFrame } from './history-frames.js';

export interface Recovery {
  position: ChannelPosition;
  recovered: boolean;
  /** Prepared WebSocket frames of the missed messages, oldest first (empty unless recovered). */
  replay: ReplayFrame[];
}

const PAGE = 500;

export async function recoverChannel(
  history: History,
  channel: string,
  since: ChannelPosition | undefined,
  replayLimit: number,
): Promise<Recovery> {
  if (since === undefined) return { position: await history.position(channel), recovered: false, replay: [] };
  const replay: Recovery['replay'] = [];
  let after = since.offset;
  for (;;) {
    const range = await history.read(channel, after, Math.min(PAGE, replayLimit - replay.length + 1));
    const position = { offset: range.offset, epoch: range.epoch };
    if (range.epoch !== since.epoch || !range.complete) return { position, recovered: false, replay: [] };
    for (const m of range.messages) {
      if (replay.length === replayLimit) return { position, recovered: false, replay: [] };
      replay.push(replayFrame(channel, range.epoch, m));
      after = m.offset;
    }
    if (after >= range.offset || range.messages.length === 0) return { position, recovered: true, replay };
  }
}

/**
 * The `history` reply (docs/protocol.md 3.2) to a client's `history` frame, as JSON text: the retained
 * messages after `since` (without it, the newest `limit`), oldest first, as the very `message` frames
 * recovery replays, and the channel's newest position. The messages stop before the one that would take
 * the reply past `maxBytes` (always one at least), so a reply never outgrows the connection's byte
 * budget: the client asks again from the last offset it got.
 */
export async function historyReply(
  history: History,
  channel: string,
  request: { since: number | undefined; limit: number; ref: Ref | undefined },
  maxBytes: number,
): Promise<string> {
  const { limit } = request;
  const since = request.since ?? Math.max(0, (await history.position(channel)).offset - limit);
  const range = await history.read(channel, since, limit);
  return historyReplyJson(channel, range, request.ref, maxBytes);
}
