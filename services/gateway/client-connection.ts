/**
 * One client connection's protocol state machine: authenticating → open → closed.
 *
 * It takes frames in (rate limit, decode, dispatch), authenticates, and owns the lifecycle; what an
 * authenticated connection registers and subscribes to lives in `Subscriptions`, and every frame it
 * sends goes out through its `Outlet` (fanout/outlet.ts), in order, under one byte budget.
 *
 * Frames are handled strictly in arrival order (a per-connection promise chain), so `subscribe` then
 * `unsubscribe` can never be reordered by an await in between. Every failure becomes a coded `error`
 * frame or a close code from the catalogue; nothing thrown here reaches the socket or the process.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import { decodeClientFrame, encodeServerFrame } from '../../shared/protocol/codec.js';
import { CloseCodes, WsErrors, type WsErrorCode } from '../../shared/protocol/errors.js';
import {
  PROTOCOL_VERSION,
  type ClientFrame,
  type Ref,
  type ServerFrame,
} from '../../shared/protocol/frames.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import type { ConnectionContext } from './connection-context.js';
import { Outlet, type OutletOwner, type OutletSocket } from './fanout/outlet.js';
import { pongFrame, textFrame } from './fanout/text-frame.js';
import { acknowledge, answerHistory } from './inbox.js';
import { TokenBucket } from './rate-limiter.js';
import { ref, Subscriptions, type SubscriptionHost } from './subscriptions.js';

type State = 'authenticating' | 'open' | 'closed';

/**
 * What a connection needs of its socket: a `ws` WebSocket, or an SSE stream that looks like one
 * (sse-socket.ts). Listeners are called with the socket as `this`, as an EventEmitter calls them.
 */
export interface ClientSocket extends OutletSocket {
  on(event: 'message', listener: (this: ClientSocket, data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'ping' | 'pong', listener: (this: ClientSocket, data: Buffer) => void): unknown;
  on(event: 'close', listener: (this: ClientSocket, code: number) => void): unknown;
  on(event: 'error', listener: (this: ClientSocket, err: Error & { code?: string }) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
}

/** What the upgrade request's URL brought besides the token. */
export interface UrlRequest {
  /** The `channels` parameter's names: subscribed right after authentication. */
  channels?: readonly string[] | undefined;
  /**
   * The gateway corked the TCP socket before the 101 was written (a query token: the verdict follows
   * at once); the connection uncorks it once its authentication wrote the welcome or the refusal.
   */
  upgradeHeld?: boolean;
}

/** Where a socket keeps its ClientConnection, so its listeners can be shared functions, not closures. */
const OWNER = Symbol('herald.connection');
type OwnedSocket = ClientSocket & { [OWNER]: ClientConnection };
const RESOLVED = Promise.resolve();
const NO_SEGMENTS: ReadonlySet<string> = new Set();
/** The close reasons counted for ws's protocol errors (it closes the connection itself). */
const PROTOCOL_ERROR_REASONS: Record<string, string> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 'frame_too_big', // 1009
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 'too_many_fragments', // 1008
  WS_ERR_INVALID_UTF8: 'invalid_utf8', // 1007
};

export class ClientConnection implements SubscriptionHost, OutletOwner {
  readonly id = randomUUID();
  readonly outlet: Outlet;
  private state: State = 'authenticating';
  /** Set once the token is verified. */
  private subs: Subscriptions | undefined;
  private readonly bucket: TokenBucket;
  private rejectedFrames = 0;
  /** Set once a flood is to be closed: later frames are ignored while earlier replies drain. */
  private flooded = false;
  /** The last frame task; undefined once the chain is idle. */
  private queue: Promise<void> | undefined;
  /** When an unauthenticated connection times out, and when an authenticated one's token expires. */
  private authDueAt = 0;
  private expiresAt = 0;
  /** Set by the heartbeat: false after a ping until the peer shows a sign of life. */
  alive = true;
  /** Which tick of the gateway's sliced periodic work (pings, session refresh) visits this connection. */
  slice = 0;
  /** Gives back this connection's place among the unauthenticated ones (admission.ts), until done. */
  admitted: (() => void) | undefined;
  /** A query token came, or an auth frame: frames after it are not held to the auth frame limit. */
  private authAsked: boolean;
  /** Gives back this guest's place among its address's guests (admission.ts); set while a guest. */
  private releaseGuest: (() => void) | undefined;
  /** Channels the URL names (`channels`): subscribed right after authentication; taken once. */
  private urlChannels: readonly string[] | undefined;
  /** The socket is corked with the 101 in it until the query token's verdict is written (UrlRequest). */
  private upgradeHeld: boolean;

