/**
 * Herald wire protocol, version 1 (`herald.v1`).
 *
 * Every frame is one JSON object in one WebSocket text frame and carries a `type`. Client frames may
 * carry a `ref` (string or number, chosen by the client); the server echoes it on the reply to that
 * frame (`welcome`, `subscribed`, `resumed`, `unsubscribed`, `pong`, `history`, `read`, `error`), so
 * a client can match replies to requests.
 * The full description with examples lives in docs/protocol.md; this file is the typed source of truth.
 */

export const PROTOCOL_VERSION = 'herald.v1';
/** Channels a connection may name at connect (the `auth` frame's or the URL's `channels`). */
export const MAX_CONNECT_CHANNELS = 1000;

export type Ref = string | number;

// ---- client → server ------------------------------------------------------------------------------

export interface AuthFrame {
  type: 'auth';
  /** Absent: a guest (only where the node allows guests, WS_ALLOW_GUESTS; promotions only). */
  token?: string;
  /** Channels to subscribe right after `welcome`, as `subscribe` frames without a position would. */
  channels?: string[];
  ref?: Ref;
}
export interface SubscribeFrame {
  type: 'subscribe';
  channel: string;
  /** Last offset the client has seen on this channel: with `epoch`, asks for recovery of what followed. */
  offset?: number;
  epoch?: string;
  ref?: Ref;
}
export interface UnsubscribeFrame {
  type: 'unsubscribe';
  channel: string;
  ref?: Ref;
}
export interface PingFrame {
  type: 'ping';
  ref?: Ref;
}

/**
 * A position on a channel: an offset within an epoch (one continuous run of the channel's offsets,
 * docs/protocol.md). A client's is the last message it has (`resume`, `subscribe`); history's is the
 * channel's newest. Declared here only: the state layer (history.ts) and the client SDK (`Position`)
 * use this one.
 */
export interface ChannelPosition {
  offset: number;
  epoch: string;
}
/**
 * Takes over an earlier session of the same user (from its `welcome`), on any node, within the
 * resume window: its subscriptions are restored, each recovered from `positions[channel]` if given.
 */
export interface ResumeFrame {
  type: 'resume';
  session: string;
  positions?: Record<string, ChannelPosition>;
  ref?: Ref;
}

/**
 * Reads a channel's retained messages (docs/protocol.md 3.1): those after `since`, oldest first, at
 * most `limit`; without `since`, the newest `limit`. Allowed on every channel the connection may
 * subscribe to (it need not be subscribed).
 */
export interface HistoryRequestFrame {
  type: 'history';
  channel: string;
  since?: number;
  limit?: number;
  ref?: Ref;
}
/**
 * Marks the messages of the user's own channel (`user:{sub}`) up to `offset` read. `epoch`, when
 * given, must be the channel's current one (else nothing moves). Answered with `read`.
 */
export interface AckFrame {
  type: 'ack';
  channel: string;
  offset: number;
  epoch?: string;
  ref?: Ref;
}

export type ClientFrame =
  AuthFrame | SubscribeFrame | UnsubscribeFrame | PingFrame | ResumeFrame | HistoryRequestFrame | AckFrame;
export type ClientFrameType = ClientFrame['type'];

// ---- server → client ------------------------------------------------------------------------------

export interface WelcomeFrame {
  type: 'welcome';
  protocol: typeof PROTOCOL_VERSION;
  session: string;
  node: string;
  /** The token's `sub`; for a guest, an id the node made up for this connection. */
  user: string;
  /** Present (true) on a guest connection: it may subscribe to `promotions` only. */
  guest?: true;
  /**
   * The server sends a WebSocket ping this often and drops peers that did not answer the previous one.
   * Browsers cannot see those pings: send an app-level `ping` about this often to detect a dead link.
   */
  heartbeatMs: number;
  limits: { maxFrameBytes: number; maxSubscriptions: number; messagesPerSecond: number };
  /**
   * How many channels the client named at connect (the URL's `channels` and the `auth` frame's): one
   * reply each follows this frame. Absent when none were named.
   */
  named?: number;
  ref?: Ref;
}
export interface SubscribedFrame {
  type: 'subscribed';
  channel: string;
  /** Offset of the newest message published on the channel so far (0 if none). */
  offset: number;
  epoch: string;
  recovered: boolean;
  /**
   * User channels (`user:{sub}`) only: the user's read position in this epoch (0 when nothing was
   * marked read in it), so the unread count is `offset - read`.
   */
  read?: number;
  ref?: Ref;
}
/**
 * Answers `resume` after one `subscribed` (or channel `error`) frame per restored channel; `channels`
 * lists those now subscribed. From here on `session` is this connection's session id.
 */
export interface ResumedFrame {
  type: 'resumed';
  session: string;
  channels: string[];
  ref?: Ref;
}
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  channel: string;
  ref?: Ref;
}
export interface MessageFrame {
  type: 'message';
  channel: string;
  offset: number;
  /** The run `offset` belongs to (as in `subscribed`); dedupe by (channel, epoch, offset). */
  epoch: string;
  id: string;
  event: string;
  data: unknown;
  /** Publish time, milliseconds since the Unix epoch. */
  ts: number;
}
export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  retryable: boolean;
  channel?: string;
  ref?: Ref;
}
export interface PongFrame {
  type: 'pong';
  ts: number;
  ref?: Ref;
}
/**
 * Answers `history`: the channel's retained messages after `since`, oldest first, as the very
 * `message` frames subscribers got. `offset` and `epoch` are the channel's newest position; more
 * messages follow the last one returned while its offset is below `offset` (ask again from there).
 * `complete` is false when history no longer holds every message right after `since`.
 */
export interface HistoryFrame {
  type: 'history';
  channel: string;
  offset: number;
  epoch: string;
  complete: boolean;
  messages: MessageFrame[];
  ref?: Ref;
}
/**
 * The user's read position on `channel` moved (an `ack`, on this connection — then with its `ref` —
 * or on another connection of the user, on any node). Offsets of `epoch`; never lower than an
 * earlier `read` of the same epoch, though two may arrive swapped.
 */
export interface ReadFrame {
  type: 'read';
  channel: string;
  offset: number;
  epoch: string;
  ref?: Ref;
}
export interface ReconnectFrame {
  type: 'reconnect';
  afterMs: number;
  url?: string;
}

export type ServerFrame =
  | WelcomeFrame
  | SubscribedFrame
  | ResumedFrame
  | UnsubscribedFrame
  | MessageFrame
  | ErrorFrame
  | PongFrame
  | ReconnectFrame
  | HistoryFrame
  | ReadFrame;
