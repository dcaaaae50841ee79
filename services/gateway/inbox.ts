/**
 * The inbox side of a connection (docs/protocol.md 3.1 `history` and `ack`): reading a channel's
 * history, marking the user's own channel read, and the read offset a `subscribed` carries.
 *
 * Apart from Subscriptions on purpose: none of it changes what the connection is subscribed to. Both
 * requests run in the connection's in-order frame queue like every other; a backing-service failure
 * is thrown to the caller, which answers it `unavailable` (or `internal`) with the request's ref.
 */
import type { TokenClaims } from '../../shared/auth/jwt.js';
import { DEFAULT_HISTORY_LIMIT } from '../../shared/protocol/codec.js';
import { parseChannel, type ChannelRef } from '../../shared/protocol/channels.js';
import type { AckFrame, HistoryRequestFrame } from '../../shared/protocol/frames.js';
import { readOffset, type ReadPosition } from '../../shared/state/read-positions.js';
import type { ConnectionContext } from './connection-context.js';
import { textFrame } from './fanout/text-frame.js';
import { historyReply } from './recovery.js';
import { ref, type SubscriptionHost } from './subscriptions.js';

const NOT_YOURS = 'Only your own user channel (user:{sub}) can be marked read';

/**
 * Answers `history` with the channel's retained messages, on any channel the connection may
 * subscribe to (subscribed or not), or with a channel error.
 */
export async function answerHistory(
  host: SubscriptionHost,
  ctx: ConnectionContext,
  claims: TokenClaims,
  frame: HistoryRequestFrame,
): Promise<void> {
  const { channel } = frame;
  const parsed = parseChannel(channel);
  if (parsed === undefined) return host.sendError('unknown_channel', frame.ref, undefined, channel);
  if (!(await ctx.access.maySubscribe(claims, parsed)))
    return host.sendError('permission_denied', frame.ref, 'Not allowed to read this channel', channel);
  if (!host.live) return;
  const reply = await historyReply(
    ctx.state.history,
    channel,
    { since: frame.since, limit: frame.limit ?? DEFAULT_HISTORY_LIMIT, ref: frame.ref },
    ctx.limits.maxBufferedBytes / 2,
  );
  if (host.live) host.outlet.push(textFrame(reply), 0);
}

/**
 * Moves the user's read position on its own channel to `frame.offset` (never back; an offset past
 * the newest counts as the newest) and answers `read` with the position now recorded. When it moved,
 * the user's other connections are told (on every node) and the `onRead` hook is called.
 */
export async function acknowledge(
  host: SubscriptionHost,
  ctx: ConnectionContext,
  claims: TokenClaims,
  frame: AckFrame,
): Promise<void> {
  const { channel } = frame;
  const parsed = parseChannel(channel);
  if (parsed === undefined) return host.sendError('unknown_channel', frame.ref, undefined, channel);
  if (!isOwnUserChannel(claims, parsed))
    return host.sendError('permission_denied', frame.ref, NOT_YOURS, channel);
  const { userId } = claims;
  const current = await ctx.state.history.position(channel);
  if (!host.live) return;
  let recorded: ReadPosition;
  let moved = false;
  if (frame.epoch !== undefined && frame.epoch !== current.epoch) {
    // Offsets of another run: nothing moves; the answer says where the current run stands.
    const stored = await ctx.state.reads.get(userId, channel);
    recorded = { offset: readOffset(stored, current), epoch: current.epoch };
  } else {
    const target = { offset: Math.min(frame.offset, current.offset), epoch: current.epoch };
    ({ position: recorded, moved } = await ctx.state.reads.advance(
      userId,
      channel,
      target,
      ctx.readPositionTtlSeconds,
    ));
  }
  if (!host.live) return;
  host.send({ type: 'read', channel, ...recorded, ...ref(frame.ref) });
  // A first record at 0 marks nothing read: nobody needs to hear of it.
  if (!moved || recorded.offset === 0) return;
  ctx.readMoved(host, { userId, channel, ...recorded });
  ctx.onRead?.(userId, channel, recorded.offset);
}

/**
 * The user's recorded read position of `channel`, for its `subscribed`: on user channels only (the
 * only ones a user can ack); undefined (no call) on every other.
 */
export function recordedRead(
  ctx: ConnectionContext,
  claims: TokenClaims,
  parsed: ChannelRef,
  channel: string,
): Promise<ReadPosition | undefined> | undefined {
  return isOwnUserChannel(claims, parsed) ? ctx.state.reads.get(claims.userId, channel) : undefined;
}

function isOwnUserChannel(claims: TokenClaims, parsed: ChannelRef): boolean {
  return (
    parsed.kind === 'user' &&
    parsed.userId === claims.userId &&
    claims.guest !== true &&
    claims.operator !== true
  );
}
