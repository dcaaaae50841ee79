/**
 * Security suite, floods: clients that send too much (frames, subscribes, WebSocket pings, connections)
 * or read too little (slow consumers, peers that never read their replies or pongs). Each is answered
 * with its code (rate_limited, 1008, 1013, 4008, a terminated dead peer) while the node goes on serving
 * everyone else. Real Redis and RabbitMQ behind the node.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REF_LENGTH } from '../../shared/protocol/codec.js';
import { metricValue } from '../helpers/metrics.js';
import { bystanderOn, type Bystander } from '../helpers/bystander.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let t: TestNode;
let bystander: Bystander;

beforeAll(async () => {
  t = await startBackedNode({
    WS_MESSAGES_PER_SECOND: '5',
    WS_MESSAGE_BURST: '5',
    WS_FLOOD_CLOSE_AFTER: '10',
    WS_MAX_SUBSCRIPTIONS: '2',
    WS_MAX_BUFFERED_BYTES: '65536',
    WS_HEARTBEAT_MS: '200',
    WS_MAX_CONNECTIONS_PER_USER: '2',
  });
  bystander = await bystanderOn(t);
});
afterAll(async () => {
  bystander.client.close();
  await t.stop();
});

/** The server keeps serving everyone else: a fresh promotion still reaches the bystander. */
const expectOthersServed = (): Promise<void> => bystander.expectServed();

/** How many connections `node` closed as slow consumers (1013). */
const slowConsumerCloses = (node: TestNode): Promise<number> =>
  metricValue(node.url, 'herald_connection_closes_total{reason="slow_consumer"}');

/** The client's TCP socket, to stop reading from it (a peer that never reads). */
const tcp = (c: TestClient): Socket => (c.ws as unknown as { _socket: Socket })._socket;

