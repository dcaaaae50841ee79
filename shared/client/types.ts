/**
 * Public types of the client SDK: options, events, errors and counters.
 *
 * Kept apart from the client class so an app can import the types without pulling in the code, and so
 * the event payloads are documented in one place.
 */
import type { MessageFrame, WelcomeFrame } from '../protocol/frames.js';
import type { Position } from './cursor.js';
import type { WebSocketConstructor } from './socket.js';
import type { EventSourceConstructor } from './sse-socket.js';

/**
 * `idle`: created, `connect()` not called yet. `connecting`: opening the socket and authenticating.
 * `connected`: `welcome` received. `disconnected`: the connection was lost and a reconnect is
 * scheduled (see `StateChange.retryInMs`). `closed`: stopped, no reconnect: `close()` was called, or
 * the server refused for good (see `StateChange.error`); `connect()` starts again.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** Close code of the socket that was lost (absent when the SDK dropped it, e.g. heartbeat timeout). */
  code?: number;
  reason?: string;
  /** `disconnected`: when the next attempt starts. */
  retryInMs?: number;
  /** `closed` by the server or a failure rather than by `close()`: why. */
  error?: HeraldError;
  /** `connected`: the server's welcome (session, node, user, heartbeat, limits). */
  welcome?: WelcomeFrame;
  /** `connecting` and `connected`: the transport of this attempt. */
  transport?: Transport;
}

/**
 * Sent for every `subscribed` (after a subscribe, a resubscribe or a resumed session). When `refetch`
 * is true, messages between `previous` and `offset` were missed and will not come: reload the
 * channel's state through the app's own API. `recovered: true` means the missed messages (if any)
 * follow as ordinary `message` events.
 */
export interface RecoveryEvent {
  channel: string;
  recovered: boolean;
  /** The channel's position as reported by the server (its newest offset, its epoch). */
  offset: number;
  epoch: string;
  /** The position the client asked to recover from, if it had one. */
  previous?: Position;
  /** A position was sent and could not be recovered: messages were missed. */
  refetch: boolean;
  /** The channel arrived through a resumed session rather than an explicit subscribe. */
  resumed: boolean;
}

/** An error the server reported, or a reason the client stopped. */
export class HeraldError extends Error {
  override readonly name = 'HeraldError';
  readonly code: string;
  readonly retryable: boolean;
  readonly channel: string | undefined;
  readonly closeCode: number | undefined;

  constructor(
    code: string,
    message: string,
    extra: { retryable?: boolean; channel?: string; closeCode?: number } = {},
  ) {
    super(message);
    this.code = code;
    this.retryable = extra.retryable ?? false;
    this.channel = extra.channel;
    this.closeCode = extra.closeCode;
  }
}

export interface ClientEvents {
  state: StateChange;
  /** Every new message of every subscribed channel (duplicates are dropped before). */
  message: MessageFrame;
  recovery: RecoveryEvent;
  /** Server errors not tied to a subscription, subscription failures, and why the client stopped. */
  error: HeraldError;
  /** The user's read position on a channel moved (an ack here or on another device), or was learned. */
  read: ReadEvent;
}

/**
 * A read position (docs/protocol.md `read`): the user has read `channel` up to `offset` in `epoch`;
 * `unread` is what remains up to the newest message the client knows.
 */
export interface ReadEvent {
  channel: string;
  offset: number;
  epoch: string;
  unread: number;
}

/** `client.history(channel, options)`: after `since` (default: the newest `limit`), `limit` 1–100 (50). */
export interface HistoryOptions {
  since?: number;
  limit?: number;
}

/**
 * A channel's retained messages, oldest first; `offset` and `epoch` are its newest position (ask
 * again from the last message's offset while it is lower). `complete: false`: messages right after
 * `since` are no longer retained.
 */
export interface HistoryResult {
  channel: string;
  offset: number;
  epoch: string;
  complete: boolean;
  messages: MessageFrame[];
}

/**
 * `pending`: wanted, not (yet) subscribed on the current connection. `subscribed`: live.
 * `failed`: refused for good (see the `error` event); the intent is dropped. `unsubscribed`: dropped
 * by the app.
 */
export type SubscriptionState = 'pending' | 'subscribed' | 'failed' | 'unsubscribed';

export interface SubscriptionEvents {
  message: MessageFrame;
  recovery: RecoveryEvent;
  error: HeraldError;
  state: SubscriptionState;
}

