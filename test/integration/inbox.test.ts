/**
 * Inbox and read receipts (issue 13, item 2): the `history` frame (authorization, since/limit,
 * complete, bad input), `ack` (own user channel only, monotonic, clamped, epoch-checked), `read` to the
 * user's other connections — on the same node and on another node over real Redis and RabbitMQ —,
 * `subscribed.read`, GET /v1/users/{userId}/inbox, guests, and the SDK's history/ack/unread/read event.
 */
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionContext } from '../../services/gateway/connection-context.js';
import { HeraldClient, type HeraldError, type ReadEvent } from '../../shared/client/index.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import {
  ADMIN,
  PUBLISH_ONLY,
  startBackedNodes,
  startTestNode,
  type BackedNodes,
  type TestNode,
} from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/** GET /v1/users/{userId}/inbox through `inject` (a REST answer: no socket needed); '' sends no key. */
async function inbox(node: TestNode, userId: string, authorization = PUBLISH_ONLY) {
  const res = await node.node.app.inject({
    method: 'GET',
    url: `/v1/users/${encodeURIComponent(userId)}/inbox`,
    headers: authorization === '' ? {} : { authorization },
  });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
}

/** Opens a connection of `user` (query token) and subscribes it to `channels`. */
async function open(node: TestNode, user: string, channels: string[] = []): Promise<TestClient> {
  const client = await TestClient.open(node.wsUrl, await mintToken(user));
  for (const channel of channels) expect((await client.subscribe(channel)).type).toBe('subscribed');
  return client;
}

/** Sends `frame` with a fresh ref and waits for the frame carrying that ref. */
let refs = 0;
async function ask(client: TestClient, frame: Record<string, unknown>) {
  const ref = `r${++refs}`;
  client.send({ ...frame, ref });
  return waitFor(() => client.frames.find((f) => f.ref === ref), `the reply to ${JSON.stringify(frame)}`);
}

/** Proves `client` got no `read` frame so far: a ping's pong comes after everything sent before it. */
async function noReadFrames(client: TestClient): Promise<void> {
  await ask(client, { type: 'ping' });
  expect(client.frames.filter((f) => f.type === 'read')).toEqual([]);
}

const clients: TestClient[] = [];
const sdks: HeraldClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const c of sdks.splice(0)) c.close();
});

