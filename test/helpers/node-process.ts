/**
 * Herald nodes as separate processes (the compiled service, built by test/global-setup.ts), for
 * cluster and end-to-end tests. Each cluster gets its own Redis key prefix and RabbitMQ exchange.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import amqplib from 'amqplib';
import { ADMIN_KEY, PUBLISH_KEY } from './test-node.js';
import { TEST_SECRET } from './tokens.js';
import { waitFor } from './wait.js';

import { AMQP_URL, REDIS_URL } from './backends.js';

export { AMQP_URL, REDIS_URL };
const root = new URL('../..', import.meta.url).pathname;

export interface NodeProcess {
  id: string;
  port: number;
  url: string;
  wsUrl: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export async function startNodeProcess(
  id: string,
  env: Record<string, string>,
  execArgv: string[] = [],
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...execArgv, 'dist/services/main.js'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      NODE_ID: id,
      JWT_SECRET: TEST_SECRET,
      API_KEYS: `orders:${PUBLISH_KEY}:publish,ops:${ADMIN_KEY}:admin`,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`node ${id} exited ${child.exitCode}:\n${output}`);
      return output.split('\n').find((l) => l.includes('"herald node listening"'));
    },
    `node ${id} to listen`,
    // Ten nodes starting at once beside private clusters take a while on two cores.
    60_000,
  ).catch((err: unknown) => {
    child.kill('SIGKILL'); // a node that did not come up is not left running
    throw err;
  });
  const port = (JSON.parse(line) as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  return { id, port, url, wsUrl: `ws://127.0.0.1:${port}/ws`, child, output: () => output, exited };
}

export interface TestCluster {
  nodes: NodeProcess[];
  env: Record<string, string>;
  start(id: string, extraEnv?: Record<string, string>): Promise<NodeProcess>;
  stop(): Promise<void>;
}

/** Starts `count` node processes sharing a fresh key prefix and exchange on the machine's Redis/RabbitMQ. */
/** `execArgv` goes to every node's `node` command line (e.g. --cpu-prof for profiling). */
export async function startCluster(
  count: number,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): Promise<TestCluster> {
  const tag = `t${randomBytes(4).toString('hex')}`;
  const clusterEnv: Record<string, string> = {
    REDIS_URL,
    AMQP_URL,
    REDIS_PREFIX: `herald-test:${tag}:`,
    AMQP_EXCHANGE: `herald-test.${tag}`,
    NODE_HEARTBEAT_MS: '300',
    NODE_TTL_SECONDS: '2',
    ...env,
  };
  const cluster: TestCluster = {
    nodes: [],
    env: clusterEnv,
    async start(id, extraEnv = {}) {
      const node = await startNodeProcess(id, { ...clusterEnv, ...extraEnv }, execArgv);
      cluster.nodes.push(node);
      return node;
    },
    async stop() {
      for (const node of cluster.nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL');
      await Promise.all(cluster.nodes.map((n) => n.exited));
      await cleanUp(
        clusterEnv.REDIS_PREFIX!,
        clusterEnv.AMQP_EXCHANGE!,
        cluster.nodes.map((n) => n.id),
      );
    },
  };
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => cluster.start(`${tag}-n${i + 1}`)),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    // The nodes that did start are stopped (and their state removed) before the failure is reported.
    await cluster.stop();
    throw failed.reason;
  }
  cluster.nodes.sort((a, b) => a.id.localeCompare(b.id));
  return cluster;
}

/** Deletes a test cluster's keys, exchange and node queues from the shared Redis and RabbitMQ. */
export async function cleanUp(prefix: string, exchange: string, nodes: string[]): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
  const connection = await amqplib.connect(AMQP_URL);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.deleteExchange(exchange);
    await channel.deleteExchange(`${exchange}.direct`);
    // Queues of nodes killed with SIGKILL would otherwise linger until their x-expires.
    for (const node of nodes) await channel.deleteQueue(`${exchange}.${node}`);
  } finally {
    await connection.close();
  }
}
