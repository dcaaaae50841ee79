/**
 * The state drivers on a private Redis Cluster (three primaries, three replicas; test/helpers/
 * redis-cluster.ts): every state contract suite, then what only a cluster shows — each script's keys
 * in one slot while the data spreads over the shards, a user's presence beside its `user:` channel,
 * WAIT on the channel's own shard, and a primary's death losing no acknowledged append.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/state/redis/keys.js';
import {
  createRedisState,
  type RedisState,
  type RedisStateOptions,
} from '../../shared/state/redis/redis-state.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import type { StateDrivers } from '../../shared/state/state.js';
import { CONTRACT_RETENTION, historyContract, message } from '../contracts/history.contract.js';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { nodeRegistryContract } from '../contracts/node-registry.contract.js';
import { orderOwnersContract } from '../contracts/order-owners.contract.js';
import { presenceContract } from '../contracts/presence.contract.js';
import { readPositionsContract } from '../contracts/read-positions.contract.js';
import { sessionStoreContract } from '../contracts/session-store.contract.js';
import type { ContractFactory } from '../contracts/subject.js';
import { startRedisCluster, type PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

let cluster: PrivateRedisCluster;
let prefixes = 0;
const ROOT = `herald-test:cluster:${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

function nodes(): { host: string; port: number }[] {
  return cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
}

function stateOptions(overrides: Partial<RedisStateOptions> = {}): RedisStateOptions {
  prefixes += 1;
  return {
    cluster: { nodes: nodes() },
    prefix: `${ROOT}${prefixes}:`,
    nodeId: 'node-test',
    commandTimeoutMs: 2_000,
    // As configured by default with REDIS_CLUSTER_NODES: every append waits for its shard's replica.
    minReplicas: 1,
    presenceTtlSeconds: 30,
    retention: CONTRACT_RETENTION,
    log: pino({ level: 'silent' }),
    ...overrides,
  };
}

/** Resolves once the cluster client knows the slot map (first commands would otherwise wait for it). */
async function ready(state: RedisState): Promise<RedisState> {
  await waitFor(() => state.ready, 'the cluster client is ready', 10_000);
  return state;
}

/** A contract factory: a whole cluster state per test (own prefix). The private cluster goes with the file. */
function contractFactory<K extends keyof StateDrivers>(
  kind: K,
  overrides: Partial<RedisStateOptions> = {},
): ContractFactory<StateDrivers[K]> {
  return async () => {
    const state = await ready(createRedisState(stateOptions(overrides)));
    return Object.assign(state[kind], { cleanup: () => state.close() });
  };
}

sessionStoreContract('redis cluster', contractFactory('sessions'));
presenceContract('redis cluster', contractFactory('presence'));
orderOwnersContract('redis cluster', contractFactory('orderOwners'));
nodeRegistryContract('redis cluster', contractFactory('registry'));
historyContract('redis cluster', (retention) => contractFactory('history', { retention })());
idempotencyContract('redis cluster', contractFactory('idempotency'));
readPositionsContract('redis cluster', contractFactory('reads'));

/** Which primary holds `key` now (by slot). */
async function shardOf(key: string): Promise<number> {
  return cluster.primaryOf(key);
}