describe('history and ack on one node', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ HISTORY_USER_MAX_MESSAGES: '5', WS_ALLOW_GUESTS: 'true' });
  });
  afterAll(() => t.stop());

  it('when a user asks the history of its channel, then the retained messages after since come, oldest first, as the very message frames', async () => {
    const c = await open(t, 'h1', ['user:h1']);
    clients.push(c);
    for (const n of [1, 2, 3, 4]) await publish(t, 'user:h1', { n });
    const live = await c.waitForMessages(4, 'user:h1');

    const page = await ask(c, { type: 'history', channel: 'user:h1', since: 1, limit: 2 });
    expect(page).toMatchObject({ type: 'history', channel: 'user:h1', offset: 4, complete: true });
    expect(page.epoch).toBe(live[0]!.epoch);
    expect(page.messages).toEqual([live[1], live[2]]);

    // Without since: the newest `limit`; past the newest: nothing, and not complete.
    expect((await ask(c, { type: 'history', channel: 'user:h1', limit: 3 })).messages).toEqual(live.slice(1));
    expect(await ask(c, { type: 'history', channel: 'user:h1', since: 4 })).toMatchObject({
      messages: [],
      complete: true,
    });
    expect(await ask(c, { type: 'history', channel: 'user:h1', since: 9 })).toMatchObject({
      messages: [],
      complete: false,
    });
  });

  it('when messages after since were trimmed, then history answers the retained ones with complete false', async () => {
    const c = await open(t, 'h2');
    clients.push(c);
    for (let n = 1; n <= 8; n++) await publish(t, 'user:h2', { n }); // 5 kept: 4..8

    const all = await ask(c, { type: 'history', channel: 'user:h2', since: 0, limit: 100 });
    expect(all.complete).toBe(false);
    expect((all.messages as { offset: number }[]).map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
    const tail = await ask(c, { type: 'history', channel: 'user:h2', since: 5 });
    expect(tail.complete).toBe(true);
    expect((tail.messages as { data: unknown }[]).map((m) => m.data)).toEqual([{ n: 6 }, { n: 7 }, { n: 8 }]);
  });

  it('when history is asked of a channel the user may not subscribe, or of no channel, then a coded channel error answers and the connection stays', async () => {
    const c = await open(t, 'h3');
    clients.push(c);

    expect(await ask(c, { type: 'history', channel: 'user:someone-else' })).toMatchObject({
      type: 'error',
      code: 'permission_denied',
      channel: 'user:someone-else',
      retryable: false,
    });
    expect(await ask(c, { type: 'history', channel: 'order:o-nobody' })).toMatchObject({
      code: 'permission_denied',
    });
    expect(await ask(c, { type: 'history', channel: 'bogus:x' })).toMatchObject({
      code: 'unknown_channel',
      channel: 'bogus:x',
    });
    expect(await ask(c, { type: 'history', channel: 'promotions' })).toMatchObject({ type: 'history' });
    expect(await ask(c, { type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('when a history or ack frame is malformed, then it is answered bad_frame with its ref', async () => {
    const c = await open(t, 'h4');
    clients.push(c);
    const bad = [
      { type: 'history' },
      { type: 'history', channel: 'user:h4', limit: 0 },
      { type: 'history', channel: 'user:h4', limit: 101 },
      { type: 'history', channel: 'user:h4', since: -1 },
      { type: 'history', channel: 'user:h4', since: '3' },
      { type: 'ack', channel: 'user:h4' },
      { type: 'ack', channel: 'user:h4', offset: 1.5 },
      { type: 'ack', channel: 'user:h4', offset: 1, epoch: '' },
    ];
    for (const frame of bad) {
      expect(await ask(c, frame), JSON.stringify(frame)).toMatchObject({ type: 'error', code: 'bad_frame' });
    }
    expect(await ask(c, { type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('when a user acks, then the read position only moves forward, never past the newest message, and in the current epoch only', async () => {
    const c = await open(t, 'a1', ['user:a1']);
    clients.push(c);
    for (const n of [1, 2, 3, 4]) await publish(t, 'user:a1', { n });
    const [first] = await c.waitForMessages(4, 'user:a1');
    const epoch = first!.epoch;

    expect(await ask(c, { type: 'ack', channel: 'user:a1', offset: 2 })).toMatchObject({
      type: 'read',
      channel: 'user:a1',
      offset: 2,
      epoch,
    });
    expect(await ask(c, { type: 'ack', channel: 'user:a1', offset: 1 })).toMatchObject({ offset: 2 });
    expect(await ask(c, { type: 'ack', channel: 'user:a1', offset: 99 })).toMatchObject({ offset: 4 });
    // Offsets of another run move nothing; the answer says where the current run stands.
    expect(
      await ask(c, { type: 'ack', channel: 'user:a1', offset: 1, epoch: 'another-epoch' }),
    ).toMatchObject({ type: 'read', offset: 4, epoch });
    expect((await inbox(t, 'a1')).body).toEqual({
      userId: 'a1',
      channels: [{ channel: 'user:a1', epoch, offset: 4, read: 4, unread: 0 }],
    });
  });

  it('when a user acks another user’s channel or a channel that is not a user channel, then it is refused', async () => {
    const c = await open(t, 'a2', ['promotions']);
    clients.push(c);

    for (const channel of ['user:a3', 'promotions', 'order:o-1']) {
      expect(await ask(c, { type: 'ack', channel, offset: 1 })).toMatchObject({
        type: 'error',
        code: 'permission_denied',
        channel,
      });
    }
    expect(await ask(c, { type: 'ack', channel: 'nope', offset: 1 })).toMatchObject({
      code: 'unknown_channel',
    });
  });

  it('when a user acked, then its other connections subscribed to the channel get read, and a new subscription carries read', async () => {
    const a = await open(t, 'a4', ['user:a4']);
    const b = await open(t, 'a4', ['user:a4']);
    const elsewhere = await open(t, 'a4', ['promotions']);
    clients.push(a, b, elsewhere);
    for (const n of [1, 2, 3]) await publish(t, 'user:a4', { n });
    await b.waitForMessages(3, 'user:a4');

    const answer = await ask(a, { type: 'ack', channel: 'user:a4', offset: 2 });
    const told = await b.next('read');
    expect(told).toEqual({ type: 'read', channel: 'user:a4', offset: 2, epoch: answer.epoch });
    await noReadFrames(elsewhere);
    expect(a.frames.filter((f) => f.type === 'read')).toHaveLength(1); // its own answer only

    // Acking again at the same place moves nothing: nobody is told.
    await ask(a, { type: 'ack', channel: 'user:a4', offset: 2 });
    await noReadFrames(elsewhere);
    await ask(b, { type: 'ping' });
    expect(b.frames.filter((f) => f.type === 'read')).toHaveLength(1);

    const later = await open(t, 'a4');
    clients.push(later);
    expect(await later.subscribe('user:a4')).toMatchObject({ type: 'subscribed', offset: 3, read: 2 });
    expect(await later.subscribe('promotions')).not.toHaveProperty('read');
  });

  it('when an ack moves the read position, then the onRead hook is called once, with the new offset', async () => {
    const calls: [string, string, number][] = [];
    // The hook an embedding node sets through GatewayOptions.onRead (the message.read webhook).
    const ctx = (t.node.gateway as unknown as { ctx: ConnectionContext }).ctx;
    ctx.onRead = (userId, channel, offset) => calls.push([userId, channel, offset]);
    try {
      const c = await open(t, 'a5');
      clients.push(c);
      await publish(t, 'user:a5', 1);
      await publish(t, 'user:a5', 2);
      await ask(c, { type: 'ack', channel: 'user:a5', offset: 0 }); // nothing marked read
      await ask(c, { type: 'ack', channel: 'user:a5', offset: 1 });
      await ask(c, { type: 'ack', channel: 'user:a5', offset: 1 });
      await ask(c, { type: 'ack', channel: 'user:a5', offset: 2 });
      expect(calls).toEqual([
        ['a5', 'user:a5', 1],
        ['a5', 'user:a5', 2],
      ]);
    } finally {
      delete ctx.onRead;
    }
  });

  it('when a guest asks history, then only promotions are open to it, and it cannot ack', async () => {
    const guest = await TestClient.connect(t.wsUrl);
    clients.push(guest);
    guest.send({ type: 'auth' });
    const welcome = await guest.next('welcome');
    await publish(t, 'promotions', { title: 'sale' }, { event: 'promotion' });

    const page = await ask(guest, { type: 'history', channel: 'promotions' });
    expect(page).toMatchObject({ type: 'history', channel: 'promotions' });
    expect((page.messages as unknown[]).length).toBeGreaterThan(0);
    expect(await ask(guest, { type: 'history', channel: 'user:h1' })).toMatchObject({
      code: 'permission_denied',
    });
    expect(
      await ask(guest, { type: 'ack', channel: `user:${String(welcome.user)}`, offset: 0 }),
    ).toMatchObject({ code: 'permission_denied' });
  });

  it('when the inbox is asked, then it needs an API key, answers zeros for an unknown user and 400 for a bad id', async () => {
    expect((await inbox(t, 'i1', '')).status).toBe(401);
    expect(await inbox(t, 'nobody-at-all')).toMatchObject({
      status: 200,
      body: {
        userId: 'nobody-at-all',
        channels: [{ channel: 'user:nobody-at-all', offset: 0, read: 0, unread: 0 }],
      },
    });
    expect((await inbox(t, 'i1', ADMIN)).status).toBe(200); // admin implies publish
    const bad = await inbox(t, 'not valid');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');

    for (const n of [1, 2, 3]) await publish(t, 'user:i1', { n });
    expect((await inbox(t, 'i1')).body.channels).toMatchObject([{ offset: 3, read: 0, unread: 3 }]);
    const c = await open(t, 'i1');
    clients.push(c);
    await ask(c, { type: 'ack', channel: 'user:i1', offset: 1 });
    expect((await inbox(t, 'i1')).body.channels).toMatchObject([{ offset: 3, read: 1, unread: 2 }]);
  });
});

describe('read state across two nodes (real Redis and RabbitMQ)', () => {
  let pair: BackedNodes;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    pair = await startBackedNodes([{}, {}], { CLUSTER_STATS_INTERVAL_MS: '0' });
    [a, b] = pair.nodes as [TestNode, TestNode];
  });
  afterAll(() => pair?.stop());

  it('when a user acks on node A, then its connection on node B gets read, B’s inbox and subscriptions see it, and a connection not on the channel hears nothing', async () => {
    const onA = await open(a, 'x1', ['user:x1']);
    const onB = await open(b, 'x1', ['user:x1']);
    const quietOnB = await open(b, 'x1', ['promotions']);
    clients.push(onA, onB, quietOnB);
    for (const n of [1, 2, 3, 4, 5]) await publish(b, 'user:x1', { n });
    await onA.waitForMessages(5, 'user:x1');
    await onB.waitForMessages(5, 'user:x1');

    const answer = await ask(onA, { type: 'ack', channel: 'user:x1', offset: 3 });
    expect(answer).toMatchObject({ type: 'read', offset: 3 });
    expect(await onB.next('read')).toEqual({
      type: 'read',
      channel: 'user:x1',
      offset: 3,
      epoch: answer.epoch,
    });
    await noReadFrames(quietOnB);

    // And back: B acks further, A is told.
    await ask(onB, { type: 'ack', channel: 'user:x1', offset: 5 });
    expect(await onA.next('read', (f) => f.ref === undefined)).toMatchObject({ offset: 5 });

    expect((await inbox(a, 'x1')).body.channels).toMatchObject([{ offset: 5, read: 5, unread: 0 }]);
    await publish(a, 'user:x1', { n: 6 });
    expect((await inbox(b, 'x1')).body.channels).toMatchObject([{ offset: 6, read: 5, unread: 1 }]);
    const later = await open(b, 'x1');
    clients.push(later);
    expect(await later.subscribe('user:x1')).toMatchObject({ offset: 6, read: 5 });
  });

  it('when two SDK clients of one user sit on two nodes, then history, ack, unread counts and read events agree', async () => {
    const token = await mintToken('x2');
    const sdk = (node: TestNode) => {
      const client = new HeraldClient({
        url: node.wsUrl,
        token,
        WebSocket,
        transports: ['websocket'],
      });
      sdks.push(client);
      client.subscribe('user:x2');
      client.connect();
      return client;
    };
    const phone = sdk(a);
    const laptop = sdk(b);
    const laptopReads: ReadEvent[] = [];
    laptop.on('read', (e) => laptopReads.push(e));
    await waitFor(() => phone.unread('user:x2') === 0 && laptop.unread('user:x2') === 0, 'both subscribed');

    for (const n of [1, 2, 3]) await publish(a, 'user:x2', { n }, { event: 'order.status' });
    await waitFor(() => phone.unread('user:x2') === 3 && laptop.unread('user:x2') === 3, '3 unread on both');

    const page = await laptop.history('user:x2', { since: 1 });
    expect(page.complete).toBe(true);
    expect(page.messages.map((m) => m.data)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(page.messages[0]).toMatchObject({ type: 'message', channel: 'user:x2', offset: 2 });

    expect(await phone.ack('user:x2')).toEqual({ offset: 3, epoch: page.epoch });
    expect(phone.unread('user:x2')).toBe(0);
    await waitFor(() => laptop.unread('user:x2') === 0, 'the laptop to see the read position');
    expect(laptopReads.at(-1)).toEqual({ channel: 'user:x2', offset: 3, epoch: page.epoch, unread: 0 });

    const denied = await laptop.history('user:someone-else').catch((e: HeraldError) => e);
    expect(denied).toMatchObject({ name: 'HeraldError', code: 'permission_denied', retryable: false });
    const refused = await laptop.ack('promotions', 1).catch((e: HeraldError) => e);
    expect(refused).toMatchObject({ code: 'permission_denied' });
  });

  it('when the SDK is on the SSE fallback, then history and ack fail at once with unsupported_transport, while read events still arrive', async () => {
    const token = await mintToken('x3');
    const streamed = new HeraldClient({
      url: b.wsUrl,
      token,
      transports: ['sse'],
      EventSource,
    });
    const socketed = new HeraldClient({
      url: a.wsUrl,
      token,
      WebSocket,
      transports: ['websocket'],
    });
    sdks.push(streamed, socketed);
    for (const client of [streamed, socketed]) {
      client.subscribe('user:x3');
      client.connect();
    }
    await publish(a, 'user:x3', { n: 1 });
    await waitFor(() => streamed.unread('user:x3') === 1 && socketed.unread('user:x3') === 1, 'one unread');

    await expect(streamed.history('user:x3')).rejects.toMatchObject({ code: 'unsupported_transport' });
    await expect(streamed.ack('user:x3')).rejects.toMatchObject({ code: 'unsupported_transport' });

    await socketed.ack('user:x3');
    await waitFor(() => streamed.unread('user:x3') === 0, 'the stream to get the read frame');
  });
});