  constructor(
    private readonly ws: ClientSocket,
    private readonly ctx: ConnectionContext,
    queryToken: string | undefined,
    /** The client's address, read when something counts by it (guests), else undefined. */
    private readonly address: string | undefined,
    from: UrlRequest = {},
  ) {
    this.urlChannels = from.channels;
    this.upgradeHeld = from.upgradeHeld === true;
    this.outlet = new Outlet(ws, ctx.scheduler, this);
    this.bucket = new TokenBucket(ctx.limits.messagesPerSecond, ctx.limits.messageBurst);
    (ws as OwnedSocket)[OWNER] = this;
    /* eslint-disable @typescript-eslint/unbound-method -- shared listeners: `this` is the WebSocket */
    ws.on('message', ClientConnection.onMessage);
    ws.on('pong', ClientConnection.onPong);
    ws.on('ping', ClientConnection.onPing);
    ws.on('close', ClientConnection.onClose);
    ws.on('error', ClientConnection.onError);
    /* eslint-enable @typescript-eslint/unbound-method */
    this.authAsked = queryToken !== undefined;
    if (queryToken !== undefined) this.startAuthentication(queryToken);
    else {
      this.authDueAt = Date.now() + ctx.limits.authTimeoutMs;
      ctx.deadlines.auth.add(this, this.authDueAt);
    }
  }

  // The WebSocket's listeners: shared functions (a closure per connection and event would cost memory).
  private static readonly onMessage = function (this: ClientSocket, data: Buffer, isBinary: boolean): void {
    (this as OwnedSocket)[OWNER].onFrame(data, isBinary);
  };

  private static readonly onPong = function (this: ClientSocket): void {
    (this as OwnedSocket)[OWNER].alive = true;
  };

  private static readonly onPing = function (this: ClientSocket, data: Buffer): void {
    (this as OwnedSocket)[OWNER].onPingFrame(data);
  };

  private static readonly onClose = function (this: ClientSocket, code: number): void {
    const connection = (this as OwnedSocket)[OWNER];
    connection.ctx.log.debug({ code, conn: connection.id }, 'connection closed');
    connection.release();
    connection.outlet.close(false);
    connection.ctx.onGone(connection);
  };

  private static readonly onError = function (this: ClientSocket, err: Error & { code?: string }): void {
    // ws reports protocol violations here (e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH → it closes 1009).
    const connection = (this as OwnedSocket)[OWNER];
    connection.ctx.log.debug(
      { code: err.code, message: err.message, conn: connection.id },
      'connection error',
    );
    const reason = PROTOCOL_ERROR_REASONS[err.code ?? ''];
    if (reason !== undefined) connection.ctx.metrics.closes.inc({ reason });
    connection.release();
    connection.outlet.close(false);
  };

  /** Gives back the place among unauthenticated connections, once (authenticated, or gone). */
  releaseAdmission(): void {
    const release = this.admitted;
    this.admitted = undefined;
    release?.();
  }

  /** A method of its own, so the token is held only by this one short-lived closure. */
  private startAuthentication(token: string): void {
    this.enqueue(async () => {
      try {
        await this.authenticate(token, undefined, undefined);
      } finally {
        this.releaseUpgrade();
      }
    });
  }

