/**
 * The channels the app wants, and how they are put back on each new connection.
 *
 * Why apart from the connection logic: this is the protocol's recovery half (docs/protocol.md sections
 * 5 and 12) — resume the previous session or subscribe with each channel's position, match replies by
 * `ref`, retry what the server may grant later, dedupe messages by (channel, epoch, offset), tell the
 * app when messages were lost — and it does not care how the socket is kept alive.
 */
import {
  MAX_CONNECT_CHANNELS,
  type ErrorFrame,
  type MessageFrame,
  type ResumedFrame,
  type SubscribedFrame,
} from '../protocol/frames.js';
import type { BackoffOptions } from './backoff.js';
import type { Connection } from './connection.js';
import { isPosition, type Position } from './cursor.js';
import type { Emitter } from './emitter.js';
import type { WantedChannel } from './sse-socket.js';
import { ChannelIntent, type Subscription } from './subscription.js';
import { HeraldError, type ClientEvents, type ClientStats, type RecoveryEvent } from './types.js';

/** What the channel logic needs from the client that owns it. */
export interface WantedChannelsHost {
  readonly stats: ClientStats;
  readonly events: Emitter<ClientEvents>;
  readonly backoff: BackoffOptions;
  readonly requestTimeoutMs: number;
  /** The current connection, if any. */
  connection(): Connection | undefined;
  nextRef(): number;
  /** A resumed session's id becomes the one to resume next time. */
  adoptSession(session: string): void;
}

export class WantedChannels {
  private readonly intents = new Map<string, ChannelIntent>();

  constructor(private readonly host: WantedChannelsHost) {}

  get size(): number {
    return this.intents.size;
  }

  subscribe(channel: string, from?: Position): Subscription {
    if (typeof channel !== 'string' || channel.length === 0) throw new TypeError('channel must be a string');
    if (from !== undefined && !isPosition(from)) throw new TypeError('from must be {offset, epoch}');
    const existing = this.intents.get(channel);
    if (existing !== undefined) {
      if (from !== undefined && existing.cursor.position === undefined) existing.cursor.reset(from);
      return existing.handle;
    }
    const intent = new ChannelIntent(channel, from, this.host.backoff, () => this.unsubscribe(channel));
    this.intents.set(channel, intent);
    const conn = this.host.connection();
    if (conn?.welcomed === true && !conn.resuming) this.sendSubscribe(conn, intent);
    return intent.handle;
  }

  unsubscribe(channel: string): void {
    const intent = this.intents.get(channel);
    if (intent === undefined) return;
    this.intents.delete(channel);
    intent.cancelRetry();
    const conn = this.host.connection();
    if (conn?.welcomed === true && intent.wire !== 'idle') this.sendUnsubscribe(conn, channel);
    intent.wire = 'idle';
    intent.setState('unsubscribed');
  }

  get(channel: string): ChannelIntent | undefined {
    return this.intents.get(channel);
  }

  /** The channels wanted now and their positions (what an SSE stream opens with). */
  readonly wanted = (): WantedChannel[] =>
    [...this.intents.values()].map((intent) => ({
      channel: intent.channel,
      position: intent.cursor.position,
    }));

  positions(): Record<string, Position> {
    const all: Record<string, Position> = {};
    for (const intent of this.intents.values()) {
      const position = intent.cursor.position;
      if (position !== undefined) all[intent.channel] = position;
    }
    return all;
  }

  /** The connection is gone: every channel waits for the next one. */
  idleAll(): void {
    for (const intent of this.intents.values()) intent.idle();
  }

  /**
   * The channels a connection that will not resume names in its `auth` frame (docs/protocol.md 2.7):
   * the wanted ones with no position to recover from, within `budget` characters of JSON, now waiting
   * for their reply on `conn`. The others are subscribed after the welcome.
   */
  nameAtConnect(conn: Connection, budget: number): string[] {
    const names: string[] = [];
    let left = budget;
    for (const intent of this.intents.values()) {
      if (names.length === MAX_CONNECT_CHANNELS) break; // the rest: subscribed after the welcome
      if (intent.wire !== 'idle' || intent.retryTimer !== undefined || intent.cursor.position !== undefined)
        continue;
      const size = JSON.stringify(intent.channel).length + 1;
      if (size > left) break;
      left -= size;
      intent.wire = 'pending';
      conn.named.add(intent.channel);
      names.push(intent.channel);
    }
    return names;
  }

