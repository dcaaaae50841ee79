/**
 * The SDK on the SSE fallback (shared/client/sse-socket.ts), in Node with the `eventsource` package
 * (the browser's EventSource is exercised by test/browser/sse-fallback.test.ts): the same events,
 * subscriptions and recovery as over a WebSocket, and the fallback itself. Real nodes on the
 * machine's Redis and RabbitMQ.
 */
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { HeraldClient, type MessageFrame, type StateChange } from '../../shared/client/index.js';
import { publish } from '../helpers/rest-http.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string> = {}): Promise<TestNode> {
  const t = await startBackedNode(env);
  cleanups.push(() => t.stop());
  return t;
}

function client(options: ConstructorParameters<typeof HeraldClient>[0]): HeraldClient {
  const c = new HeraldClient({ minReconnectDelayMs: 20, maxReconnectDelayMs: 200, ...options });
  cleanups.push(() => c.close());
  return c;
}

/** A WebSocket that a proxy refuses: the handshake goes to a path the node answers 404. */
class BlockedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url.replace(/\/ws$/, '/ws-blocked'));
  }
}

describe('SDK over SSE', () => {
  it('receives, adds a channel (a new stream), unsubscribes, and after a reconnect request gets every message once', async () => {
    const t = await node();
    const c = client({
      url: t.wsUrl,
      token: () => mintToken('lena', { segments: ['vip'] }),
      transports: ['sse'],
      EventSource,
    });
    const got: MessageFrame[] = [];
    c.on('message', (m) => void got.push(m));
    const user = c.subscribe('user:lena');
    c.connect();
    await waitFor(() => c.state === 'connected' && user.state === 'subscribed', 'subscribed over SSE');
    expect(c.transport).toBe('sse');
    expect(c.welcome).toMatchObject({ user: 'lena' });

    await publish(t, 'user:lena', { n: 1 });
    await waitFor(() => got.length === 1, 'the first message');

    // A channel the stream does not carry: the client opens a stream with both, nothing lost.
    const vip = c.subscribe('promotions:vip');
    await publish(t, 'user:lena', { n: 2 });
    await waitFor(() => vip.state === 'subscribed', 'the second channel');
    await publish(t, 'promotions:vip', { n: 'vip' });
    await publish(t, 'user:lena', { n: 3 });
    await waitFor(() => got.length === 4, 'four messages');

    c.unsubscribe('promotions:vip');
    await publish(t, 'promotions:vip', { n: 'dropped' });

    // The node asks the client to move while messages keep coming: each arrives once, in order.
    const publishing = (async () => {
      for (let n = 4; n <= 13; n++) await publish(t, 'user:lena', { n });
    })();
    expect(
      await t.node.gateway.move(
        1,
        0,
        () => Promise.resolve(undefined),
        () => true,
      ),
    ).toBe(1);
    await publishing;
    await waitFor(() => got.filter((m) => m.channel === 'user:lena').length === 13, 'every user message');
    expect(got.filter((m) => m.channel === 'user:lena').map((m) => (m.data as { n: number }).n)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
    ]);
    expect(got.some((m) => (m.data as { n: unknown }).n === 'dropped')).toBe(false);
    expect(c.stats.reconnects).toBeGreaterThanOrEqual(2);
    expect(c.transport).toBe('sse');
  });

  it('falls back to SSE when WebSockets cannot connect, says so, and receives there', async () => {
    const t = await node();
    const states: StateChange[] = [];
    const c = client({
      url: t.wsUrl,
      token: await mintToken('max'),
      WebSocket: BlockedWebSocket,
      EventSource,
    });
    c.on('state', (s) => void states.push(s));
    c.subscribe('user:max');
    c.connect();
    await waitFor(() => c.state === 'connected', 'connected', 10_000);
    expect(c.transport).toBe('sse');
    expect(states.filter((s) => s.state === 'connecting').map((s) => s.transport)).toEqual([
      'websocket',
      'websocket',
      'sse',
    ]);
    expect(states.find((s) => s.state === 'connected')).toMatchObject({ transport: 'sse' });
    const got: MessageFrame[] = [];
    c.on('message', (m) => void got.push(m));
    await waitFor(() => c.subscription('user:max')?.state === 'subscribed', 'subscribed');
    await publish(t, 'user:max', { hello: 'sse' });
    await waitFor(() => got.length === 1, 'the message over SSE');
  });

  it('stays on the WebSocket once one worked: a node that refuses later is not a blocked network', async () => {
    const t = await node();
    let blocked = false;
    class SometimesBlocked extends WebSocket {
      constructor(url: string) {
        super(blocked ? url.replace(/\/ws$/, '/ws-blocked') : url);
      }
    }
    const states: StateChange[] = [];
    const c = client({
      url: t.wsUrl,
      token: await mintToken('nina'),
      WebSocket: SometimesBlocked,
      EventSource,
    });
    c.on('state', (s) => void states.push(s));
    c.connect();
    await waitFor(() => c.state === 'connected', 'connected over a WebSocket');
    blocked = true;
    expect(
      await t.node.gateway.move(
        1,
        0,
        () => Promise.resolve(undefined),
        () => true,
      ),
    ).toBe(1);
    await waitFor(
      () => states.filter((s) => s.state === 'connecting').length >= 5,
      'several attempts',
      10_000,
    );
    expect(c.transport).toBe('websocket');
    expect(new Set(states.filter((s) => s.state === 'connecting').map((s) => s.transport))).toEqual(
      new Set(['websocket']),
    );
  });
});
