/**
 * Chooses the drivers a node runs on: memory (embedded default) unless REDIS_URL / AMQP_URL are set.
 */
import type { Bus } from '../../shared/bus/bus.js';
import { MemoryBus } from '../../shared/bus/memory-bus.js';
import { ConfigError, type Config } from '../../shared/config/config.js';
import { createMemoryState } from '../../shared/state/memory/memory-state.js';
import type { StateDrivers } from '../../shared/state/state.js';

export interface Drivers {
  bus: Bus;
  state: StateDrivers;
}

export function createDrivers(config: Config): Drivers {
  const problems: string[] = [];
  if (config.redisUrl !== undefined)
    problems.push(
      'REDIS_URL is set, but this build has no Redis state driver yet; unset it to run on in-memory state',
    );
  if (config.amqpUrl !== undefined)
    problems.push(
      'AMQP_URL is set, but this build has no RabbitMQ bus driver yet; unset it to run on the in-memory bus',
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return { bus: new MemoryBus(), state: createMemoryState() };
}
