/**
 * One connection attempt of the client: its socket, the requests waiting for a reply, its timers.
 *
 * Why a record per attempt: a socket that was given up on (heartbeat timeout, a `reconnect` frame, a
 * late close) can still fire events. Every handler checks that its record is still the client's
 * current one, and everything an attempt started is torn down in one place, so nothing of an old
 * connection leaks into the next (a stale `subscribed`, a timer, a close).
 */
import type { ClientFrame, ErrorFrame, Ref } from '../protocol/frames.js';
import type { Position } from './cursor.js';
import { OPEN, type WebSocketLike } from './socket.js';
import type { ChannelIntent } from './subscription.js';

export type Timer = ReturnType<typeof setTimeout>;

/** A request sent on this connection, by its `ref`. */
export type Pending =
  | { kind: 'auth' }
  | { kind: 'subscribe'; intent: ChannelIntent; sent: Position | undefined; timer: Timer }
  | { kind: 'resume'; timer: Timer }
  | { kind: 'unsubscribe' };

const noop = (): void => undefined;

export class Connection {
  ws: WebSocketLike | undefined;
  welcomed = false;
  /** The session id of this connection's `welcome`. */
  session: string | undefined;
  /** A `resume` is in flight: explicit subscribes wait for its answer. */
  resuming = false;
  /** Positions sent in `resume`, to judge the `subscribed` frames it produces. */
  resumePositions: Record<string, Position> = {};
  /** Channels named in the `auth` frame and not answered yet (their replies follow `welcome`). */
  readonly named = new Set<string>();
  lastFrameAt = Date.now();
  /** Gives up on an attempt that gets no `welcome` in time. */
  connectTimer: Timer | undefined;
  /** The last error frame not matched to a request, e.g. `token_invalid` before a 4001 close. */
  lastError: ErrorFrame | undefined;
  readonly pending = new Map<Ref, Pending>();
  private readonly timers = new Set<Timer>();
  private ticker: ReturnType<typeof setInterval> | undefined;

  /** @param url Where this attempt connects (replaced by the director's answer before the socket opens). */
  constructor(public url: string) {}

  /** A timeout that is cleared with the connection. */
  after(ms: number, fn: () => void): Timer {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: Timer | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Runs `fn` every `ms` until the connection is torn down (one ticker per connection). */
  every(ms: number, fn: () => void): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = setInterval(fn, ms);
  }

  /** Sends a frame if the socket is open; a frame for a closing socket is dropped. */
  send(frame: ClientFrame): void {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== OPEN) return;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // The socket is going away; its close event will say so.
    }
  }

  /** Clears every timer, detaches from the socket and closes it (if it is not closed already). */
  teardown(reason: string): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const pending of this.pending.values()) if ('timer' in pending) clearTimeout(pending.timer);
    this.pending.clear();
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    const ws = this.ws;
    if (ws === undefined) return;
    // Handlers become no-ops rather than null: `ws` in Node throws on an 'error' without a listener.
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onclose = noop;
    ws.onerror = noop;
    if (ws.readyState <= OPEN) {
      try {
        ws.close(1000, reason.slice(0, 100));
      } catch {
        // Already closing.
      }
    }
  }
}
