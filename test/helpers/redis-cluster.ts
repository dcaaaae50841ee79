/**
 * A private Redis Cluster for one test file: six `redis-server` processes (three primaries, each with
 * one replica) on free ports of 127.0.0.1, in a temporary folder, with a short node timeout so a
 * failover takes seconds. The machine's Redis is never touched. `redis-server` is installed from
 * Debian when missing (and this process may).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { privateDir } from './nginx.js';
import { serverPort } from './ports.js';
import { waitFor } from './wait.js';

export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

export interface PrivateRedisCluster {
  /** Every node, primaries and replicas (roles change on failover: ask `primaries()`). */
  readonly nodes: ClusterNode[];
  /** `127.0.0.1:port,…` of every node: REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  /** The ports of the nodes that are primaries now (CLUSTER NODES as a live node sees it). */
  primaries(): Promise<number[]>;
  /** The port of the primary serving `key`'s slot now. */
  primaryOf(key: string): Promise<number>;
  /** SIGKILLs the node on `port`. */
  kill(port: number): Promise<void>;
  /** Resolves once every slot is served again and all live nodes agree the cluster is ok. */
  healthy(timeoutMs?: number): Promise<void>;
  /**
   * Resolves once every live node lists each slot range with `replicas` replica(s) (CLUSTER SLOTS,
   * which leaves out failed nodes): what a client's slot map will then say.
   */
  replicated(replicas?: number, timeoutMs?: number): Promise<void>;
  /** A plain client on one node, the same one every call (closed by stop). */
  client(port: number): Redis;
  stop(): Promise<void>;
}

export const NODE_TIMEOUT_MS = 1_500;

export function ensureRedisServer(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli']).status === 0) return;
  const install = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq redis-server'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'inherit',
  });
  if (install.status !== 0) throw new Error('these tests need redis-server: apt-get install redis-server');
}

export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  ensureRedisServer();
  const dir = privateDir('herald-redis-cluster-');
  const nodes: ClusterNode[] = [];
  const clients = new Map<number, Redis>();
  /** One plain client per node, made on first use. */
  const client = (port: number): Redis => {
    let redis = clients.get(port);
    if (redis === undefined) {
      redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      clients.set(port, redis);
    }
    return redis;
  };
  const alive = (node: ClusterNode): boolean =>
    node.child.exitCode === null && node.child.signalCode === null;
  const stop = async (): Promise<void> => {
    for (const c of clients.values()) c.disconnect();
    await Promise.all(
      nodes.filter(alive).map(async (node) => {
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const [port, busPort] = [await serverPort(), await serverPort()];
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(NODE_TIMEOUT_MS),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: 'ignore' },
      );
      nodes.push({ port, child });
    }
    await Promise.all(
      nodes.map((node) =>
        waitFor(
          async () =>
            (await client(node.port)
              .ping()
              .catch(() => '')) === 'PONG',
          `redis cluster node ${node.port} answers`,
          20_000,
        ),
      ),
    );
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (created.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  const first = nodes[0]!.port;
  const cluster: PrivateRedisCluster = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async primaries() {
      const live = nodes.find(alive)!;
      const lines = ((await client(live.port).call('CLUSTER', 'NODES')) as string).trim().split('\n');
      return lines
        .map((line) => line.split(' '))
        .filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail'))
        .map((f) => Number(/:(\d+)@/.exec(f[1]!)![1]));
    },
    async primaryOf(key) {
      const live = nodes.find(alive)!;
      const slot = Number(await client(live.port).call('CLUSTER', 'KEYSLOT', key));
      const slots = (await client(live.port).call('CLUSTER', 'SLOTS')) as [
        number,
        number,
        [string, number],
      ][];
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      if (range === undefined) throw new Error(`no node serves slot ${slot}`);
      return Number(range[2][1]);
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (node === undefined || !alive(node)) throw new Error(`no live cluster node on ${port}`);
      const exited = new Promise((resolve) => node.child.once('exit', resolve));
      node.child.kill('SIGKILL');
      await exited;
    },
    async healthy(timeoutMs = 30_000) {
      await waitFor(
        async () => {
          for (const node of nodes.filter(alive)) {
            const info = (await client(node.port)
              .call('CLUSTER', 'INFO')
              .catch(() => '')) as string;
            if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384'))
              return false;
            if (!info.includes('cluster_slots_ok:16384')) return false;
          }
          return true;
        },
        'the redis cluster is ok on every live node',
        timeoutMs,
      );
    },
    async replicated(replicas = 1, timeoutMs = 30_000) {
      await waitFor(
        async () => {
          for (const node of nodes.filter(alive)) {
            const slots = (await client(node.port)
              .call('CLUSTER', 'SLOTS')
              .catch(() => [])) as unknown[][];
            const covered = slots.reduce((n, range) => n + Number(range[1]) - Number(range[0]) + 1, 0);
            if (covered !== 16384 || slots.some((range) => range.length - 3 !== replicas)) return false;
          }
          return true;
        },
        `every node to list ${replicas} replica(s) per slot range`,
        timeoutMs,
        100,
      );
    },
    client,
    stop,
  };
  try {
    await cluster.healthy();
    // Replicas attached, and every node's slot map says so (gossip has converged).
    await waitFor(
      async () => {
        const lines = ((await client(first).call('CLUSTER', 'NODES')) as string).trim().split('\n');
        return lines.filter((l) => l.includes('slave') && l.includes('connected')).length === 3;
      },
      'three replicas connected',
      30_000,
    );
    await cluster.replicated(1);
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
