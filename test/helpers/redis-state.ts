/**
 * Redis state drivers on the machine's shared Redis, for the files that test them: every state gets
 * its own key prefix under one root per file, states a test opens are closed and their keys deleted
 * after it, and after the file no key of its root may be left. Nothing here flushes or stops Redis.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import {
  createRedisState,
  type RedisState,
  type RedisStateOptions,
} from '../../shared/state/redis/redis-state.js';
import type { StateDrivers } from '../../shared/state/state.js';
import { CONTRACT_RETENTION } from '../contracts/history.contract.js';
import type { ContractFactory } from '../contracts/subject.js';
import { REDIS_URL } from './backends.js';

export interface RedisStateHarness {
  /** A plain client on the shared Redis, to look at and delete keys (connected for the file's tests). */
  admin: Redis;
  /** A fresh key prefix under the file's root. */
  newPrefix: () => string;
  /** Every key under `prefix`, sorted. */
  scanKeys: (prefix: string) => Promise<string[]>;
  deleteKeys: (prefix: string) => Promise<void>;
  /** The options of a Redis state on `prefix` (node-test, 2 s commands, 30 s presence, contract retention). */
  stateOptions: (prefix: string, overrides?: Partial<RedisStateOptions>) => RedisStateOptions;
  /** A Redis state on `prefix`, closed and its keys deleted after the test. */
  openState: (prefix: string, overrides?: Partial<RedisStateOptions>) => RedisState;
  /** A contract factory: a whole Redis state per test (own prefix); cleanup closes it and deletes its keys. */
  contractFactory: <K extends keyof StateDrivers>(
    kind: K,
    overrides?: Partial<RedisStateOptions>,
  ) => ContractFactory<StateDrivers[K]>;
}

const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&');

/** Registers the calling file's hooks (call once, at its top level); `name` names its key root. */
export function redisStateHarness(name: string): RedisStateHarness {
  const root = `herald-test:${name}:${randomUUID()}:`;
  let prefixes = 0;
  const admin = new Redis(REDIS_URL, { lazyConnect: true });
  admin.on('error', () => undefined);

  const scanKeys = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await admin.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return [...new Set(keys)].sort();
  };
  const deleteKeys = async (prefix: string): Promise<void> => {
    const keys = await scanKeys(prefix);
    if (keys.length > 0) await admin.del(...keys);
  };
  const stateOptions = (prefix: string, overrides: Partial<RedisStateOptions> = {}): RedisStateOptions => ({
    url: REDIS_URL,
    prefix,
    nodeId: 'node-test',
    commandTimeoutMs: 2_000,
    presenceTtlSeconds: 30,
    retention: CONTRACT_RETENTION,
    log: pino({ level: 'silent' }),
    ...overrides,
  });
  const newPrefix = (): string => {
    prefixes += 1;
    return `${root}${prefixes}:`;
  };

  /** States a test opens, closed and their keys deleted after it. */
  const opened: { state: RedisState; prefix: string }[] = [];

  beforeAll(async () => {
    await admin.connect();
  });
  afterEach(async () => {
    const states = opened.splice(0);
    await Promise.all(states.map(({ state }) => state.close()));
    for (const prefix of new Set(states.map((s) => s.prefix))) await deleteKeys(prefix);
  });
  afterAll(async () => {
    const left = await scanKeys(root);
    await deleteKeys(root);
    await admin.quit();
    expect(left, `keys left behind by the ${name} tests`).toEqual([]);
  });

  return {
    admin,
    newPrefix,
    scanKeys,
    deleteKeys,
    stateOptions,
    openState: (prefix, overrides = {}) => {
      const state = createRedisState(stateOptions(prefix, overrides));
      opened.push({ state, prefix });
      return state;
    },
    contractFactory: (kind, overrides = {}) => {
      return () => {
        const prefix = newPrefix();
        const state = createRedisState(stateOptions(prefix, overrides));
        const driver = state[kind];
        return Promise.resolve(
          Object.assign(driver, {
            cleanup: async () => {
              await state.close();
              await deleteKeys(prefix);
            },
          }),
        );
      };
    },
  };
}
