/**
 * One channel the app wants: the handle it holds (`Subscription`) and the client's bookkeeping for it
 * (`ChannelIntent`).
 *
 * Why an intent rather than a one-shot request: subscriptions belong to a connection on the server,
 * but the app wants a channel for as long as it says so. The intent survives reconnects, keeps the
 * channel's position (for recovery) and dedupe state, and is re-established on every new connection,
 * by a resumed session or an explicit `subscribe`.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { Cursor, type Position } from './cursor.js';
import { Emitter, type Listener } from './emitter.js';
import { forEvent, type EventListener } from './events.js';
import type { SubscriptionEvents, SubscriptionState } from './types.js';

/** What the current connection knows of the channel. */
export type WireState = 'idle' | 'pending' | 'subscribed';

export class ChannelIntent {
  readonly events = new Emitter<SubscriptionEvents>();
  readonly cursor: Cursor;
  readonly retry: Backoff;
  readonly handle: Subscription;
  state: SubscriptionState = 'pending';
  wire: WireState = 'idle';
  retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly channel: string,
    seed: Position | undefined,
    backoff: BackoffOptions,
    readonly drop: () => void,
  ) {
    this.cursor = new Cursor(seed);
    this.retry = new Backoff(backoff);
    this.handle = new Subscription(this);
  }

  setState(state: SubscriptionState): void {
    if (this.state === state) return;
    this.state = state;
    this.events.emit('state', state);
  }

  /** Back to "not subscribed on this connection", e.g. after the connection was lost. */
  idle(): void {
    this.wire = 'idle';
    this.cancelRetry();
    if (this.state === 'subscribed') this.setState('pending');
  }

  cancelRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}

/** The app's handle on a channel, returned by `HeraldClient.subscribe`. */
export class Subscription {
  constructor(private readonly intent: ChannelIntent) {}

  get channel(): string {
    return this.intent.channel;
  }

  get state(): SubscriptionState {
    return this.intent.state;
  }

  /** The last message delivered (or the seeded / server-reported position), for persisting. */
  get position(): Position | undefined {
    return this.intent.cursor.position;
  }

  on<K extends keyof SubscriptionEvents>(event: K, listener: Listener<SubscriptionEvents[K]>): () => void {
    return this.intent.events.on(event, listener);
  }

  once<K extends keyof SubscriptionEvents>(event: K, listener: Listener<SubscriptionEvents[K]>): () => void {
    return this.intent.events.once(event, listener);
  }

  off<K extends keyof SubscriptionEvents>(event: K, listener: Listener<SubscriptionEvents[K]>): void {
    this.intent.events.off(event, listener);
  }

  /** Listens to the messages of one event on this channel, `data` typed (see `HeraldClient.onEvent`). */
  onEvent<E extends string>(event: E, listener: EventListener<E>): () => void {
    return this.intent.events.on('message', forEvent(event, listener));
  }

  /** Same as `client.unsubscribe(channel)`; a no-op once the subscription ended. */
  unsubscribe(): void {
    if (this.intent.state === 'failed' || this.intent.state === 'unsubscribed') return;
    this.intent.drop();
  }
}
