/**
 * Channel recovery on subscribe: a client that names the last (offset, epoch) it saw gets every
 * message after it from history, in order, or is told plainly that this is impossible.
 *
 * Recovered (`recovered: true`) only when the epoch is the channel's current one and history holds
 * every offset from `offset + 1` to the newest without a hole, within `replayLimit` messages. Anything
 * else (another epoch, trimmed or aged out, too far back, an offset from the future) answers
 * `recovered: false` with the current position, so the app refetches what it shows.
 */
import { messageFrameJson } from '../../shared/core/message-frame.js';
import type { ChannelPosition, History } from '../../shared/state/history.js';
import { prepareTextFrame } from './fanout/text-frame.js';

export interface Recovery {
  position: ChannelPosition;
  recovered: boolean;
  /** Prepared WebSocket frames of the missed messages, oldest first (empty unless recovered). */
  replay: { offset: number; frame: Buffer }[];
}

const PAGE = 500;

export async function recoverChannel(
  history: History,
  channel: string,
  since: { offset: number; epoch: string } | undefined,
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
      replay.push({
        offset: m.offset,
        frame: prepareTextFrame(Buffer.from(messageFrameJson({ channel, epoch: range.epoch, ...m }))),
      });
      after = m.offset;
    }
    if (after >= range.offset || range.messages.length === 0) return { position, recovered: true, replay };
  }
}
