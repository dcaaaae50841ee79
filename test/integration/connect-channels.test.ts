/**
 * Channels named at connect (docs/protocol.md 2.1 and 3.1 `auth`): `channels` in the WebSocket URL or
 * in the `auth` frame are subscribed right after authentication, each judged as a `subscribe` frame
 * without a position would be, answered after `welcome` in the order named, and recorded in the
 * session the connection is welcomed with. On the machine's Redis and RabbitMQ.
 */
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { startBackedNode, startBackedNodes, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string> = {}): Promise<TestNode> {
  const t = await startBackedNode(env);
  cleanups.push(() => t.stop());
  return t;
}

/** Connects with a query token and `channels` (as given: commas and all). */
async function connect(t: TestNode, user: string, channels: string): Promise<TestClient> {
  const token = await mintToken(user);
  const client = await TestClient.connect(
    `${t.wsUrl}?token=${encodeURIComponent(token)}&channels=${encodeURIComponent(channels)}`,
  );
  cleanups.push(() => client.close());
  return client;
}

/** The frames after `welcome`, once `count` of them arrived (their types and channels). */
async function answers(client: TestClient, count: number): Promise<Record<string, unknown>[]> {
  await client.next('welcome');
  const start = client.frames.findIndex((f) => f.type === 'welcome') + 1;
  await waitFor(() => client.frames.length >= start + count, `${count} answers after the welcome`);
  return client.frames.slice(start, start + count);
}

