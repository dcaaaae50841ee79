/**
 * The authenticated side of one connection: its presence, its session, and its subscriptions
 * (subscribe with recovery, unsubscribe, resume of an earlier session on any node).
 *
 * Every method runs inside the connection's in-order frame queue; after each await it checks that
 * the connection is still open, and `release` undoes whatever was registered when it closes.
 * Backing-service failures are thrown to the caller, which answers them with a coded error.
 */
import { randomUUID } from 'node:crypto';
import type { TokenClaims } from '../../shared/auth/jwt.js';
import { parseChannel, type ChannelRef } from '../../shared/protocol/channels.js';
import type { WsErrorCode } from '../../shared/protocol/errors.js';
import type { ChannelPosition, Ref, ResumeFrame, ServerFrame } from '../../shared/protocol/frames.js';
import { readOffset, type ReadPosition } from '../../shared/state/read-positions.js';
import type { ConnectionContext } from './connection-context.js';
import type { Outlet } from './fanout/outlet.js';
import { recordedRead } from './inbox.js';
import { recoverChannel, type Recovery } from './recovery.js';

/** What the subscriptions need of their connection. */
export interface SubscriptionHost {
  /** The connection's id: its presence member. */
  readonly id: string;
  /** False once the connection is closing. */
  readonly live: boolean;
  readonly outlet: Outlet;
  send(frame: ServerFrame): void;
  sendError(code: WsErrorCode, requestRef: Ref | undefined, message?: string, channel?: string): void;
  /** Answers a failure of a backing service (or a bug) for one request. */
  reportFailure(err: unknown, requestRef: Ref | undefined, channel: string | undefined): void;
}

export type OpenOutcome = 'opened' | 'closed' | 'too_many_connections';

/** What a subscribe read: the channel's position (recovered from a given one, or not) and the replay. */
interface ChannelRead extends Recovery {
  /** The user's read position (user channels only). */
  recorded: ReadPosition | undefined;
  /** Read from history (not from the fan-out's own position): news to the fan-out. */
  fromHistory: boolean;
}

/** A channel named at connect, as `open` left it for `answerOpened`. */
export interface InitialChannel {
  channel: string;
  /** Why it was not taken; answered with an error frame naming it. */
  refused?: WsErrorCode;
  parsed?: ChannelRef;
  /** Settles once its position was read (`read`) or could not be (`failed`). */
  reading: Promise<void> | undefined;
  read?: ChannelRead;
  failed?: unknown;
}

export interface Opened {
  outcome: OpenOutcome;
  initial: readonly InitialChannel[];
}

const NO_CHANNELS: readonly string[] = [];
const NO_INITIAL: readonly InitialChannel[] = [];

export class Subscriptions {
  /** Subscribed channels, in subscribe order (an array: at most WS_MAX_SUBSCRIPTIONS, usually two). */
  private readonly channels: string[] = [];
  private sessionId: string | undefined;
  private presenceAdded = false;
  /** Resolves true once the webhooks were told of this connection (PresenceWatch.connected). */
  private watched: Promise<boolean> | undefined;

  constructor(
    private readonly host: SubscriptionHost,
    private readonly ctx: ConnectionContext,
    readonly claims: TokenClaims,
  ) {}

  /** Whether the connection is subscribed to `channel` (or subscribing to it). */
  has(channel: string): boolean {
    return this.channels.includes(channel);
  }

  /** The session id once `open` created it. */
  get session(): string | undefined {
    return this.sessionId;
  }

