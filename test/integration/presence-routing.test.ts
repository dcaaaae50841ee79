/**
 * Messages to users presence knows no connection of (shared/core/router.ts): stored, and sent to no
 * node, where they used to be broadcast to every node. And what makes that safe when the state store
 * loses presence entries while the link stays up: the refresh of the node holding the connection
 * notices, puts them back and catches up from history (redis-presence.ts). Two nodes in this process
 * on the machine's Redis and RabbitMQ.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { REDIS_URL } from '../helpers/backends.js';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { metricValue } from '../helpers/metrics.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNodes, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

/** Nothing on the bus but the test's own messages: no stats, no rebalancing. */
const QUIET = { CLUSTER_STATS_INTERVAL_MS: '0', REBALANCE_INTERVAL_MS: '0' };

async function twoNodes(env: Record<string, string> = {}): Promise<[TestNode, TestNode]> {
  const cluster = await startBackedNodes([{}, {}], { ...QUIET, ...env });
  cleanups.push(() => cluster.stop());
  return [cluster.nodes[0]!, cluster.nodes[1]!];
}

const received = (t: TestNode): Promise<number> => metricValue(t.url, 'herald_bus_messages_received_total');
const routed = (t: TestNode, route: string): Promise<number> =>
  metricValue(t.url, `herald_publish_routes_total{route="${route}"}`);

async function connect(t: TestNode, user: string, channels: string): Promise<TestClient> {
  const token = encodeURIComponent(await mintToken(user));
  const client = await TestClient.connect(`${t.wsUrl}?token=${token}&channels=${channels}`);
  cleanups.push(() => client.close());
  await client.next('subscribed', (f) => f.channel === channels);
  return client;
}

describe('messages to users connected nowhere', () => {
  it('when the user has no connection, then the message is stored and no node takes it from the bus; a later connection reads a position past it', async () => {
    const [a, b] = await twoNodes();
    const before = { a: await received(a), b: await received(b), none: await routed(a, 'none') };

    const stored = await publish(a, 'user:pr-away', { n: 1 });
    expect(stored.offset).toBe(1);
    expect(await routed(a, 'none')).toBe(before.none + 1);
    expect(await routed(a, 'broadcast')).toBe(0);
    expect([await received(a), await received(b)]).toEqual([before.a, before.b]);

    // The user comes: its channel's position is the stored message, which it can read from history.
    const client = await connect(b, 'pr-away', 'user:pr-away');
    expect(client.frames.find((f) => f.type === 'subscribed')).toMatchObject({
      offset: 1,
      epoch: stored.epoch,
    });
    // And what is published now reaches it.
    await publish(a, 'user:pr-away', { n: 2 });
    expect((await client.waitForMessages(1, 'user:pr-away'))[0]).toMatchObject({ offset: 2, data: { n: 2 } });
  });

  it('when the state store loses a connected user’s presence, then a message routed past its node meanwhile still reaches it once the node’s refresh puts the entry back', async () => {
    // Presence refreshed every second (TTL / 3).
    const [a, b] = await twoNodes({ PRESENCE_TTL_SECONDS: '3' });
    const client = await connect(b, 'pr-lost', 'user:pr-lost');
    const prefix = b.config.redis.prefix;
    const keys = [`${prefix}presence:conns:pr-lost`, `${prefix}presence:nodes:pr-lost`];
    const admin = new Redis(REDIS_URL, { lazyConnect: true });
    cleanups.push(() => admin.quit().then(() => undefined));
    await admin.connect();
    expect(await admin.exists(...keys)).toBe(2);

    // Lost behind the node's back: the link to Redis stays up, so only the refresh can tell. Should b's
    // refresh come between the delete and the publish, the message goes to b the ordinary way: again.
    let n = 0;
    let sentNowhere = false;
    while (!sentNowhere && n < 5) {
      n += 1;
      const none = await routed(a, 'none');
      await admin.del(...keys);
      await publish(a, 'user:pr-lost', { n });
      sentNowhere = (await routed(a, 'none')) === none + 1; // presence named no node
    }
    expect(sentNowhere).toBe(true);

    const got = await client.waitForMessages(n, 'user:pr-lost', 10_000);
    expect(got.at(-1)).toMatchObject({ offset: n, data: { n } });
    await waitFor(async () => (await admin.exists(...keys)) === 2, 'the presence entry back in Redis');
  });
});
