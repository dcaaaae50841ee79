/**
 * The SSE fallback transport: a `WebSocketLike` built on an EventSource reading `GET /v1/sse`, so the
 * client's whole protocol logic (welcome, subscribe replies, recovery, dedupe, close codes,
 * `reconnect`) runs unchanged over it.
 *
 * Why an adapter rather than a second client: the server sends the very same frames over SSE, one
 * event each (services/gateway/sse-socket.ts). What differs is that a stream cannot take frames from
 * the client: its token and channels, with each channel's position, go in the URL when it opens. So
 * this adapter answers the frames the client sends itself:
 *  - `auth` opens the stream, for the channels the client wants at that moment (`wanted`), each from
 *    its position; the stream's `welcome` is handed back as the answer to that `auth`;
 *  - `resume` is answered `session_not_found` (a stream cannot resume a session: its channels come
 *    with their positions instead), so the client subscribes to each channel, as it does after any
 *    refused resume;
 *  - `subscribe` of a channel the stream carries is answered by the stream's own `subscribed` for it
 *    (given the request's ref); of a channel it does not carry, by a `reconnect` frame: the client
 *    opens a new stream that includes it, recovering every channel from its position;
 *  - `unsubscribe` is answered at once, and the channel's events are dropped from then on;
 *  - `ping` needs no answer: the server writes a heartbeat event every `heartbeatMs`, which the
 *    client sees as a `pong`;
 *  - `history` and `ack` are answered with an `error` `unsupported_transport` (a stream cannot ask
 *    anything of the server); the `read` frames and `subscribed.read` of other devices' acks still
 *    arrive, like every server frame.
 * The stream's `close` event carries the WebSocket close code (4001 for a bad token, 1012 for a
 * drain...), and a stream that fails is a close 1006: the client decides what to do, as for a
 * WebSocket. The EventSource's own reconnecting is therefore never used.
 */
import type { ClientFrame, ErrorFrame, ServerFrame, SubscribedFrame } from '../protocol/frames.js';
import type { Position } from './cursor.js';
import type { WebSocketLike } from './socket.js';

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the browser's EventSource the adapter uses (the `eventsource` package has it too). */
export interface EventSourceLike {
  readonly readyState: number;
  onerror: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  addEventListener(type: string, listener: Handler<{ data: unknown }>): void;
  close(): void;
}