  /**
   * Registers the connection and subscribes it to `wanted`, the channels it named when it connected
   * (`channels` in the URL or the `auth` frame): presence (refused beyond the per-user limit), a new
   * session already holding those channels, and each channel's position, all in one round trip (two
   * on Redis Cluster, where the positions are read once the add is answered: router.ts). A session
   * made for a connection then refused is deleted again. Each name is judged as a
   * `subscribe` frame without a position would be, in order; `answerOpened` then answers them.
   * Throws when presence or the session cannot be stored (what was registered is undone by
   * `release`); a channel whose position cannot be read is answered on its own.
   */
  async open(wanted: readonly string[] = NO_CHANNELS): Promise<Opened> {
    const { presence, sessions } = this.ctx.state;
    const userId = this.claims.userId;
    // Marked before the calls: an add or create that reached the store but timed out is still undone.
    this.presenceAdded = true;
    // In presence before any position is read (router.ts): a message stored after a read is routed
    // to this node. A store that may run calls out of order (Redis Cluster) reads after the add.
    const adding = presence.add(userId, this.host.id, this.ctx.nodeId);
    adding.catch(() => undefined); // awaited below, unless the connection closes first
    const watch = this.claims.operator === true ? undefined : this.ctx.presenceWatch;
    if (watch !== undefined) {
      // The webhooks hear of an accepted connection as soon as presence counted it; its remove
      // (release, even while the channels below are judged) is reported after this, and only if this
      // was (operators are not shop users).
      this.watched = adding.then(
        (count) => {
          if (count > this.ctx.limits.maxConnectionsPerUser) return false;
          watch.connected(userId, count);
          return true;
        },
        () => false,
      );
    }
    const added = presence.inCallOrder
      ? undefined
      : adding.then(
          () => undefined,
          () => undefined,
        );
    const initial = wanted.length === 0 ? NO_INITIAL : await this.joinInitial(wanted, added);
    if (!this.host.live) return { outcome: 'closed', initial };
    const sessionId = (this.sessionId = randomUUID());
    const session = { id: sessionId, userId, nodeId: this.ctx.nodeId, channels: [...this.channels] };
    const [count] = await Promise.all([
      adding,
      sessions.create(session, this.ctx.sessionTtlSeconds),
      ...initial.map((entry) => entry.reading),
    ]);
    if (!this.host.live) return { outcome: 'closed', initial };
    if (count > this.ctx.limits.maxConnectionsPerUser) {
      this.releasePresence();
      this.sessionId = undefined;
      sessions
        .delete(sessionId)
        .catch((err: unknown) => this.ctx.log.warn({ err, conn: this.host.id }, 'could not drop a session'));
      return { outcome: 'too_many_connections', initial };
    }
    return { outcome: 'opened', initial };
  }

  /**
   * Judges the channels named at connect in order, as `subscribe` frames would be (name, repeat,
   * limit, access; the access checks run together), joins the fan-out for each one taken and starts
   * reading its position (once `added` resolves, when given).
   */
  private async joinInitial(
    wanted: readonly string[],
    added: Promise<void> | undefined,
  ): Promise<InitialChannel[]> {
    const parsed = wanted.map(parseChannel);
    const allowed = await Promise.all(
      parsed.map((p) =>
        p === undefined
          ? Promise.resolve(false)
          : this.ctx.access.maySubscribe(this.claims, p).catch((err: unknown) => ({ failed: err })),
      ),
    );
    const initial: InitialChannel[] = [];
    if (!this.host.live) return initial; // closed meanwhile: nothing is joined (release already ran)
    for (const [i, channel] of wanted.entries()) {
      const p = parsed[i];
      const access = allowed[i];
      const refused = this.refusal(channel, p) ?? (access === false ? 'permission_denied' : undefined);
      if (refused !== undefined || p === undefined) {
        initial.push({ channel, refused: refused ?? 'unknown_channel', reading: undefined });
        continue;
      }
      if (typeof access === 'object') {
        initial.push({ channel, failed: access.failed, reading: undefined }); // the check itself failed
        continue;
      }
      this.join(channel);
      const entry: InitialChannel = { channel, parsed: p, reading: undefined };
      const read = (): Promise<ChannelRead> => this.readPosition(channel, p, undefined);
      entry.reading = (added === undefined ? read() : added.then(read)).then(
        (read) => void (entry.read = read),
        (err: unknown) => void (entry.failed = err),
      );
      initial.push(entry);
    }
    return initial;
  }

  /**
   * Answers each channel `open` judged, in the order named: `subscribed`, or an `error` naming the
   * channel (a channel whose position could not be read leaves again, and its session). Call it right
   * after `welcome`; then `releaseOpened` lets each channel's live messages through.
   */
  answerOpened(initial: readonly InitialChannel[]): void {
    for (const entry of initial) {
      if (entry.refused !== undefined) {
        this.host.sendError(entry.refused, undefined, undefined, entry.channel);
      } else if (entry.read !== undefined && entry.parsed !== undefined) {
        this.confirm(entry.channel, entry.parsed, undefined, entry.read, undefined);
      } else {
        this.host.reportFailure(entry.failed, undefined, entry.channel);
        if (this.channels.includes(entry.channel)) {
          this.dropChannel(entry.channel);
          void this.forget(entry.channel);
        }
      }
    }
  }

  /** The fan-out's live messages of each channel `answerOpened` confirmed, after its `subscribed`. */
  async releaseOpened(initial: readonly InitialChannel[]): Promise<void> {
    for (const { channel, read } of initial) {
      if (!this.host.live) return;
      if (read !== undefined && this.channels.includes(channel))
        await this.ctx.fanout.release(channel, this.host.outlet, read.position);
    }
  }

  /**
   * Registers a guest connection: nothing to store (no presence, since no message is addressed to a
   * guest, and no session to resume; a reconnecting guest subscribes again with its positions).
   */
  openGuest(): OpenOutcome {
    return 'opened';
  }

