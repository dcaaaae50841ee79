import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
const clients: TestClient[] = [];

async function open(userId: string, segments?: string[]): Promise<TestClient> {
  const client = await TestClient.open(t.wsUrl, await mintToken(userId, segments ? { segments } : {}));
  clients.push(client);
  return client;
}

beforeAll(async () => {
  t = await startTestNode();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t.stop();
});

describe('delivery on one node', () => {
  it('when an order event is posted, then only its user and the order subscribers receive it', async () => {
    const alice = await open('alice');
    const aliceOrderTab = await open('alice');
    const bob = await open('bob');
    expect((await alice.subscribe('user:alice')).type).toBe('subscribed');
    expect((await bob.subscribe('user:bob')).type).toBe('subscribed');

    // The first event teaches the node that o-1 belongs to alice; then her second tab may subscribe.
    const first = await postJson(t, '/v1/orders/o-1/events', { userId: 'alice', status: 'paid' });
    expect(first.status).toBe(202);
    const firstBody = (await first.json()) as { messages: { channel: string; offset: number; id: string }[] };
    expect(firstBody.messages.map((m) => m.channel)).toEqual(['user:alice', 'order:o-1']);
    expect(firstBody.messages[0]!.id).toBe(firstBody.messages[1]!.id);
    expect((await aliceOrderTab.subscribe('order:o-1')).type).toBe('subscribed');

    const second = await postJson(t, '/v1/orders/o-1/events', {
      userId: 'alice',
      status: 'shipped',
      details: { carrier: 'DHL' },
    });
    expect(second.status).toBe(202);

    const [paid, shipped] = await alice.waitForMessages(2, 'user:alice');
    expect(paid).toMatchObject({
      event: 'order.status',
      offset: 1,
      data: { orderId: 'o-1', status: 'paid' },
    });
    expect(shipped).toMatchObject({ offset: 2, data: { status: 'shipped', details: { carrier: 'DHL' } } });
    expect(typeof shipped!.ts).toBe('number');
    const [onOrder] = await aliceOrderTab.waitForMessages(1, 'order:o-1');
    expect(onOrder).toMatchObject({ channel: 'order:o-1', offset: 2, data: { status: 'shipped' } });

    // Bob is connected and subscribed to his own channel, and sees nothing of alice's order.
    await postJson(t, '/v1/publish', { channel: 'user:bob', event: 'marker', data: 1 });
    await bob.waitForMessages(1, 'user:bob');
    expect(bob.messages().map((m) => m.event)).toEqual(['marker']);
  });

  it('when a promotion is posted, then every connected subscriber of promotions receives it once', async () => {
    const users = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((u) => open(u)));
    for (const u of users) expect((await u.subscribe('promotions')).type).toBe('subscribed');
    const res = await postJson(t, '/v1/promotions', {
      promotionId: 'bf-2026',
      title: 'Black Friday',
      body: '-30% on everything',
    });
    expect(res.status).toBe(202);
    for (const u of users) {
      const [m] = await u.waitForMessages(1, 'promotions');
      expect(m).toMatchObject({
        event: 'promotion',
        data: { promotionId: 'bf-2026', title: 'Black Friday' },
      });
    }
    await postJson(t, '/v1/promotions', { promotionId: 'bf-2', title: 'Again', body: 'second' });
    for (const u of users) {
      const msgs = await u.waitForMessages(2, 'promotions');
      expect(msgs.map((m) => m.offset)).toEqual([msgs[0]!.offset, (msgs[0]!.offset as number) + 1]);
    }
  });

  it('when a segment promotion is posted, then only users of that segment receive it', async () => {
    const vip = await open('vip-user', ['vip']);
    const paris = await open('paris-user', ['city-paris']);
    expect((await vip.subscribe('promotions:vip')).type).toBe('subscribed');
    expect((await vip.subscribe('promotions')).type).toBe('subscribed');
    expect((await paris.subscribe('promotions')).type).toBe('subscribed');
    expect((await paris.subscribe('promotions:vip')).code).toBe('permission_denied');

    expect(
      (
        await postJson(t, '/v1/promotions', {
          promotionId: 'vip-1',
          title: 'VIP',
          body: 'only vips',
          segment: 'vip',
        })
      ).status,
    ).toBe(202);
    expect(
      (await postJson(t, '/v1/promotions', { promotionId: 'all-1', title: 'All', body: 'everyone' })).status,
    ).toBe(202);
    await vip.waitForMessages(1, 'promotions:vip');
    await paris.waitForMessages(1, 'promotions');
    await vip.waitForMessages(1, 'promotions');
    expect(paris.messages('promotions:vip')).toHaveLength(0);
    expect(paris.messages().map((m) => m.data)).toEqual([expect.objectContaining({ promotionId: 'all-1' })]);
  });

  it('when messages are published in a batch, then offsets are contiguous and order is kept', async () => {
    const carol = await open('carol');
    const sub = await carol.subscribe('user:carol');
    expect(sub).toMatchObject({ type: 'subscribed', offset: 0, recovered: false });
    const res = await postJson(t, '/v1/publish/batch', {
      messages: Array.from({ length: 20 }, (_, i) => ({ channel: 'user:carol', event: 'tick', data: { i } })),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { messages: { offset: number }[] };
    expect(body.messages.map((m) => m.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const msgs = await carol.waitForMessages(20, 'user:carol');
    expect(msgs.map((m) => m.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(msgs.map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('when a client subscribes while messages are flowing, then it sees every message after its offset exactly once', async () => {
    const dave = await open('dave');
    const publishing = (async () => {
      for (let i = 0; i < 50; i++)
        await postJson(t, '/v1/publish', { channel: 'user:dave', event: 'tick', data: i });
    })();
    const sub = await dave.subscribe('user:dave');
    await publishing;
    const last = 50;
    const expected = Array.from(
      { length: last - (sub.offset as number) },
      (_, i) => (sub.offset as number) + i + 1,
    );
    const msgs = await dave.waitForMessages(expected.length, 'user:dave');
    expect(msgs.map((m) => m.offset)).toEqual(expected);
  });

  it('when a user has several tabs, then presence counts each and disconnect closes them all with 4004', async () => {
    const tabs = await Promise.all([open('erin'), open('erin'), open('erin')]);
    const presence = await fetch(`${t.url}/v1/users/erin/presence`, { headers: { authorization: ADMIN } });
    expect(presence.status).toBe(200);
    expect(await presence.json()).toEqual({
      userId: 'erin',
      online: true,
      connections: 3,
      nodes: [t.config.nodeId],
    });

    const bystander = await open('frank');
    const res = await fetch(`${t.url}/v1/users/erin/connections`, {
      method: 'DELETE',
      headers: { authorization: ADMIN },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ userId: 'erin', connections: 3 });
    for (const tab of tabs) expect(await tab.waitClose()).toBe(4004);

    const after = await fetch(`${t.url}/v1/users/erin/presence`, { headers: { authorization: ADMIN } });
    expect(await after.json()).toEqual({ userId: 'erin', online: false, connections: 0, nodes: [] });
    // Everyone else keeps being served.
    bystander.send({ type: 'ping', ref: 1 });
    expect(await bystander.next('pong')).toMatchObject({ ref: 1 });
  });
});

describe('delivery metrics', () => {
  it('when a message is published and delivered, then the publish-to-delivery latency and deliveries by kind are on /metrics', async () => {
    const alice = await open('m-alice');
    await alice.subscribe('user:m-alice');
    const before = await (await fetch(`${t.url}/metrics`)).text();
    const count = (text: string): number =>
      Number(/herald_delivery_latency_seconds_count (\d+)/.exec(text)?.[1] ?? 0);
    expect(
      (await postJson(t, '/v1/publish', { channel: 'user:m-alice', event: 'tick', data: 1 })).status,
    ).toBe(202);
    await alice.waitForMessages(1);
    const after = await (await fetch(`${t.url}/metrics`)).text();
    expect(count(after)).toBe(count(before) + 1);
    expect(after).toMatch(/herald_messages_delivered_total\{kind="user"\} [1-9]/);
  });
});
