/**
 * Chooses the drivers a node runs on: the embedded memory drivers, or — with REDIS_URL (or
 * REDIS_SENTINELS, or REDIS_CLUSTER_NODES) and AMQP_URL —
 * Redis state and the RabbitMQ bus, which make the process a cluster member.
 */
import type { Bus } from '../../shared/bus/bus.js';
import { MemoryBus } from '../../shared/bus/memory-bus.js';
import { RabbitMqBus } from '../../shared/bus/rabbitmq-bus.js';
import { defaultHistory, type Config } from '../../shared/config/config.js';
import type { Logger } from '../../shared/logger/logger.js';
import { createMemoryState } from '../../shared/state/memory/memory-state.js';
import { createRedisState } from '../../shared/state/redis/redis-state.js';
import { retentionResolver } from '../../shared/state/retention.js';
import type { StateDrivers } from '../../shared/state/state.js';

export interface Drivers {
  bus: Bus;
  state: StateDrivers;
  /** True while the state store answers (drives /readyz). */
  stateReady(): boolean;
  /** Closes the state drivers (the bus is closed separately, after the gateway). */
  closeState(): Promise<void>;
}

export function createMemoryDrivers(
  history: Config['history'] = defaultHistory(),
  webhookMaxPending?: number,
  /** Where the bus reports a handler that threw (a bug); without it, such a payload is only dropped. */
  log?: Logger,
): Drivers {
  const state = createMemoryState(retentionResolver(history), webhookMaxPending);
  const bus = new MemoryBus(undefined, undefined, (err) =>
    log?.error({ err }, 'bus handler threw; the payload is dropped'),
  );
  return { bus, state, stateReady: () => true, closeState: () => closeAll(state) };
}

export function createDrivers(config: Config, log: Logger): Drivers {
  const redisSet =
    config.redisUrl !== undefined || config.redisSentinel !== undefined || config.redisCluster !== undefined;
  if (!redisSet || config.amqpUrl === undefined)
    return createMemoryDrivers(config.history, config.webhookMaxPending, log);
  const state = createRedisState({
    url: config.redisUrl,
    sentinel: config.redisSentinel,
    cluster: config.redisCluster,
    prefix: config.redis.prefix,
    nodeId: config.nodeId,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    minReplicas: config.redis.minReplicas,
    presenceTtlSeconds: config.redis.presenceTtlSeconds,
    retention: retentionResolver(config.history),
    webhookMaxPending: config.webhookMaxPending,
    log: log.child({ service: 'redis' }),
  });
  const bus = new RabbitMqBus({
    url: config.amqpUrl,
    nodeId: config.nodeId,
    ...config.amqp,
    log: log.child({ service: 'bus' }),
  });
  return { bus, state, stateReady: () => state.ready, closeState: () => state.close() };
}

async function closeAll(state: StateDrivers): Promise<void> {
  await Promise.all(Object.values(state).map((driver: { close(): Promise<void> }) => driver.close()));
}