/** Counters for tests, metrics and debugging. */
export interface ClientStats {
  /** `welcome`s received. */
  connects: number;
  /** Connection attempts after the first. */
  reconnects: number;
  /** Messages delivered to the app. */
  messages: number;
  /** Messages dropped as duplicates (same channel and epoch, offset not above the last). */
  duplicatesDropped: number;
  /** Connections dropped because no frame arrived in time. */
  heartbeatTimeouts: number;
  /** Sessions resumed (`resumed` received). */
  resumes: number;
  /** `resume` answered with an error (or not at all): channels were subscribed by hand. */
  resumeFallbacks: number;
  /** Subscribes sent again after a retryable error or a timeout. */
  subscribeRetries: number;
  /** Calls of the token function. */
  tokenRequests: number;
  /** Attempts that went where the director said. */
  directorAnswers: number;
  /** Director requests that failed (no answer in time, an error, no URL): the attempt used `url`. */
  directorFailures: number;
}

/** Why the token function is called: first connect, a reconnect, or the server said the last one expired. */
export type TokenReason = 'connect' | 'reconnect' | 'expired';

export type TokenProvider = (context: { reason: TokenReason }) => string | Promise<string>;

/** How the client reaches the gateway: a WebSocket, or the Server-Sent Events fallback. */
export type Transport = 'websocket' | 'sse';

export interface HeraldClientOptions {
  /**
   * `ws://` or `wss://` URL of the gateway's `/ws` endpoint (a balancer or any node); with `director`,
   * the URL used when the director cannot answer.
   */
  url: string;
  /**
   * `http(s)://` URL of a director (`GET /v1/connect`, e.g. `https://push.example.com/v1/connect`),
   * for nodes that clients reach directly: before each connection attempt the client asks it which
   * node to use and connects there; when it does not answer within `directorTimeoutMs`, answers an
   * error, or names no ws(s) URL, that attempt uses `url`. A `reconnect` frame's `url` is still
   * followed as is. Needs a global `fetch` (browsers, Node 18+).
   */
  director?: string;
  /** How long to wait for the director; default 3 000 ms (at most half of `connectTimeoutMs`). */
  directorTimeoutMs?: number;
  /**
   * The JWT, or a function returning it. The function is called before every connection attempt;
   * with `reason: 'expired'` a cached token must not be reused. A plain string cannot be refreshed, so
   * a `token_expired` close (4003) then stops the client. Required unless `guest` is true.
   */
  token?: string | TokenProvider;
  /**
   * Connect without a token, as a guest (nodes with WS_ALLOW_GUESTS; `promotions` only, no resume).
   * Explicit, so that a token that is missing by mistake is an error rather than a guest.
   */
  guest?: boolean;
  /** WebSocket constructor; default `globalThis.WebSocket` (pass `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor;
  /**
   * Transports to try, in order; default `['websocket', 'sse']` where an EventSource exists, else
   * `['websocket']`. The client falls back to Server-Sent Events (GET /v1/sse) when
   * `fallbackAfterFailures` WebSocket attempts in a row end before a `welcome` and no WebSocket of
   * this client ever got one, and then stays on it. `client.transport` says which one is in use.
   */
  transports?: readonly Transport[];
  /** WebSocket attempts that must fail (no `welcome`) before falling back; default 2. */
  fallbackAfterFailures?: number;
  /** EventSource constructor; default `globalThis.EventSource` (the `eventsource` package in Node). */
  EventSource?: EventSourceConstructor;
  /** The stream URL; default derived from `url` (`wss://host/ws` → `https://host/v1/sse`). */
  sseUrl?: string;
  /** Ceiling of the first reconnect delay (full jitter); default 500 ms. */
  minReconnectDelayMs?: number;
  /** Largest reconnect delay; default 30 000 ms. */
  maxReconnectDelayMs?: number;
  /** A connection up this long resets the reconnect backoff; default 60 000 ms. */
  stableAfterMs?: number;
  /** Drop the connection when no frame arrived for this long; default 2 × `welcome.heartbeatMs`. */
  heartbeatTimeoutMs?: number;
  /** Give up on an attempt that has no `welcome` after this long; default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Resend a subscribe (or give up on a resume) not answered after this long; default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Resume the previous session after a reconnect; default true. */
  resume?: boolean;
  /** A session id to resume on the first connection (e.g. kept across a page reload). */
  session?: string;
  /** Uniform random number in [0, 1); injectable for tests. */
  random?: () => number;
}