describe('channels named at connect', () => {
  it('when the URL names channels, then each is subscribed after welcome in that order, a user channel with its read position, and messages flow at once', async () => {
    const t = await node();
    const client = await connect(t, 'cc-1', 'user:cc-1,promotions,'); // a trailing comma names nothing
    const [user, promotions] = await answers(client, 2);
    expect(client.frames[0]).toMatchObject({ type: 'welcome', user: 'cc-1', named: 2 });
    expect(user).toMatchObject({ type: 'subscribed', channel: 'user:cc-1', recovered: false, read: 0 });
    expect(user!.ref).toBeUndefined();
    expect(promotions).toMatchObject({ type: 'subscribed', channel: 'promotions', recovered: false });
    expect(promotions!.read).toBeUndefined();

    await publish(t, 'user:cc-1', { n: 1 });
    await publish(t, 'promotions', { n: 2 });
    expect((await client.waitForMessages(1, 'user:cc-1'))[0]).toMatchObject({ data: { n: 1 } });
    expect((await client.waitForMessages(1, 'promotions'))[0]).toMatchObject({ data: { n: 2 } });
  });

  it('when named channels are refused, then each gets its coded error naming it, in order among the others, and the connection stays', async () => {
    const t = await node({ WS_MAX_SUBSCRIPTIONS: '2' });
    const client = await connect(
      t,
      'cc-2',
      'user:someone-else,no-such-shape,promotions,promotions, user:cc-2 ,order:o-9',
    );
    const got = await answers(client, 6);
    expect(got.map((f) => [f.type, f.code ?? '', f.channel])).toEqual([
      ['error', 'permission_denied', 'user:someone-else'],
      ['error', 'unknown_channel', 'no-such-shape'],
      ['subscribed', '', 'promotions'],
      ['error', 'already_subscribed', 'promotions'],
      ['subscribed', '', 'user:cc-2'], // names are trimmed, as in the SSE URL
      ['error', 'too_many_subscriptions', 'order:o-9'],
    ]);
    expect(await client.subscribe('promotions:vip')).toMatchObject({ code: 'too_many_subscriptions' });
    client.send({ type: 'unsubscribe', channel: 'promotions', ref: 'u' });
    await client.next('unsubscribed', (f) => f.ref === 'u');
  });

  it('when an auth frame names channels, then they follow the URL’s, and frames pipelined after auth are answered after them', async () => {
    const t = await node();
    const client = await TestClient.connect(`${t.wsUrl}?channels=promotions`);
    cleanups.push(() => client.close());
    client.send({ type: 'auth', token: await mintToken('cc-3'), channels: ['user:cc-3'], ref: 'a' });
    client.send({ type: 'ping', ref: 'p' });
    const got = await answers(client, 3);
    expect(client.frames[0]).toMatchObject({ type: 'welcome', ref: 'a' });
    expect(got.map((f) => [f.type, f.channel ?? f.ref])).toEqual([
      ['subscribed', 'promotions'],
      ['subscribed', 'user:cc-3'],
      ['pong', 'p'],
    ]);
  });

  it('when the welcomed session is resumed on another node, then it holds the channels named at connect', async () => {
    const cluster = await startBackedNodes([{}, {}]);
    cleanups.push(() => cluster.stop());
    const [a, b] = cluster.nodes as [TestNode, TestNode];
    const first = await connect(a, 'cc-4', 'user:cc-4,promotions');
    const session = (await first.next('welcome')).session as string;
    await first.next('subscribed', (f) => f.channel === 'promotions');
    first.close();
    await first.waitClose();

    const second = await TestClient.open(b.wsUrl, await mintToken('cc-4'));
    cleanups.push(() => second.close());
    second.send({ type: 'resume', session, ref: 'r' });
    const resumed = await second.next('resumed', (f) => f.ref === 'r');
    expect([...(resumed.channels as string[])].sort()).toEqual(['promotions', 'user:cc-4']);
  });

  it('when the user is over the per-user limit, then it gets too_many_connections (4008) and no subscription', async () => {
    const t = await node({ WS_MAX_CONNECTIONS_PER_USER: '1' });
    const first = await connect(t, 'cc-5', 'promotions');
    await first.next('subscribed');
    const second = await connect(t, 'cc-5', 'promotions');
    expect(await second.waitClose()).toBe(4008);
    expect(second.frames.map((f) => [f.type, f.code])).toEqual([['error', 'too_many_connections']]);
  });

  it('when a guest names channels in its auth frame, then promotions is subscribed and anything else refused', async () => {
    const t = await node({ WS_ALLOW_GUESTS: 'true' });
    const client = await TestClient.connect(t.wsUrl);
    cleanups.push(() => client.close());
    client.send({ type: 'auth', channels: ['promotions', 'user:x'] });
    const got = await answers(client, 2);
    expect(client.frames[0]).toMatchObject({ type: 'welcome', guest: true });
    expect(got.map((f) => [f.type, f.code ?? '', f.channel])).toEqual([
      ['subscribed', '', 'promotions'],
      ['error', 'permission_denied', 'user:x'],
    ]);
  });

  it('when an auth frame’s channels are not a list of names, then it is bad_frame and close 4001', async () => {
    const t = await node();
    for (const channels of ['promotions', [1], ['promotions', ''], Array(1001).fill('p')]) {
      const client = await TestClient.connect(t.wsUrl);
      cleanups.push(() => client.close());
      client.send({ type: 'auth', token: await mintToken('cc-6'), channels, ref: 'a' });
      expect(await client.next('error')).toMatchObject({ code: 'bad_frame', ref: 'a' });
      expect(await client.waitClose()).toBe(4001);
    }
    // Like any frame before authentication, an auth frame is bounded by WS_MAX_AUTH_FRAME_BYTES.
    const big = await TestClient.connect(t.wsUrl);
    cleanups.push(() => big.close());
    big.send({ type: 'auth', token: await mintToken('cc-6'), channels: Array(1000).fill('promotions') });
    expect(await big.waitClose()).toBe(1009);
  });

  it('when the URL names more than 1000 channels, then the upgrade is refused 400', async () => {
    const t = await node();
    const channels = Array.from({ length: 1001 }, (_, i) => `order:o-${i}`).join(',');
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${t.wsUrl}?channels=${channels}`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('upgraded')));
      ws.once('error', reject);
    });
    expect(status).toBe(400);
  });
});

/** The bytes a raw TCP client gets in its first read after sending an upgrade request for `path`. */
async function firstRead(t: TestNode, path: string): Promise<string> {
  const { hostname, port } = new URL(t.wsUrl);
  const socket = tcpConnect(Number(port), hostname);
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return new Promise<string>((resolve, reject) => {
    socket.once('data', (data: Buffer) => resolve(data.toString('latin1')));
    socket.once('error', reject);
  });
}

describe('the answer to an upgrade with a query token', () => {
  it('when the token is good, then the 101 and the welcome with the named channels’ replies come in one write', async () => {
    const t = await node();
    const token = encodeURIComponent(await mintToken('cc-7'));
    const first = await firstRead(t, `/ws?token=${token}&channels=user:cc-7,promotions`);
    expect(first).toMatch(/^HTTP\/1\.1 101 /);
    expect(first).toContain('"type":"welcome"');
    expect(first).toContain('"channel":"user:cc-7"');
    expect(first).toContain('"channel":"promotions"');
  });

  it('when the token is bad, then the 101 comes with the refusal (token_invalid)', async () => {
    const t = await node();
    const first = await firstRead(t, '/ws?token=not.a.token');
    expect(first).toMatch(/^HTTP\/1\.1 101 /);
    expect(first).toContain('"code":"token_invalid"');
  });

  it('when the token comes in an auth frame instead, then the 101 is not held', async () => {
    const t = await node();
    const first = await firstRead(t, '/ws?channels=promotions');
    expect(first).toMatch(/^HTTP\/1\.1 101 /);
    expect(first).not.toContain('"type"');
  });
});

describe('presence before the positions of the channels named at connect (router.ts)', () => {
  /** Memory drivers that log presence adds and position reads; with `inOrder` false, adds wait for `release`. */
  function recordingDrivers(inOrder: boolean) {
    const drivers = createMemoryDrivers();
    const { presence, history } = drivers.state;
    const calls: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const add = presence.add.bind(presence);
    presence.add = async (...args) => {
      calls.push('add');
      if (!inOrder) await released;
      const count = await add(...args);
      calls.push('added');
      return count;
    };
    Object.defineProperty(presence, 'inCallOrder', { value: inOrder });
    const position = history.position.bind(history);
    history.position = (channel) => {
      calls.push(`position ${channel}`);
      return position(channel);
    };
    return { drivers, calls, release };
  }

  const url = async (t: TestNode, user: string): Promise<string> =>
    `${t.wsUrl}?token=${encodeURIComponent(await mintToken(user))}&channels=user:${user},promotions`;

  it('when the store runs calls in order, then the add is issued before any position read', async () => {
    const { drivers, calls } = recordingDrivers(true);
    const t = await startTestNode({}, drivers);
    cleanups.push(() => t.stop());
    const client = await TestClient.connect(await url(t, 'cc-o1'));
    cleanups.push(() => client.close());
    await answers(client, 2);
    expect(calls[0]).toBe('add');
    expect(calls.filter((c) => c.startsWith('position')).sort()).toEqual([
      'position promotions',
      'position user:cc-o1',
    ]);
  });

  it('when the store may run calls out of order (Redis Cluster), then no position is read before the add is answered', async () => {
    const { drivers, calls, release } = recordingDrivers(false);
    const t = await startTestNode({}, drivers);
    cleanups.push(() => t.stop());
    // The 101 waits for the welcome, which waits for the add: connect without awaiting.
    const connecting = TestClient.connect(await url(t, 'cc-o2'));
    await waitFor(() => calls.includes('add'), 'the presence add');
    // Every turn that could issue a read (access checks and joins are a few microtasks) passes.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['add']);
    release();
    const client = await connecting;
    cleanups.push(() => client.close());
    await answers(client, 2);
    expect(calls.slice(0, 2)).toEqual(['add', 'added']);
    expect(calls.slice(2).sort()).toEqual(['position promotions', 'position user:cc-o2']);
  });
});
