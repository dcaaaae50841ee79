/**
 * Node stats on the `cluster` channel (the operator console's feed): two nodes on the machine's Redis
 * and RabbitMQ publish `node.stats` every interval through the ordinary publish path, so an operator
 * on one node sees both, with their connections, rates and move counts; a node with the interval at 0
 * publishes nothing, and the stats are not counted as published messages.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricLines } from '../helpers/metrics.js';
import { postAccepted } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNodes, type BackedNodes, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const tag = randomBytes(4).toString('hex');
const shared = {
  NODE_HEARTBEAT_MS: '300',
  NODE_TTL_SECONDS: '2',
  REBALANCE_INTERVAL_MS: '0',
};
const ids = [`stats-${tag}-a`, `stats-${tag}-b`, `stats-${tag}-off`];
let nodes: BackedNodes;
let a: TestNode;
let b: TestNode;
let operator: TestClient;
const clients: TestClient[] = [];

beforeAll(async () => {
  nodes = await startBackedNodes(
    [
      { NODE_ID: ids[0]!, CLUSTER_STATS_INTERVAL_MS: '200' },
      { NODE_ID: ids[1]!, CLUSTER_STATS_INTERVAL_MS: '200', DRAIN_WINDOW_MS: '300' },
      { NODE_ID: ids[2]!, CLUSTER_STATS_INTERVAL_MS: '0' },
    ],
    shared,
  );
  [a, b] = nodes.nodes as [TestNode, TestNode]; // the third (stats off) is known by its id
  operator = await TestClient.open(a.wsUrl, await mintToken('ops', { claims: { herald_operator: true } }));
  expect(await operator.subscribe('cluster')).toMatchObject({ type: 'subscribed' });
});
afterAll(async () => {
  operator?.close();
  for (const c of clients) c.close();
  await nodes?.stop();
});

const statsOf = (node: string): Record<string, unknown>[] =>
  operator
    .messages('cluster')
    .filter((m) => m.event === 'node.stats')
    .map((m) => m.data as Record<string, unknown>)
    .filter((d) => d.node === node);

/** Waits for a stats message of `node` published after the call that matches `match`. */
async function statsWhere(
  node: string,
  match: (s: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  const seen = statsOf(node).length;
  return waitFor(() => statsOf(node).slice(seen).find(match), `${node} stats with ${what}`, 10_000);
}

describe('node stats on the cluster channel', () => {
  it('when two nodes run, then an operator on one receives both nodes stats, each with its own connections', async () => {
    for (let i = 0; i < 3; i++) clients.push(await TestClient.open(b.wsUrl, await mintToken(`shopper-${i}`)));
    const onB = await statsWhere(ids[1]!, (s) => s.connections === 3, '3 connections');
    expect(onB).toMatchObject({
      node: ids[1],
      draining: false,
      intervalMs: 200,
      recoveries: 0,
      drains: 0,
      rebalances: 0,
    });
    expect(onB.startedAt).toEqual(expect.any(Number));
    // The operator's own connection is node a's one.
    expect(await statsWhere(ids[0]!, (s) => s.connections === 1, '1 connection')).toMatchObject({
      node: ids[0],
    });
  });

  it('when messages are published and delivered, then the publishing node reports messages/s and the delivering node deliveries/s', async () => {
    for (const [i, c] of clients.entries())
      expect(await c.subscribe(`user:shopper-${i}`)).toMatchObject({ type: 'subscribed' });
    const publishing = statsWhere(ids[0]!, (s) => (s.messagesPerSecond as number) > 0, 'messages/s');
    const delivering = statsWhere(ids[1]!, (s) => (s.deliveriesPerSecond as number) > 0, 'deliveries/s');
    for (let i = 0; i < 3; i++)
      await postAccepted(a, `/v1/orders/o-stats-${i}/events`, { userId: `shopper-${i}`, status: 'paid' });
    await Promise.all(clients.map((c, i) => c.waitForMessages(1, `user:shopper-${i}`)));
    await Promise.all([publishing, delivering]);
    // Six messages (user: and order: channels of three events); the stats themselves are not counted.
    const published = await metricLines(a.url, 'herald_messages_published_total');
    expect(published).toContain('herald_messages_published_total{kind="user"} 3');
    expect(published).toContain('herald_messages_published_total{kind="order"} 3');
    expect(published).not.toContain('kind="promotions"');
  });

  it('when the interval is 0, then that node publishes no stats while the others do', async () => {
    const seen = statsOf(ids[0]!).length;
    await waitFor(() => statsOf(ids[0]!).length >= seen + 3, 'three more stats of node a', 10_000);
    expect(statsOf(ids[2]!)).toEqual([]);
  });

  it('when a node drains, then its stats say draining and count the clients it asked to move', async () => {
    const draining = statsWhere(
      ids[1]!,
      (s) => s.draining === true && s.drains === 3,
      'draining and 3 drains',
    );
    const drained = b.node.drain();
    await draining;
    await drained;
  });
});
