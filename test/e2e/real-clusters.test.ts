/**
 * "Nothing lost" on real distributed engines: three Herald nodes on a private Redis Cluster (three
 * primaries, three replicas) and a private three-broker RabbitMQ cluster, hundreds of clients behind
 * a TCP balancer, and a stream of user events and promotions during which a Redis primary and then
 * a broker are SIGKILLed. Every client must end with every accepted message once, in offset order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spreadIndex } from '../../shared/bus/rabbitmq-bus.js';
import { redisKeys } from '../../shared/state/redis/keys.js';
import { formatTally, publishStream, settle } from '../helpers/fault-stream.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { connectClients } from '../helpers/probes.js';
import { startRabbitCluster, type PrivateRabbitCluster } from '../helpers/rabbitmq-cluster.js';
import { startRedisCluster, type PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { TcpBalancer } from '../helpers/tcp-balancer.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 300;
const RAW_CLIENTS = 30;
const MESSAGES = 1_000;

let redis: PrivateRedisCluster | undefined;
let rabbit: PrivateRabbitCluster | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  // Both starts are waited for and each kept once up, so afterAll stops it even when the other failed.
  const starts = await Promise.allSettled([
    startRedisCluster().then((started) => void (redis = started)),
    startRabbitCluster(3).then((started) => void (rabbit = started)),
  ]);
  const failed = starts.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await Promise.all([redis?.stop(), rabbit?.stop()]);
});

describe('real clusters: Redis Cluster and a RabbitMQ cluster', () => {
  it('when a Redis primary and then a RabbitMQ broker are SIGKILLed during a stream, then every client ends with every message once, in order', async () => {
    const cluster: TestCluster = await startCluster(3, {
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: redis!.seeds,
      AMQP_URL: rabbit!.urls,
      // The stream's promotions must stay recoverable for clients that catch up.
      HISTORY_PROMOTIONS_MAX_MESSAGES: '1000',
    });
    cleanups.push(() => cluster.stop());
    const lb = await TcpBalancer.start(cluster.nodes.map((n) => n.port));
    cleanups.push(() => lb.close());
    const { probes, close } = await connectClients(
      `ws://127.0.0.1:${lb.port}/ws`,
      'rc',
      CLIENTS,
      RAW_CLIENTS,
    );
    cleanups.push(close);

    // The primary holding the promotions channel: a third of the stream goes there.
    const keys = redisKeys(cluster.env.REDIS_PREFIX!, { cluster: true });
    const redisVictim = await redis!.primaryOf(keys.history('promotions'));
    // The broker the first node's bus started on.
    const brokerVictim = spreadIndex(cluster.nodes[0]!.id, 3);
    const onBroker = cluster.nodes.filter((n) => spreadIndex(n.id, 3) === brokerVictim).length;

    let failover: Promise<void> | undefined;
    const accepted = await publishStream({
      urls: () => cluster.nodes.map((n) => n.url),
      userChannels: probes.map((p) => p.channels[0]!),
      total: MESSAGES,
      onAccepted: async (count) => {
        if (count === 250) {
          await redis!.kill(redisVictim);
          failover = waitFor(
            // While no primary serves the slot the cluster says so: not promoted yet.
            async () =>
              (await redis!.primaryOf(keys.history('promotions')).catch(() => redisVictim)) !== redisVictim,
            'a replica to take over the killed primary',
            30_000,
            100,
          ).then(() => undefined);
        }
        if (count === 600) {
          await failover;
          await rabbit!.kill(brokerVictim);
        }
      },
    });
    const t = await settle(probes, accepted);
    const retried = accepted.filter((a) => (a.attempts ?? 1) > 1).length;
    console.log(
      formatTally('real-clusters', t, {
        rawClients: RAW_CLIENTS,
        nodesOnKilledBroker: onBroker,
        publishesRetried: retried,
        reconnects: probes.reduce((n, p) => n + p.counters().reconnects, 0),
      }),
    );
    expect(t).toMatchObject({ sent: MESSAGES, gaps: 0, duplicates: 0, outOfOrder: 0, notRecovered: 0 });
    expect(t.received).toBe(t.expected);
    expect(retried).toBeGreaterThan(0); // the Redis failover was felt: some publishes were refused
    // Every node is ready again: each on a live broker and a live shard map.
    for (const node of cluster.nodes)
      await waitFor(
        async () => (await fetch(`${node.url}/readyz`)).status === 200,
        `${node.id} ready`,
        20_000,
      );
  }, 300_000);
});
