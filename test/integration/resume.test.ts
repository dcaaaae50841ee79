import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNodes, startTestNode, type BackedNodes, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/** Opens a connection, subscribes to `channels`, and returns it with its session id. */
async function session(node: TestNode, user: string, channels: string[]) {
  const client = await TestClient.connect(node.wsUrl, { token: await mintToken(user) });
  const welcome = await client.next('welcome');
  const positions: Record<string, { offset: number; epoch: string }> = {};
  for (const channel of channels) {
    const reply = await client.subscribe(channel);
    expect(reply.type).toBe('subscribed');
    positions[channel] = { offset: reply.offset as number, epoch: reply.epoch as string };
  }
  return { client, id: welcome.session as string, positions };
}

describe('session resume on one node', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.stop());

  it('when a client resumes with its positions, then its channels are restored and every missed message arrives once, in order', async () => {
    const first = await session(t, 'rs1', ['user:rs1', 'promotions']);
    await publish(t, 'user:rs1', 'a');
    const [seen] = await first.client.waitForMessages(1, 'user:rs1');
    first.positions['user:rs1'] = { offset: seen!.offset as number, epoch: seen!.epoch as string };
    first.client.close();
    await first.client.waitClose();
    await publish(t, 'user:rs1', 'b');
    await publish(t, 'promotions', 'p');
    await publish(t, 'user:rs1', 'c');

    const back = await TestClient.open(t.wsUrl, await mintToken('rs1'));
    back.send({ type: 'resume', session: first.id, positions: first.positions, ref: 'res-1' });
    const resumed = await back.next('resumed');
    expect(resumed).toEqual({
      type: 'resumed',
      session: first.id,
      channels: expect.arrayContaining(['user:rs1', 'promotions']) as unknown,
      ref: 'res-1',
    });
    expect(resumed.channels).toHaveLength(2);
    const subscribed = back.frames.filter((f) => f.type === 'subscribed');
    expect(subscribed.map((f) => [f.channel, f.recovered, f.ref]).sort()).toEqual([
      ['promotions', true, undefined],
      ['user:rs1', true, undefined],
    ]);
    expect(back.messages('user:rs1').map((m) => m.data)).toEqual(['b', 'c']);
    expect(back.messages('promotions').map((m) => m.data)).toEqual(['p']);

    // Live delivery goes on, and the session id carries on to the next connection.
    await publish(t, 'user:rs1', 'd');
    await back.waitForMessages(3, 'user:rs1');
    await waitFor(
      async () => (await t.node.drivers.state.sessions.get(first.id))?.channels.length === 2,
      'the adopted session to hold both channels',
    );
    back.close();
    await back.waitClose();
    const third = await TestClient.open(t.wsUrl, await mintToken('rs1'));
    third.send({ type: 'resume', session: first.id, ref: 'res-2' });
    expect((await third.next('resumed')).channels).toHaveLength(2);
    expect(third.frames.filter((f) => f.type === 'subscribed').every((f) => f.recovered === false)).toBe(
      true,
    );
    third.close();
  });

  it("when the session is unknown or another user's, then session_not_found and nothing is subscribed", async () => {
    const other = await session(t, 'rs2', ['user:rs2']);
    const c = await TestClient.open(t.wsUrl, await mintToken('rs3'));
    c.send({ type: 'resume', session: other.id, ref: 'x' });
    expect(await c.next('error')).toMatchObject({ code: 'session_not_found', retryable: false, ref: 'x' });
    c.send({ type: 'resume', session: 'no-such-session', ref: 'y' });
    expect(await c.next('error')).toMatchObject({ code: 'session_not_found', ref: 'y' });
    expect(c.frames.some((f) => f.type === 'subscribed')).toBe(false);
    // The connection is still usable.
    expect(await c.subscribe('user:rs3')).toMatchObject({ type: 'subscribed' });
    other.client.close();
    c.close();
  });

  it('when the client already holds one of the channels, then it is kept and the rest restored', async () => {
    const first = await session(t, 'rs4', ['user:rs4', 'promotions']);
    first.client.close();
    await first.client.waitClose();
    const back = await TestClient.open(t.wsUrl, await mintToken('rs4'));
    await back.subscribe('promotions');
    back.send({ type: 'resume', session: first.id, ref: 'r' });
    const resumed = await back.next('resumed');
    expect([...(resumed.channels as string[])].sort()).toEqual(['promotions', 'user:rs4']);
    expect(back.frames.filter((f) => f.type === 'error')).toEqual([]);
    back.close();
  });

  it('when a channel of the session is refused now, then it gets its error, leaves the session, and the rest is restored', async () => {
    const first = await TestClient.connect(t.wsUrl, { token: await mintToken('rs5', { segments: ['vip'] }) });
    const id = (await first.next('welcome')).session as string;
    await first.subscribe('user:rs5');
    await first.subscribe('promotions:vip');
    first.close();
    await first.waitClose();
    // The user left the segment: the new token no longer carries it.
    const back = await TestClient.open(t.wsUrl, await mintToken('rs5'));
    back.send({ type: 'resume', session: id, ref: 'r' });
    expect(await back.next('resumed')).toMatchObject({ channels: ['user:rs5'] });
    expect(back.frames.find((f) => f.type === 'error')).toMatchObject({
      code: 'permission_denied',
      channel: 'promotions:vip',
    });
    expect((await t.node.drivers.state.sessions.get(id))?.channels).toEqual(['user:rs5']);
    back.close();
  });

  it('when resume is sent before authentication, then it is refused like any other frame', async () => {
    const c = await TestClient.connect(t.wsUrl);
    c.send({ type: 'resume', session: 's' });
    expect(await c.next('error')).toMatchObject({ code: 'auth_required' });
    expect(await c.waitClose()).toBe(4001);
  });
});

