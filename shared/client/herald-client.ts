/**
 * The Herald client: one WebSocket to a gateway, kept alive, with the app's channels on it.
 *
 * Why it exists: docs/protocol.md section 12 is a long checklist (auth frame, refs, backoff with
 * jitter, heartbeats, recovery by offset and epoch, dedupe, close codes, `resume`, `reconnect`) that
 * every app would otherwise implement, slightly wrong, by itself. The app states what it wants
 * (`subscribe(channel)`) and gets `message` events with each offset once; the client re-establishes
 * the channels after every reconnect — by resuming the previous session, or, when the server cannot
 * (unknown, expired, an older server), by subscribing again with each channel's position — and tells
 * the app (`recovery` with `refetch: true`) when messages were lost for good.
 */
import {
  PROTOCOL_VERSION,
  type ErrorFrame,
  type ReconnectFrame,
  type ServerFrame,
  type WelcomeFrame,
} from '../protocol/frames.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Connection } from './connection.js';
import type { Position } from './cursor.js';
import { Director, globalFetch, type DirectorAnswer } from './director.js';
import { Emitter, type Listener } from './emitter.js';
import { forEvent, type EventListener } from './events.js';
import { Inbox } from './inbox.js';
import { closeAction, globalWebSocket, stopCode, type WebSocketConstructor } from './socket.js';
import { globalEventSource, SseSocket, sseUrlFor, type EventSourceConstructor } from './sse-socket.js';
import type { Subscription } from './subscription.js';
import {
  HeraldError,
  type ClientEvents,
  type ClientStats,
  type ConnectionState,
  type HeraldClientOptions,
  type HistoryOptions,
  type HistoryResult,
  type StateChange,
  type TokenProvider,
  type TokenReason,
  type Transport,
} from './types.js';
import { errorFromFrame, WantedChannels } from './wanted-channels.js';

/** `too_many_connections` (4008) starts the backoff this many doublings higher. */
const SLOW_BOOST = 4;
/** A `reconnect` frame's wait is capped (a bad value must not park the client for days). */
const MAX_REDIRECT_WAIT_MS = 10 * 60_000;
const DEFAULT_HEARTBEAT_MS = 25_000;
/**
 * Characters an `auth` frame's token and named channels may take together: below the server's bound on
 * frames before authentication (WS_MAX_AUTH_FRAME_BYTES, 8 KiB by default), with room for the rest.
 */
const AUTH_FRAME_BUDGET = 7_000;

export class HeraldClient {
  readonly stats: ClientStats = {
    connects: 0,
    reconnects: 0,
    messages: 0,
    duplicatesDropped: 0,
    heartbeatTimeouts: 0,
    resumes: 0,
    resumeFallbacks: 0,
    subscribeRetries: 0,
    tokenRequests: 0,
    directorAnswers: 0,
    directorFailures: 0,
  };
  private readonly events = new Emitter<ClientEvents>();
  private readonly channels: WantedChannels;
  private readonly inbox: Inbox;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly EventSourceImpl: EventSourceConstructor | undefined;
  /** With the `director` option: asked where to connect before each attempt. */
  private readonly director: Director | undefined;
  /** The transports to try, in order, and the one in use (an index into it). */
  private readonly transports: readonly Transport[];
  private transportAt = 0;
  /** WebSocket attempts in a row that ended before a `welcome`; whether one ever got a `welcome`. */
  private failedUnwelcomed = 0;
  private webSocketWorked = false;
  /** An auth frame naming channels was closed 1009 unread: channels are no longer named in it. */
  private authFrameTooBig = false;
  private readonly random: () => number;
  private readonly backoffOptions: BackoffOptions;
  private readonly backoff: Backoff;
  private current: ConnectionState = 'idle';
  private conn: Connection | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** From a `reconnect` frame: when to reconnect, and where (for that one attempt). */
  private redirect: { url: string | undefined; at: number } | undefined;
  private sessionId: string | undefined;
  private lastWelcome: WelcomeFrame | undefined;
  private tokenReason: TokenReason = 'connect';
  private refs = 0;
  private attempts = 0;

