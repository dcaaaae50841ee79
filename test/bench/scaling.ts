/**
 * `npm run bench:scaling`: the Redis side of the capacity model (docs/scaling.md), measured on a
 * private Redis Cluster (three primaries, three replicas) at reduced scale, then extrapolated.
 *
 *  1. Two Herald nodes on the cluster (and the machine's RabbitMQ), `SCALING_CLIENTS` SDK clients
 *     through a TCP balancer, each its own user subscribed to `user:{id}` and `promotions`: the Redis
 *     memory per connection.
 *  2. An idle window: Redis commands and CPU per connection per second (presence refresh, session
 *     touch), less those of an equal window before any client connected (the cluster's own gossip
 *     and cron, the nodes' heartbeats).
 *  3. `SCALING_PUBLISHES` user events, one per REST request: Redis commands and CPU per publish.
 *  4. A reconnect storm: the node holding most clients is SIGKILLed and its clients resume on the
 *     other (as when one node of ten dies): Redis commands and CPU per reconnect, and how the shards
 *     shared them.
 *
 * Redis CPU is read from every cluster node's INFO (primaries and replicas: replication costs too),
 * less the idle rate over the same time. The table at the end extrapolates to 100k, 1M and 10M
 * connections with the assumptions printed beside it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectClients } from '../helpers/probes.js';
import { startNodeProcess, AMQP_URL, type NodeProcess } from '../helpers/node-process.js';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import { TcpBalancer } from '../helpers/tcp-balancer.js';
import { PUBLISH_ONLY } from '../helpers/test-node.js';
import { waitFor } from '../helpers/wait.js';
import { callsSince, commandCalls } from './redis-stats.js';

const int = (name: string, def: number): number => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};
const CLIENTS = int('SCALING_CLIENTS', 2_000);
const IDLE_SECONDS = int('SCALING_IDLE_SECONDS', 20);
const PUBLISHES = int('SCALING_PUBLISHES', 1_000);

/**
 * Node-side costs from `npm run bench` (docs/scaling.md: the run of 2026-12-07 at de70eea; 10,000 clients
 * over 2 nodes, medians of 3).
 */
const NODE_KIB_PER_CONNECTION = 8.25;
const NODE_CPU_MS_PER_CONNECT = 0.69;
/** Sizing choices of the model (docs/scaling.md says why). */
const CONNECTIONS_PER_NODE = 50_000;
const USER_EVENTS_PER_CONNECTION_PER_SECOND = 1 / 1_000;
const PROMOTIONS_PER_SECOND = 1;
/** Keep each shard's steady load at half a core: the rest absorbs storms and failovers. */
const SHARD_STEADY_CORE_BUDGET = 0.5;

interface Snapshot {
  at: number;
  cpuSeconds: number;
  calls: Map<string, number>;
  usedMemory: number;
  /** Per primary port: calls of every command (the shards' share). */
  perPrimary: Map<number, number>;
}

async function snapshot(clients: Map<number, Redis>, primaries: number[]): Promise<Snapshot> {
  const snap: Snapshot = {
    at: performance.now(),
    cpuSeconds: 0,
    calls: new Map(),
    usedMemory: 0,
    perPrimary: new Map(),
  };
  for (const [port, client] of clients) {
    const info = await client.info('all').catch(() => undefined);
    if (info === undefined) continue; // a killed node
    const num = (field: string): number => Number(new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
    snap.cpuSeconds += num('used_cpu_user') + num('used_cpu_sys');
    if (!primaries.includes(port)) continue;
    snap.usedMemory += num('used_memory');
    let total = 0;
    for (const [name, calls] of commandCalls(info)) {
      snap.calls.set(name, (snap.calls.get(name) ?? 0) + calls);
      total += calls;
    }
    snap.perPrimary.set(port, total);
  }
  return snap;
}

interface Delta {
  seconds: number;
  cpuSeconds: number;
  calls: Map<string, number>;
  total: number;
  perPrimary: number[];
}

function delta(a: Snapshot, b: Snapshot): Delta {
  const calls = callsSince(a.calls, b.calls);
  const perPrimary = [...b.perPrimary].map(([port, n]) => n - (a.perPrimary.get(port) ?? 0));
  return {
    seconds: (b.at - a.at) / 1000,
    cpuSeconds: b.cpuSeconds - a.cpuSeconds,
    calls,
    total: [...calls.values()].reduce((x, y) => x + y, 0),
    perPrimary,
  };
}

/** `d` less the idle rate over its duration, per `units`. */
function perUnit(d: Delta, idle: Delta, units: number): { commands: number; cpuUs: number } {
  const scale = d.seconds / idle.seconds;
  return {
    commands: (d.total - idle.total * scale) / units,
    cpuUs: ((d.cpuSeconds - idle.cpuSeconds * scale) / units) * 1e6,
  };
}

const top = (calls: Map<string, number>, per: number): string =>
  [...calls]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, n]) => `${name} ${(n / per).toFixed(2)}`)
    .join(', ');

