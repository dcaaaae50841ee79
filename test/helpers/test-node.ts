import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../../shared/config/config.js';
import { HeraldNode } from '../../services/node/herald-node.js';
import type { Drivers } from '../../services/node/drivers.js';
import { AMQP_URL, REDIS_URL } from './backends.js';
import { cleanUp } from './node-process.js';
import { TEST_SECRET } from './tokens.js';

export const PUBLISH_KEY = 'test-publish-key';
export const ADMIN_KEY = 'test-admin-key';
export const PUBLISH_ONLY = `Bearer ${PUBLISH_KEY}`;
export const ADMIN = `Bearer ${ADMIN_KEY}`;

export interface TestNode {
  node: HeraldNode;
  config: Config;
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

/** Starts a node on an ephemeral port with memory drivers; `env` overrides configuration variables. */
export async function startTestNode(
  env: Record<string, string> = {},
  drivers?: Drivers,
  /** Where the node logs (default: pino at LOG_LEVEL, silent unless set). */
  log?: Logger,
): Promise<TestNode> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_SECRET,
    API_KEYS: `orders:${PUBLISH_KEY}:publish,ops:${ADMIN_KEY}:admin`,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const node = await HeraldNode.create({
    config,
    log: log ?? pino({ level: config.logLevel }),
    processMetrics: false,
    ...(drivers ? { drivers } : {}),
  });
  const { url } = await node.start();
  return { node, config, url, wsUrl: `${url.replace('http', 'ws')}/ws`, stop: () => node.stop() };
}

/**
 * Like startTestNode, in cluster mode on the machine's Redis and RabbitMQ (as test/security needs: the
 * real drivers under attack), with a key prefix and exchange of its own that `stop` removes.
 */
export async function startBackedNode(env: Record<string, string> = {}, log?: Logger): Promise<TestNode> {
  const tag = randomBytes(4).toString('hex');
  const nodeId = env.NODE_ID ?? `backed-${tag}`;
  const prefix = `herald-test-${tag}:`;
  const exchange = `herald-test-${tag}`;
  const t = await startTestNode(
    { REDIS_URL, AMQP_URL, REDIS_PREFIX: prefix, AMQP_EXCHANGE: exchange, NODE_ID: nodeId, ...env },
    undefined,
    log,
  );
  return {
    ...t,
    stop: async () => {
      await t.stop();
      await cleanUp(prefix, exchange, [nodeId]);
    },
  };
}

export interface BackedNodes {
  nodes: TestNode[];
  /** Stops every node, then removes the keys, exchange and node records they shared. */
  stop(): Promise<void>;
}

/**
 * A cluster inside the test's process: one node per entry of `each` (its own variables, e.g. NODE_ID;
 * one not given is made up), all with `env` and one key prefix and exchange of their own on the
 * machine's Redis and RabbitMQ, started one after the other.
 */
export async function startBackedNodes(
  each: Record<string, string>[],
  env: Record<string, string> = {},
): Promise<BackedNodes> {
  const tag = randomBytes(4).toString('hex');
  const prefix = `herald-test-${tag}:`;
  const exchange = `herald-test-${tag}`;
  const envs = each.map((own, i) => ({
    REDIS_URL,
    AMQP_URL,
    NODE_ID: `backed-${tag}-${i}`,
    ...env,
    ...own,
    REDIS_PREFIX: prefix,
    AMQP_EXCHANGE: exchange,
  }));
  const nodes: TestNode[] = [];
  const stop = async (): Promise<void> => {
    for (const node of nodes) await node.stop();
    await cleanUp(
      prefix,
      exchange,
      envs.map((e) => e.NODE_ID),
    );
  };
  try {
    for (const nodeEnv of envs) nodes.push(await startTestNode(nodeEnv));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, stop };
}
