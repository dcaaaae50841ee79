/**
 * What targeted routing saves the broker, measured on clusters of 3 and 10 node processes on the
 * machine's real Redis and RabbitMQ, each run once with BUS_ROUTING=presence (the default) and once
 * with BUS_ROUTING=broadcast: the same users (one connection each, spread evenly over the nodes), the
 * same user events (one per REST request, posted round-robin to the nodes, so 1 in N lands on the node
 * holding its user) and a few promotions. Every client must get its messages; the nodes' bus
 * counters (`herald_bus_messages_received_total`, `herald_publish_routes_total`) must show exactly
 * the deliveries each mode owes, and the test prints the comparison.
 */
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { busCounters, type BusCounters } from '../helpers/bus-counters.js';
import { TestClient } from '../helpers/test-client.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { postAccepted } from '../helpers/rest-http.js';
import { mintToken } from '../helpers/tokens.js';

const USERS_PER_NODE = 4;
const EVENTS_PER_NODE = 30;
const PROMOTIONS = 3;

const cleanups = cleanupAfterEach();

/** Runs the workload on a fresh cluster; returns the summed bus counters after minus before. */
async function run(nodeCount: number, routing: 'presence' | 'broadcast'): Promise<BusCounters> {
  const cluster: TestCluster = await startCluster(nodeCount, {
    BUS_ROUTING: routing,
    REBALANCE_INTERVAL_MS: '0',
    // The nodes' own stats (cluster channel) are broadcasts too: off, so the counts are the workload's.
    CLUSTER_STATS_INTERVAL_MS: '0',
  });
  cleanups.push(() => cluster.stop());
  const { nodes } = cluster;
  const users = nodeCount * USERS_PER_NODE;
  // User u is connected to node u % N, subscribed to its own channel and to promotions.
  const clients = await Promise.all(
    Array.from({ length: users }, async (_, u) => {
      const client = await TestClient.open(nodes[u % nodeCount]!.wsUrl, await mintToken(`rs-${u}`));
      cleanups.push(() => client.close());
      expect(await client.subscribe(`user:rs-${u}`)).toMatchObject({ type: 'subscribed' });
      expect(await client.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
      return client;
    }),
  );
  const before = await Promise.all(nodes.map(busCounters));
  // Event e goes to user e % users, posted to node (e + ⌊e / users⌋) % N: every user gets events
  // posted to its own node and to others.
  const events = nodeCount * EVENTS_PER_NODE;
  for (let e = 0; e < events; e++) {
    const node = nodes[(e + Math.floor(e / users)) % nodeCount]!;
    await postAccepted(node, '/v1/publish', { channel: `user:rs-${e % users}`, event: 'tick', data: e });
  }
  for (let p = 0; p < PROMOTIONS; p++)
    await postAccepted(nodes[p % nodeCount]!, '/v1/promotions', {
      promotionId: `rs-p${p}`,
      title: 'T',
      body: 'B',
    });
  for (const [u, client] of clients.entries()) {
    const owed = Array.from({ length: events }, (_, e) => e).filter((e) => e % users === u);
    const got = await client.waitForMessages(owed.length, `user:rs-${u}`, 10_000);
    expect(got.map((m) => m.data)).toEqual(owed);
    await client.waitForMessages(PROMOTIONS, 'promotions', 10_000);
  }
  const after = await Promise.all(nodes.map(busCounters));
  const sum = (pick: (c: BusCounters) => number): number =>
    after.reduce((n, c, i) => n + pick(c) - pick(before[i]!), 0);
  return {
    received: sum((c) => c.received),
    local: sum((c) => c.local),
    targeted: sum((c) => c.targeted),
    broadcast: sum((c) => c.broadcast),
  };
}

describe('targeted routing: broker deliveries saved', () => {
  it.each([3, 10])(
    'when %i nodes carry user events and promotions, then user events cost the broker one delivery when posted away from the user and none on its node, against one per node when broadcast',
    async (nodeCount) => {
      const events = nodeCount * EVENTS_PER_NODE;
      const users = nodeCount * USERS_PER_NODE;
      const local = Array.from({ length: events }, (_, e) => e).filter(
        (e) => (e + Math.floor(e / users)) % nodeCount === (e % users) % nodeCount,
      ).length;

      const broadcast = await run(nodeCount, 'broadcast');
      expect(broadcast).toEqual({
        received: (events + PROMOTIONS) * nodeCount,
        local: 0,
        targeted: 0,
        broadcast: events + PROMOTIONS,
      });
      const targeted = await run(nodeCount, 'presence');
      expect(targeted).toEqual({
        received: events - local + PROMOTIONS * nodeCount,
        local,
        targeted: events - local,
        broadcast: PROMOTIONS,
      });

      const userBroadcast = events * nodeCount;
      const userTargeted = events - local;
      console.log(
        `${nodeCount} nodes, ${events} user events (${local} posted to the user's node): broker deliveries ` +
          `${userTargeted} targeted vs ${userBroadcast} broadcast (${(100 * (1 - userTargeted / userBroadcast)).toFixed(1)} % saved); ` +
          `bus publishes ${userTargeted} vs ${events}; with ${PROMOTIONS} promotions the nodes took ` +
          `${targeted.received} payloads vs ${broadcast.received}`,
      );
    },
    120_000,
  );
});
