/**
 * The SDK's SSE adapter on its own: how it turns the client's frames into a stream URL and answers,
 * and the stream's events into the frames the client expects. The stream itself is a scripted
 * EventSource here; test/integration/client-sse.test.ts runs the adapter against real nodes.
 */
import { describe, expect, it } from 'vitest';
import { SseSocket, sseUrlFor, type EventSourceLike } from '../../../shared/client/sse-socket.js';

type Listener = (event: { data: unknown }) => void;

class ScriptedEventSource implements EventSourceLike {
  static last: ScriptedEventSource | undefined;
  readyState = 0;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: Listener | null = null;
  closed = false;
  private readonly named = new Map<string, Listener>();

  constructor(readonly url: string) {
    ScriptedEventSource.last = this;
  }

  addEventListener(type: string, listener: Listener): void {
    this.named.set(type, listener);
  }

  close(): void {
    this.closed = true;
  }

  frame(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  event(type: string, data: string): void {
    this.named.get(type)?.({ data });
  }
}

async function opened(wanted: { channel: string; position?: { offset: number; epoch: string } }[]) {
  const received: Record<string, unknown>[] = [];
  const closes: { code: number; reason: string }[] = [];
  const socket = new SseSocket('https://push.example/v1/sse', ScriptedEventSource, () =>
    wanted.map((w) => ({ channel: w.channel, position: w.position })),
  );
  socket.onmessage = (e) => void received.push(JSON.parse(String(e.data)) as Record<string, unknown>);
  socket.onclose = (e) => void closes.push(e);
  await new Promise<void>((resolve) => (socket.onopen = () => resolve()));
  const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));
  return { socket, received, closes, settle };
}