  /** Subscribes to each of `channels` in order, without positions, each answered on its own. */
  async subscribeEach(channels: readonly string[]): Promise<void> {
    for (const channel of channels) {
      if (!this.host.live) return;
      await this.subscribeChannel(channel, undefined, undefined).catch((err: unknown) =>
        this.host.reportFailure(err, undefined, channel),
      );
    }
  }

  async subscribe(
    channel: string,
    since: ChannelPosition | undefined,
    requestRef: Ref | undefined,
  ): Promise<void> {
    await this.subscribeChannel(channel, since, requestRef);
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
    const parsed = parseChannel(channel);
    const refused = this.refusal(channel, parsed);
    if (refused !== undefined || parsed === undefined)
      return this.refuse(refused ?? 'unknown_channel', requestRef, channel);
    if (!(await this.ctx.access.maySubscribe(this.claims, parsed))) {
      return this.refuse('permission_denied', requestRef, channel);
    }
    if (!this.host.live) return false;
    // Join the fan-out before reading the channel position, holding live messages until the reply is
    // out: nothing published meanwhile is lost, and nothing at or below the reported offset repeats.
    this.join(channel);
    try {
      const read = await this.readPosition(channel, parsed, since);
      if (!this.host.live) return false;
      this.confirm(channel, parsed, since, read, requestRef);
      // Missed messages first, then what arrived live meanwhile, each offset once, in order.
      await this.writeReplay(read.replay);
      if (!this.host.live) return false;
      await this.ctx.fanout.release(channel, this.host.outlet, read.position);
    } catch (err) {
      this.dropChannel(channel);
      throw err;
    }
    // Recorded for resume without holding the next frame back (commands to Redis keep their order, so
    // an unsubscribe right after still ends removed). The live subscription stands even if recording
    // it fails; that is only logged.
    if (this.sessionId !== undefined) {
      this.ctx.state.sessions
        .addChannel(this.sessionId, channel)
        .catch((err: unknown) =>
          this.ctx.log.warn({ err, conn: this.host.id, channel }, 'could not record the subscription'),
        );
    }
    return true;
  }

  /**
   * Why `channel` cannot be subscribed now, before its access is asked: not a channel name, already
   * subscribed, or over the subscription limit (checked in that order); undefined when none applies.
   */
  private refusal(channel: string, parsed: ChannelRef | undefined): WsErrorCode | undefined {
    if (parsed === undefined) return 'unknown_channel';
    if (this.channels.includes(channel)) return 'already_subscribed';
    if (this.channels.length >= this.ctx.limits.maxSubscriptions) return 'too_many_subscriptions';
    return undefined;
  }

  /** Takes `channel` on: held by the fan-out (gated until released) and counted. */
  private join(channel: string): void {
    this.channels.push(channel);
    this.ctx.fanout.join(channel, this.host.outlet);
    this.ctx.metrics.subscriptions.inc();
  }

  /**
   * Reads where `channel` stands (recovering from `since`), with the user's read position on a user
   * channel. Without a position to recover from, a channel this node already follows for others needs
   * no history read: the live stream starts after the newest offset the node has (what is still in
   * flight arrives live). Thousands of clients subscribing to `promotions` cost Redis nothing.
   */
  private async readPosition(
    channel: string,
    parsed: ChannelRef,
    since: ChannelPosition | undefined,
  ): Promise<ChannelRead> {
    const local = since === undefined ? this.ctx.fanout.position(channel) : undefined;
    const [recovery, recorded] = await Promise.all([
      local !== undefined
        ? { position: local, recovered: false, replay: [] }
        : recoverChannel(this.ctx.state.history, channel, since, this.ctx.replayLimit),
      recordedRead(this.ctx, this.claims, parsed, channel),
    ]);
    return { ...recovery, recorded, fromHistory: local === undefined };
  }

  /** Tells the fan-out what a read found and answers `subscribed`. */
  private confirm(
    channel: string,
    parsed: ChannelRef,
    since: ChannelPosition | undefined,
    read: ChannelRead,
    requestRef: Ref | undefined,
  ): void {
    const { position, recovered } = read;
    // Only a position read from history is news to the fan-out (and confirms the channel's run).
    if (read.fromHistory) this.ctx.fanout.seed(channel, position.epoch, position.offset);
    this.ctx.metrics.recoveries.inc({ recovered: since === undefined ? 'none' : String(recovered) });
    this.host.send({
      type: 'subscribed',
      channel,
      ...position,
      recovered,
      // A user channel's `subscribed` carries the user's read position too.
      ...(parsed.kind === 'user' ? { read: readOffset(read.recorded, position) } : {}),
      ...ref(requestRef),
    });
  }