  /**
   * The welcome says how many named channels it answers; a server that does not know `channels` in
   * `auth` sends no `named` and answers none: the named channels are then subscribed like the others.
   */
  welcomed(conn: Connection, named: number | undefined): void {
    // Only a welcome without `named` did not take them (more than named: the URL named some too).
    if (conn.named.size === 0 || named !== undefined) return;
    for (const channel of conn.named) {
      const intent = this.intents.get(channel);
      if (intent?.wire === 'pending') intent.wire = 'idle';
    }
    conn.named.clear();
  }

  /**
   * A new connection was welcomed: resume `previousSession` if given (returns true), else subscribe to
   * everything not named at connect (returns false).
   */
  restore(conn: Connection, previousSession: string | undefined): boolean {
    if (previousSession === undefined || this.intents.size === 0) {
      this.subscribeAll(conn);
      return false;
    }
    const positions = this.positions();
    conn.resuming = true;
    conn.resumePositions = positions;
    const ref = this.host.nextRef();
    const timer = conn.after(this.host.requestTimeoutMs, () => this.resumeFailed(conn, ref));
    conn.pending.set(ref, { kind: 'resume', timer });
    conn.send({ type: 'resume', session: previousSession, positions, ref });
    return true;
  }

  // ---- server frames ------------------------------------------------------------------------------

  onMessage(frame: MessageFrame): void {
    const intent = this.intents.get(frame.channel);
    if (intent === undefined || typeof frame.offset !== 'number' || typeof frame.epoch !== 'string') return;
    if (!intent.cursor.accept(frame.epoch, frame.offset)) {
      this.host.stats.duplicatesDropped += 1;
      return;
    }
    this.host.stats.messages += 1;
    intent.events.emit('message', frame);
    this.host.events.emit('message', frame);
  }

  onSubscribed(conn: Connection, frame: SubscribedFrame): void {
    const pending = frame.ref === undefined ? undefined : conn.pending.get(frame.ref);
    let intent: ChannelIntent | undefined;
    let sent: Position | undefined;
    let resumed = false;
    if (pending?.kind === 'subscribe' && frame.ref !== undefined) {
      conn.pending.delete(frame.ref);
      conn.cancel(pending.timer);
      intent = pending.intent;
      sent = pending.sent;
    } else if (frame.ref === undefined && conn.named.delete(frame.channel)) {
      // A channel named at connect (no position was sent).
      intent = this.intents.get(frame.channel);
      // Let go of while its answer was on the way: the server holds it, so leave it again.
      if (intent === undefined) return this.sendUnsubscribe(conn, frame.channel);
    } else {
      // No ref: a channel restored by `resume`, recovered from the position sent in it.
      intent = this.intents.get(frame.channel);
      sent = conn.resumePositions[frame.channel];
      resumed = frame.ref === undefined;
    }
    // Dropped or replaced since it was asked for, or already counted (a reply to an earlier resend).
    if (intent === undefined || this.intents.get(frame.channel) !== intent || intent.wire === 'subscribed')
      return;
    intent.wire = 'subscribed';
    intent.cancelRetry();
    intent.retry.reset();
    // Recovered in the same epoch: the missed messages follow; keep the position to dedupe them.
    // Otherwise the server's position is where delivery goes on from.
    if (!(frame.recovered && sent !== undefined && sent.epoch === frame.epoch))
      intent.cursor.reset({ offset: frame.offset, epoch: frame.epoch });
    intent.setState('subscribed');
    const event: RecoveryEvent = {
      channel: frame.channel,
      recovered: frame.recovered,
      offset: frame.offset,
      epoch: frame.epoch,
      refetch: !frame.recovered && sent !== undefined,
      resumed,
      ...(sent === undefined ? {} : { previous: sent }),
    };
    intent.events.emit('recovery', event);
    this.host.events.emit('recovery', event);
  }

  onResumed(conn: Connection, frame: ResumedFrame): void {
    const pending = frame.ref === undefined ? undefined : conn.pending.get(frame.ref);
    if (pending?.kind === 'resume' && frame.ref !== undefined) {
      conn.pending.delete(frame.ref);
      conn.cancel(pending.timer);
    }
    this.host.adoptSession(frame.session);
    this.host.stats.resumes += 1;
    // The old session may hold channels the app let go of while it was away.
    for (const channel of Array.isArray(frame.channels) ? frame.channels : []) {
      if (!this.intents.has(channel)) this.sendUnsubscribe(conn, channel);
    }
    if (!conn.resuming) return; // a late answer: the channels were subscribed by hand already
    conn.resuming = false;
    this.subscribeAll(conn);
  }