describe('SSE adapter (SDK)', () => {
  it('derives the stream URL from the WebSocket URL', () => {
    expect(sseUrlFor('wss://push.example/ws')).toBe('https://push.example/v1/sse');
    expect(sseUrlFor('ws://127.0.0.1:8080/ws?token=x')).toBe('http://127.0.0.1:8080/v1/sse');
    expect(sseUrlFor('wss://shop.example/herald/ws')).toBe('https://shop.example/herald/v1/sse');
    expect(sseUrlFor('wss://shop.example/')).toBe('https://shop.example/v1/sse');
  });

  it('opens the stream on auth with the wanted channels and their positions, and answers the auth with its welcome', async () => {
    const { socket, received } = await opened([
      { channel: 'user:42', position: { offset: 7, epoch: 'e1' } },
      { channel: 'promotions' },
    ]);
    socket.send(JSON.stringify({ type: 'auth', token: 'jwt', ref: 1 }));
    const source = ScriptedEventSource.last!;
    const url = new URL(source.url);
    expect(url.searchParams.get('channels')).toBe('user:42,promotions');
    expect(url.searchParams.get('token')).toBe('jwt');
    expect(url.searchParams.get('lastEventId')).toBe('user:42 7 e1');
    source.frame({ type: 'welcome', session: 's' });
    expect(received).toEqual([{ type: 'welcome', session: 's', ref: 1 }]);
  });

  it('answers resume with session_not_found, and each subscribe with the stream’s own answer for it, whenever that comes', async () => {
    const { socket, received, settle } = await opened([{ channel: 'user:42' }, { channel: 'promotions' }]);
    socket.send(JSON.stringify({ type: 'auth', ref: 1 }));
    const source = ScriptedEventSource.last!;
    socket.send(JSON.stringify({ type: 'resume', session: 'old', ref: 2 }));
    await settle();
    expect(received.at(-1)).toMatchObject({ type: 'error', code: 'session_not_found', ref: 2 });

    // Asked before the stream answered, then answered; and answered before it was asked.
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'user:42', ref: 3 }));
    source.frame({ type: 'subscribed', channel: 'user:42', offset: 0, epoch: 'e', recovered: false });
    expect(received.at(-1)).toMatchObject({ type: 'subscribed', channel: 'user:42', ref: 3 });
    source.frame({ type: 'subscribed', channel: 'promotions', offset: 4, epoch: 'p', recovered: false });
    expect(received.at(-1)).toMatchObject({ type: 'subscribed', channel: 'user:42' });
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'promotions', ref: 4 }));
    await settle();
    expect(received.at(-1)).toMatchObject({ type: 'subscribed', channel: 'promotions', offset: 4, ref: 4 });
  });

  it('asks for a new stream when a channel it does not carry is subscribed, and drops the events of an unsubscribed one', async () => {
    const { socket, received, settle } = await opened([{ channel: 'user:42' }, { channel: 'promotions' }]);
    socket.send(JSON.stringify({ type: 'auth', ref: 1 }));
    const source = ScriptedEventSource.last!;
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'order:o-1', ref: 2 }));
    await settle();
    expect(received.at(-1)).toEqual({ type: 'reconnect', afterMs: 0 });

    socket.send(JSON.stringify({ type: 'unsubscribe', channel: 'promotions', ref: 3 }));
    await settle();
    expect(received.at(-1)).toEqual({ type: 'unsubscribed', channel: 'promotions', ref: 3 });
    const before = received.length;
    source.frame({ type: 'message', channel: 'promotions', offset: 1, epoch: 'p' });
    source.frame({ type: 'message', channel: 'user:42', offset: 1, epoch: 'e' });
    expect(received.slice(before)).toEqual([{ type: 'message', channel: 'user:42', offset: 1, epoch: 'e' }]);
  });

  it('hands a refused channel’s error to its subscribe; a retryable one once, so the retry opens a new stream', async () => {
    const { socket, received, settle } = await opened([{ channel: 'user:7' }, { channel: 'promotions' }]);
    socket.send(JSON.stringify({ type: 'auth', ref: 1 }));
    const source = ScriptedEventSource.last!;
    source.frame({ type: 'error', code: 'permission_denied', retryable: false, channel: 'user:7' });
    source.frame({ type: 'error', code: 'unavailable', retryable: true, channel: 'promotions' });
    source.frame({ type: 'error', code: 'internal', retryable: true });
    expect(received).toEqual([{ type: 'error', code: 'internal', retryable: true }]);
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'user:7', ref: 2 }));
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'promotions', ref: 3 }));
    await settle();
    expect(received.slice(1)).toMatchObject([
      { code: 'permission_denied', ref: 2 },
      { code: 'unavailable', ref: 3 },
    ]);
    socket.send(JSON.stringify({ type: 'subscribe', channel: 'promotions', ref: 4 }));
    await settle();
    expect(received.at(-1)).toEqual({ type: 'reconnect', afterMs: 0 });
  });

  it('turns heartbeat events into pongs, a close event into its close code, and a failed stream into 1006', async () => {
    const first = await opened([{ channel: 'user:1' }]);
    first.socket.send(JSON.stringify({ type: 'auth', ref: 1 }));
    const source = ScriptedEventSource.last!;
    source.event('ping', '123');
    expect(first.received.at(-1)).toMatchObject({ type: 'pong' });
    source.event('close', JSON.stringify({ code: 4001, reason: 'token_invalid' }));
    expect(first.closes).toEqual([{ code: 4001, reason: 'token_invalid' }]);
    expect(source.closed).toBe(true);
    source.onerror?.({}); // the end of the response that follows: already closed, nothing more
    expect(first.closes).toHaveLength(1);

    const second = await opened([{ channel: 'user:1' }]);
    second.socket.send(JSON.stringify({ type: 'auth', ref: 1 }));
    ScriptedEventSource.last!.onerror?.({});
    expect(second.closes).toEqual([{ code: 1006, reason: 'stream failed' }]);
    expect(ScriptedEventSource.last!.closed).toBe(true); // the EventSource does not reconnect by itself
  });
});