describe('floods and peers that do not read', () => {
  it('when a whole flood arrives in one network read, then the accepted frames are answered and rate_limited comes before the 1008 close', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('flood-burst'));
    const socket = (c.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    socket.cork();
    for (let i = 0; i < 40; i++) c.send({ type: 'ping', ref: i });
    socket.uncork();
    expect(await c.waitClose()).toBe(1008);
    const types = c.frames.slice(1).map((f) => f.type);
    expect(types).toEqual(['pong', 'pong', 'pong', 'pong', 'pong', 'error']);
    expect(c.frames.at(-1)).toMatchObject({ code: 'rate_limited' });
  });

  it('when a client floods, then rate_limited first and close 1008 if it goes on', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('flood'));
    for (let i = 0; i < 40; i++) c.send({ type: 'ping', ref: i });
    expect(await c.next('error')).toMatchObject({ code: 'rate_limited', retryable: true });
    expect(await c.waitClose()).toBe(1008);
    expect(c.frames.filter((f) => f.type === 'pong').length).toBeLessThanOrEqual(6);
    expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(1);
    await expectOthersServed();
  });

  it('when a connection holds the maximum subscriptions, then too_many_subscriptions', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('subs', { segments: ['a', 'b'] }));
    expect(await c.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
    expect(await c.subscribe('promotions:a')).toMatchObject({ type: 'subscribed' });
    expect(await c.subscribe('promotions:b')).toMatchObject({
      type: 'error',
      code: 'too_many_subscriptions',
    });
    c.close();
  });

  it('when a consumer stops reading, then it is closed 1013 and everyone else is still served', async () => {
    // Its own node: a slow consumer also stops answering pings, and the short heartbeat of the shared
    // node would terminate it (1006) before the test lets it read its 1013 close frame.
    const node = await startBackedNode({ WS_MAX_BUFFERED_BYTES: '65536' });
    try {
      const other = await TestClient.open(node.wsUrl, await mintToken('reader'));
      await other.subscribe('promotions');
      const c = await TestClient.open(node.wsUrl, await mintToken('slow'));
      await c.subscribe('user:slow');
      const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const big = 'y'.repeat(60_000);
      // Enough data to fill the kernel's socket buffers and then the 64 KiB allowance.
      for (let i = 0; i < 400 && node.node.gateway.fanout.subscriptions > 1; i++) {
        await publish(node, 'user:slow', big, { event: 'bulk' });
      }
      expect(node.node.gateway.fanout.subscriptions).toBe(1); // only the reader is left
      socket.resume();
      expect(await c.waitClose(10_000)).toBe(1013);
      await publish(node, 'promotions', 1, { event: 'alive' });
      await other.waitForMessages(1, 'promotions');
      other.close();
    } finally {
      await node.stop();
    }
  });

  it('when a peer stops answering pings, then the server terminates it', async () => {
    const c = await TestClient.connect(t.wsUrl, { token: await mintToken('dead'), autoPong: false });
    await c.next('welcome');
    expect(await c.waitClose(3_000)).toBe(1006);
  });

  it('when a peer answers pings, then it stays connected across heartbeats', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('alive'));
    const pings: number[] = [];
    c.ws.on('ping', () => pings.push(Date.now()));
    await new Promise<void>((resolve) => {
      const check = (): void => void (pings.length >= 3 ? resolve() : undefined);
      c.ws.on('ping', check);
    });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
  });

  it('when a client floods subscribes, then rate_limited first and close 1008', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('sub-flood', { segments: ['a'] }));
    for (let i = 0; i < 40; i++)
      c.send({ type: 'subscribe', channel: i % 2 ? 'promotions' : 'promotions:a', ref: i });
    expect(await c.next('error', (f) => f.code === 'rate_limited')).toMatchObject({ retryable: true });
    expect(await c.waitClose()).toBe(1008);
    await expectOthersServed();
  });

  it('when a client floods WebSocket pings, then they count against the same rate limit: rate_limited, then 1008', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('ping-flood'));
    let pongs = 0;
    c.ws.on('pong', () => pongs++);
    for (let i = 0; i < 40; i++) c.ws.ping();
    expect(await c.next('error')).toMatchObject({ code: 'rate_limited' });
    expect(await c.waitClose()).toBe(1008);
    expect(pongs).toBeGreaterThan(0); // the pings within the limit were answered
    expect(pongs).toBeLessThanOrEqual(6);
    await expectOthersServed();
  });

  const payload = Buffer.alloc(125, 1); // the largest control frame: each pong carries 127 bytes back
  const ping = JSON.stringify({ type: 'ping', ref: 'r'.repeat(MAX_REF_LENGTH) });
  it.each<[string, (ws: TestClient['ws']) => void]>([
    ['pings within the rate limit: its pongs fill its budget', (ws) => ws.ping(payload)],
    ['sends allowed protocol frames: the replies fill its budget', (ws) => ws.send(ping)],
  ])('when a client never reads and %s, then it is closed 1013', async (_what, send) => {
    // Its own node: no heartbeat closes the silent reader first, and a generous rate limit.
    const node = await startBackedNode({
      WS_MAX_BUFFERED_BYTES: '65536',
      WS_MESSAGES_PER_SECOND: '100000',
      WS_MESSAGE_BURST: '100000',
    });
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('no-read'));
      tcp(c).pause();
      // The kernel's buffers take some MB first. Until the node closes it (its closing handshake
      // then waits for the client to read).
      for (let i = 0; i < 200_000 && (await slowConsumerCloses(node)) === 0; i += 500)
        for (let j = 0; j < 500; j++) send(c.ws);
      expect(await slowConsumerCloses(node)).toBe(1);
      tcp(c).resume();
      expect(await c.waitClose(10_000)).toBe(1013);
    } finally {
      await node.stop();
    }
  });

  it('when a user opens more connections than allowed, then the extra one gets too_many_connections (4008)', async () => {
    const token = await mintToken('u6');
    const a = await TestClient.open(t.wsUrl, token);
    const b = await TestClient.open(t.wsUrl, token);
    const c = await TestClient.connect(t.wsUrl, { token });
    expect(await c.next('error')).toMatchObject({ code: 'too_many_connections', retryable: true });
    expect(await c.waitClose()).toBe(4008);
    // The refused connection is not counted in presence.
    const presence = await fetch(`${t.url}/v1/users/u6/presence`, { headers: { authorization: ADMIN } });
    expect(await presence.json()).toMatchObject({ connections: 2 });
    a.close();
    await waitFor(async () => {
      const p = await fetch(`${t.url}/v1/users/u6/presence`, { headers: { authorization: ADMIN } });
      return ((await p.json()) as { connections: number }).connections === 1;
    }, 'presence to drop to 1');
    const d = await TestClient.open(t.wsUrl, token);
    d.close();
    b.close();
  });

  it('when one user floods connections, then only its allowance opens and other users still connect', async () => {
    const token = await mintToken('conn-flood');
    const attempts = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const c = await TestClient.connect(t.wsUrl, { token });
        // Its first frame: welcome, or the error it is refused with.
        await waitFor(() => c.frames.length > 0, 'a first frame');
        const first = c.frames[0]!.type === 'welcome' ? 'welcome' : String(c.frames[0]!.code);
        return { c, first };
      }),
    );
    const welcomed = attempts.filter((a) => a.first === 'welcome');
    expect(welcomed.length).toBeLessThanOrEqual(2);
    expect(attempts.filter((a) => a.first === 'too_many_connections').length).toBe(30 - welcomed.length);
    for (const a of attempts) a.c.close();
    const other = await TestClient.open(t.wsUrl, await mintToken('not-flooding'));
    other.close();
    await expectOthersServed();
  });
});