  /** Drops `channel` from the session (it was recorded there but is not subscribed); only logged. */
  private async forget(channel: string): Promise<void> {
    if (this.sessionId === undefined) return;
    await this.ctx.state.sessions
      .removeChannel(this.sessionId, channel)
      .catch((err: unknown) =>
        this.ctx.log.warn({ err, conn: this.host.id, channel }, 'could not drop a channel from the session'),
      );
  }

  /**
   * Writes a replay at the pace the client reads: above half the allowance it waits for the socket to
   * drain (at most one heartbeat; a peer that does not read is then closed 1013 like any slow consumer).
   */
  private async writeReplay(replay: readonly { frame: Buffer }[]): Promise<void> {
    const { outlet } = this.host;
    const half = this.ctx.limits.maxBufferedBytes / 2;
    for (const message of replay) {
      if (!this.host.live) return;
      if (outlet.backlog > half) {
        await outlet.drain(this.ctx.limits.heartbeatMs);
        if (!this.host.live) return;
      }
      outlet.push(message.frame, 0);
    }
  }

  private refuse(code: WsErrorCode, requestRef: Ref | undefined, channel: string): false {
    this.host.sendError(code, requestRef, undefined, channel);
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
  async resume(frame: ResumeFrame): Promise<void> {
    const current = this.sessionId;
    // A guest has no session: nothing to resume (it subscribes again with its positions).
    if (current === undefined) return this.host.sendError('session_not_found', frame.ref);
    const { sessions } = this.ctx.state;
    if (frame.session !== current) {
      const record = await sessions.get(frame.session);
      if (!this.host.live) return;
      if (record === undefined || record.userId !== this.claims.userId) {
        return this.host.sendError('session_not_found', frame.ref);
      }
      if (!(await sessions.claim(record.id, this.ctx.nodeId, this.ctx.sessionTtlSeconds))) {
        return this.host.sendError('session_not_found', frame.ref);
      }
      for (const channel of [...this.channels]) await sessions.addChannel(record.id, channel);
      if (!this.host.live) return;
      this.sessionId = record.id;
      sessions
        .delete(current)
        .catch((err: unknown) => this.ctx.log.warn({ err, conn: this.host.id }, 'could not drop a session'));
      for (const channel of record.channels) {
        if (!this.host.live) return;
        if (this.channels.includes(channel)) continue;
        const subscribed = await this.subscribeChannel(channel, frame.positions?.[channel], undefined).catch(
          (err: unknown) => {
            this.host.reportFailure(err, undefined, channel);
            return true; // kept in the session: a later resume may restore it
          },
        );
        if (!subscribed && this.host.live) {
          await sessions
            .removeChannel(record.id, channel)
            .catch((err: unknown) =>
              this.ctx.log.warn({ err, conn: this.host.id, channel }, 'could not drop a refused channel'),
            );
        }
      }
    }
    if (!this.host.live) return;
    this.host.send({
      type: 'resumed',
      session: frame.session,
      channels: [...this.channels],
      ...ref(frame.ref),
    });
  }

  async unsubscribe(channel: string, requestRef: Ref | undefined): Promise<void> {
    if (!this.channels.includes(channel))
      return this.host.sendError('not_subscribed', requestRef, undefined, channel);
    this.dropChannel(channel);
    this.host.send({ type: 'unsubscribed', channel, ...ref(requestRef) });
    await this.forget(channel);
  }

  /** Leaves every channel and presence; the session outlives the socket by the resume window. Idempotent. */
  release(): void {
    for (const channel of [...this.channels]) this.dropChannel(channel);
    this.releasePresence();
    const sessionId = this.sessionId;
    if (sessionId === undefined) return;
    this.sessionId = undefined;
    this.ctx.state.sessions
      .touch([sessionId], this.ctx.sessionTtlSeconds)
      .catch((err: unknown) => this.ctx.log.warn({ err, conn: this.host.id }, 'session detach failed'));
  }

  private dropChannel(channel: string): void {
    const at = this.channels.indexOf(channel);
    if (at < 0) return;
    this.channels.splice(at, 1);
    this.ctx.fanout.remove(channel, this.host.outlet);
    this.ctx.metrics.subscriptions.dec();
  }

  private releasePresence(): void {
    if (!this.presenceAdded) return;
    this.presenceAdded = false;
    const { userId } = this.claims;
    const removing = this.ctx.state.presence.remove(userId, this.host.id);
    const watched = this.watched;
    if (watched !== undefined) {
      this.watched = undefined;
      void Promise.all([watched, removing]).then(
        ([connected, left]) => {
          if (connected) this.ctx.presenceWatch?.disconnected(userId, left);
        },
        () => undefined, // the failed remove is logged below
      );
    }
    removing.catch((err: unknown) =>
      this.ctx.log.warn({ err, conn: this.host.id }, 'presence remove failed'),
    );
  }
}

export const ref = (r: Ref | undefined): { ref?: Ref } => (r === undefined ? {} : { ref: r });
