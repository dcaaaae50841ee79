/**
 * One client connection: authentication, the protocol state machine, limits, and its subscriptions.
 *
 * Frames are handled strictly in arrival order (a per-connection promise chain), so `subscribe` then
 * `unsubscribe` can never be reordered by an await in between. Every failure becomes a coded `error`
 * frame or a close code from the catalogue; nothing thrown here reaches the socket or the process.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { TokenClaims, TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config/config.js';
import type { Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import { parseChannel } from '../../shared/protocol/channels.js';
import { decodeClientFrame, encodeServerFrame } from '../../shared/protocol/codec.js';
import { CloseCodes, WsErrors, type WsErrorCode } from '../../shared/protocol/errors.js';
import {
  PROTOCOL_VERSION,
  type ChannelPosition,
  type ClientFrame,
  type Ref,
  type ResumeFrame,
  type ServerFrame,
  type SubscribeFrame,
} from '../../shared/protocol/frames.js';
import type { StateDrivers } from '../../shared/state/state.js';
import type { ChannelAccess } from './channel-access.js';
import type { Corkable, Fanout, Subscriber, WriteCoalescer } from './fanout.js';
import { TokenBucket } from './rate-limiter.js';
import { recoverChannel } from './recovery.js';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';

/** What every connection of one gateway shares. */
export interface ConnectionContext {
  nodeId: string;
  limits: Config['ws'];
  sessionTtlSeconds: number;
  verifier: TokenVerifier;
  access: ChannelAccess;
  fanout: Fanout;
  coalescer: WriteCoalescer;
  /** Most messages one subscribe may replay from history. */
  replayLimit: number;
  state: StateDrivers;
  metrics: Metrics;
  log: Logger;
  /** Called once the connection is authenticated (the gateway indexes it by user). */
  onAuthenticated(connection: Connection): void;
  /** Called once, when the connection is gone. */
  onClosed(connection: Connection): void;
}

interface WsInternals {
  _sender?: { sendFrame?: (list: Buffer[], cb?: (err?: Error) => void) => void };
  _socket?: { cork(): void; uncork(): void };
}

type State = 'authenticating' | 'open' | 'closed';

/**
 * Per-channel delivery gate of a fresh subscription: while `held` is set (the subscribe is being
 * answered) live messages wait there; afterwards copies at or below `floor` of `epoch` (already
 * reported or replayed) are dropped until the first live message passes it, then the gate goes.
 */
interface ChannelGate {
  epoch: string;
  floor: number;
  held: { offset: number; epoch: string; frame: Buffer }[] | undefined;
}

export class Connection implements Subscriber, Corkable {
  readonly id = randomUUID();
  private state: State = 'authenticating';
  private claims: TokenClaims | undefined;
  private sessionId: string | undefined;
  private readonly channels = new Set<string>();
  /** Channels whose `subscribed` reply is not out yet: live messages wait here, by offset. */
  private readonly gates = new Map<string, ChannelGate>();
  private readonly bucket: TokenBucket;
  private rejectedFrames = 0;
  /** Set once a flood is to be closed: later frames are ignored while earlier replies drain. */
  private flooded = false;
  private queue: Promise<void> = Promise.resolve();
  private authTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private presenceAdded = false;
  /** True while this turn's writes are held back by the coalescer. */
  private corked = false;
  /** Set by the heartbeat: false after a ping until the peer shows a sign of life. */
  alive = true;
  /** Which tick of the gateway's sliced periodic work (pings, session refresh) visits this connection. */
  slice = 0;

