/**
 * Herald configuration: one schema, read from the environment in exactly this module.
 *
 * Every option has a type, a default and a doc line (the README table is generated from the same
 * words). `loadConfig` collects every problem at once and throws a `ConfigError` naming each bad
 * variable, so boot stops with a message an operator can act on.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { parseApiKeys, type ApiKey } from '../auth/api-keys.js';

/** The shortest CLUSTER_STATS_INTERVAL_MS other than 0 (off). */
export const MIN_CLUSTER_STATS_INTERVAL_MS = 100;
export const DEMO_JWT_SECRET = 'herald-demo-secret-do-not-use-in-production!';
export const DEMO_API_KEY = 'demo-publish-key';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface HostPort {
  host: string;
  port: number;
}

/** Redis behind Sentinel: the sentinels to ask, and the name of the primary they watch. */
export interface RedisSentinelTarget {
  sentinels: HostPort[];
  name: string;
}

export interface Config {
  port: number;
  host: string;
  /**
   * INTERNAL_PORT: where /metrics, /docs and the admin routes answer instead of `port` (which then
   * answers them 404); undefined = everything on `port`.
   */
  internal: HostPort | undefined;
  nodeId: string;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: LogLevel;
  /** One Redis server (REDIS_URL), or the primary that Redis Sentinel names (REDIS_SENTINELS). */
  redisUrl: string | undefined;
  redisSentinel: RedisSentinelTarget | undefined;
  /** Redis Cluster (REDIS_CLUSTER_NODES): seed nodes; takes the place of REDIS_URL. */
  redisCluster: { nodes: HostPort[] } | undefined;
  amqpUrl: string | undefined;
  jwt: {
    secret: string | undefined;
    publicKey: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    requireExp: boolean;
    maxAgeSeconds: number;
  };
  apiKeys: ApiKey[];
  /** Empty means any origin is accepted. */
  allowedOrigins: string[];
  ws: {
    maxFrameBytes: number;
    messagesPerSecond: number;
    messageBurst: number;
    floodCloseAfter: number;
    maxSubscriptions: number;
    maxConnectionsPerUser: number;
    maxBufferedBytes: number;
    heartbeatMs: number;
    authTimeoutMs: number;
    /** Largest frame a connection may send before it is authenticated (an auth frame needs no more). */
    maxAuthFrameBytes: number;
    /** Connections not authenticated yet, on the node and per client address. */
    maxUnauthenticated: number;
    maxUnauthenticatedPerIp: number;
    /** WS_ALLOW_GUESTS: an `auth` frame without a token opens a guest connection (promotions only). */
    allowGuests: boolean;
    /** Guest connections per client address (WS_MAX_GUESTS_PER_IP). */
    maxGuestsPerIp: number;
  };
  /**
   * Proxies whose X-Forwarded-For names the client (addresses and CIDR ranges, TRUSTED_PROXIES); the
   * per-address limits count the client so named. Empty: the TCP peer is the client.
   */
  trustedProxies: string[];
  api: { bodyLimitBytes: number; maxDataBytes: number; maxBatch: number };
  /** HTTP_HEADERS_TIMEOUT_MS and HTTP_REQUEST_TIMEOUT_MS (slow clients, upgrades included). */
  http: { headersTimeoutMs: number; requestTimeoutMs: number };
  sessionTtlSeconds: number;
  orderOwnerTtlSeconds: number;
  /** How long a user's read positions (acks) are kept after the user's last ack. */
  readPositionTtlSeconds: number;
  shutdownTimeoutMs: number;
  drainWindowMs: number;
  /**
   * Longest a message of each channel kind may wait on a node to share one socket write with others
   * (0: messages wait only while the node is busy writing earlier ones).
   */
  fanout: { maxDelayMs: { user: number; order: number; promotions: number; segment: number } };
  /** Active rebalancing; `intervalMs` 0 turns it off. */
  rebalance: { intervalMs: number; marginPercent: number; maxPerSecond: number };
  /** Where reconnect frames point: the client's usual URL, the director's pick, or a fixed URL. */
  reconnectUrl: { kind: 'usual' } | { kind: 'director' } | { kind: 'fixed'; url: string };
  /** This node in the registry: where clients reach it and how much load it takes. */
  node: { publicUrl: string; capacity: number; heartbeatMs: number; ttlSeconds: number };
  /**
   * CLUSTER_STATS_INTERVAL_MS: how often this node publishes its stats to the `cluster` channel (the
   * operator console); 0 = never.
   */
  clusterStatsIntervalMs: number;
  /** WEBHOOK_URL and WEBHOOK_SECRET set: the webhooks (services/webhooks/webhooks.ts); else undefined. */
  webhooks:
    | {
        url: string;
        secret: string;
        offlineGraceMs: number;
        maxAttempts: number;
        timeoutMs: number;
        concurrency: number;
        /** First retry wait; each further one doubles (with jitter), up to `retryMaxMs`. */
        retryBaseMs: number;
        retryMaxMs: number;
        /** How often an idle node looks for due events and offline decisions. */
        pollMs: number;
      }
    | undefined;
  /** Events the webhook outbox holds at most (WEBHOOK_MAX_PENDING). */
  webhookMaxPending: number;
  /** Cluster drivers; both set, or neither (then the embedded memory drivers run). */
  redis: {
    prefix: string;
    commandTimeoutMs: number;
    /** Replicas that must hold a message before the publish is answered (Redis WAIT). */
    minReplicas: number;
    presenceTtlSeconds: number;
  };
  /**
   * presence: a `user:` message goes only to the nodes holding the user's connections (delivered here
   * without the bus when this node is one of them); broadcast: every message to every node.
   */
  busRouting: 'presence' | 'broadcast';
  amqp: {
    exchange: string;
    prefetch: number;
    queueMaxLength: number;
    queueExpiresMs: number;
    publishTimeoutMs: number;
  };
  /** Recovery history per channel kind, and how far one subscribe may replay. */
  history: {
    user: { maxMessages: number; maxAgeMs: number };
    promotions: { maxMessages: number; maxAgeMs: number };
    replayLimit: number;
  };
  idempotencyTtlSeconds: number;
  /**
   * DEMO_ENABLED: the storefront demo at /demo, and /demo/token, which mints a client token for any
   * user id (HS256 with JWT_SECRET). Default: on only while the public demo secret signs tokens
   * (development without JWT_SECRET), where anyone can mint tokens anyway.
   */
  demoEnabled: boolean;
  /** True when demo secrets were filled in because none were configured (development only). */
  demoCredentials: { jwt: boolean; apiKeys: boolean };
}

