/**
 * Herald configuration: read from the environment in exactly this folder, each option declared once.
 *
 * - `schema.ts` declares every variable: type, default, bounds, doc line (the README's tables are
 *   generated from it by `npm run docs`).
 * - `read-env.ts` reads the environment against that schema: conversion, defaults, one problem per bad
 *   variable.
 * - This module turns the options into the `Config` the node runs with, after the rules the schema cannot
 *   state: options that go together or exclude each other, secrets in production, demo credentials,
 *   lists (`lists.ts`), and bounds that depend on another option.
 *
 * `Config` is a nested shape written here, but no leaf type is written twice: each option's leaf is
 * `EnvOptions['NAME']`, the schema's static type, so the schema decides whether it is a number, a union of
 * strings or optional; only parsed values (lists, URLs read as targets) have types of their own. The
 * assembly in `loadConfig` is checked against `Config`, so a leaf that names the wrong option or type
 * does not compile. `loadConfig` collects every problem at once and throws a `ConfigError` naming each bad
 * variable, so boot stops with a message an operator can act on.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseApiKeys, type ApiKey } from '../auth/api-keys.js';
import {
  parseHostPorts,
  parseOrigins,
  parseSentinels,
  parseTrustedProxies,
  type HostPort,
  type RedisSentinelTarget,
} from './lists.js';
import { envValue, readEnv, type Env } from './read-env.js';
import { intDefault, type EnvOptions, type OptionName } from './schema.js';

export type { HostPort, RedisSentinelTarget } from './lists.js';
export { ENV_SCHEMA, intDefault, type EnvOptions } from './schema.js';

/** The shortest CLUSTER_STATS_INTERVAL_MS other than 0 (off). */
export const MIN_CLUSTER_STATS_INTERVAL_MS = 100;
export const DEMO_JWT_SECRET = 'herald-demo-secret-do-not-use-in-production!';
export const DEMO_API_KEY = 'demo-publish-key';

type O = EnvOptions;

export type LogLevel = O['LOG_LEVEL'];