  private readonly log: Logger;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: ConnectionContext,
    queryToken: string | undefined,
  ) {
    this.log = ctx.log.child({ conn: this.id });
    this.bucket = new TokenBucket(ctx.limits.messagesPerSecond, ctx.limits.messageBurst);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', (code: number) => this.onClose(code));
    ws.on('error', (err: Error & { code?: string }) => this.onError(err));
    if (queryToken !== undefined) this.enqueue(() => this.authenticate(queryToken, undefined));
    else {
      this.authTimer = setTimeout(() => {
        if (this.state === 'authenticating')
          this.fail('auth_required', CloseCodes.authTimeout, 'auth timeout');
      }, ctx.limits.authTimeoutMs);
      this.authTimer.unref();
    }
  }

  get userId(): string | undefined {
    return this.claims?.userId;
  }

  /** The session id once authenticated (open connections only). */
  get session(): string | undefined {
    return this.state === 'open' ? this.sessionId : undefined;
  }

  // ---- fan-out (hot path) -------------------------------------------------------------------------

  sendPrepared(channel: string, offset: number, epoch: string, frame: Buffer): void {
    if (this.state !== 'open') return;
    const gate = this.gates.get(channel);
    if (gate !== undefined) {
      if (gate.held !== undefined) {
        gate.held.push({ offset, epoch, frame });
        return;
      }
      // A copy still in flight of a message the subscribe already reported or replayed.
      if (epoch === gate.epoch && offset <= gate.floor) return;
      this.gates.delete(channel);
    }
    this.writePrepared(frame);
  }

  private writePrepared(frame: Buffer): void {
    const internals = this.ws as unknown as WsInternals;
    const sender = internals._sender;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.corked && internals._socket !== undefined) {
      this.corked = true;
      this.ctx.coalescer.cork(this);
    }
    // ws has no public "send pre-framed bytes"; engine.io uses the same internal for the same reason.
    // Without compression ws writes synchronously, so ordering with ws.send() is preserved.
    if (sender?.sendFrame !== undefined) sender.sendFrame([frame]);
    else this.ws.send(frame.subarray(frameHeaderLength(frame)), { binary: false });
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) {
      this.ctx.metrics.closes.inc({ reason: 'slow_consumer' });
      this.close(CloseCodes.tryAgainLater, 'slow consumer');
    }
  }

  /**
   * Writes a replay without tripping the slow-consumer limit by itself: above half the allowance it
   * waits for the socket to drain (at most one heartbeat; a peer that does not read is then closed
   * 1013 by the next write, as any slow consumer).
   */
  private async writeReplay(replay: readonly { frame: Buffer }[]): Promise<void> {
    const socket = (this.ws as unknown as { _socket?: NodeJS.EventEmitter })._socket;
    for (const message of replay) {
      if (this.state !== 'open') return;
      if (socket !== undefined && this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes / 2) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          const timer = setTimeout(done, this.ctx.limits.heartbeatMs);
          socket.once('drain', done);
          socket.once('close', done);
        });
        if (this.state !== 'open') return;
      }
      this.writePrepared(message.frame);
    }
  }

  cork(): void {
    (this.ws as unknown as WsInternals)._socket?.cork();
  }

  uncork(): void {
    this.corked = false;
    (this.ws as unknown as WsInternals)._socket?.uncork();
  }

  // ---- inbound ------------------------------------------------------------------------------------

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed' || this.flooded) return;
    this.alive = true;
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
      return;
    }
    this.rejectedFrames = 0;
    if (isBinary) return this.reject('bad_frame', undefined, 'Frames must be JSON text frames');
    const decoded = decodeClientFrame(data.toString('utf8'));
    if (!decoded.ok) return this.reject(decoded.code, decoded.ref, decoded.message);
    const frame = decoded.frame;
    const channel = frame.type === 'subscribe' || frame.type === 'unsubscribe' ? frame.channel : undefined;
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
    this.queue = this.queue.then(task).catch((err: unknown) => this.reportFailure(err, requestRef, channel));
  }

  private reportFailure(err: unknown, requestRef: Ref | undefined, channel: string | undefined): void {
    if (err instanceof StateUnavailableError || err instanceof BusUnavailableError) {
      this.log.warn({ err: err.message }, 'frame handling failed: a backing service is unavailable');
      this.sendError('unavailable', requestRef, undefined, channel);
    } else {
      this.log.error({ err }, 'frame handling failed');
      this.sendError('internal', requestRef, undefined, channel);
    }
  }

  private async handle(frame: ClientFrame): Promise<void> {
    if (this.state === 'closed') return;
    if (frame.type === 'ping') {
      this.send({ type: 'pong', ts: Date.now(), ...ref(frame.ref) });
      return;
    }
    if (this.state === 'authenticating') {
      if (frame.type === 'auth') return this.authenticate(frame.token, frame.ref);
      return this.fail('auth_required', CloseCodes.unauthorized, 'not authenticated', frame.ref);
    }
    switch (frame.type) {
      case 'auth':
        return this.sendError('already_authenticated', frame.ref);
      case 'subscribe':
        return this.subscribe(frame);
      case 'unsubscribe':
        return this.unsubscribe(frame.channel, frame.ref);
      case 'resume':
        return this.resume(frame);
    }
  }

  // ---- authentication ------------------------------------------------------------------------------

  private async authenticate(token: string, requestRef: Ref | undefined): Promise<void> {
    clearTimeout(this.authTimer);
    const result = await this.ctx.verifier.verify(token);
    if (this.state !== 'authenticating') return;
    if (!result.ok) {
      this.log.debug({ reason: result.reason }, 'authentication failed');
      const code = result.code === 'token_expired' ? CloseCodes.tokenExpired : CloseCodes.unauthorized;
      return this.fail(result.code, code, result.code, requestRef);
    }
    try {
      await this.open(result.claims, requestRef);
    } catch (err) {
      // State unreachable: do not leave a half-open, unauthenticated connection behind.
      this.log.error({ err }, 'could not open the connection');
      this.releasePresence(result.claims.userId);
      this.fail('unavailable', CloseCodes.internalError, 'state unavailable', requestRef);
    }
  }

  /** Registers an authenticated connection (presence, session) and sends `welcome`. */
  private async open(claims: TokenClaims, requestRef: Ref | undefined): Promise<void> {
    const { presence, sessions } = this.ctx.state;
    // Marked before the call: an add that reached the store but timed out is still undone.
    this.presenceAdded = true;
    const count = await presence.add(claims.userId, this.id, this.ctx.nodeId);
    // The socket may have closed during the awaits; onClose then skipped presence, so undo here.
    if (this.state !== 'authenticating') return this.releasePresence(claims.userId);
    if (count > this.ctx.limits.maxConnectionsPerUser) {
      this.releasePresence(claims.userId);
      return this.fail(
        'too_many_connections',
        CloseCodes.tooManyConnections,
        'too many connections',
        requestRef,
      );
    }
    this.claims = claims;
    this.sessionId = randomUUID();
    await sessions.create(
      { id: this.sessionId, userId: claims.userId, nodeId: this.ctx.nodeId },
      this.ctx.sessionTtlSeconds,
    );
    if (this.state !== 'authenticating') return;
    this.state = 'open';
    this.scheduleExpiry(claims.expiresAt);
    this.ctx.onAuthenticated(this);
    const { limits } = this.ctx;
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      session: this.sessionId,
      node: this.ctx.nodeId,
      user: claims.userId,
      heartbeatMs: limits.heartbeatMs,
      limits: {
        maxFrameBytes: limits.maxFrameBytes,
        maxSubscriptions: limits.maxSubscriptions,
        messagesPerSecond: limits.messagesPerSecond,
      },
      ...ref(requestRef),
    });
  }

  private scheduleExpiry(expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    // setTimeout overflows above ~24.8 days; a token living that long is re-checked at the cap.
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= expiresAt) this.fail('token_expired', CloseCodes.tokenExpired, 'token expired');
      else this.scheduleExpiry(expiresAt);
    }, delay);
    this.expiryTimer.unref();
  }

  // ---- subscriptions --------------------------------------------------------------------------------

  private async subscribe(frame: SubscribeFrame): Promise<void> {
    const since =
      frame.offset !== undefined && frame.epoch !== undefined
        ? { offset: frame.offset, epoch: frame.epoch }
        : undefined;
    await this.subscribeChannel(frame.channel, since, frame.ref);
  }

  /**
   * Subscribes and answers `subscribed` (then the replay) or a channel `error` carrying `requestRef`;
   * true once subscribed. Throws only when a backing service fails (the caller reports it).
   */
  private async subscribeChannel(
    channel: string,
    since: ChannelPosition | undefined,
    requestRef: Ref | undefined,
  ): Promise<boolean> {
    const claims = this.claims;
    if (claims === undefined) return false;
    const parsed = parseChannel(channel);
    if (parsed === undefined) return this.refuse('unknown_channel', requestRef, channel);
    if (this.channels.has(channel)) return this.refuse('already_subscribed', requestRef, channel);
    if (this.channels.size >= this.ctx.limits.maxSubscriptions) {
      return this.refuse('too_many_subscriptions', requestRef, channel);
    }
    if (!(await this.ctx.access.maySubscribe(claims, parsed))) {
      return this.refuse('permission_denied', requestRef, channel);
    }
    if (this.state !== 'open') return false;
    // Join the fan-out before reading the channel position, holding live messages until the reply is
    // out: nothing published meanwhile is lost, and nothing at or below the reported offset repeats.
    this.channels.add(channel);
    const gate: ChannelGate = { epoch: '', floor: 0, held: [] };
    this.gates.set(channel, gate);
    this.ctx.fanout.add(channel, this);
    this.ctx.metrics.subscriptions.inc();
    try {
      const { position, recovered, replay } = await recoverChannel(
        this.ctx.state.history,
        channel,
        since,
        this.ctx.replayLimit,
      );
      if (this.state !== 'open') return false;
      this.ctx.fanout.seed(channel, position.epoch, position.offset);
      this.ctx.metrics.recoveries.inc({ recovered: since === undefined ? 'none' : String(recovered) });
      this.send({ type: 'subscribed', channel, ...position, recovered, ...ref(requestRef) });
      // Missed messages first, then what arrived live meanwhile, each offset once, in order. Until a
      // live message passes the reported offset, late copies at or below it are dropped (the gate).
      await this.writeReplay(replay);
      if (this.state !== 'open') return false;
      gate.epoch = position.epoch;
      gate.floor = position.offset;
      const held = (gate.held ?? []).sort((x, y) => x.offset - y.offset);
      gate.held = undefined;
      for (const message of held) {
        if (message.epoch === gate.epoch && message.offset <= gate.floor) continue;
        if (message.epoch === gate.epoch) gate.floor = message.offset;
        this.writePrepared(message.frame);
      }
    } catch (err) {
      this.dropChannel(channel);
      throw err;
    }
    // The live subscription stands even if recording it for resume fails; that is only logged.
    if (this.sessionId !== undefined) {
      await this.ctx.state.sessions
        .addChannel(this.sessionId, channel)
        .catch((err: unknown) =>
          this.log.warn({ err, channel }, 'could not record the subscription in the session'),
        );
    }
    return true;
  }

  private refuse(code: WsErrorCode, requestRef: Ref | undefined, channel: string): false {
    this.sendError(code, requestRef, undefined, channel);
    return false;
  }

  /**
   * Takes over an earlier session of the same user: this connection adopts its id (the session it
   * was welcomed with is dropped) and subscribes to each of its channels, recovering each from the
   * client's position. Every channel gets its own `subscribed` or `error`, then `resumed` lists the
   * channels now subscribed. The record is claimed in place, never re-created, so a failure halfway
   * keeps its channels for the next attempt; a channel refused now (access, limit) leaves it. A
   * channel that fails on a backing service gets `unavailable` and the rest go on.
   */
  private async resume(frame: ResumeFrame): Promise<void> {
    const claims = this.claims;
    const current = this.sessionId;
    if (claims === undefined || current === undefined) return;
    const { sessions } = this.ctx.state;
    if (frame.session !== current) {
      const record = await sessions.get(frame.session);
      if (this.state !== 'open') return;
      if (record === undefined || record.userId !== claims.userId) {
        return this.sendError('session_not_found', frame.ref);
      }
      if (!(await sessions.claim(record.id, this.ctx.nodeId, this.ctx.sessionTtlSeconds))) {
        return this.sendError('session_not_found', frame.ref);
      }
      for (const channel of this.channels) await sessions.addChannel(record.id, channel);
      if (this.state !== 'open') return;
      this.sessionId = record.id;
      sessions.delete(current).catch((err: unknown) => this.log.warn({ err }, 'could not drop a session'));
      for (const channel of record.channels) {
        if (this.state !== 'open') return;
        if (this.channels.has(channel)) continue;
        const subscribed = await this.subscribeChannel(channel, frame.positions?.[channel], undefined).catch(
          (err: unknown) => {
            this.reportFailure(err, undefined, channel);
            return true; // kept in the session: a later resume may restore it
          },
        );
        if (!subscribed && this.state === 'open') {
          await sessions
            .removeChannel(record.id, channel)
            .catch((err: unknown) => this.log.warn({ err, channel }, 'could not drop a refused channel'));
        }
      }
    }
    if (this.state !== 'open') return;
    this.send({ type: 'resumed', session: frame.session, channels: [...this.channels], ...ref(frame.ref) });
  }

  private async unsubscribe(channel: string, requestRef: Ref | undefined): Promise<void> {
    if (!this.channels.has(channel)) return this.sendError('not_subscribed', requestRef, undefined, channel);
    this.dropChannel(channel);
    this.send({ type: 'unsubscribed', channel, ...ref(requestRef) });
    if (this.sessionId !== undefined) {
      await this.ctx.state.sessions
        .removeChannel(this.sessionId, channel)
        .catch((err: unknown) =>
          this.log.warn({ err, channel }, 'could not remove the subscription from the session'),
        );
    }
  }

  private dropChannel(channel: string): void {
    if (!this.channels.delete(channel)) return;
    this.gates.delete(channel);
    this.ctx.fanout.remove(channel, this);
    this.ctx.metrics.subscriptions.dec();
  }

  // ---- outbound and lifecycle ------------------------------------------------------------------------

  send(frame: ServerFrame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeServerFrame(frame));
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

  /** Starts the closing handshake and stops all delivery at once. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.release();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.release();
    this.ws.terminate();
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

  private onClose(code: number): void {
    this.log.debug({ code }, 'connection closed');
    this.release();
  }

  private onError(err: Error & { code?: string }): void {
    // ws reports protocol violations here (e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH → it closes 1009).
    this.log.debug({ code: err.code, message: err.message }, 'connection error');
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      this.ctx.metrics.closes.inc({ reason: 'frame_too_big' });
    this.release();
  }

  /** Frees everything this connection holds; idempotent. */
  private release(): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    for (const channel of [...this.channels]) this.dropChannel(channel);
    if (wasOpen) this.ctx.onClosed(this);
    const userId = this.claims?.userId;
    if (userId !== undefined) this.releasePresence(userId);
    if (this.sessionId !== undefined) this.detachSession(this.sessionId);
  }

  private releasePresence(userId: string): void {
    if (!this.presenceAdded) return;
    this.presenceAdded = false;
    this.ctx.state.presence
      .remove(userId, this.id)
      .catch((err: unknown) => this.log.warn({ err }, 'presence remove failed'));
  }

  private detachSession(sessionId: string): void {
    // The session outlives the socket by the resume window, then expires.
    this.ctx.state.sessions
      .touch([sessionId], this.ctx.sessionTtlSeconds)
      .catch((err: unknown) => this.log.warn({ err }, 'session detach failed'));
  }
}

const ref = (r: Ref | undefined): { ref?: Ref } => (r === undefined ? {} : { ref: r });

/** Length of a server (unmasked) frame header, for the fallback path only. */
function frameHeaderLength(frame: Buffer): number {
  const len = (frame[1] ?? 0) & 0x7f;
  return len === 126 ? 4 : len === 127 ? 10 : 2;
}
