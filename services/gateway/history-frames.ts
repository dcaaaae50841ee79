/**
 * Client frames rebuilt from history entries: the one place where a StoredMessage becomes what a
 * client receives. Three callers read history and hand the entries here:
 *  - recovery on subscribe (recovery.ts, recoverChannel): prepared WebSocket frames to replay;
 *  - the fan-out's gap repair and catch-up (gateway.ts, gapRepair): frame JSON bytes with their
 *    position, as the bus delivers live messages to the fan-out;
 *  - the reply to a `history` frame (recovery.ts, historyReply): one `history` frame holding them.
 *
 * Each entry becomes the very `message` frame its subscribers got live: the publisher's JSON text
 * (shared/core/message-frame.ts), byte for byte, the data assembled around its stored JSON, never
 * parsed or serialized again.
 */
import { messageFrameJson } from '../../shared/core/message-frame.js';
import type { Ref } from '../../shared/protocol/frames.js';
import type { HistoryRange, StoredMessage } from '../../shared/state/history.js';
import type { PositionedFrame } from './fanout/fanout.js';
import { prepareTextFrame } from './fanout/text-frame.js';

/** A message to replay: its offset and its prepared WebSocket frame. */
export interface ReplayFrame {
  offset: number;
  frame: Buffer;
}

/** The `message` frame (JSON text) of a message stored on `channel` in the run `epoch`. */
export function storedMessageJson(channel: string, epoch: string, m: StoredMessage): string {
  return messageFrameJson({ channel, epoch, ...m });
}

/** Recovery's form: the message's frame, prepared to be written to a WebSocket as it is. */
export function replayFrame(channel: string, epoch: string, m: StoredMessage): ReplayFrame {
  return { offset: m.offset, frame: prepareTextFrame(Buffer.from(storedMessageJson(channel, epoch, m))) };
}

/** Gap repair's form: the messages' frame JSON bytes with their positions, in the order given. */
export function positionedFrames(
  channel: string,
  epoch: string,
  messages: readonly StoredMessage[],
): PositionedFrame[] {
  return messages.map((m) => ({
    offset: m.offset,
    epoch,
    payload: Buffer.from(storedMessageJson(channel, epoch, m)),
  }));
}

/**
 * The `history` reply (docs/protocol.md 3.2) as JSON text: the range's messages as `message` frames,
 * oldest first, and the channel's newest position (`range`'s offset and epoch) and `complete`. The
 * messages stop before the one that would take their frames (each counted with one byte for its
 * separator) past `maxBytes`, but the first is always included; `ref` is echoed when given.
 */
export function historyReplyJson(
  channel: string,
  range: HistoryRange,
  ref: Ref | undefined,
  maxBytes: number,
): string {
  const messages: string[] = [];
  let bytes = 0;
  for (const m of range.messages) {
    const json = storedMessageJson(channel, range.epoch, m);
    bytes += Buffer.byteLength(json) + 1;
    if (bytes > maxBytes && messages.length > 0) break;
    messages.push(json);
  }
  return (
    `{"type":"history","channel":${JSON.stringify(channel)},"offset":${range.offset},` +
    `"epoch":${JSON.stringify(range.epoch)},"complete":${range.complete},"messages":[${messages.join(',')}]` +
    `${ref === undefined ? '' : `,"ref":${JSON.stringify(ref)}`}}`
  );
}
