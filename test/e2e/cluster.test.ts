/**
 * Cluster mode with separate node processes against the machine's real Redis and RabbitMQ: any node
 * reaches any user, presence and disconnects span nodes, dead nodes leave the registry, offsets stay
 * contiguous under concurrent publishers on different nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/node-process.js';
import { postJson } from '../helpers/rest-http.js';
import { ADMIN } from '../helpers/test-node.js';
import { AMQP_ADDRESS, AMQP_URL, REDIS_ADDRESS, REDIS_URL, through } from '../helpers/backends.js';
import { busCounters, countersSince, type BusCounters } from '../helpers/bus-counters.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let cluster: TestCluster;
let a: NodeProcess;
let b: NodeProcess;
let c: NodeProcess;
const clients: TestClient[] = [];

async function open(node: NodeProcess, userId: string, segments?: string[]): Promise<TestClient> {
  const client = await TestClient.open(node.wsUrl, await mintToken(userId, segments ? { segments } : {}));
  clients.push(client);
  return client;
}

async function getJson<T>(node: NodeProcess, path: string): Promise<T> {
  const res = await fetch(`${node.url}${path}`, { headers: { authorization: ADMIN } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  // The nodes' own stats (cluster channel) are bus traffic too: off, so the bus counts are the tests'.
  cluster = await startCluster(3, { CLUSTER_STATS_INTERVAL_MS: '0' });
  [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
}, 60_000);
afterAll(async () => {
  for (const client of clients) client.close();
  await cluster?.stop();
});

describe('cluster of three node processes', () => {
  it('when an order event is posted to node C, then the user connected to node A receives it', async () => {
    const alice = await open(a, 'c-alice');
    expect(await alice.subscribe('user:c-alice')).toMatchObject({ type: 'subscribed' });
    const res = await postJson(c, '/v1/orders/c-o1/events', { userId: 'c-alice', status: 'shipped' });
    expect(res.status).toBe(202);
    const [message] = await alice.waitForMessages(1, 'user:c-alice');
    expect(message).toMatchObject({
      event: 'order.status',
      offset: 1,
      data: { orderId: 'c-o1', status: 'shipped' },
    });
    // Ownership learned on C is known on B.
    const tab = await open(b, 'c-alice');
    expect(await tab.subscribe('order:c-o1')).toMatchObject({ type: 'subscribed', offset: 1 });
  });

  it('when a promotion is posted once, then every client on every node receives it exactly once', async () => {
    const users = await Promise.all([a, b, c, a, b, c].map((node, i) => open(node, `c-promo-${i}`)));
    for (const u of users) expect(await u.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
    expect((await postJson(b, '/v1/promotions', { promotionId: 'c-p1', title: 'T', body: 'B' })).status).toBe(
      202,
    );
    // A second promotion as a marker: once it arrived everywhere, any duplicate of the first would have too.
    expect((await postJson(a, '/v1/promotions', { promotionId: 'c-p2', title: 'T', body: 'B' })).status).toBe(
      202,
    );
    for (const u of users) {
      const msgs = await u.waitForMessages(2, 'promotions');
      expect(msgs.map((m) => (m.data as { promotionId: string }).promotionId)).toEqual(['c-p1', 'c-p2']);
    }
  });

  it('when a user is connected on several nodes, then presence from any node counts them all', async () => {
    await Promise.all([open(a, 'c-bob'), open(b, 'c-bob'), open(b, 'c-bob'), open(c, 'c-bob')]);
    for (const node of [a, b, c]) {
      const presence = await getJson<{ connections: number; nodes: string[] }>(
        node,
        '/v1/users/c-bob/presence',
      );
      expect(presence).toMatchObject({ connections: 4, nodes: [a.id, b.id, c.id].sort() });
    }
  });

  it('when connections are deleted on one node, then the user is disconnected on all nodes', async () => {
    const tabs = await Promise.all([open(a, 'c-carol'), open(b, 'c-carol'), open(c, 'c-carol')]);
    const bystander = await open(b, 'c-dave');
    const res = await fetch(`${c.url}/v1/users/c-carol/connections`, {
      method: 'DELETE',
      headers: { authorization: ADMIN },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ userId: 'c-carol', connections: 3 });
    for (const tab of tabs) expect(await tab.waitClose()).toBe(4004);
    await waitFor(
      async () => (await getJson<{ connections: number }>(a, '/v1/users/c-carol/presence')).connections === 0,
      'presence of c-carol to drop to 0',
    );
    bystander.send({ type: 'ping', ref: 'alive' });
    expect(await bystander.next('pong')).toMatchObject({ ref: 'alive' });
  });

  it('when two nodes publish to one channel concurrently, then offsets stay contiguous and every message arrives once', async () => {
    const erin = await open(c, 'c-erin');
    expect(await erin.subscribe('user:c-erin')).toMatchObject({ type: 'subscribed', offset: 0 });
    const publishFrom = (node: NodeProcess, tag: string) =>
      Promise.all(
        Array.from({ length: 5 }, (_, batch) =>
          postJson(node, '/v1/publish/batch', {
            messages: Array.from({ length: 20 }, (_, i) => ({
              channel: 'user:c-erin',
              event: 'tick',
              data: `${tag}-${batch}-${i}`,
            })),
          }).then(async (res) => {
            expect(res.status).toBe(202);
            return ((await res.json()) as { messages: { offset: number }[] }).messages.map((m) => m.offset);
          }),
        ),
      );
    const [fromA, fromB] = await Promise.all([publishFrom(a, 'a'), publishFrom(b, 'b')]);
    const offsets = [...fromA.flat(), ...fromB.flat()].sort((x, y) => x - y);
    expect(offsets).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const received = await erin.waitForMessages(200, 'user:c-erin', 10_000);
    expect(new Set(received.map((m) => m.offset)).size).toBe(200);
  });

  it('when user events are posted to each node, then only the nodes holding the user take them: a holder delivers its own without the bus, one targeted publish carries the rest', async () => {
    const channel = 'user:c-frank';
    const postToEach = async (round: number): Promise<BusCounters[]> => {
      const before = await Promise.all([a, b, c].map(busCounters));
      for (const [i, node] of [a, b, c].entries())
        expect(
          (await postJson(node, '/v1/publish', { channel, event: 'tick', data: `${round}-${i}` })).status,
        ).toBe(202);
      // Each tab has its 3 newest messages (the second tab joined for round 2).
      for (const [t, tab] of tabs.entries()) await tab.waitForMessages(3 * (round - t), channel);
      const after = await Promise.all([a, b, c].map(busCounters));
      return after.map((counts, i) => countersSince(before[i]!, counts));
    };
    const tabs = [await open(a, 'c-frank')];
    expect(await tabs[0]!.subscribe(channel)).toMatchObject({ type: 'subscribed' });

    // Only A holds frank: A delivers its own message without the bus and takes B's and C's.
    expect(await postToEach(1)).toEqual([
      { received: 2, local: 1, targeted: 0, broadcast: 0 },
      { received: 0, local: 0, targeted: 1, broadcast: 0 },
      { received: 0, local: 0, targeted: 1, broadcast: 0 },
    ]);

    // A second tab on B: A and B each deliver their own and send one copy to the other; C's one
    // publish reaches both. C takes nothing.
    tabs.push(await open(b, 'c-frank'));
    expect(
      await tabs[1]!.subscribe(channel, { offset: 3, epoch: tabs[0]!.messages(channel)[0]!.epoch }),
    ).toMatchObject({ type: 'subscribed', offset: 3 });
    expect(await postToEach(2)).toEqual([
      { received: 2, local: 0, targeted: 1, broadcast: 0 },
      { received: 2, local: 0, targeted: 1, broadcast: 0 },
      { received: 0, local: 0, targeted: 1, broadcast: 0 },
    ]);
    expect(tabs[0]!.messages(channel).map((m) => m.data)).toEqual(['1-0', '1-1', '1-2', '2-0', '2-1', '2-2']);
    expect(tabs[1]!.messages(channel).map((m) => [m.offset, m.data])).toEqual([
      [4, '2-0'],
      [5, '2-1'],
      [6, '2-2'],
    ]);

    // A third tab on A subscribes without a position: A answers from its own run (no Redis read),
    // which targeted routing keeps current because A holds frank all along.
    tabs.push(await open(a, 'c-frank'));
    expect(await tabs[2]!.subscribe(channel)).toMatchObject({ type: 'subscribed', offset: 6 });
    expect(await postToEach(3)).toEqual([
      { received: 2, local: 0, targeted: 1, broadcast: 0 },
      { received: 2, local: 0, targeted: 1, broadcast: 0 },
      { received: 0, local: 0, targeted: 1, broadcast: 0 },
    ]);
    expect(tabs[2]!.messages(channel).map((m) => [m.offset, m.data])).toEqual([
      [7, '3-0'],
      [8, '3-1'],
      [9, '3-2'],
    ]);
  });

  it('when an order event is posted, then its user: and order: messages both go only to the node holding the order’s owner', async () => {
    const tab = await open(a, 'c-heidi');
    expect(await tab.subscribe('user:c-heidi')).toMatchObject({ type: 'subscribed' });
    // The first event claims the order for c-heidi; then the tab may subscribe its channel.
    expect((await postJson(c, '/v1/orders/c-o9/events', { userId: 'c-heidi', status: 'paid' })).status).toBe(
      202,
    );
    await tab.waitForMessages(1, 'user:c-heidi');
    expect(await tab.subscribe('order:c-o9')).toMatchObject({ type: 'subscribed', offset: 1 });
    const before = await Promise.all([a, b, c].map(busCounters));
    expect(
      (await postJson(b, '/v1/orders/c-o9/events', { userId: 'c-heidi', status: 'shipped' })).status,
    ).toBe(202);
    const [onOrder] = await tab.waitForMessages(1, 'order:c-o9');
    expect(onOrder).toMatchObject({ offset: 2, data: { status: 'shipped' } });
    await tab.waitForMessages(2, 'user:c-heidi');
    const after = await Promise.all([a, b, c].map(busCounters));
    expect(after.map((counts, i) => countersSince(before[i]!, counts))).toEqual([
      { received: 2, local: 0, targeted: 0, broadcast: 0 },
      { received: 0, local: 0, targeted: 2, broadcast: 0 },
      { received: 0, local: 0, targeted: 0, broadcast: 0 },
    ]);
  });

  it('when a user’s only connection hops from node to node during a stream posted to every node, then it gets every message once, in order', async () => {
    const user = 'c-grace';
    const channel = `user:${user}`;
    const total = 300;
    // The stream stays at most WINDOW messages ahead of what the client got, so every hop happens
    // with messages in flight, published to the node being left, the one joined and the third.
    const WINDOW = 20;
    const got: number[] = [];
    let tab = await open(a, user);
    let epoch = (await tab.subscribe(channel)).epoch as string;
    const seen = (): number => got.length + tab.messages(channel).length;
    let accepted = 0;
    const publishing = Promise.all(
      [0, 1, 2].map(async (worker) => {
        for (let i = worker; i < total; i += 3) {
          await waitFor(() => i - seen() < WINDOW, `the client to get close to message ${i}`, 20_000);
          const res = await postJson([a, b, c][i % 3]!, '/v1/publish', { channel, event: 'tick', data: i });
          expect(res.status).toBe(202);
          accepted++;
        }
      }),
    );
    // Break before make: each next connection recovers from the last offset the previous one got.
    for (const [hop, node] of [b, c, a, b].entries()) {
      await waitFor(() => seen() >= (hop + 1) * 60, `hop ${hop}: ${(hop + 1) * 60} messages`, 20_000);
      tab.close();
      await tab.waitClose();
      for (const m of tab.messages(channel)) got.push(m.offset as number);
      expect(accepted).toBeLessThan(total);
      tab = await open(node, user);
      const reply = await tab.subscribe(channel, { offset: got.at(-1)!, epoch });
      expect(reply).toMatchObject({ type: 'subscribed', recovered: true, epoch });
      epoch = reply.epoch as string;
    }
    await publishing;
    await waitFor(() => seen() >= total, 'the last messages', 20_000);
    for (const m of tab.messages(channel)) got.push(m.offset as number);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  }, 60_000);

  it('when the cluster view is asked on any node, then it lists all three nodes with fresh heartbeats', async () => {
    for (const node of [a, b, c]) {
      const view = await getJson<{
        self: string;
        nodes: { id: string; url: string; lastHeartbeat: number }[];
      }>(node, '/v1/cluster');
      expect(view.self).toBe(node.id);
      const ids = view.nodes.map((n) => n.id);
      for (const n of [a, b, c]) expect(ids).toContain(n.id);
      expect(view.nodes.find((n) => n.id === a.id)?.url).toBe(a.url);
    }
  });

  it('when a node is killed with SIGKILL, then it leaves the registry within its TTL', async () => {
    const doomed = await cluster.start(`${a.id}-doomed`);
    await waitFor(
      async () =>
        (await getJson<{ nodes: { id: string }[] }>(a, '/v1/cluster')).nodes.some((n) => n.id === doomed.id),
      'the new node in the registry',
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    await waitFor(
      async () =>
        !(await getJson<{ nodes: { id: string }[] }>(b, '/v1/cluster')).nodes.some((n) => n.id === doomed.id),
      'the killed node to leave the registry',
      5_000,
      50,
    );
    // NODE_TTL_SECONDS is 2 in this cluster; allow the poll interval on top.
    expect(Date.now() - killedAt).toBeLessThan(2_000 + 500);
  });
});

describe('broker outage', () => {
  it('when a node loses RabbitMQ, then publishing there fails fast with 503, its clients stay served, and it recovers by itself', async () => {
    const proxy = await TcpProxy.start(AMQP_ADDRESS);
    const outage = await startCluster(1, {
      AMQP_URL: through(AMQP_URL, proxy),
      AMQP_PUBLISH_TIMEOUT_MS: '500',
    });
    const [node] = outage.nodes as [NodeProcess];
    const other = await outage.start(`${node.id}-direct`, { AMQP_URL });
    try {
      const client = await TestClient.open(node.wsUrl, await mintToken('o-user'));
      await client.subscribe('user:o-user');
      expect(
        (await postJson(node, '/v1/publish', { channel: 'user:o-user', event: 'before', data: 1 })).status,
      ).toBe(202);
      await client.waitForMessages(1);

      proxy.refuse();
      proxy.cut();
      const started = Date.now();
      const res = await postJson(node, '/v1/publish', { channel: 'user:o-user', event: 'during', data: 2 });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'bus_unavailable' });
      expect(Date.now() - started).toBeLessThan(3_000);
      const ready = await fetch(`${node.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ reasons: ['bus unavailable'] });
      client.send({ type: 'ping', ref: 'still-served' });
      expect(await client.next('pong')).toMatchObject({ ref: 'still-served' });

      proxy.accept();
      await waitFor(
        async () => (await fetch(`${node.url}/readyz`)).status === 200,
        'the node to be ready again',
        15_000,
        100,
      );
      // Published on the other node: it reaches the client of the recovered node through its re-declared queue.
      expect(
        (await postJson(other, '/v1/publish', { channel: 'user:o-user', event: 'after', data: 3 })).status,
      ).toBe(202);
      expect(
        (await postJson(node, '/v1/publish', { channel: 'user:o-user', event: 'after-local', data: 4 }))
          .status,
      ).toBe(202);
      const events = (await client.waitForMessages(3)).map((m) => m.event);
      expect(events.slice(0, 1)).toEqual(['before']);
      expect(events).toEqual(expect.arrayContaining(['after', 'after-local']));
      expect(events).not.toContain('during');
      client.close();
    } finally {
      await outage.stop();
      await proxy.close();
    }
  }, 40_000);
});

describe('presence outage', () => {
  it('when a node’s presence lapses while its Redis link is down, then messages routed past it meanwhile reach its clients from history once the link is back', async () => {
    const proxy = await TcpProxy.start(REDIS_ADDRESS);
    const pair = await startCluster(1, { PRESENCE_TTL_SECONDS: '3' });
    const [steady] = pair.nodes as [NodeProcess];
    const flaky = await pair.start(`${steady.id}-flaky`, { REDIS_URL: through(REDIS_URL, proxy) });
    try {
      const channel = 'user:p-user';
      const tabs = [
        await TestClient.open(steady.wsUrl, await mintToken('p-user')),
        await TestClient.open(flaky.wsUrl, await mintToken('p-user')),
      ];
      for (const tab of tabs) expect(await tab.subscribe(channel)).toMatchObject({ type: 'subscribed' });
      expect((await postJson(steady, '/v1/publish', { channel, event: 'tick', data: 1 })).status).toBe(202);
      for (const tab of tabs) await tab.waitForMessages(1, channel);

      // The flaky node loses Redis; its presence entry expires and the steady node's refresh purges it.
      proxy.refuse();
      proxy.cut();
      await waitFor(
        async () => {
          const res = await fetch(`${steady.url}/v1/users/p-user/presence`, {
            headers: { authorization: ADMIN },
          });
          return ((await res.json()) as { nodes: string[] }).nodes.join() === steady.id;
        },
        'the flaky node to drop out of presence',
        15_000,
        100,
      );
      for (const data of [2, 3, 4])
        expect((await postJson(steady, '/v1/publish', { channel, event: 'tick', data })).status).toBe(202);
      await tabs[0]!.waitForMessages(4, channel);
      expect(tabs[1]!.messages(channel)).toHaveLength(1); // routed past it

      // Back: it re-adds its connections and catches up from history, with no further message.
      proxy.accept();
      const got = await tabs[1]!.waitForMessages(4, channel, 15_000);
      expect(got.map((m) => m.data)).toEqual([1, 2, 3, 4]);
      for (const tab of tabs) tab.close();
    } finally {
      await pair.stop();
      await proxy.close();
    }
  }, 40_000);
});