/**
 * What a node should have and does not: each a line for the boot log (warn). Not refused, because a
 * deployment may rightly do without (a native app's connections carry no Origin; a token issuer that
 * sets no audience), but each leaves an attack open that the setting closes. The demo token route
 * with real secrets is named in every environment; the rest in production only.
 */
export function startupWarnings(config: Config): { setting: string; message: string }[] {
  const warnings: { setting: string; message: string }[] = [];
  if (config.demoEnabled && !config.demoCredentials.jwt)
    warnings.push({
      setting: 'DEMO_ENABLED',
      message:
        'DEMO_ENABLED=true with a real JWT secret: /demo/token mints a valid client token for any user id; never in front of real users',
    });
  if (config.nodeEnv !== 'production') return warnings;
  if (config.ws.allowGuests && config.trustedProxies.length === 0)
    warnings.push({
      setting: 'TRUSTED_PROXIES',
      message:
        "WS_ALLOW_GUESTS=true without TRUSTED_PROXIES: behind a balancer every guest has the balancer's address, so WS_MAX_GUESTS_PER_IP bounds all guests of a node together",
    });
  if (config.allowedOrigins.length === 0)
    warnings.push({
      setting: 'ALLOWED_ORIGINS',
      message: 'ALLOWED_ORIGINS is unset: pages of any site may open WebSockets with a token they hold',
    });
  if (config.jwt.audience === undefined)
    warnings.push({
      setting: 'JWT_AUDIENCE',
      message: 'JWT_AUDIENCE is unset: tokens minted for another service by the same issuer are accepted',
    });
  if (!config.jwt.requireExp && config.jwt.maxAgeSeconds === 0)
    warnings.push({
      setting: 'JWT_REQUIRE_EXP',
      message:
        'no token lifetime policy: a token without exp is valid forever (set JWT_REQUIRE_EXP=true or JWT_MAX_AGE_SECONDS)',
    });
  return warnings;
}