  /**
   * An error frame that answers a subscribe, unsubscribe or resume, or concerns a channel being
   * resumed. Returns false if it is none of those (the client then handles it).
   */
  onError(conn: Connection, frame: ErrorFrame): boolean {
    const pending = frame.ref === undefined ? undefined : conn.pending.get(frame.ref);
    if (pending !== undefined && frame.ref !== undefined && pending.kind !== 'auth') {
      conn.pending.delete(frame.ref);
      if ('timer' in pending) conn.cancel(pending.timer);
      if (pending.kind === 'resume') this.resumeFailed(conn, frame.ref);
      else if (pending.kind === 'subscribe' && this.intents.get(pending.intent.channel) === pending.intent)
        this.subscribeFailed(pending.intent, frame);
      // unsubscribe → not_subscribed: fine, the channel is gone either way
      return true;
    }
    // A channel named at connect that was refused.
    if (frame.ref === undefined && frame.channel !== undefined && conn.named.delete(frame.channel)) {
      const named = this.intents.get(frame.channel);
      if (named?.wire === 'pending') this.subscribeFailed(named, frame);
      return true;
    }
    // A channel of the resumed session that could not be restored.
    const intent = frame.channel === undefined ? undefined : this.intents.get(frame.channel);
    if (!conn.resuming || intent === undefined || intent.wire !== 'idle') return false;
    this.subscribeFailed(intent, frame);
    return true;
  }

  // ---- requests -----------------------------------------------------------------------------------

  /** Subscribes explicitly to every wanted channel not subscribed (or waiting for a retry) yet. */
  private subscribeAll(conn: Connection): void {
    for (const intent of this.intents.values()) {
      if (intent.wire === 'idle' && intent.retryTimer === undefined) this.sendSubscribe(conn, intent);
    }
  }

  private sendSubscribe(conn: Connection, intent: ChannelIntent): void {
    const sent = intent.cursor.position;
    const ref = this.host.nextRef();
    const timer = conn.after(this.host.requestTimeoutMs, () => {
      // Unanswered (e.g. dropped by the rate limiter): ask again. The first reply to arrive counts.
      if (this.host.connection() !== conn || intent.wire !== 'pending') return;
      if (this.intents.get(intent.channel) !== intent) return;
      this.host.stats.subscribeRetries += 1;
      this.sendSubscribe(conn, intent);
    });
    conn.pending.set(ref, { kind: 'subscribe', intent, sent, timer });
    intent.wire = 'pending';
    conn.send({ type: 'subscribe', channel: intent.channel, ref, ...sent });
  }

  private sendUnsubscribe(conn: Connection, channel: string): void {
    const ref = this.host.nextRef();
    conn.pending.set(ref, { kind: 'unsubscribe' });
    conn.send({ type: 'unsubscribe', channel, ref });
  }

  /** `resume` refused (`session_not_found`, `unknown_type` from an older server, ...) or unanswered. */
  private resumeFailed(conn: Connection, ref: number | string): void {
    conn.pending.delete(ref);
    if (this.host.connection() !== conn || !conn.resuming) return;
    conn.resuming = false;
    this.host.stats.resumeFallbacks += 1;
    if (conn.session !== undefined) this.host.adoptSession(conn.session);
    this.subscribeAll(conn);
  }

  private subscribeFailed(intent: ChannelIntent, frame: ErrorFrame): void {
    if (frame.code === 'already_subscribed') {
      intent.wire = 'subscribed';
      intent.setState('subscribed');
      return;
    }
    intent.wire = 'idle';
    if (frame.retryable) {
      this.host.stats.subscribeRetries += 1;
      intent.cancelRetry();
      intent.retryTimer = setTimeout(() => {
        intent.retryTimer = undefined;
        const conn = this.host.connection();
        if (conn?.welcomed !== true || conn.resuming || intent.wire !== 'idle') return;
        if (this.intents.get(intent.channel) === intent) this.sendSubscribe(conn, intent);
      }, intent.retry.next());
      return;
    }
    this.intents.delete(intent.channel);
    intent.setState('failed');
    const error = errorFromFrame(frame, intent.channel);
    intent.events.emit('error', error);
    this.host.events.emit('error', error);
  }
}

export function errorFromFrame(frame: ErrorFrame, channel = frame.channel): HeraldError {
  return new HeraldError(String(frame.code), String(frame.message), {
    retryable: frame.retryable === true,
    ...(channel === undefined ? {} : { channel }),
  });
}