  constructor(private readonly options: HeraldClientOptions) {
    if (typeof options.url !== 'string' || options.url.length === 0) throw new TypeError('url is required');
    const { token, guest } = options;
    if (guest === true) {
      if (token !== undefined) throw new TypeError('a guest has no token: pass token or guest, not both');
    } else if (typeof token !== 'string' && typeof token !== 'function')
      throw new TypeError('token must be a string or a function returning one (or guest: true)');
    this.WebSocketImpl = options.WebSocket ?? globalWebSocket();
    this.EventSourceImpl = options.EventSource ?? globalEventSource();
    const transports = options.transports ?? ['websocket', ...(this.EventSourceImpl ? ['sse' as const] : [])];
    if (transports.length === 0 || transports.some((t) => t !== 'websocket' && t !== 'sse'))
      throw new TypeError("transports must list 'websocket' and/or 'sse'");
    if (transports.includes('websocket') && this.WebSocketImpl === undefined)
      throw new TypeError('No global WebSocket: pass the WebSocket option (in Node 20, the ws package)');
    if (transports.includes('sse') && this.EventSourceImpl === undefined)
      throw new TypeError(
        'No global EventSource: pass the EventSource option (in Node, the eventsource package)',
      );
    this.transports = transports;
    if (options.director !== undefined) {
      const fetchImpl = globalFetch();
      if (fetchImpl === undefined) throw new TypeError('The director option needs a global fetch');
      // The director is asked within an attempt: its wait must end before the attempt gives up.
      const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
      const timeoutMs = options.directorTimeoutMs ?? Math.min(3_000, connectTimeoutMs / 2);
      if (timeoutMs >= connectTimeoutMs)
        throw new TypeError('directorTimeoutMs must be below connectTimeoutMs');
      this.director = new Director(options.director, timeoutMs, fetchImpl);
    }
    this.random = options.random ?? Math.random;
    this.backoffOptions = {
      minDelayMs: options.minReconnectDelayMs ?? 500,
      maxDelayMs: options.maxReconnectDelayMs ?? 30_000,
      random: this.random,
    };
    this.backoff = new Backoff(this.backoffOptions);
    this.sessionId = options.session;
    this.channels = new WantedChannels({
      stats: this.stats,
      events: this.events,
      backoff: this.backoffOptions,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connection: () => this.conn,
      nextRef: () => ++this.refs,
      adoptSession: (session) => {
        this.sessionId = session;
      },
    });
    this.inbox = new Inbox({
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connection: () => this.conn,
      nextRef: () => ++this.refs,
      position: (channel) => this.position(channel),
      emitRead: (event) => this.events.emit('read', event),
    });
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The session to resume after a reconnect (the current connection's, once welcomed or resumed). */
  get session(): string | undefined {
    return this.sessionId;
  }

  /** Id of the node serving the current connection (undefined while not connected). */
  get node(): string | undefined {
    return this.current === 'connected' ? this.lastWelcome?.node : undefined;
  }

  /** The transport in use, or to be tried next: `websocket`, or the `sse` fallback. */
  get transport(): Transport {
    return this.transports[this.transportAt]!;
  }

  /** The `welcome` of the current (or last) connection. */
  get welcome(): WelcomeFrame | undefined {
    return this.lastWelcome;
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  once<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.events.once(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): void {
    this.events.off(event, listener);
  }

  /**
   * Listens to the messages of one event on every channel, e.g. `onEvent('order.status', (data) => …)`:
   * `data` is typed by the event (`HeraldEvents`), and a message whose data lacks its type's fields is
   * skipped. Returns a function that removes the listener.
   */
  onEvent<E extends string>(event: E, listener: EventListener<E>): () => void {
    return this.events.on('message', forEvent(event, listener));
  }

  /** Connects (again after `close()` or a stop); a pending reconnect happens now. */
  connect(): void {
    if (this.current === 'connecting' || this.current === 'connected') return;
    this.clearReconnect();
    this.open();
  }

  /** Closes the connection and stops reconnecting. Subscriptions are kept for a later `connect()`. */
  close(): void {
    this.clearReconnect();
    this.redirect = undefined;
    this.backoff.reset();
    this.dropConnection('client closed');
    this.setState({ state: 'closed' });
  }

  /**
   * Wants `channel` from now on, on every connection, until `unsubscribe`. `from` seeds its position
   * (e.g. persisted before a page reload) so that the first subscribe recovers what followed it.
   * Subscribing to a channel already wanted returns the same handle (seeding it if it had no position).
   */
  subscribe(channel: string, from?: Position): Subscription {
    return this.channels.subscribe(channel, from);
  }

  /** Stops wanting `channel` (unsubscribes on the current connection). */
  unsubscribe(channel: string): void {
    this.channels.unsubscribe(channel);
  }

  /** Handle of a wanted channel. */
  subscription(channel: string): Subscription | undefined {
    return this.channels.get(channel)?.handle;
  }

  /** Position of the last message delivered on `channel` ({offset, epoch}), for persisting. */
  position(channel: string): Position | undefined {
    return this.channels.get(channel)?.cursor.position;
  }

  /** Positions of every wanted channel that has one. */
  positions(): Record<string, Position> {
    return this.channels.positions();
  }

  /**
   * A channel's retained messages (any channel the user may subscribe to): after `since`, else the
   * newest `limit` (default 50, at most 100). Rejects with a HeraldError: the server's code
   * (`permission_denied`, `unknown_channel`, `bad_frame`, `unavailable`...), `not_connected`,
   * `timeout`, `disconnected`, or `unsupported_transport` over SSE.
   */
  history(channel: string, options?: HistoryOptions): Promise<HistoryResult> {
    return this.inbox.history(channel, options);
  }

  /**
   * Marks the user's own channel (`user:{id}`) read up to `offset` (default: the last message
   * delivered on it), for every device of the user; resolves with the read position now recorded.
   * Rejects like `history`.
   */
  ack(channel: string, offset?: number): Promise<Position> {
    return this.inbox.ack(channel, offset);
  }

  /** Messages of a subscribed user channel after the user's read position (undefined until known). */
  unread(channel: string): number | undefined {
    return this.inbox.unread(channel);
  }

  // ---- connecting ---------------------------------------------------------------------------------

  private open(): void {
    const redirect = this.redirect;
    this.redirect = undefined;
    const conn = new Connection(redirect?.url ?? this.options.url);
    this.conn = conn;
    if (this.attempts++ > 0) this.stats.reconnects += 1;
    this.setState({ state: 'connecting', transport: this.transport });
    if (this.conn !== conn) return; // a listener closed the client
    conn.connectTimer = conn.after(this.options.connectTimeoutMs ?? 10_000, () =>
      this.lose(conn, { reason: 'connect timeout' }),
    );
    // Where to: a `reconnect` frame's url, else the director's answer (asked while the token is got).
    const asking = redirect?.url === undefined ? this.director?.ask() : undefined;
    const token = this.options.token;
    if (asking === undefined && typeof token !== 'function') return this.startSocket(conn, token);
    const got = typeof token === 'function' ? this.tokenFrom(token) : Promise.resolve(token);
    Promise.all([got, asking])
      .then(([value, answer]) => {
        if (this.conn !== conn) return;
        if (answer !== undefined) this.follow(conn, answer);
        if (this.conn === conn) this.startSocket(conn, value);
      })
      .catch((err: unknown) => {
        if (this.conn !== conn) return;
        const message = `Could not get a token: ${err instanceof Error ? err.message : String(err)}`;
        this.events.emit('error', new HeraldError('token_unavailable', message, { retryable: true }));
        this.lose(conn, { reason: 'token unavailable' });
      });
  }

  private tokenFrom(provider: TokenProvider): Promise<string> {
    this.stats.tokenRequests += 1;
    const reason = this.tokenReason;
    return new Promise<string>((resolve) => resolve(provider({ reason }))).then((value) => {
      if (typeof value !== 'string' || value.length === 0) throw new TypeError('no token returned');
      return value;
    });
  }

  /** Takes the director's answer for this attempt, or reports why the attempt uses `url`. */
  private follow(conn: Connection, answer: DirectorAnswer): void {
    if (answer.url !== undefined) {
      this.stats.directorAnswers += 1;
      conn.url = answer.url;
      return;
    }
    this.stats.directorFailures += 1;
    this.events.emit(
      'error',
      new HeraldError('director_unavailable', `${answer.reason}; connecting to ${this.options.url}`, {
        retryable: true,
      }),
    );
  }

  /** `token` undefined: a guest (the node must allow guests). */
  private startSocket(conn: Connection, token: string | undefined): void {
    try {
      conn.ws =
        this.transport === 'sse'
          ? new SseSocket(
              conn.url === this.options.url && this.options.sseUrl !== undefined
                ? this.options.sseUrl
                : sseUrlFor(conn.url),
              this.EventSourceImpl!,
              this.channels.wanted,
            )
          : new this.WebSocketImpl!(conn.url);
    } catch (err) {
      const message = `Cannot open ${conn.url}: ${err instanceof Error ? err.message : String(err)}`;
      // A bad URL from a `reconnect` frame falls back to the configured one; a bad configured URL stops.
      if (conn.url !== this.options.url) return this.lose(conn, { reason: 'bad redirect url' });
      return this.halt(new HeraldError('invalid_url', message));
    }
    const ws = conn.ws;
    ws.onopen = () => {
      if (this.conn !== conn) return;
      conn.pending.set(++this.refs, { kind: 'auth' });
      // A connection that will not resume names its channels in `auth`: they are subscribed with the
      // welcome, one round trip sooner (a stream names them in its URL already).
      const resumes = this.options.resume !== false && token !== undefined && this.sessionId !== undefined;
      const channels =
        resumes || this.transport === 'sse' || this.authFrameTooBig
          ? []
          : this.channels.nameAtConnect(conn, AUTH_FRAME_BUDGET - (token?.length ?? 0));
      conn.send({
        type: 'auth',
        ...(token === undefined ? {} : { token }),
        ...(channels.length === 0 ? {} : { channels }),
        ref: this.refs,
      });
    };
    ws.onmessage = (event) => {
      if (this.conn === conn) this.receive(conn, event.data);
    };
    ws.onclose = (event) => {
      if (this.conn === conn) this.lose(conn, { code: event.code, reason: event.reason });
    };
    ws.onerror = () => undefined; // a close event follows
  }

  private receive(conn: Connection, data: unknown): void {
    conn.lastFrameAt = Date.now();
    if (typeof data !== 'string') return; // binary frames are not part of the protocol
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    switch (frame.type) {
      case 'message':
        return this.channels.onMessage(frame);
      case 'welcome':
        return this.onWelcome(conn, frame);
      case 'subscribed':
        this.channels.onSubscribed(conn, frame);
        return this.inbox.onSubscribed(frame);
      case 'history':
        return this.inbox.onHistory(frame);
      case 'read':
        return this.inbox.onRead(frame);
      case 'resumed':
        return this.channels.onResumed(conn, frame);
      case 'error':
        return this.onError(conn, frame);
      case 'reconnect':
        return this.onReconnect(conn, frame);
      case 'unsubscribed':
      case 'pong':
        if (frame.ref !== undefined) conn.pending.delete(frame.ref);
        return;
      default:
        return; // a frame type this client does not know: ignored, as the protocol asks
    }
  }

  private onWelcome(conn: Connection, frame: WelcomeFrame): void {
    if (conn.welcomed) return;
    if (frame.ref !== undefined) conn.pending.delete(frame.ref);
    const protocol: unknown = frame.protocol;
    if (protocol !== PROTOCOL_VERSION) {
      const message = `Server speaks ${String(protocol)}, this client ${PROTOCOL_VERSION}`;
      return this.halt(new HeraldError('protocol_mismatch', message));
    }
    conn.welcomed = true;
    this.stats.connects += 1;
    this.tokenReason = 'reconnect';
    this.lastWelcome = frame;
    conn.session = frame.session;
    conn.cancel(conn.connectTimer);
    this.startHeartbeat(conn, frame.heartbeatMs);
    conn.after(this.options.stableAfterMs ?? 60_000, () => this.backoff.reset());
    if (this.transport === 'websocket') this.webSocketWorked = true;
    this.failedUnwelcomed = 0;
    this.setState({ state: 'connected', welcome: frame, transport: this.transport });
    if (this.conn !== conn) return;
    this.channels.welcomed(conn, frame.named);
    // The previous session stays the one to resume until this resume succeeds or is refused, so a
    // connection lost in between tries it again rather than this connection's short-lived session.
    const previous = this.sessionId;
    // A guest has no session to resume: it subscribes again with its positions.
    const resume =
      this.options.resume !== false &&
      frame.guest !== true &&
      previous !== undefined &&
      previous !== frame.session;
    if (!this.channels.restore(conn, resume ? previous : undefined)) this.sessionId = frame.session;
  }

  private onError(conn: Connection, frame: ErrorFrame): void {
    if (this.inbox.onError(frame) || this.channels.onError(conn, frame)) return;
    if (frame.ref !== undefined) conn.pending.delete(frame.ref);
    // Before `welcome` (a refused `auth`), or an expiry: the close that follows reports it.
    if (!conn.welcomed || frame.code === 'token_expired') {
      conn.lastError = frame;
      return;
    }
    this.events.emit('error', errorFromFrame(frame));
  }

  /** The server asks the client to move (drain, rebalance): reconnect after `afterMs`, resuming. */
  private onReconnect(conn: Connection, frame: ReconnectFrame): void {
    const wait = typeof frame.afterMs === 'number' && frame.afterMs > 0 ? frame.afterMs : 0;
    const afterMs = Math.min(wait, MAX_REDIRECT_WAIT_MS);
    const delay = afterMs + Math.floor(this.random() * Math.min(1_000, afterMs / 10));
    const url = typeof frame.url === 'string' && /^wss?:\/\//i.test(frame.url) ? frame.url : undefined;
    this.redirect = { url, at: Date.now() + delay };
    conn.after(delay, () => this.lose(conn, { reason: 'reconnect requested' }));
  }

  /** App-level pings (browsers cannot see protocol pings), and a dead link detected by silence. */
  private startHeartbeat(conn: Connection, heartbeatMs: number): void {
    const interval = Number.isFinite(heartbeatMs) && heartbeatMs > 0 ? heartbeatMs : DEFAULT_HEARTBEAT_MS;
    const timeout = this.options.heartbeatTimeoutMs ?? 2 * interval;
    conn.every(Math.max(1, Math.min(interval, timeout / 2)), () => conn.send({ type: 'ping' }));
    const check = (): void => {
      if (this.conn !== conn) return;
      const silent = Date.now() - conn.lastFrameAt;
      if (silent < timeout) {
        conn.after(timeout - silent, check);
        return;
      }
      this.stats.heartbeatTimeouts += 1;
      this.lose(conn, { reason: 'heartbeat timeout' });
    };
    conn.after(timeout, check);
  }

  // ---- losing the connection ----------------------------------------------------------------------

  /** The connection is gone (closed, timed out, or asked to move): reconnect, or stop if the code says so. */
  private lose(conn: Connection, info: { code?: number; reason?: string }): void {
    if (this.conn !== conn) return;
    // A server with a lower auth frame bound refused the named channels' frame unread (1009): name
    // none from now on, they are subscribed after the welcome instead.
    if (!conn.welcomed && info.code === 1009 && conn.named.size > 0) this.authFrameTooBig = true;
    const lastError = conn.lastError;
    this.dropConnection(info.reason ?? 'reconnecting');
    const action = closeAction(info.code);
    const closeCode = info.code;
    if (action === 'stop') {
      const code = lastError?.code ?? stopCode(info.code);
      return this.halt(
        new HeraldError(code, lastError?.message ?? (info.reason || code), { closeCode }),
        info,
      );
    }
    if (action === 'refresh') {
      if (typeof this.options.token !== 'function') {
        const message = 'The token expired; pass a token function to refresh it';
        return this.halt(new HeraldError('token_expired', message, { closeCode }), info);
      }
      this.tokenReason = 'expired';
    }
    const redirect = this.redirect;
    const fallBack = this.fallsBack(conn);
    const delay =
      redirect !== undefined
        ? Math.max(0, redirect.at - Date.now())
        : fallBack
          ? 0
          : this.backoff.next(action === 'slow' ? SLOW_BOOST : 0);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open();
    }, delay);
    this.setState({ state: 'disconnected', ...info, retryInMs: delay });
  }

  /**
   * Whether the next attempt moves to the next transport: WebSocket attempts keep ending before a
   * `welcome` (a network or proxy that blocks WebSockets) and no WebSocket of this client ever worked
   * (a node that is draining or down is not a reason to leave the WebSocket for good).
   */
  private fallsBack(conn: Connection): boolean {
    if (conn.welcomed || this.transport !== 'websocket' || this.webSocketWorked) return false;
    this.failedUnwelcomed += 1;
    if (this.failedUnwelcomed < (this.options.fallbackAfterFailures ?? 2)) return false;
    if (this.transportAt + 1 >= this.transports.length) return false;
    this.transportAt += 1;
    this.failedUnwelcomed = 0;
    return true;
  }

  /** Stops for good (until `connect()`), reporting why. */
  private halt(error: HeraldError, info: { code?: number; reason?: string } = {}): void {
    this.clearReconnect();
    this.redirect = undefined;
    this.dropConnection(error.code);
    // State first: a listener that calls connect() from either event must not be overridden.
    this.setState({ state: 'closed', ...info, error });
    this.events.emit('error', error);
  }

  private dropConnection(reason: string): void {
    const conn = this.conn;
    this.conn = undefined;
    conn?.teardown(reason);
    this.channels.idleAll();
    this.inbox.dropped(conn);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private setState(change: Omit<StateChange, 'previous'>): void {
    const previous = this.current;
    if (previous === change.state && change.state !== 'disconnected') return;
    this.current = change.state;
    this.events.emit('state', { ...change, previous });
  }
}