async function main(): Promise<void> {
  const redis = await startRedisCluster();
  const cleanups: (() => Promise<void> | void)[] = [() => redis.stop()];
  try {
    const tag = `s${randomBytes(4).toString('hex')}`;
    const env = {
      REDIS_CLUSTER_NODES: redis.seeds,
      AMQP_URL,
      REDIS_PREFIX: `herald-scaling:${tag}:`,
      AMQP_EXCHANGE: `herald-scaling.${tag}`,
    };
    const nodes: NodeProcess[] = await Promise.all(
      ['a', 'b'].map((n) => startNodeProcess(`${tag}-${n}`, env)),
    );
    cleanups.push(() => {
      for (const n of nodes) n.child.kill('SIGKILL');
    });
    const lb = await TcpBalancer.start(nodes.map((n) => n.port));
    cleanups.push(() => lb.close());
    const primaries = await redis.primaries();
    const admin = new Map(redis.nodes.map((n) => [n.port, redis.client(n.port)]));

    // The cluster's own load (gossip, cron, two nodes' heartbeats) with no client: subtracted below.
    const quietStart = await snapshot(admin, primaries);
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const empty = await snapshot(admin, primaries);
    const quiet = delta(quietStart, empty);
    const { probes, close } = await connectClients(`ws://127.0.0.1:${lb.port}/ws`, tag, CLIENTS, 0);
    cleanups.push(close);
    const connected = await snapshot(admin, primaries);
    const memoryPerConnection = (connected.usedMemory - empty.usedMemory) / CLIENTS;

    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const idleEnd = await snapshot(admin, primaries);
    const idle = delta(connected, idleEnd);

    for (let i = 0; i < PUBLISHES; i++) {
      const node = nodes[i % nodes.length]!;
      const user = `${tag}-${Math.floor(Math.random() * CLIENTS)}`;
      const res = await fetch(`${node.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: `user:${user}`, event: 'order.shipped', data: { i } }),
      });
      if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
    }
    const published = await snapshot(admin, primaries);
    const publish = delta(idleEnd, published);

    const counts = new Map<string, number>();
    for (const p of probes) counts.set(p.node()!, (counts.get(p.node()!) ?? 0) + 1);
    const victim = nodes.reduce((a, b) => ((counts.get(a.id) ?? 0) >= (counts.get(b.id) ?? 0) ? a : b));
    const moving = counts.get(victim.id) ?? 0;
    const before = await snapshot(admin, primaries);
    victim.child.kill('SIGKILL');
    const killedAt = performance.now();
    await waitFor(
      () => probes.every((p) => p.ready() && p.node() !== victim.id),
      'every client to resume on the survivor',
      120_000,
      20,
    );
    const stormSeconds = (performance.now() - killedAt) / 1000;
    const after = await snapshot(admin, primaries);
    const storm = delta(before, after);

    const idlePerConn = {
      commands: (idle.total / idle.seconds - quiet.total / quiet.seconds) / CLIENTS,
      cpuUs: ((idle.cpuSeconds / idle.seconds - quiet.cpuSeconds / quiet.seconds) / CLIENTS) * 1e6,
    };
    const perPublish = perUnit(publish, idle, PUBLISHES);
    const perReconnect = perUnit(storm, idle, moving);
    const shareMax = Math.max(...storm.perPrimary) / storm.perPrimary.reduce((x, y) => x + y, 0);

    console.log(`\nRedis Cluster, 3 primaries + 3 replicas; ${CLIENTS} clients on 2 Herald nodes\n`);
    console.log('| measured (Redis side)                | per unit |');
    console.log('| ------------------------------------ | -------: |');
    console.log(
      `| cluster alone (no client), CPU        | ${((quiet.cpuSeconds / quiet.seconds) * 100).toFixed(1)} % of a core |`,
    );
    console.log(`| memory per connection (primaries)    | ${(memoryPerConnection / 1024).toFixed(2)} KiB |`);
    console.log(`| commands per connection per second   | ${idlePerConn.commands.toFixed(3)} |`);
    console.log(`| CPU per connection per second        | ${idlePerConn.cpuUs.toFixed(2)} µs |`);
    console.log(`| commands per user event (REST)       | ${perPublish.commands.toFixed(2)} |`);
    console.log(`| CPU per user event                   | ${perPublish.cpuUs.toFixed(1)} µs |`);
    console.log(`| commands per reconnect (resume)      | ${perReconnect.commands.toFixed(2)} |`);
    console.log(`| CPU per reconnect                    | ${perReconnect.cpuUs.toFixed(1)} µs |`);
    console.log(
      `\nidle: ${top(idle.calls, idle.seconds * CLIENTS)} (per connection-second)\n` +
        `publish: ${top(publish.calls, PUBLISHES)} (per event, idle included)\n` +
        `storm: ${moving} clients resumed in ${stormSeconds.toFixed(2)} s; ` +
        `busiest primary took ${(shareMax * 100).toFixed(0)} % of its commands; ` +
        `${top(storm.calls, moving)} (per reconnect, idle included)`,
    );

    console.log('\nExtrapolated (assumptions: docs/scaling.md):\n');
    console.log(
      '| connections | gateway nodes | node memory | storm: one node dies | Redis shards | Redis commands/s | Redis memory | broker deliveries/s |',
    );
    console.log('| ---: | ---: | ---: | :--- | ---: | ---: | ---: | ---: |');
    for (const total of [100_000, 1_000_000, 10_000_000]) {
      const gateways = Math.max(3, Math.ceil(total / CONNECTIONS_PER_NODE));
      const events = total * USER_EVENTS_PER_CONNECTION_PER_SECOND;
      const commands = total * idlePerConn.commands + events * perPublish.commands;
      const steadyCores = (total * idlePerConn.cpuUs + events * perPublish.cpuUs) / 1e6;
      const shards = Math.max(3, Math.ceil(steadyCores / SHARD_STEADY_CORE_BUDGET));
      const stormClients = Math.ceil(total / gateways);
      const stormRedis =
        (stormClients * perReconnect.cpuUs) / 1e6 / (shards * (1 - SHARD_STEADY_CORE_BUDGET));
      const stormNodes = ((stormClients / (gateways - 1)) * NODE_CPU_MS_PER_CONNECT) / 1000;
      // A user event reaches the one node holding its user (none when posted to it); promotions every node.
      const deliveries = events * ((gateways - 1) / gateways) + PROMOTIONS_PER_SECOND * gateways;
      const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
      console.log(
        `| ${total.toLocaleString('en')} | ${gateways} | ${gib(total * NODE_KIB_PER_CONNECTION * 1024)} | ` +
          `${stormClients.toLocaleString('en')} resume: Redis ≥ ${stormRedis.toFixed(1)} s, each survivor ${stormNodes.toFixed(1)} s CPU | ` +
          `${shards} | ${Math.round(commands).toLocaleString('en')} | ${gib(total * memoryPerConnection)} + history | ` +
          `${Math.round(deliveries).toLocaleString('en')} |`,
      );
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

await main();