export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The EventSource of the environment (browsers, Node 22+ with a flag), if there is one. */
export function globalEventSource(): EventSourceConstructor | undefined {
  return (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
}

/** A channel the client wants, and where it is (what the stream opens with). */
export interface WantedChannel {
  channel: string;
  position: Position | undefined;
}

/**
 * The stream URL for a gateway's WebSocket URL: same host, http(s), `/v1/sse` in place of a trailing
 * `/ws` (`wss://shop.example/herald/ws` → `https://shop.example/herald/v1/sse`).
 */
export function sseUrlFor(webSocketUrl: string): string {
  const url = new URL(webSocketUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.pathname = `${url.pathname.replace(/\/ws\/?$/, '').replace(/\/$/, '')}/v1/sse`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

export class SseSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<{ code: number; reason: string }> | null = null;
  onerror: Handler<unknown> | null = null;
  private source: EventSourceLike | undefined;
  /** The channels this stream carries (less those unsubscribed since). */
  private channels = new Set<string>();
  /** The ref of the `auth` the stream answers, and of each subscribe waiting for its `subscribed`. */
  private authRef: ClientFrame['ref'];
  private readonly waiting = new Map<string, ClientFrame['ref']>();
  /** The stream's answer for each channel (`subscribed`, or a channel `error`), for a subscribe after it. */
  private readonly answers = new Map<string, SubscribedFrame | ErrorFrame>();

  constructor(
    private readonly url: string,
    private readonly EventSourceImpl: EventSourceConstructor,
    private readonly wanted: () => WantedChannel[],
  ) {
    // Like a WebSocket, "open" comes later, once the caller has set its handlers.
    setTimeout(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.onopen?.({});
    }, 0);
  }

  send(data: string): void {
    if (this.readyState !== OPEN) return;
    const frame = JSON.parse(data) as ClientFrame;
    switch (frame.type) {
      case 'auth':
        return this.openStream(frame.token, frame.ref);
      case 'resume':
        return this.answer({
          type: 'error',
          code: 'session_not_found',
          message: 'A stream resumes each channel from its position, not a session',
          retryable: false,
          ...(frame.ref === undefined ? {} : { ref: frame.ref }),
        });
      case 'subscribe': {
        if (!this.channels.has(frame.channel)) {
          // Not in this stream: a new one that carries it too, every channel from its position.
          return this.answer({ type: 'reconnect', afterMs: 0 });
        }
        const known = this.answers.get(frame.channel);
        if (known === undefined) this.waiting.set(frame.channel, frame.ref);
        else {
          this.answer({ ...known, ...(frame.ref === undefined ? {} : { ref: frame.ref }) });
          this.settle(frame.channel, known);
        }
        return;
      }
      case 'history':
      case 'ack':
        return this.answer({
          type: 'error',
          code: 'unsupported_transport',
          message: `${frame.type} needs a WebSocket: a Server-Sent Events stream cannot send frames`,
          retryable: false,
          channel: frame.channel,
          ...(frame.ref === undefined ? {} : { ref: frame.ref }),
        });
      case 'unsubscribe':
        this.channels.delete(frame.channel);
        return this.answer({
          type: 'unsubscribed',
          channel: frame.channel,
          ...(frame.ref === undefined ? {} : { ref: frame.ref }),
        });
      default:
        return; // ping: the stream's heartbeat events answer for it
    }
  }

  close(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.source?.close();
  }

  private openStream(token: string | undefined, ref: ClientFrame['ref']): void {
    this.authRef = ref;
    const wanted = this.wanted();
    this.channels = new Set(wanted.map((w) => w.channel));
    const url = new URL(this.url);
    url.searchParams.set('channels', wanted.map((w) => w.channel).join(','));
    if (token !== undefined) url.searchParams.set('token', token);
    const cursor = wanted
      .filter((w) => w.position !== undefined)
      .map((w) => `${w.channel} ${w.position!.offset} ${w.position!.epoch}`)
      .join(',');
    if (cursor !== '') url.searchParams.set('lastEventId', cursor);
    let source: EventSourceLike;
    try {
      source = new this.EventSourceImpl(url.toString());
    } catch {
      return this.closed(1006, 'stream could not open');
    }
    this.source = source;
    source.onmessage = (event) => this.receive(event.data);
    source.addEventListener('ping', () => this.deliver({ type: 'pong', ts: Date.now() }));
    source.addEventListener('close', (event) => {
      let code = 1006;
      let reason = 'stream closed';
      try {
        const info = JSON.parse(String(event.data)) as { code?: unknown; reason?: unknown };
        if (typeof info.code === 'number') code = info.code;
        if (typeof info.reason === 'string') reason = info.reason;
      } catch {
        // A close event without its details is still a close.
      }
      this.closed(code, reason);
    });
    source.onerror = () => this.closed(1006, 'stream failed');
  }

  /** A frame from the stream, matched to the request it answers. */
  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'welcome':
        return this.deliver(this.authRef === undefined ? frame : { ...frame, ref: this.authRef });
      case 'subscribed':
        return this.answered(frame.channel, frame);
      case 'error':
        // A channel refused (permission_denied, too_many_subscriptions...) answers its subscribe.
        if (frame.channel !== undefined && this.channels.has(frame.channel))
          return this.answered(frame.channel, frame);
        return this.deliver(frame);
      case 'message':
        if (this.channels.has(frame.channel)) this.deliver(frame);
        return;
      default:
        return this.deliver(frame);
    }
  }

  /** The stream's answer for `channel`: handed over now if the client asked, else when it asks. */
  private answered(channel: string, frame: SubscribedFrame | ErrorFrame): void {
    if (!this.channels.has(channel)) return;
    this.answers.set(channel, frame);
    if (!this.waiting.has(channel)) return;
    const ref = this.waiting.get(channel);
    this.waiting.delete(channel);
    this.deliver(ref === undefined ? frame : { ...frame, ref });
    this.settle(channel, frame);
  }

  /**
   * A retryable refusal (`unavailable`...) is handed over once: the channel then leaves this stream, so
   * the client's retry asks for a new stream rather than getting the same answer again.
   */
  private settle(channel: string, frame: SubscribedFrame | ErrorFrame): void {
    if (frame.type !== 'error' || frame.retryable !== true) return;
    this.answers.delete(channel);
    this.channels.delete(channel);
  }

  /** Answers a request the client sent (after its `send` returns, as a server's answer would come). */
  private answer(frame: ServerFrame): void {
    queueMicrotask(() => this.deliver(frame));
  }

  private deliver(frame: ServerFrame): void {
    if (this.readyState === OPEN) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  private closed(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.source?.close();
    this.onclose?.({ code, reason });
  }
}