  /**
   * Sends the held 101 with what the authentication wrote after it (the welcome and the named
   * channels' replies, or the refusal): the outlet's frames are written first, then the socket is
   * uncorked, so they leave in one write.
   */
  private releaseUpgrade(): void {
    if (!this.upgradeHeld) return;
    this.upgradeHeld = false;
    this.outlet.flush();
    (this.ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
  }

  /** The channels to subscribe at connect: the URL's, then the `auth` frame's (taken once). */
  private connectChannels(frameChannels: readonly string[] | undefined): readonly string[] | undefined {
    const fromUrl = this.urlChannels;
    this.urlChannels = undefined;
    if (fromUrl === undefined) return frameChannels;
    return frameChannels === undefined ? fromUrl : [...fromUrl, ...frameChannels];
  }

  /** The auth deadline passed without an auth frame (called by the gateway's deadlines). */
  authTimedOut(): void {
    this.authDueAt = 0;
    if (this.state === 'authenticating') this.fail('auth_required', CloseCodes.authTimeout, 'auth timeout');
  }

  /** The token's expiry passed (called by the gateway's deadlines). */
  tokenExpired(): void {
    this.expiresAt = 0;
    this.fail('token_expired', CloseCodes.tokenExpired, 'token expired');
  }

  get userId(): string | undefined {
    return this.subs?.claims.userId;
  }

  /** The session id once authenticated (open connections only). */
  get session(): string | undefined {
    return this.state === 'open' ? this.subs?.session : undefined;
  }

  /** Whether this open connection is subscribed to `channel` (it gets that channel's `read` frames). */
  subscribedTo(channel: string): boolean {
    return this.state === 'open' && this.subs !== undefined && this.subs.has(channel);
  }

  /** False once closing; what an await resumed into must then stop. */
  get live(): boolean {
    return this.state !== 'closed';
  }

  // ---- inbound ------------------------------------------------------------------------------------

  /**
   * Takes one inbound frame (a data frame or a ping) from the rate limit; false when it is refused
   * (the first refusal is answered `rate_limited`, and `floodCloseAfter` in a row close the connection).
   */
  private admit(): boolean {
    if (!this.bucket.take()) {
      this.rejectedFrames++;
      if (this.rejectedFrames === 1) this.enqueue(() => this.sendError('rate_limited', undefined));
      if (this.rejectedFrames >= this.ctx.limits.floodCloseAfter) {
        // Closed after the replies to the frames before it, so the client sees rate_limited first.
        this.flooded = true;
        this.enqueue(() => {
          this.ctx.metrics.closes.inc({ reason: 'flood' });
          this.close(CloseCodes.policyViolation, 'flood');
        });
      }
      return false;
    }
    this.rejectedFrames = 0;
    return true;
  }

  /**
   * A WebSocket ping (ws's automatic pong is off, gateway.ts): it counts against the rate limit like
   * any frame, and its pong goes out through the outlet, under the same byte budget as every other
   * frame, so a client that pings and never reads is closed as a slow consumer.
   */
  private onPingFrame(data: Buffer): void {
    if (this.state === 'closed' || this.flooded) return;
    this.alive = true;
    if (this.admit()) this.outlet.push(pongFrame(data), 0);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed' || this.flooded) return;
    this.alive = true;
    if (!this.admit()) return;
    // Until a connection has asked to authenticate (a query token, or an auth frame) only an auth
    // frame or a ping may come: nothing larger is parsed. Frames pipelined after `auth` (a `resume`
    // of many channels, docs/protocol.md 2.2) may be as large as any other.
    if (
      this.state === 'authenticating' &&
      !this.authAsked &&
      data.length > this.ctx.limits.maxAuthFrameBytes
    ) {
      this.ctx.metrics.closes.inc({ reason: 'frame_too_big' });
      this.flooded = true; // nothing more is read from it
      this.close(CloseCodes.messageTooBig, 'frame too big before authentication');
      return;
    }
    if (isBinary) return this.reject('bad_frame', undefined, 'Frames must be JSON text frames');
    const decoded = decodeClientFrame(data.toString('utf8'));
    if (!decoded.ok) return this.reject(decoded.code, decoded.ref, decoded.message);
    this.request(decoded.frame);
  }

  /**
   * Handles `frame` after every earlier one. Frames a client sent come through `onFrame`; an SSE
   * stream's `auth` and `subscribe` frames, which the node makes from the stream's URL, come here
   * directly (gateway.ts openStream).
   */
  request(frame: ClientFrame): void {
    if (frame.type === 'auth') this.authAsked = true;
    const channel =
      frame.type === 'subscribe' ||
      frame.type === 'unsubscribe' ||
      frame.type === 'history' ||
      frame.type === 'ack'
        ? frame.channel
        : undefined;
    this.enqueue(() => this.handle(frame), frame.ref, channel);
  }

  /**
   * Answers a frame that could not be decoded, in order with the replies to earlier frames. Before
   * authentication nothing but `auth` and `ping` is accepted, so the connection is then closed 4001.
   */
  private reject(code: WsErrorCode, requestRef: Ref | undefined, message: string): void {
    this.enqueue(() => {
      if (this.state === 'authenticating')
        this.fail(code, CloseCodes.unauthorized, 'not authenticated', requestRef, message);
      else this.sendError(code, requestRef, message);
    });
  }

  /** Runs `task` after every earlier frame's; a failure becomes an `internal` error for that request. */
  private enqueue(task: () => Promise<void> | void, requestRef?: Ref, channel?: string): void {
    const tail: Promise<void> = (this.queue ?? RESOLVED)
      .then(task)
      .catch((err: unknown) => this.reportFailure(err, requestRef, channel))
      .then(() => {
        if (this.queue === tail) this.queue = undefined;
      });
    this.queue = tail;
  }

  reportFailure(err: unknown, requestRef: Ref | undefined, channel: string | undefined): void {
    if (err instanceof StateUnavailableError || err instanceof BusUnavailableError) {
      this.ctx.log.warn(
        { err: err.message, conn: this.id },
        'frame handling failed: a backing service is unavailable',
      );
      this.sendError('unavailable', requestRef, undefined, channel);
    } else {
      this.ctx.log.error({ err, conn: this.id }, 'frame handling failed');
      this.sendError('internal', requestRef, undefined, channel);
    }
  }

  private async handle(frame: ClientFrame): Promise<void> {
    if (this.state === 'closed') return;
    if (frame.type === 'ping') {
      this.send({ type: 'pong', ts: Date.now(), ...ref(frame.ref) });
      return;
    }
    const subs = this.subs;
    if (this.state === 'authenticating' || subs === undefined) {
      if (frame.type === 'auth')
        return frame.token === undefined
          ? this.authenticateGuest(frame.ref, frame.channels)
          : this.authenticate(frame.token, frame.ref, frame.channels);
      return this.fail('auth_required', CloseCodes.unauthorized, 'not authenticated', frame.ref);
    }
    switch (frame.type) {
      case 'auth':
        return this.sendError('already_authenticated', frame.ref);
      case 'subscribe':
        return subs.subscribe(
          frame.channel,
          frame.offset !== undefined && frame.epoch !== undefined
            ? { offset: frame.offset, epoch: frame.epoch }
            : undefined,
          frame.ref,
        );
      case 'unsubscribe':
        return subs.unsubscribe(frame.channel, frame.ref);
      case 'resume':
        return subs.resume(frame);
      case 'history':
        return answerHistory(this, this.ctx, subs.claims, frame);
      case 'ack':
        return acknowledge(this, this.ctx, subs.claims, frame);
    }
  }

  // ---- authentication ------------------------------------------------------------------------------

  private async authenticate(
    token: string,
    requestRef: Ref | undefined,
    frameChannels: readonly string[] | undefined,
  ): Promise<void> {
    this.clearAuthDeadline();
    const channels = this.connectChannels(frameChannels);
    const result = await this.ctx.verifier.verify(token);
    if (this.state !== 'authenticating') return;
    if (!result.ok) {
      this.ctx.log.debug({ reason: result.reason, conn: this.id }, 'authentication failed');
      const code = result.code === 'token_expired' ? CloseCodes.tokenExpired : CloseCodes.unauthorized;
      return this.fail(result.code, code, result.code, requestRef);
    }
    const subs = new Subscriptions(this, this.ctx, result.claims);
    this.subs = subs;
    let opened;
    try {
      opened = await subs.open(channels);
    } catch (err) {
      // State unreachable: do not leave a half-open, unauthenticated connection behind.
      this.ctx.log.error({ err, conn: this.id }, 'could not open the connection');
      subs.release();
      return this.fail('unavailable', CloseCodes.internalError, 'state unavailable', requestRef);
    }
    if (opened.outcome === 'too_many_connections') {
      return this.fail(
        'too_many_connections',
        CloseCodes.tooManyConnections,
        'too many connections',
        requestRef,
      );
    }
    if (opened.outcome === 'closed' || this.state !== 'authenticating') return;
    this.state = 'open';
    if (result.claims.expiresAt !== undefined) {
      this.expiresAt = result.claims.expiresAt;
      this.ctx.deadlines.expiry.add(this, this.expiresAt);
    }
    this.ctx.onAuthenticated(this);
    // The welcome and the answers for the channels named at connect leave in one write.
    this.outlet.cork();
    try {
      this.welcome(subs, requestRef, opened.initial.length);
      subs.answerOpened(opened.initial);
    } finally {
      this.outlet.uncork();
    }
    this.releaseUpgrade(); // not after the releases below: one may wait for a history read
    await subs.releaseOpened(opened.initial);
  }

  /**
   * An `auth` frame without a token: a guest, where the node takes guests (WS_ALLOW_GUESTS), within
   * the places of its client address. It may subscribe to `promotions` only and has no session.
   */
  private async authenticateGuest(
    requestRef: Ref | undefined,
    frameChannels: readonly string[] | undefined,
  ): Promise<void> {
    this.clearAuthDeadline();
    const channels = this.connectChannels(frameChannels);
    const guests = this.ctx.guests;
    if (guests === undefined) {
      const message = 'auth needs a token: this node takes no guests';
      return this.fail('bad_frame', CloseCodes.unauthorized, 'not authenticated', requestRef, message);
    }
    const release = guests.take(this.address ?? '');
    if (release === undefined) {
      const message = 'Too many guest connections from this address';
      return this.fail(
        'too_many_connections',
        CloseCodes.tooManyConnections,
        'too many guests',
        requestRef,
        message,
      );
    }
    this.releaseGuest = release;
    const subs = new Subscriptions(this, this.ctx, {
      userId: `guest-${this.id}`,
      guest: true,
      segments: NO_SEGMENTS,
      expiresAt: undefined,
    });
    this.subs = subs;
    subs.openGuest();
    this.state = 'open';
    this.ctx.metrics.guests.inc();
    this.ctx.onAuthenticated(this);
    this.welcome(subs, requestRef, channels?.length ?? 0);
    if (channels !== undefined) await subs.subscribeEach(channels);
  }

  /** Sends `welcome`; `named` replies (the channels named at connect) are to follow it. */
  private welcome(subs: Subscriptions, requestRef: Ref | undefined, named: number): void {
    const { limits } = this.ctx;
    const { userId, guest } = subs.claims;
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      // A guest's session is not stored: resuming it answers session_not_found.
      session: subs.session ?? userId,
      node: this.ctx.nodeId,
      user: userId,
      ...(guest === true ? { guest } : {}),
      heartbeatMs: limits.heartbeatMs,
      limits: {
        maxFrameBytes: limits.maxFrameBytes,
        maxSubscriptions: limits.maxSubscriptions,
        messagesPerSecond: limits.messagesPerSecond,
      },
      ...(named > 0 ? { named } : {}),
      ...ref(requestRef),
    });
  }