describe('session resume across nodes (real Redis and RabbitMQ)', () => {
  let pair: BackedNodes;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    pair = await startBackedNodes([{ NODE_ID: 'resume-a' }, { NODE_ID: 'resume-b' }], {
      SESSION_TTL_SECONDS: '2',
    });
    [a, b] = pair.nodes as [TestNode, TestNode];
  });
  afterAll(() => pair?.stop());

  it('when a client of node A resumes on node B, then B restores and recovers its channels', async () => {
    const first = await session(a, 'rx1', ['user:rx1']);
    await publish(a, 'user:rx1', 1);
    const [seen] = await first.client.waitForMessages(1);
    first.client.close();
    await first.client.waitClose();
    await publish(b, 'user:rx1', 2);
    await publish(a, 'user:rx1', 3);

    const back = await TestClient.open(b.wsUrl, await mintToken('rx1'));
    back.send({
      type: 'resume',
      session: first.id,
      positions: { 'user:rx1': { offset: seen!.offset, epoch: seen!.epoch } },
    });
    expect(await back.next('resumed')).toMatchObject({ session: first.id, channels: ['user:rx1'] });
    expect(back.messages().map((m) => m.data)).toEqual([2, 3]);
    expect(await b.node.drivers.state.sessions.get(first.id)).toMatchObject({
      userId: 'rx1',
      nodeId: 'resume-b',
      channels: ['user:rx1'],
    });
    back.close();
  });

  it('when the client comes back after the resume window, then session_not_found', async () => {
    const first = await session(a, 'rx2', ['user:rx2']);
    first.client.close();
    await first.client.waitClose();
    await waitFor(
      async () => (await b.node.drivers.state.sessions.get(first.id)) === undefined,
      'the detached session to expire',
      6_000,
      100,
    );
    const back = await TestClient.open(b.wsUrl, await mintToken('rx2'));
    back.send({ type: 'resume', session: first.id, ref: 'late' });
    expect(await back.next('error')).toMatchObject({ code: 'session_not_found', ref: 'late' });
    back.close();
  });
});
