import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
let bystander: TestClient;

beforeAll(async () => {
  t = await startTestNode({
    WS_MAX_FRAME_BYTES: '1024',
    WS_MESSAGES_PER_SECOND: '5',
    WS_MESSAGE_BURST: '5',
    WS_FLOOD_CLOSE_AFTER: '10',
    WS_MAX_SUBSCRIPTIONS: '2',
    WS_MAX_BUFFERED_BYTES: '65536',
    WS_HEARTBEAT_MS: '200',
  });
  bystander = await TestClient.open(t.wsUrl, await mintToken('bystander'));
  await bystander.subscribe('promotions');
});
afterAll(async () => {
  bystander.close();
  await t.stop();
});

/** The server keeps serving everyone else: a fresh promotion still reaches the bystander. */
async function expectOthersServed(): Promise<void> {
  const before = bystander.messages().length;
  const res = await fetch(`${t.url}/v1/publish`, {
    method: 'POST',
    headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'promotions', event: 'alive', data: before }),
  });
  expect(res.status).toBe(202);
  await bystander.waitForMessages(before + 1);
}

describe('bad input and limits on the WebSocket', () => {
  it('when a frame is not JSON, then invalid_json and the connection stays', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('j1'));
    c.send('{not json');
    expect(await c.next('error')).toMatchObject({ code: 'invalid_json', retryable: false });
    c.send({ type: 'ping', ref: 1 });
    expect(await c.next('pong')).toMatchObject({ ref: 1 });
    c.close();
    await expectOthersServed();
  });

  it('when the frame type is unknown or fields are wrong, then unknown_type / bad_frame with the ref', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('j2'));
    c.send({ type: 'publish', ref: 'x' });
    expect(await c.next('error')).toMatchObject({ code: 'unknown_type', ref: 'x' });
    c.send({ type: 'subscribe', channel: 42, ref: 'y' });
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame', ref: 'y' });
    c.send([1, 2, 3]);
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' });
    c.close();
  });

  it('when a frame exceeds the maximum size, then the connection is closed 1009', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('big'));
    c.send({ type: 'ping', pad: 'x'.repeat(2048) });
    expect(await c.waitClose()).toBe(1009);
    await expectOthersServed();
  });

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
    const node = await startTestNode({ WS_MAX_BUFFERED_BYTES: '65536' });
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
        const res = await fetch(`${node.url}/v1/publish`, {
          method: 'POST',
          headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'user:slow', event: 'bulk', data: big }),
        });
        expect(res.status).toBe(202);
      }
      expect(node.node.gateway.fanout.subscriptions).toBe(1); // only the reader is left
      socket.resume();
      expect(await c.waitClose(10_000)).toBe(1013);
      const res = await fetch(`${node.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'promotions', event: 'alive', data: 1 }),
      });
      expect(res.status).toBe(202);
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
});