  private clearAuthDeadline(): void {
    if (this.authDueAt === 0) return;
    this.ctx.deadlines.auth.delete(this, this.authDueAt);
    this.authDueAt = 0;
  }

  // ---- outbound and lifecycle ------------------------------------------------------------------------

  send(frame: ServerFrame): void {
    this.outlet.push(textFrame(encodeServerFrame(frame)), 0);
  }

  sendError(code: WsErrorCode, requestRef: Ref | undefined, message?: string, channel?: string): void {
    const entry = WsErrors[code];
    this.ctx.metrics.clientErrors.inc({ code });
    this.send({
      type: 'error',
      code,
      message: message ?? entry.message,
      retryable: entry.retryable,
      ...(channel === undefined ? {} : { channel }),
      ...ref(requestRef),
    });
  }

  /** Sends a coded error, then closes with `closeCode`. */
  fail(code: WsErrorCode, closeCode: number, reason: string, requestRef?: Ref, message?: string): void {
    if (this.state === 'closed') return;
    this.sendError(code, requestRef, message);
    this.close(closeCode, reason);
  }

  /** Stops all delivery at once, writes what was already queued, and starts the closing handshake. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.release();
    this.outlet.close(true);
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.release();
    this.outlet.close(false);
    this.ws.terminate();
  }

  /** OutletOwner: more unsent bytes than WS_MAX_BUFFERED_BYTES; nothing more is written. */
  overflowed(): void {
    if (this.state === 'closed') return;
    this.ctx.metrics.closes.inc({ reason: 'slow_consumer' });
    this.outlet.close(false);
    this.close(CloseCodes.tryAgainLater, 'slow consumer');
  }

