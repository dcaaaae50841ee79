/**
 * A scripted stand-in for a WebSocket, for the client SDK's unit tests: the test opens it, feeds it
 * server frames and closes it, and reads what the client sent. Each `fakeSockets()` call gets its own
 * constructor, so tests do not share sockets.
 */
import type { WebSocketConstructor, WebSocketLike } from '../../../shared/client/index.js';

type Sent = Record<string, unknown> & { type: string };

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  readonly sent: Sent[] = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data) as Sent);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }

  // ---- driven by the test -------------------------------------------------------------------------

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Frames of `type` the client sent, oldest first. */
  frames(type: string): Sent[] {
    return this.sent.filter((f) => f.type === type);
  }

  last(type: string): Sent {
    const found = this.frames(type).at(-1);
    if (found === undefined) throw new Error(`no ${type} frame sent`);
    return found;
  }

  /** Opens, answers the auth frame with `welcome` and returns the auth frame. */
  welcome(session = 'session-1', extra: Record<string, unknown> = {}): Sent {
    if (this.readyState === 0) this.open();
    const auth = this.last('auth');
    this.receive({
      type: 'welcome',
      protocol: 'herald.v1',
      session,
      node: 'node-a',
      user: '42',
      heartbeatMs: 25_000,
      limits: { maxFrameBytes: 65_536, maxSubscriptions: 100, messagesPerSecond: 50 },
      ref: auth.ref,
      ...extra,
    });
    return auth;
  }

  /** Answers the last subscribe of `channel`. */
  subscribed(channel: string, offset: number, epoch: string, recovered = false): void {
    const sub = this.sent.filter((f) => f.type === 'subscribe' && f.channel === channel).at(-1);
    if (sub === undefined) throw new Error(`no subscribe for ${channel}`);
    this.receive({ type: 'subscribed', channel, offset, epoch, recovered, ref: sub.ref });
  }

  message(channel: string, offset: number, epoch: string, data: unknown = { n: offset }): void {
    this.receive({
      type: 'message',
      channel,
      offset,
      epoch,
      id: `${channel}-${epoch}-${offset}`,
      event: 'e',
      data,
      ts: 1,
    });
  }
}

export function fakeSockets(): {
  WebSocket: WebSocketConstructor;
  sockets: FakeSocket[];
  latest(): FakeSocket;
} {
  const sockets: FakeSocket[] = [];
  class Socket extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    WebSocket: Socket,
    sockets,
    latest: () => {
      const socket = sockets.at(-1);
      if (socket === undefined) throw new Error('no socket opened');
      return socket;
    },
  };
}