/** History retention with every default (for drivers built outside a loaded configuration, e.g. tests). */
export function defaultHistory(): Config['history'] {
  const d = (name: keyof typeof INT_OPTIONS): number => INT_OPTIONS[name].def;
  return {
    user: { maxMessages: d('HISTORY_USER_MAX_MESSAGES'), maxAgeMs: d('HISTORY_USER_MAX_AGE_SECONDS') * 1000 },
    promotions: {
      maxMessages: d('HISTORY_PROMOTIONS_MAX_MESSAGES'),
      maxAgeMs: d('HISTORY_PROMOTIONS_MAX_AGE_SECONDS') * 1000,
    },
    replayLimit: d('HISTORY_REPLAY_LIMIT'),
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

interface IntSpec {
  doc: string;
  def: number;
  min: number;
  max: number;
}

/** Integer options: name → spec. The README documents these same lines. */
export const INT_OPTIONS = {
  PORT: { doc: 'HTTP and WebSocket port', def: 8080, min: 0, max: 65535 },
  JWT_MAX_AGE_SECONDS: {
    doc: 'Refuse client tokens issued longer ago than this (they then need iat); 0 = no limit',
    def: 0,
    min: 0,
    max: 31_536_000,
  },
  WS_MAX_FRAME_BYTES: {
    doc: 'Largest client frame accepted; larger closes 1009',
    def: 65_536,
    min: 256,
    max: 16_777_216,
  },
  WS_MESSAGES_PER_SECOND: {
    doc: 'Client frames per second per connection (token bucket rate)',
    def: 50,
    min: 1,
    max: 100_000,
  },
  WS_MESSAGE_BURST: { doc: 'Token bucket size for client frames', def: 100, min: 1, max: 100_000 },
  WS_FLOOD_CLOSE_AFTER: {
    doc: 'Frames rejected with rate_limited before the connection is closed 1008',
    def: 20,
    min: 1,
    max: 100_000,
  },
  WS_MAX_SUBSCRIPTIONS: { doc: 'Subscriptions per connection', def: 100, min: 1, max: 100_000 },
  WS_MAX_CONNECTIONS_PER_USER: {
    doc: 'Concurrent connections per user (JWT sub)',
    def: 20,
    min: 1,
    max: 100_000,
  },
  WS_MAX_BUFFERED_BYTES: {
    doc: 'Unsent bytes a connection may hold before it is closed 1013 (slow consumer)',
    def: 1_048_576,
    min: 1024,
    max: 1_073_741_824,
  },
  WS_HEARTBEAT_MS: {
    doc: 'Server ping interval; peers silent for one interval are terminated',
    def: 25_000,
    min: 100,
    max: 600_000,
  },
  WS_MAX_AUTH_FRAME_BYTES: {
    doc: 'Largest frame accepted before a connection is authenticated (an auth frame with a long token fits; at most WS_MAX_FRAME_BYTES); larger closes 1009',
    def: 8_192,
    min: 512,
    max: 16_777_216,
  },
  WS_MAX_UNAUTHENTICATED: {
    doc: 'Connections on this node that are not authenticated yet (a reconnect storm of a dead node fits); further upgrades get 503',
    def: 10_000,
    min: 1,
    max: 1_000_000,
  },
  WS_MAX_UNAUTHENTICATED_PER_IP: {
    doc: 'Connections from one client address that are not authenticated yet, further upgrades from it get 429; 0 = no limit. Behind a balancer set TRUSTED_PROXIES too, or every client shares its address',
    def: 0,
    min: 0,
    max: 1_000_000,
  },
  HTTP_HEADERS_TIMEOUT_MS: {
    doc: 'A request (WebSocket upgrades too) whose headers are not complete by then is answered 408 and closed (slowloris)',
    def: 10_000,
    min: 1_000,
    max: 300_000,
  },
  HTTP_REQUEST_TIMEOUT_MS: {
    doc: 'A REST request that has not fully arrived by then (headers and body) is answered 408 and closed',
    def: 30_000,
    min: 1_000,
    max: 600_000,
  },
  WS_MAX_GUESTS_PER_IP: {
    doc: 'Guest connections (WS_ALLOW_GUESTS) per client address; more are closed 4008',
    def: 20,
    min: 1,
    max: 100_000,
  },
  WS_AUTH_TIMEOUT_MS: {
    doc: 'Time a connection without a token query parameter has to send its auth frame',
    def: 5_000,
    min: 100,
    max: 600_000,
  },
  API_BODY_LIMIT_BYTES: { doc: 'Largest REST request body', def: 1_048_576, min: 1024, max: 67_108_864 },
  API_MAX_DATA_BYTES: {
    doc: 'Largest serialized `data` of one published message',
    def: 65_536,
    min: 64,
    max: 16_777_216,
  },
  API_MAX_BATCH: { doc: 'Most messages in one POST /v1/publish/batch', def: 100, min: 1, max: 10_000 },
  SESSION_TTL_SECONDS: {
    doc: 'How long a session (and its subscriptions) is kept after its connection closes',
    def: 120,
    min: 1,
    max: 86_400,
  },
  ORDER_OWNER_TTL_SECONDS: {
    doc: 'How long the owner learned from an order event is remembered',
    def: 2_592_000,
    min: 60,
    max: 31_536_000,
  },
  READ_POSITION_TTL_SECONDS: {
    doc: "How long a user's read positions (ack frames, the inbox's unread counts) are kept after the user's last ack",
    def: 2_592_000,
    min: 60,
    max: 31_536_000,
  },
  SHUTDOWN_TIMEOUT_MS: {
    doc: 'Deadline for a graceful shutdown (drain included) on SIGTERM/SIGINT',
    def: 30_000,
    min: 100,
    max: 600_000,
  },
  DRAIN_WINDOW_MS: {
    doc: 'On SIGTERM, reconnect frames go to the clients spread over this window; the rest are closed 1012',
    def: 10_000,
    min: 0,
    max: 600_000,
  },
  FANOUT_DELAY_USER_MS: {
    doc: 'Longest a user:/order: message may wait on a node to share one socket write with others (0 = only while the node is busy)',
    def: 0,
    min: 0,
    max: 1_000,
  },
  FANOUT_DELAY_PROMOTIONS_MS: {
    doc: 'Longest a promotions message may wait on a node to share one socket write with others (0 = only while the node is busy)',
    def: 0,
    min: 0,
    max: 1_000,
  },
  REBALANCE_INTERVAL_MS: {
    doc: "How often a node compares the registry's connection counts with its capacity share of the cluster (> NODE_HEARTBEAT_MS; 0 = never)",
    def: 5_000,
    min: 0,
    max: 600_000,
  },
  REBALANCE_MARGIN_PERCENT: {
    doc: 'A node sheds only when above its share by more than this two rounds running, and not while the cluster total moves over half this per round',
    def: 10,
    min: 1,
    max: 1_000,
  },
  REBALANCE_MAX_PER_SECOND: {
    doc: 'Most clients one node asks to reconnect per second when rebalancing',
    def: 20,
    min: 1,
    max: 10_000,
  },
  NODE_CAPACITY: {
    doc: 'Relative capacity weight of this node (the director balances by load/capacity)',
    def: 1,
    min: 1,
    max: 1000,
  },
  NODE_HEARTBEAT_MS: {
    doc: 'How often the node refreshes its node-registry entry, at multiples of this on the wall clock (the same instants on every node)',
    def: 2_000,
    min: 100,
    max: 60_000,
  },
  CLUSTER_STATS_INTERVAL_MS: {
    doc: 'How often the node publishes its stats (connections, messages and deliveries per second, recoveries, drains, rebalances) to the cluster channel, for the operator console at /dashboard; 0 = never, else at least 100',
    def: 1_000,
    min: 0,
    max: 60_000,
  },
  WEBHOOK_OFFLINE_GRACE_MS: {
    doc: "user.offline waits this long after a user's last connection closed; a reconnect within it sends nothing",
    def: 5_000,
    min: 0,
    max: 3_600_000,
  },
  WEBHOOK_MAX_ATTEMPTS: {
    doc: 'POSTs of one webhook event before it is dropped (counted and logged)',
    def: 10,
    min: 1,
    max: 100,
  },
  WEBHOOK_TIMEOUT_MS: {
    doc: 'Longest wait for the webhook endpoint to answer one POST (then it counts as failed and is retried)',
    def: 5_000,
    min: 100,
    max: 60_000,
  },
  WEBHOOK_CONCURRENCY: {
    doc: 'Webhook POSTs in flight per node at most',
    def: 8,
    min: 1,
    max: 256,
  },
  WEBHOOK_RETRY_BASE_MS: {
    doc: 'Wait before the second attempt of a webhook event; each further one doubles (with jitter) up to WEBHOOK_RETRY_MAX_MS',
    def: 1_000,
    min: 10,
    max: 3_600_000,
  },
  WEBHOOK_RETRY_MAX_MS: {
    doc: 'Longest wait between two attempts of a webhook event',
    def: 300_000,
    min: 10,
    max: 86_400_000,
  },
  WEBHOOK_POLL_MS: {
    doc: 'How often an idle node looks for due webhook events and offline decisions',
    def: 250,
    min: 10,
    max: 60_000,
  },
  WEBHOOK_MAX_PENDING: {
    doc: 'Webhook events the outbox holds at most, cluster-wide (more are refused and counted: a bounded outbox while the endpoint is down)',
    def: 100_000,
    min: 1,
    max: 10_000_000,
  },
  NODE_TTL_SECONDS: {
    doc: 'A node that stopped heartbeating leaves the registry after this long',
    def: 10,
    min: 1,
    max: 3_600,
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    doc: 'Timeout of one Redis command on the request path',
    def: 1_000,
    min: 50,
    max: 60_000,
  },
  PRESENCE_TTL_SECONDS: {
    doc: "A crashed node's connections leave presence after this long",
    def: 30,
    min: 3,
    max: 3_600,
  },
  AMQP_PREFETCH: { doc: 'Unacknowledged bus messages a node takes at once', def: 1_000, min: 1, max: 65_535 },
  AMQP_QUEUE_MAX_LENGTH: {
    doc: "Bound of a node's bus queue; the oldest messages go first when it is full",
    def: 100_000,
    min: 100,
    max: 10_000_000,
  },
  AMQP_QUEUE_EXPIRES_MS: {
    doc: "A dead node's bus queue is deleted after it has had no consumer this long",
    def: 60_000,
    min: 1_000,
    max: 86_400_000,
  },
  HISTORY_USER_MAX_MESSAGES: {
    doc: 'Messages kept per user:/order: channel for recovery',
    def: 1_000,
    min: 1,
    max: 1_000_000,
  },
  HISTORY_USER_MAX_AGE_SECONDS: {
    doc: 'How long user:/order: messages stay recoverable',
    def: 86_400,
    min: 1,
    max: 2_592_000,
  },
  HISTORY_PROMOTIONS_MAX_MESSAGES: {
    doc: 'Messages kept per promotions channel for recovery',
    def: 100,
    min: 1,
    max: 1_000_000,
  },
  HISTORY_PROMOTIONS_MAX_AGE_SECONDS: {
    doc: 'How long promotions messages stay recoverable',
    def: 3_600,
    min: 1,
    max: 2_592_000,
  },
  HISTORY_REPLAY_LIMIT: {
    doc: 'Most messages one subscribe replays; further back answers recovered:false',
    def: 1_000,
    min: 1,
    max: 1_000_000,
  },
  IDEMPOTENCY_TTL_SECONDS: {
    doc: 'How long an Idempotency-Key and its first answer are remembered',
    def: 86_400,
    min: 1,
    max: 2_592_000,
  },
  AMQP_PUBLISH_TIMEOUT_MS: {
    doc: 'Longest wait for the broker on a publish before answering 503 bus_unavailable',
    def: 2_000,
    min: 50,
    max: 60_000,
  },
} as const satisfies Record<string, IntSpec>;

export const STRING_OPTIONS = {
  HOST: 'Interface to listen on (default 0.0.0.0)',
  INTERNAL_PORT:
    'A second port for /metrics, /docs and the admin routes (scope admin), which PORT then answers 404; unset = all on PORT',
  INTERNAL_HOST: 'Interface of INTERNAL_PORT (default 127.0.0.1; 0.0.0.0 for a scraper on another host)',
  NODE_ID: 'Node id in logs, welcome frames and the cluster view (default: generated from host name)',
  NODE_ENV: 'development (default), production or test; production refuses to boot without real secrets',
  LOG_LEVEL: 'fatal, error, warn, info (default), debug, trace or silent',
  REDIS_URL: 'Redis for cluster state; unset = in-memory state (single node)',
  REDIS_SENTINELS:
    'Instead of REDIS_URL: comma-separated host:port of Redis Sentinels; Herald follows the primary they name',
  REDIS_SENTINEL_NAME:
    'The primary the sentinels watch (sentinel monitor <name>); required with REDIS_SENTINELS',
  REDIS_CLUSTER_NODES:
    'Instead of REDIS_URL: comma-separated host:port of Redis Cluster nodes to start from (keys carry hash tags)',
  REDIS_MIN_REPLICAS:
    "Replicas that must hold a message before a publish is answered 202 (Redis WAIT within 80 % of REDIS_COMMAND_TIMEOUT_MS, else 503), at most as many as the primary (or the channel's shard) has; default 1 with REDIS_SENTINELS or REDIS_CLUSTER_NODES, 0 with REDIS_URL",
  AMQP_URL:
    'RabbitMQ for the cluster bus, or the brokers of a RabbitMQ cluster comma-separated (each node starts on one and moves to the next when it fails); unset = in-memory bus (single node)',
  JWT_SECRET: 'HS256 secret for client tokens (at least 32 characters in production)',
  JWT_PUBLIC_KEY: 'PEM public key for RS256 or ES256 client tokens (\\n escapes allowed)',
  JWT_ISSUER: 'Required `iss` claim, when set',
  JWT_AUDIENCE: 'Required `aud` claim, when set',
  JWT_REQUIRE_EXP: 'true: refuse client tokens without `exp` (default false)',
  DEMO_ENABLED:
    'true: the storefront demo at /demo, which mints client tokens for any user id (never in front of real users); default true only while JWT_SECRET is unset in development (the public demo secret), else false',
  WS_ALLOW_GUESTS:
    'true: a connection may authenticate without a token, as a guest that may subscribe to promotions only (storefront visitors who have not signed in); default false',
  API_KEYS: 'Comma-separated name:key:scope+scope entries; scopes are publish and admin',
  ALLOWED_ORIGINS: 'Comma-separated browser origins allowed to connect; unset = any',
  TRUSTED_PROXIES:
    'Comma-separated addresses or CIDR ranges of proxies (balancers) whose X-Forwarded-For names the client, for the per-address limits; unset = the TCP peer is the client',
  PUBLIC_URL:
    'Base URL clients reach this node at, published in the node registry (default http://HOST:PORT)',
  RECONNECT_URL:
    'Where reconnect frames (drain, rebalance) send clients: unset = their usual URL (the balancer); "director" = the least-loaded node; or a ws(s):// URL',
  REDIS_PREFIX: 'Prefix of every Redis key Herald writes (default herald:)',
  AMQP_EXCHANGE:
    'Name of the durable fanout exchange of the cluster bus (default herald.bus; targeted messages use <name>.direct)',
  WEBHOOK_URL:
    'http(s) URL that receives the webhooks (user.online, user.offline, message.undelivered, message.read; docs/webhooks.md); unset = no webhooks',
  WEBHOOK_SECRET:
    'Secret that signs every webhook (Herald-Signature: HMAC-SHA256); required with WEBHOOK_URL, at least 32 characters in production',
  BUS_ROUTING:
    "presence (default): a user: message goes only to the nodes holding that user's connections, and this node delivers its own share without the bus; broadcast: every message to every node",
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const NODE_ENVS = ['development', 'production', 'test'] as const;

/** REDIS_SENTINELS (host:port, …) with REDIS_SENTINEL_NAME; undefined when neither is set. */
function parseSentinels(
  raw: string | undefined,
  name: string | undefined,
  problems: string[],
): RedisSentinelTarget | undefined {
  if (raw === undefined) {
    if (name !== undefined) problems.push('REDIS_SENTINEL_NAME needs REDIS_SENTINELS');
    return undefined;
  }
  const sentinels = parseHostPorts('REDIS_SENTINELS', raw, problems);
  if (name === undefined) problems.push('REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the monitored primary)');
  else if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    problems.push('REDIS_SENTINEL_NAME must be 1-64 characters of [A-Za-z0-9._-]');
  return sentinels.length > 0 && name !== undefined ? { sentinels, name } : undefined;
}

/** A comma-separated host:port list (IPv6 in brackets); each bad entry is a problem. */
function parseHostPorts(name: string, raw: string, problems: string[]): HostPort[] {
  const list: HostPort[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65_535) {
      problems.push(`${name} entry ${JSON.stringify(entry)} must be host:port`);
      continue;
    }
    list.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return list;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** What a shutdown needs after the drain window: the 2 s close grace, then closing server, bus and state. */
const DRAIN_MARGIN_MS = 5_000;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const int = (name: keyof typeof INT_OPTIONS): number => {
    const spec: IntSpec = INT_OPTIONS[name];
    const raw = nonEmpty(env, name);
    if (raw === undefined) return spec.def;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
      problems.push(
        `${name}=${JSON.stringify(raw)} must be an integer from ${spec.min} to ${spec.max} (${spec.doc})`,
      );
      return spec.def;
    }
    return n;
  };

  const nodeEnvRaw = nonEmpty(env, 'NODE_ENV') ?? 'development';
  const nodeEnv = (NODE_ENVS as readonly string[]).includes(nodeEnvRaw)
    ? (nodeEnvRaw as Config['nodeEnv'])
    : (problems.push(`NODE_ENV=${JSON.stringify(nodeEnvRaw)} must be one of ${NODE_ENVS.join(', ')}`),
      'development');
  const production = nodeEnv === 'production';

  const logLevelRaw = nonEmpty(env, 'LOG_LEVEL') ?? 'info';
  const logLevel = (LOG_LEVELS as readonly string[]).includes(logLevelRaw)
    ? (logLevelRaw as LogLevel)
    : (problems.push(`LOG_LEVEL=${JSON.stringify(logLevelRaw)} must be one of ${LOG_LEVELS.join(', ')}`),
      'info');

  // Generated ids keep to the NODE_ID rule: a host label of up to 57 characters, '-', 6 hex digits.
  const hostLabel = (hostname().split('.')[0] || 'node').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 57);
  const nodeId = nonEmpty(env, 'NODE_ID') ?? `${hostLabel}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    problems.push(`NODE_ID=${JSON.stringify(nodeId)} must be 1-64 characters of [A-Za-z0-9._-]`);
  }

  // ---- client token verification --------------------------------------------------------------
  let secret = nonEmpty(env, 'JWT_SECRET');
  const publicKey = nonEmpty(env, 'JWT_PUBLIC_KEY')?.replace(/\\n/g, '\n');
  let demoJwt = false;
  if (secret === undefined && publicKey === undefined) {
    if (production) problems.push('JWT_SECRET or JWT_PUBLIC_KEY is required when NODE_ENV=production');
    else {
      secret = DEMO_JWT_SECRET;
      demoJwt = true;
    }
  }
  if (secret !== undefined && production && secret.length < 32) {
    problems.push('JWT_SECRET must be at least 32 characters when NODE_ENV=production');
  }
  if (publicKey !== undefined && !publicKey.includes('-----BEGIN')) {
    problems.push('JWT_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY----- …)');
  }

  // ---- REST API keys --------------------------------------------------------------------------
  let apiKeys: ApiKey[] = [];
  let demoKeys = false;
  const apiKeysRaw = nonEmpty(env, 'API_KEYS');
  if (apiKeysRaw === undefined) {
    if (production) problems.push('API_KEYS is required when NODE_ENV=production');
    else {
      apiKeys = [{ name: 'demo', key: DEMO_API_KEY, scopes: new Set(['publish', 'admin']) }];
      demoKeys = true;
    }
  } else {
    const parsed = parseApiKeys(apiKeysRaw, production ? 16 : 1);
    problems.push(...parsed.problems.map((p) => `API_KEYS: ${p}`));
    apiKeys = parsed.keys;
  }

  const originEntries = (nonEmpty(env, 'ALLOWED_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  const allowedOrigins = originEntries.filter((o) => o !== '*');
  if (originEntries.includes('*') && allowedOrigins.length > 0) {
    problems.push('ALLOWED_ORIGINS mixes * (any origin) with a list of origins; use one or the other');
  }
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(
        `ALLOWED_ORIGINS entry ${JSON.stringify(origin)} must look like https://shop.example.com (no path)`,
      );
    }
  }

  const redisUrl = nonEmpty(env, 'REDIS_URL');
  const redisSentinel = parseSentinels(
    nonEmpty(env, 'REDIS_SENTINELS'),
    nonEmpty(env, 'REDIS_SENTINEL_NAME'),
    problems,
  );
  const clusterRaw = nonEmpty(env, 'REDIS_CLUSTER_NODES');
  const clusterNodes =
    clusterRaw === undefined ? [] : parseHostPorts('REDIS_CLUSTER_NODES', clusterRaw, problems);
  const redisCluster = clusterNodes.length > 0 ? { nodes: clusterNodes } : undefined;
  const minReplicasRaw = nonEmpty(env, 'REDIS_MIN_REPLICAS');
  const minReplicas =
    minReplicasRaw === undefined
      ? redisSentinel === undefined && redisCluster === undefined
        ? 0
        : 1
      : /^\d{1,2}$/.test(minReplicasRaw)
        ? Number(minReplicasRaw)
        : NaN;
  if (!Number.isInteger(minReplicas) || minReplicas < 0 || minReplicas > 16)
    problems.push(`REDIS_MIN_REPLICAS must be an integer from 0 to 16 (got ${minReplicasRaw})`);
  const redisTargets = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter(
    (name) => nonEmpty(env, name) !== undefined,
  );
  if (redisTargets.length > 1) problems.push(`${redisTargets.join(' and ')} exclude each other: set one`);
  const amqpUrl = nonEmpty(env, 'AMQP_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl))
    problems.push('REDIS_URL must start with redis:// or rediss://');
  if (amqpUrl !== undefined && !amqpUrl.split(',').every((url) => /^amqps?:\/\/\S+$/.test(url.trim())))
    problems.push('AMQP_URL must start with amqp:// or amqps:// (each of a comma-separated list of brokers)');
  if (redisTargets.length > 0 !== (amqpUrl !== undefined)) {
    problems.push(
      'REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES) and AMQP_URL go together: set both for cluster mode, or neither for one embedded node',
    );
  }
  const redisPrefix = nonEmpty(env, 'REDIS_PREFIX') ?? 'herald:';
  if (!/^[A-Za-z0-9:._-]{1,64}$/.test(redisPrefix))
    problems.push('REDIS_PREFIX must be 1-64 characters of [A-Za-z0-9:._-]');
  const exchange = nonEmpty(env, 'AMQP_EXCHANGE') ?? 'herald.bus';
  if (!/^[A-Za-z0-9:._-]{1,200}$/.test(exchange))
    problems.push('AMQP_EXCHANGE must be 1-200 characters of [A-Za-z0-9:._-]');
  const trustedProxies = (nonEmpty(env, 'TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of trustedProxies) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))
    )
      problems.push(`TRUSTED_PROXIES entry ${JSON.stringify(entry)} must be an IP address or CIDR range`);
  }
  const maxFrameBytes = int('WS_MAX_FRAME_BYTES');
  // Never above the limit of every frame (a node with small frames has small auth frames too).
  const maxAuthFrameBytes = Math.min(int('WS_MAX_AUTH_FRAME_BYTES'), maxFrameBytes);
  // Resolved once the JWT secret is known (below): on by default only with the public demo secret.
  const demoRaw = nonEmpty(env, 'DEMO_ENABLED');
  if (demoRaw !== undefined && demoRaw !== 'true' && demoRaw !== 'false')
    problems.push('DEMO_ENABLED must be true or false');
  const allowGuests = nonEmpty(env, 'WS_ALLOW_GUESTS') ?? 'false';
  if (allowGuests !== 'true' && allowGuests !== 'false')
    problems.push('WS_ALLOW_GUESTS must be true or false');
  const requireExp = nonEmpty(env, 'JWT_REQUIRE_EXP') ?? 'false';
  if (requireExp !== 'true' && requireExp !== 'false') problems.push('JWT_REQUIRE_EXP must be true or false');
  const busRouting = nonEmpty(env, 'BUS_ROUTING') ?? 'presence';
  if (busRouting !== 'presence' && busRouting !== 'broadcast')
    problems.push('BUS_ROUTING must be presence or broadcast');
  const port = int('PORT');
  const host = nonEmpty(env, 'HOST') ?? '0.0.0.0';
  const internalPortRaw = nonEmpty(env, 'INTERNAL_PORT');
  const internalHost = nonEmpty(env, 'INTERNAL_HOST') ?? '127.0.0.1';
  let internal: Config['internal'];
  if (internalPortRaw !== undefined) {
    const internalPort = Number(internalPortRaw);
    if (!/^\d{1,5}$/.test(internalPortRaw) || internalPort > 65_535)
      problems.push(`INTERNAL_PORT=${JSON.stringify(internalPortRaw)} must be an integer from 0 to 65535`);
    else if (internalPort !== 0 && internalPort === port)
      problems.push('INTERNAL_PORT must differ from PORT');
    else internal = { host: internalHost, port: internalPort };
  } else if (nonEmpty(env, 'INTERNAL_HOST') !== undefined) problems.push('INTERNAL_HOST needs INTERNAL_PORT');
  const reconnectRaw = nonEmpty(env, 'RECONNECT_URL');
  let reconnectUrl: Config['reconnectUrl'] = { kind: 'usual' };
  if (reconnectRaw === 'director') reconnectUrl = { kind: 'director' };
  else if (reconnectRaw !== undefined) {
    if (/^wss?:\/\/[^/\s]+(\/\S*)?$/.test(reconnectRaw)) reconnectUrl = { kind: 'fixed', url: reconnectRaw };
    else problems.push('RECONNECT_URL must be "director" or a ws:// or wss:// URL');
  }

  const webhookUrl = nonEmpty(env, 'WEBHOOK_URL');
  const webhookSecret = nonEmpty(env, 'WEBHOOK_SECRET');
  if (webhookUrl !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(webhookUrl))
    problems.push('WEBHOOK_URL must be an http:// or https:// URL');
  if (webhookUrl !== undefined && webhookSecret === undefined)
    problems.push('WEBHOOK_URL needs WEBHOOK_SECRET: every webhook is signed');
  if (webhookSecret !== undefined && webhookUrl === undefined)
    problems.push('WEBHOOK_SECRET is set without WEBHOOK_URL');
  if (webhookSecret !== undefined && production && webhookSecret.length < 32)
    problems.push('WEBHOOK_SECRET must be at least 32 characters when NODE_ENV=production');

  const publicUrl = nonEmpty(env, 'PUBLIC_URL');
  if (publicUrl !== undefined && !/^https?:\/\/[^/\s]+$/.test(publicUrl)) {
    problems.push('PUBLIC_URL must look like http://10.0.0.5:8080 (no path)');
  }

  const config: Config = {
    demoEnabled: demoRaw === undefined ? demoJwt : demoRaw === 'true',
    port,
    host,
    internal,
    nodeId,
    nodeEnv,
    logLevel,
    redisUrl,
    redisSentinel,
    redisCluster,
    amqpUrl,
    jwt: {
      secret,
      publicKey,
      issuer: nonEmpty(env, 'JWT_ISSUER'),
      audience: nonEmpty(env, 'JWT_AUDIENCE'),
      requireExp: requireExp === 'true',
      maxAgeSeconds: int('JWT_MAX_AGE_SECONDS'),
    },
    apiKeys,
    allowedOrigins,
    ws: {
      maxFrameBytes,
      messagesPerSecond: int('WS_MESSAGES_PER_SECOND'),
      messageBurst: int('WS_MESSAGE_BURST'),
      floodCloseAfter: int('WS_FLOOD_CLOSE_AFTER'),
      maxSubscriptions: int('WS_MAX_SUBSCRIPTIONS'),
      maxConnectionsPerUser: int('WS_MAX_CONNECTIONS_PER_USER'),
      maxBufferedBytes: int('WS_MAX_BUFFERED_BYTES'),
      heartbeatMs: int('WS_HEARTBEAT_MS'),
      authTimeoutMs: int('WS_AUTH_TIMEOUT_MS'),
      maxAuthFrameBytes,
      maxUnauthenticated: int('WS_MAX_UNAUTHENTICATED'),
      maxUnauthenticatedPerIp: int('WS_MAX_UNAUTHENTICATED_PER_IP'),
      allowGuests: allowGuests === 'true',
      maxGuestsPerIp: int('WS_MAX_GUESTS_PER_IP'),
    },
    trustedProxies,
    http: {
      headersTimeoutMs: int('HTTP_HEADERS_TIMEOUT_MS'),
      requestTimeoutMs: int('HTTP_REQUEST_TIMEOUT_MS'),
    },
    api: {
      bodyLimitBytes: int('API_BODY_LIMIT_BYTES'),
      maxDataBytes: int('API_MAX_DATA_BYTES'),
      maxBatch: int('API_MAX_BATCH'),
    },
    sessionTtlSeconds: int('SESSION_TTL_SECONDS'),
    orderOwnerTtlSeconds: int('ORDER_OWNER_TTL_SECONDS'),
    readPositionTtlSeconds: int('READ_POSITION_TTL_SECONDS'),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS'),
    drainWindowMs: int('DRAIN_WINDOW_MS'),
    fanout: {
      maxDelayMs: {
        user: int('FANOUT_DELAY_USER_MS'),
        order: int('FANOUT_DELAY_USER_MS'),
        promotions: int('FANOUT_DELAY_PROMOTIONS_MS'),
        segment: int('FANOUT_DELAY_PROMOTIONS_MS'),
      },
    },
    rebalance: {
      intervalMs: int('REBALANCE_INTERVAL_MS'),
      marginPercent: int('REBALANCE_MARGIN_PERCENT'),
      maxPerSecond: int('REBALANCE_MAX_PER_SECOND'),
    },
    reconnectUrl,
    node: {
      // PORT=0 (tests) binds an ephemeral port; the node then fills this in once it is listening.
      publicUrl: publicUrl ?? `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
      capacity: int('NODE_CAPACITY'),
      heartbeatMs: int('NODE_HEARTBEAT_MS'),
      ttlSeconds: int('NODE_TTL_SECONDS'),
    },
    clusterStatsIntervalMs: int('CLUSTER_STATS_INTERVAL_MS'),
    webhooks:
      webhookUrl === undefined || webhookSecret === undefined
        ? undefined
        : {
            url: webhookUrl,
            secret: webhookSecret,
            offlineGraceMs: int('WEBHOOK_OFFLINE_GRACE_MS'),
            maxAttempts: int('WEBHOOK_MAX_ATTEMPTS'),
            timeoutMs: int('WEBHOOK_TIMEOUT_MS'),
            concurrency: int('WEBHOOK_CONCURRENCY'),
            retryBaseMs: int('WEBHOOK_RETRY_BASE_MS'),
            retryMaxMs: int('WEBHOOK_RETRY_MAX_MS'),
            pollMs: int('WEBHOOK_POLL_MS'),
          },
    webhookMaxPending: int('WEBHOOK_MAX_PENDING'),
    redis: {
      prefix: redisPrefix,
      commandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS'),
      minReplicas,
      presenceTtlSeconds: int('PRESENCE_TTL_SECONDS'),
    },
    busRouting: busRouting === 'broadcast' ? 'broadcast' : 'presence',
    amqp: {
      exchange,
      prefetch: int('AMQP_PREFETCH'),
      queueMaxLength: int('AMQP_QUEUE_MAX_LENGTH'),
      queueExpiresMs: int('AMQP_QUEUE_EXPIRES_MS'),
      publishTimeoutMs: int('AMQP_PUBLISH_TIMEOUT_MS'),
    },
    history: {
      user: {
        maxMessages: int('HISTORY_USER_MAX_MESSAGES'),
        maxAgeMs: int('HISTORY_USER_MAX_AGE_SECONDS') * 1000,
      },
      promotions: {
        maxMessages: int('HISTORY_PROMOTIONS_MAX_MESSAGES'),
        maxAgeMs: int('HISTORY_PROMOTIONS_MAX_AGE_SECONDS') * 1000,
      },
      replayLimit: int('HISTORY_REPLAY_LIMIT'),
    },
    idempotencyTtlSeconds: int('IDEMPOTENCY_TTL_SECONDS'),
    demoCredentials: { jwt: demoJwt, apiKeys: demoKeys },
  };

  if (config.ws.messageBurst < config.ws.messagesPerSecond) {
    problems.push('WS_MESSAGE_BURST must be at least WS_MESSAGES_PER_SECOND');
  }
  if (config.node.ttlSeconds * 1000 < 2 * config.node.heartbeatMs) {
    problems.push('NODE_TTL_SECONDS must cover at least two NODE_HEARTBEAT_MS intervals');
  }
  if (config.rebalance.intervalMs > 0 && config.rebalance.intervalMs <= config.node.heartbeatMs) {
    problems.push(
      "REBALANCE_INTERVAL_MS must exceed NODE_HEARTBEAT_MS (or be 0): each rebalancing round compares counts newer than the previous round's",
    );
  }
  if (config.drainWindowMs + DRAIN_MARGIN_MS > config.shutdownTimeoutMs) {
    problems.push(
      `SHUTDOWN_TIMEOUT_MS must exceed DRAIN_WINDOW_MS by at least ${DRAIN_MARGIN_MS} ms (the drain, its close grace and the stop run inside it)`,
    );
  }
  if (config.clusterStatsIntervalMs > 0 && config.clusterStatsIntervalMs < MIN_CLUSTER_STATS_INTERVAL_MS) {
    problems.push(
      `CLUSTER_STATS_INTERVAL_MS must be 0 (off) or at least ${MIN_CLUSTER_STATS_INTERVAL_MS}: every node publishes one message per interval to every console`,
    );
  }
  if (config.webhooks !== undefined && config.webhooks.retryMaxMs < config.webhooks.retryBaseMs) {
    problems.push('WEBHOOK_RETRY_MAX_MS must be at least WEBHOOK_RETRY_BASE_MS');
  }
  if (config.api.maxDataBytes > config.api.bodyLimitBytes) {
    problems.push('API_MAX_DATA_BYTES must not exceed API_BODY_LIMIT_BYTES');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