  /**
   * Asks the client to reconnect elsewhere (drain, rebalance) with a `reconnect` frame, and closes
   * the connection 1012 if it is still open `closeAfterMs` later. False if it is not open.
   */
  requestReconnect(afterMs: number, url: string | undefined, closeAfterMs: number): boolean {
    if (this.state !== 'open') return false;
    this.send({ type: 'reconnect', afterMs, ...(url === undefined ? {} : { url }) });
    const timer = setTimeout(
      () => this.close(CloseCodes.serviceRestart, 'reconnect elsewhere'),
      closeAfterMs,
    );
    timer.unref();
    this.onceGone(() => clearTimeout(timer));
    return true;
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  /** Calls `done` once the underlying socket has closed (at once if it already has). */
  onceGone(done: () => void): void {
    if (this.ws.readyState === WebSocket.CLOSED) done();
    else this.ws.once('close', done);
  }

  /** Frees everything this connection holds; idempotent. */
  private release(): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.clearAuthDeadline();
    if (this.expiresAt !== 0) this.ctx.deadlines.expiry.delete(this, this.expiresAt);
    if (this.releaseGuest !== undefined) {
      this.releaseGuest();
      this.releaseGuest = undefined;
      this.ctx.metrics.guests.dec();
    }
    this.subs?.release();
    if (wasOpen) this.ctx.onClosed(this);
  }
}