export interface Config {
  port: O['PORT'];
  host: O['HOST'];
  /**
   * INTERNAL_PORT: where /metrics, /docs and the admin routes answer instead of `port` (which then
   * answers them 404); undefined = everything on `port`.
   */
  internal: { host: O['INTERNAL_HOST']; port: NonNullable<O['INTERNAL_PORT']> } | undefined;
  nodeId: O['NODE_ID'];
  nodeEnv: O['NODE_ENV'];
  logLevel: LogLevel;
  /** One Redis server (REDIS_URL), or the primary that Redis Sentinel names (REDIS_SENTINELS). */
  redisUrl: O['REDIS_URL'];
  redisSentinel: RedisSentinelTarget | undefined;
  /** Redis Cluster (REDIS_CLUSTER_NODES): seed nodes; takes the place of REDIS_URL. */
  redisCluster: { nodes: HostPort[] } | undefined;
  amqpUrl: O['AMQP_URL'];
  jwt: {
    secret: O['JWT_SECRET'];
    publicKey: O['JWT_PUBLIC_KEY'];
    issuer: O['JWT_ISSUER'];
    audience: O['JWT_AUDIENCE'];
    requireExp: O['JWT_REQUIRE_EXP'];
    maxAgeSeconds: O['JWT_MAX_AGE_SECONDS'];
  };
  apiKeys: ApiKey[];
  /** Empty means any origin is accepted. */
  allowedOrigins: string[];
  ws: {
    maxFrameBytes: O['WS_MAX_FRAME_BYTES'];
    messagesPerSecond: O['WS_MESSAGES_PER_SECOND'];
    messageBurst: O['WS_MESSAGE_BURST'];
    floodCloseAfter: O['WS_FLOOD_CLOSE_AFTER'];
    maxSubscriptions: O['WS_MAX_SUBSCRIPTIONS'];
    maxConnectionsPerUser: O['WS_MAX_CONNECTIONS_PER_USER'];
    maxBufferedBytes: O['WS_MAX_BUFFERED_BYTES'];
    heartbeatMs: O['WS_HEARTBEAT_MS'];
    authTimeoutMs: O['WS_AUTH_TIMEOUT_MS'];
    /** Largest frame a connection may send before it is authenticated (an auth frame needs no more). */
    maxAuthFrameBytes: O['WS_MAX_AUTH_FRAME_BYTES'];
    /** Connections not authenticated yet, on the node and per client address. */
    maxUnauthenticated: O['WS_MAX_UNAUTHENTICATED'];
    maxUnauthenticatedPerIp: O['WS_MAX_UNAUTHENTICATED_PER_IP'];
    /** WS_ALLOW_GUESTS: an `auth` frame without a token opens a guest connection (promotions only). */
    allowGuests: O['WS_ALLOW_GUESTS'];
    /** Guest connections per client address (WS_MAX_GUESTS_PER_IP). */
    maxGuestsPerIp: O['WS_MAX_GUESTS_PER_IP'];
  };
  /**
   * Proxies whose X-Forwarded-For names the client (addresses and CIDR ranges, TRUSTED_PROXIES); the
   * per-address limits count the client so named. Empty: the TCP peer is the client.
   */
  trustedProxies: string[];
  api: {
    bodyLimitBytes: O['API_BODY_LIMIT_BYTES'];
    maxDataBytes: O['API_MAX_DATA_BYTES'];
    maxBatch: O['API_MAX_BATCH'];
  };
  /** HTTP_HEADERS_TIMEOUT_MS and HTTP_REQUEST_TIMEOUT_MS (slow clients, upgrades included). */
  http: { headersTimeoutMs: O['HTTP_HEADERS_TIMEOUT_MS']; requestTimeoutMs: O['HTTP_REQUEST_TIMEOUT_MS'] };
  sessionTtlSeconds: O['SESSION_TTL_SECONDS'];
  orderOwnerTtlSeconds: O['ORDER_OWNER_TTL_SECONDS'];
  /** How long a user's read positions (acks) are kept after the user's last ack. */
  readPositionTtlSeconds: O['READ_POSITION_TTL_SECONDS'];
  shutdownTimeoutMs: O['SHUTDOWN_TIMEOUT_MS'];
  drainWindowMs: O['DRAIN_WINDOW_MS'];
  /**
   * Longest a message of each channel kind may wait on a node to share one socket write with others
   * (0: messages wait only while the node is busy writing earlier ones).
   */
  fanout: {
    maxDelayMs: {
      user: O['FANOUT_DELAY_USER_MS'];
      order: O['FANOUT_DELAY_USER_MS'];
      promotions: O['FANOUT_DELAY_PROMOTIONS_MS'];
      segment: O['FANOUT_DELAY_PROMOTIONS_MS'];
    };
  };
  /** Active rebalancing; `intervalMs` 0 turns it off. */
  rebalance: {
    intervalMs: O['REBALANCE_INTERVAL_MS'];
    marginPercent: O['REBALANCE_MARGIN_PERCENT'];
    maxPerSecond: O['REBALANCE_MAX_PER_SECOND'];
  };
  /** Where reconnect frames point (RECONNECT_URL): the client's usual URL, the director's pick, or a fixed URL. */
  reconnectUrl: { kind: 'usual' } | { kind: 'director' } | { kind: 'fixed'; url: string };
  /** This node in the registry: where clients reach it and how much load it takes. */
  node: {
    /** PUBLIC_URL, or http://HOST:PORT. */
    publicUrl: NonNullable<O['PUBLIC_URL']>;
    capacity: O['NODE_CAPACITY'];
    heartbeatMs: O['NODE_HEARTBEAT_MS'];
    ttlSeconds: O['NODE_TTL_SECONDS'];
  };
  /**
   * CLUSTER_STATS_INTERVAL_MS: how often this node publishes its stats to the `cluster` channel (the
   * operator console); 0 = never.
   */
  clusterStatsIntervalMs: O['CLUSTER_STATS_INTERVAL_MS'];
  /** WEBHOOK_URL and WEBHOOK_SECRET set: the webhooks (services/webhooks/webhooks.ts); else undefined. */
  webhooks:
    | {
        url: NonNullable<O['WEBHOOK_URL']>;
        secret: NonNullable<O['WEBHOOK_SECRET']>;
        offlineGraceMs: O['WEBHOOK_OFFLINE_GRACE_MS'];
        maxAttempts: O['WEBHOOK_MAX_ATTEMPTS'];
        timeoutMs: O['WEBHOOK_TIMEOUT_MS'];
        concurrency: O['WEBHOOK_CONCURRENCY'];
        /** First retry wait; each further one doubles (with jitter), up to `retryMaxMs`. */
        retryBaseMs: O['WEBHOOK_RETRY_BASE_MS'];
        retryMaxMs: O['WEBHOOK_RETRY_MAX_MS'];
        /** How often an idle node looks for due events and offline decisions. */
        pollMs: O['WEBHOOK_POLL_MS'];
      }
    | undefined;
  /** Events the webhook outbox holds at most (WEBHOOK_MAX_PENDING). */
  webhookMaxPending: O['WEBHOOK_MAX_PENDING'];
  /** Cluster drivers; both set, or neither (then the embedded memory drivers run). */
  redis: {
    prefix: O['REDIS_PREFIX'];
    commandTimeoutMs: O['REDIS_COMMAND_TIMEOUT_MS'];
    /** Replicas that must hold a message before the publish is answered (Redis WAIT). */
    minReplicas: NonNullable<O['REDIS_MIN_REPLICAS']>;
    presenceTtlSeconds: O['PRESENCE_TTL_SECONDS'];
  };
  /**
   * presence: a `user:` message goes only to the nodes holding the user's connections (delivered here
   * without the bus when this node is one of them); broadcast: every message to every node.
   */
  busRouting: O['BUS_ROUTING'];
  amqp: {
    exchange: O['AMQP_EXCHANGE'];
    prefetch: O['AMQP_PREFETCH'];
    queueMaxLength: O['AMQP_QUEUE_MAX_LENGTH'];
    queueExpiresMs: O['AMQP_QUEUE_EXPIRES_MS'];
    publishTimeoutMs: O['AMQP_PUBLISH_TIMEOUT_MS'];
  };
  /** Recovery history per channel kind (ages in ms: the *_MAX_AGE_SECONDS options × 1000), and how far one subscribe may replay. */
  history: {
    user: { maxMessages: O['HISTORY_USER_MAX_MESSAGES']; maxAgeMs: O['HISTORY_USER_MAX_AGE_SECONDS'] };
    promotions: {
      maxMessages: O['HISTORY_PROMOTIONS_MAX_MESSAGES'];
      maxAgeMs: O['HISTORY_PROMOTIONS_MAX_AGE_SECONDS'];
    };
    replayLimit: O['HISTORY_REPLAY_LIMIT'];
  };
  idempotencyTtlSeconds: O['IDEMPOTENCY_TTL_SECONDS'];
  /**
   * DEMO_ENABLED: the storefront demo at /demo, and /demo/token, which mints a client token for any
   * user id (HS256 with JWT_SECRET). Default: on only while the public demo secret signs tokens
   * (development without JWT_SECRET), where anyone can mint tokens anyway.
   */
  demoEnabled: NonNullable<O['DEMO_ENABLED']>;
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
  return {
    user: {
      maxMessages: intDefault('HISTORY_USER_MAX_MESSAGES'),
      maxAgeMs: intDefault('HISTORY_USER_MAX_AGE_SECONDS') * 1000,
    },
    promotions: {
      maxMessages: intDefault('HISTORY_PROMOTIONS_MAX_MESSAGES'),
      maxAgeMs: intDefault('HISTORY_PROMOTIONS_MAX_AGE_SECONDS') * 1000,
    },
    replayLimit: intDefault('HISTORY_REPLAY_LIMIT'),
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The options of `Config['webhooks']` besides its URL and secret. */
const WEBHOOK_TUNING: readonly OptionName[] = [
  'WEBHOOK_OFFLINE_GRACE_MS',
  'WEBHOOK_MAX_ATTEMPTS',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_CONCURRENCY',
  'WEBHOOK_RETRY_BASE_MS',
  'WEBHOOK_RETRY_MAX_MS',
  'WEBHOOK_POLL_MS',
];

/** What a shutdown needs after the drain window: the 2 s close grace, then closing server, bus and state. */
const DRAIN_MARGIN_MS = 5_000;

/** NODE_ID when unset: a host label of up to 57 characters, '-', 6 hex digits (within the NODE_ID rule). */
function generatedNodeId(): string {
  const hostLabel = (hostname().split('.')[0] || 'node').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 57);
  return `${hostLabel}-${randomBytes(3).toString('hex')}`;
}

export function loadConfig(env: Env = process.env): Config {
  const read = readEnv(env, { NODE_ID: generatedNodeId() });
  const o = read.options;
  const webhooksOn = o.WEBHOOK_URL !== undefined && o.WEBHOOK_SECRET !== undefined;
  // The webhook tuning options are read only when webhooks are on: without them a bad value stops nothing.
  const problems = [...read.problems]
    .filter(([name]) => webhooksOn || !WEBHOOK_TUNING.includes(name))
    .map(([, problem]) => problem);
  const production = o.NODE_ENV === 'production';

  // ---- client token verification --------------------------------------------------------------
  let secret = o.JWT_SECRET;
  const publicKey = o.JWT_PUBLIC_KEY?.replace(/\\n/g, '\n');
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

  // ---- REST API keys --------------------------------------------------------------------------
  let apiKeys: ApiKey[] = [];
  let demoKeys = false;
  if (o.API_KEYS === undefined) {
    if (production) problems.push('API_KEYS is required when NODE_ENV=production');
    else {
      apiKeys = [{ name: 'demo', key: DEMO_API_KEY, scopes: new Set(['publish', 'admin']) }];
      demoKeys = true;
    }
  } else {
    const parsed = parseApiKeys(o.API_KEYS, production ? 16 : 1);
    problems.push(...parsed.problems.map((p) => `API_KEYS: ${p}`));
    apiKeys = parsed.keys;
  }

  const allowedOrigins = parseOrigins(o.ALLOWED_ORIGINS, problems);

  // ---- cluster drivers: one Redis target, with AMQP_URL or not at all -------------------------
  const redisSentinel = parseSentinels(o.REDIS_SENTINELS, o.REDIS_SENTINEL_NAME, problems);
  const clusterNodes =
    o.REDIS_CLUSTER_NODES === undefined
      ? []
      : parseHostPorts('REDIS_CLUSTER_NODES', o.REDIS_CLUSTER_NODES, problems);
  const redisCluster = clusterNodes.length > 0 ? { nodes: clusterNodes } : undefined;
  const redisTargets = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(
    (name) => o[name] !== undefined,
  );
  if (redisTargets.length > 1) problems.push(`${redisTargets.join(' and ')} exclude each other: set one`);
  if (redisTargets.length > 0 !== (o.AMQP_URL !== undefined)) {
    problems.push(
      'REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES) and AMQP_URL go together: set both for cluster mode, or neither for one embedded node',
    );
  }
  // Behind Sentinel or Redis Cluster a publish waits for one replica by default; with one server, for none.
  const minReplicas =
    o.REDIS_MIN_REPLICAS ?? (redisSentinel === undefined && redisCluster === undefined ? 0 : 1);

  const trustedProxies = parseTrustedProxies(o.TRUSTED_PROXIES, problems);

  let internal: Config['internal'];
  if (o.INTERNAL_PORT !== undefined) {
    if (o.INTERNAL_PORT !== 0 && o.INTERNAL_PORT === o.PORT)
      problems.push('INTERNAL_PORT must differ from PORT');
    else internal = { host: o.INTERNAL_HOST, port: o.INTERNAL_PORT };
  } else if (envValue(env, 'INTERNAL_HOST') !== undefined) problems.push('INTERNAL_HOST needs INTERNAL_PORT');

  const reconnectUrl: Config['reconnectUrl'] =
    o.RECONNECT_URL === undefined
      ? { kind: 'usual' }
      : o.RECONNECT_URL === 'director'
        ? { kind: 'director' }
        : { kind: 'fixed', url: o.RECONNECT_URL };

  if (o.WEBHOOK_URL !== undefined && o.WEBHOOK_SECRET === undefined)
    problems.push('WEBHOOK_URL needs WEBHOOK_SECRET: every webhook is signed');
  if (o.WEBHOOK_SECRET !== undefined && o.WEBHOOK_URL === undefined)
    problems.push('WEBHOOK_SECRET is set without WEBHOOK_URL');
  if (o.WEBHOOK_SECRET !== undefined && production && o.WEBHOOK_SECRET.length < 32)
    problems.push('WEBHOOK_SECRET must be at least 32 characters when NODE_ENV=production');

  const config: Config = {
    // On by default only with the public demo secret.
    demoEnabled: o.DEMO_ENABLED ?? demoJwt,
    port: o.PORT,
    host: o.HOST,
    internal,
    nodeId: o.NODE_ID,
    nodeEnv: o.NODE_ENV,
    logLevel: o.LOG_LEVEL,
    redisUrl: o.REDIS_URL,
    redisSentinel,
    redisCluster,
    amqpUrl: o.AMQP_URL,
    jwt: {
      secret,
      publicKey,
      issuer: o.JWT_ISSUER,
      audience: o.JWT_AUDIENCE,
      requireExp: o.JWT_REQUIRE_EXP,
      maxAgeSeconds: o.JWT_MAX_AGE_SECONDS,
    },
    apiKeys,
    allowedOrigins,
    ws: {
      maxFrameBytes: o.WS_MAX_FRAME_BYTES,
      messagesPerSecond: o.WS_MESSAGES_PER_SECOND,
      messageBurst: o.WS_MESSAGE_BURST,
      floodCloseAfter: o.WS_FLOOD_CLOSE_AFTER,
      maxSubscriptions: o.WS_MAX_SUBSCRIPTIONS,
      maxConnectionsPerUser: o.WS_MAX_CONNECTIONS_PER_USER,
      maxBufferedBytes: o.WS_MAX_BUFFERED_BYTES,
      heartbeatMs: o.WS_HEARTBEAT_MS,
      authTimeoutMs: o.WS_AUTH_TIMEOUT_MS,
      // Never above the limit of every frame (a node with small frames has small auth frames too).
      maxAuthFrameBytes: Math.min(o.WS_MAX_AUTH_FRAME_BYTES, o.WS_MAX_FRAME_BYTES),
      maxUnauthenticated: o.WS_MAX_UNAUTHENTICATED,
      maxUnauthenticatedPerIp: o.WS_MAX_UNAUTHENTICATED_PER_IP,
      allowGuests: o.WS_ALLOW_GUESTS,
      maxGuestsPerIp: o.WS_MAX_GUESTS_PER_IP,
    },
    trustedProxies,
    http: {
      headersTimeoutMs: o.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: o.HTTP_REQUEST_TIMEOUT_MS,
    },
    api: {
      bodyLimitBytes: o.API_BODY_LIMIT_BYTES,
      maxDataBytes: o.API_MAX_DATA_BYTES,
      maxBatch: o.API_MAX_BATCH,
    },
    sessionTtlSeconds: o.SESSION_TTL_SECONDS,
    orderOwnerTtlSeconds: o.ORDER_OWNER_TTL_SECONDS,
    readPositionTtlSeconds: o.READ_POSITION_TTL_SECONDS,
    shutdownTimeoutMs: o.SHUTDOWN_TIMEOUT_MS,
    drainWindowMs: o.DRAIN_WINDOW_MS,
    fanout: {
      maxDelayMs: {
        user: o.FANOUT_DELAY_USER_MS,
        order: o.FANOUT_DELAY_USER_MS,
        promotions: o.FANOUT_DELAY_PROMOTIONS_MS,
        segment: o.FANOUT_DELAY_PROMOTIONS_MS,
      },
    },
    rebalance: {
      intervalMs: o.REBALANCE_INTERVAL_MS,
      marginPercent: o.REBALANCE_MARGIN_PERCENT,
      maxPerSecond: o.REBALANCE_MAX_PER_SECOND,
    },
    reconnectUrl,
    node: {
      // PORT=0 (tests) binds an ephemeral port; the node then fills this in once it is listening.
      publicUrl:
        o.PUBLIC_URL ?? `http://${o.HOST === '0.0.0.0' || o.HOST === '::' ? '127.0.0.1' : o.HOST}:${o.PORT}`,
      capacity: o.NODE_CAPACITY,
      heartbeatMs: o.NODE_HEARTBEAT_MS,
      ttlSeconds: o.NODE_TTL_SECONDS,
    },
    clusterStatsIntervalMs: o.CLUSTER_STATS_INTERVAL_MS,
    webhooks:
      o.WEBHOOK_URL === undefined || o.WEBHOOK_SECRET === undefined
        ? undefined
        : {
            url: o.WEBHOOK_URL,
            secret: o.WEBHOOK_SECRET,
            offlineGraceMs: o.WEBHOOK_OFFLINE_GRACE_MS,
            maxAttempts: o.WEBHOOK_MAX_ATTEMPTS,
            timeoutMs: o.WEBHOOK_TIMEOUT_MS,
            concurrency: o.WEBHOOK_CONCURRENCY,
            retryBaseMs: o.WEBHOOK_RETRY_BASE_MS,
            retryMaxMs: o.WEBHOOK_RETRY_MAX_MS,
            pollMs: o.WEBHOOK_POLL_MS,
          },
    webhookMaxPending: o.WEBHOOK_MAX_PENDING,
    redis: {
      prefix: o.REDIS_PREFIX,
      commandTimeoutMs: o.REDIS_COMMAND_TIMEOUT_MS,
      minReplicas,
      presenceTtlSeconds: o.PRESENCE_TTL_SECONDS,
    },
    busRouting: o.BUS_ROUTING,
    amqp: {
      exchange: o.AMQP_EXCHANGE,
      prefetch: o.AMQP_PREFETCH,
      queueMaxLength: o.AMQP_QUEUE_MAX_LENGTH,
      queueExpiresMs: o.AMQP_QUEUE_EXPIRES_MS,
      publishTimeoutMs: o.AMQP_PUBLISH_TIMEOUT_MS,
    },
    history: {
      user: {
        maxMessages: o.HISTORY_USER_MAX_MESSAGES,
        maxAgeMs: o.HISTORY_USER_MAX_AGE_SECONDS * 1000,
      },
      promotions: {
        maxMessages: o.HISTORY_PROMOTIONS_MAX_MESSAGES,
        maxAgeMs: o.HISTORY_PROMOTIONS_MAX_AGE_SECONDS * 1000,
      },
      replayLimit: o.HISTORY_REPLAY_LIMIT,
    },
    idempotencyTtlSeconds: o.IDEMPOTENCY_TTL_SECONDS,
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