describe('Redis Cluster state drivers', () => {
  it('when channels and users are written, then each script kept to one slot, the data spread over every primary, and a user sits on the shard of its user: channel', async () => {
    const options = stateOptions();
    const state = await ready(createRedisState(options));
    try {
      const keys = redisKeys(options.prefix, { cluster: true });
      const channels = Array.from({ length: 30 }, (_, i) => `user:u${i}`);
      for (const [i, channel] of channels.entries()) {
        await state.history.append(channel, message(), { key: `k${i}`, ttlSeconds: 60 });
        await state.presence.add(`u${i}`, `c${i}`, 'node-a');
      }
      // Every multi-key script ran (a CROSSSLOT error would have failed it); its keys share a slot.
      const shards = new Set<number>();
      for (const [i, channel] of channels.entries()) {
        const shard = await shardOf(keys.history(channel));
        shards.add(shard);
        expect(await shardOf(keys.offset(channel))).toBe(shard);
        expect(await shardOf(keys.historyDedupe(channel, `k${i}`))).toBe(shard);
        expect(await shardOf(keys.presenceConnections(`u${i}`))).toBe(shard);
        expect(await shardOf(keys.presenceNodes(`u${i}`))).toBe(shard);
        const primary = cluster.client(shard);
        expect(await primary.exists(keys.history(channel), keys.presenceNodes(`u${i}`))).toBe(2);
      }
      expect(shards.size).toBe(3);
      expect((await state.presence.get('u7')).nodes).toEqual(['node-a']);
      expect(await state.presence.nodesOf('u7')).toEqual(['node-a']);
      expect(state.presence.inCallOrder).toBe(false);
    } finally {
      await state.close();
    }
  });

  it("when the replica of a channel's shard stops answering, then its append fails as unavailable within the timeout, other shards' appends still succeed, and once the cluster marks the replica failed the shard takes appends again", async () => {
    const options = stateOptions({ commandTimeoutMs: 1_000 });
    const state = await ready(createRedisState(options));
    const keys = redisKeys(options.prefix, { cluster: true });
    const frozen = 'user:frozen';
    const primary = await shardOf(keys.history(frozen));
    const replicaPort = await replicaOf(primary);
    const replica = cluster.nodes.find((n) => n.port === replicaPort)!;
    // Another channel on another shard.
    let other = 'user:other0';
    for (let i = 1; (await shardOf(keys.history(other))) === primary; i++) other = `user:other${i}`;
    replica.child.kill('SIGSTOP');
    try {
      const started = Date.now();
      await expect(state.history.append(frozen, message())).rejects.toBeInstanceOf(StateUnavailableError);
      expect(Date.now() - started).toBeLessThan(3_000);
      await expect(state.history.append(other, message())).resolves.toMatchObject({ offset: 1 });
      // Once the cluster marks the replica failed, the shard has none left ("where replicas exist"),
      // and its appends are taken again.
      await waitFor(
        () =>
          state.history.append(frozen, message()).then(
            () => true,
            () => false,
          ),
        'the shard to take appends again once its replica counts as failed',
        20_000,
        200,
      );
    } finally {
      replica.child.kill('SIGCONT');
      await state.close();
      // The replica is back in every node's slot map before the next test.
      await cluster.replicated(1, 60_000);
    }
  }, 90_000);

  it('when a primary is killed while appends stream to its shard, then every append it acknowledged is still there after the failover, and appends succeed again', async () => {
    const options = stateOptions({ commandTimeoutMs: 1_000 });
    const state = await ready(createRedisState(options));
    const keys = redisKeys(options.prefix, { cluster: true });
    const channel = 'user:failover';
    const victim = await shardOf(keys.history(channel));
    const acknowledged: number[] = [];
    let failed = 0;
    let stop = false;
    const stream = (async () => {
      for (let n = 1; !stop; n++) {
        try {
          const { offset } = await state.history.append(channel, message());
          acknowledged.push(offset);
        } catch (err) {
          expect(err).toBeInstanceOf(StateUnavailableError);
          failed += 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
    try {
      await waitFor(() => acknowledged.length >= 20, '20 appends acknowledged', 10_000);
      await cluster.kill(victim);
      await waitFor(
        // While no primary serves the slot the cluster says so: not promoted yet.
        async () => (await shardOf(keys.history(channel)).catch(() => victim)) !== victim,
        'a replica promoted',
        30_000,
      );
      const before = acknowledged.length;
      await waitFor(() => acknowledged.length >= before + 20, '20 appends after the failover', 30_000);
    } finally {
      stop = true;
      await stream;
    }
    const read = await state.history.read(channel, 0, 10_000);
    const stored = new Set(read.messages.map((m) => m.offset));
    expect(acknowledged.filter((offset) => !stored.has(offset))).toEqual([]);
    expect(failed).toBeGreaterThan(0); // the failover was seen: some appends were refused meanwhile
    await state.close();
  }, 90_000);
});

/** The port of the replica of the primary on `primary`. */
async function replicaOf(primary: number): Promise<number> {
  const admin: Redis = cluster.client(primary);
  const lines = ((await admin.call('CLUSTER', 'NODES')) as string)
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  const id = lines.find((f) => f[1]!.startsWith(`127.0.0.1:${primary}@`))![0]!;
  const replica = lines.find((f) => f[3] === id);
  if (replica === undefined) throw new Error(`primary ${primary} has no replica`);
  return Number(/:(\d+)@/.exec(replica[1]!)![1]);
}
