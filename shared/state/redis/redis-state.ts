/**
 * The Redis state drivers (cluster mode): sessions, presence, order owners, history, idempotency,
 * read positions and the node registry over one shared ioredis client (one Redis, a Sentinel-managed
 * primary, or a Redis Cluster). Key layout: ./keys.ts; failure model and
 * lifecycle: ./redis-connection.ts.
 *
 * Closing: each driver's `close` stops that driver only (presence stops refreshing) and returns its
 * share of the client; the client quits when all of them are closed. `close` on the returned object
 * closes every driver at once. Both are idempotent.
 */
import type { Logger } from 'pino';
import type { RetentionResolver } from '../history.js';
import type { StateDrivers } from '../state.js';
import { redisKeys } from './keys.js';
import { RedisConnection, type RedisClient } from './redis-connection.js';
import { RedisHistory } from './redis-history.js';
import { RedisIdempotencyStore } from './redis-idempotency.js';
import { RedisNodeRegistry } from './redis-node-registry.js';
import { RedisOrderOwners } from './redis-order-owners.js';
import { RedisPresence } from './redis-presence.js';
import { RedisReadPositions } from './redis-read-positions.js';
import { RedisSessionStore } from './redis-session-store.js';
import { RedisWebhookOutbox } from './redis-webhook-outbox.js';
import { DEFAULT_WEBHOOK_MAX_PENDING } from '../memory/memory-state.js';

export interface RedisStateOptions {
  /** redis:// or rediss:// URL (may carry credentials; never logged); or `sentinel`. */
  url?: string;
  /** Redis behind Sentinel: the sentinels and the name of the primary they watch. */
  sentinel?: { sentinels: { host: string; port: number }[]; name: string };
  /** Redis Cluster: seed nodes; the keys carry hash tags (keys.ts). */
  cluster?: { nodes: { host: string; port: number }[] };
  /** Prepended verbatim to every key, e.g. `herald:`. */
  prefix: string;
  /** This node's id: names the Redis connection (`herald:{nodeId}` in CLIENT LIST). */
  nodeId: string;
  /** Longest wait for one command, and for a (re)connection before a call fails. */
  commandTimeoutMs: number;
  /** Calls that may wait for a (re)connection at once; more fail at once (default 1000; 0: none). */
  maxOfflineQueue?: number;
  /**
   * Replicas that must hold an appended message before it counts (WAIT; 0 = the primary alone). Its
   * wait is bounded by 80 % of commandTimeoutMs.
   */
  minReplicas?: number;
  /** A crashed node's presence entries vanish within this; live ones are refreshed every third of it. */
  presenceTtlSeconds: number;
  /**
   * Each channel's history retention (by kind, from configuration). A channel idle longer than its
   * `maxAgeMs` loses its state, offset counter included (its next run has a new epoch).
   */
  retention: RetentionResolver;
  /** Events the webhook outbox holds at most (WEBHOOK_MAX_PENDING; default 100,000). */
  webhookMaxPending?: number;
  /** Usually the node's logger (already bound to nodeId); the drivers log as component redis-state. */
  log: Logger;
}

export interface RedisState extends StateDrivers {
  sessions: RedisSessionStore;
  presence: RedisPresence;
  orderOwners: RedisOrderOwners;
  history: RedisHistory;
  idempotency: RedisIdempotencyStore;
  registry: RedisNodeRegistry;
  reads: RedisReadPositions;
  /** The one client the drivers share (health checks, tests); do not quit it directly. */
  readonly client: RedisClient;
  /** True while the client is connected and ready (for /readyz). */
  readonly ready: boolean;
  /** Closes every driver, which quits the shared client once. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_OFFLINE_QUEUE = 1_000;

export function createRedisState(options: RedisStateOptions): RedisState {
  // Checked before the client exists, so a bad option cannot leak a connection.
  if (options.prefix === '') throw new TypeError('prefix must not be empty: every key needs one');
  if (!(options.presenceTtlSeconds > 0)) throw new TypeError('presenceTtlSeconds must be positive');
  if (typeof options.retention !== 'function') throw new TypeError('retention must be a RetentionResolver');
  const connection = new RedisConnection({
    url: options.url,
    sentinel: options.sentinel,
    cluster: options.cluster,
    nodeId: options.nodeId,
    commandTimeoutMs: options.commandTimeoutMs,
    maxOfflineQueue: options.maxOfflineQueue ?? DEFAULT_MAX_OFFLINE_QUEUE,
    log: options.log,
  });
  const keys = redisKeys(options.prefix, { cluster: options.cluster !== undefined });
  const drivers = {
    sessions: new RedisSessionStore(connection, keys),
    presence: new RedisPresence(connection, keys, options.presenceTtlSeconds, connection.log),
    orderOwners: new RedisOrderOwners(connection, keys),
    history: new RedisHistory(connection, keys, options.retention, {
      minReplicas: options.minReplicas ?? 0,
      timeoutMs: Math.max(1, Math.floor(options.commandTimeoutMs * 0.8)),
    }),
    idempotency: new RedisIdempotencyStore(connection, keys),
    registry: new RedisNodeRegistry(connection, keys, connection.log),
    webhooks: new RedisWebhookOutbox(
      connection,
      keys,
      options.webhookMaxPending ?? DEFAULT_WEBHOOK_MAX_PENDING,
    ),
    reads: new RedisReadPositions(connection, keys),
  };
  return {
    ...drivers,
    client: connection.client,
    get ready() {
      return connection.ready;
    },
    async close() {
      await Promise.all(Object.values(drivers).map((driver) => driver.close()));
      await connection.close();
    },
  };
}
