/**
 * Every environment variable Herald reads, declared once: its type, default, bounds and doc line.
 *
 * This table is the single source of:
 * - validation (`read-env.ts` checks the environment against `ENV_SCHEMA` and names each bad variable),
 * - the option types (`EnvOptions = Static<typeof ENV_SCHEMA>`; every leaf of `Config` is typed from it),
 * - the README's configuration tables (`npm run docs` renders one table per group, in this order).
 *
 * Keywords beyond JSON Schema, read by `read-env.ts` and the docs script only:
 * - `docDefault`: the README's default column when the default is not one fixed value (computed, or
 *   depending on other options); the code that computes it sits in `config.ts`.
 * - `errorMessage`: the problem reported when a string does not match its `pattern`; `{value}` is
 *   replaced by the value, quoted. Integers, enums and booleans need none: their message is derived from
 *   the schema (bounds, allowed values). Values that may hold credentials (URLs, secrets) are never
 *   repeated in a message.
 *
 * An option with a `default` is always present after reading (its Static type is not optional); one
 * without is `undefined` when unset. Rules that involve several options (REDIS_URL and AMQP_URL together,
 * secret lengths in production, demo credentials, list syntax) are code in `config.ts`, after this check.
 */
import { Type, type Static, type TSchema } from 'typebox';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const NODE_ENVS = ['development', 'production', 'test'] as const;

/** How a node id (and a Redis Sentinel primary's name) may look. */
const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

const node = {
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65_535, description: 'HTTP and WebSocket port' }),
  INTERNAL_PORT: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 65_535,
      description:
        'A second port for `/metrics`, `/docs` and the admin routes (scope admin); `PORT` then answers them 404',
      docDefault: 'unset (all on `PORT`)',
    }),
  ),
  INTERNAL_HOST: Type.String({
    default: '127.0.0.1',
    description: 'Interface of `INTERNAL_PORT` (0.0.0.0 for a scraper on another host)',
  }),
  NODE_ID: Type.String({
    pattern: NAME_PATTERN,
    description: 'Node id in logs, welcome frames and the cluster view',
    docDefault: 'generated',
    errorMessage: 'NODE_ID={value} must be 1-64 characters of [A-Za-z0-9._-]',
  }),
  NODE_ENV: Type.Enum(NODE_ENVS, {
    default: 'development',
    description: 'development, production or test; production refuses to boot without real secrets',
  }),
  LOG_LEVEL: Type.Enum(LOG_LEVELS, {
    default: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent',
  }),
};

const drivers = {
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description: 'Redis for cluster state; unset = in-memory state (single node)',
      errorMessage: 'REDIS_URL must start with redis:// or rediss://',
    }),
  ),
  REDIS_SENTINELS: Type.Optional(
    Type.String({
      description:
        'Instead of `REDIS_URL`: comma-separated host:port of Redis Sentinels; Herald follows the primary they name (and the promoted replica after a failover)',
    }),
  ),
  REDIS_SENTINEL_NAME: Type.Optional(
    Type.String({
      pattern: NAME_PATTERN,
      description:
        'The primary the sentinels watch (`sentinel monitor <name>`); required with `REDIS_SENTINELS`',
      errorMessage: 'REDIS_SENTINEL_NAME must be 1-64 characters of [A-Za-z0-9._-]',
    }),
  ),
  REDIS_CLUSTER_NODES: Type.Optional(
    Type.String({
      description:
        'Instead of `REDIS_URL`: comma-separated host:port of Redis Cluster nodes to start from; keys carry hash tags (docs/operations.md)',
    }),
  ),
  REDIS_MIN_REPLICAS: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 16,
      description:
        "Replicas that must hold a message before a publish is answered 202 (Redis `WAIT` within 80 % of `REDIS_COMMAND_TIMEOUT_MS`, else 503; fewer when the primary, or the channel's shard, has fewer)",
      docDefault: '1 with sentinels or Redis Cluster, else 0',
    }),
  ),
  AMQP_URL: Type.Optional(
    Type.String({
      // Each entry of the comma-separated list is an amqp(s) URL (spaces around entries allowed).
      pattern: '^\\s*amqps?://[^\\s,]+\\s*(,\\s*amqps?://[^\\s,]+\\s*)*$',
      description:
        'RabbitMQ for the cluster bus, or the brokers of a RabbitMQ cluster comma-separated (a node starts on one and moves to the next when it fails); unset = in-memory bus (single node)',
      errorMessage:
        'AMQP_URL must start with amqp:// or amqps:// (each of a comma-separated list of brokers)',
    }),
  ),
  REDIS_PREFIX: Type.String({
    default: 'herald:',
    pattern: '^[A-Za-z0-9:._-]{1,64}$',
    description: 'Prefix of every Redis key Herald writes',
    errorMessage: 'REDIS_PREFIX must be 1-64 characters of [A-Za-z0-9:._-]',
  }),
  AMQP_EXCHANGE: Type.String({
    default: 'herald.bus',
    pattern: '^[A-Za-z0-9:._-]{1,200}$',
    description:
      'Name of the durable fanout exchange of the cluster bus (targeted messages: `<name>.direct`)',
    errorMessage: 'AMQP_EXCHANGE must be 1-200 characters of [A-Za-z0-9:._-]',
  }),
  BUS_ROUTING: Type.Enum(['presence', 'broadcast'], {
    default: 'presence',
    description:
      '`presence`: a user: message goes only to the nodes holding that user, and the node that took it delivers its own share without the bus; `broadcast`: every message to every node',
    errorMessage: 'BUS_ROUTING must be presence or broadcast',
  }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
    default: 1_000,
    minimum: 50,
    maximum: 60_000,
    description: 'Timeout of one Redis command on the request path',
  }),
  PRESENCE_TTL_SECONDS: Type.Integer({
    default: 30,
    minimum: 3,
    maximum: 3_600,
    description: "A crashed node's connections leave presence after this long",
  }),
  AMQP_PREFETCH: Type.Integer({
    default: 1_000,
    minimum: 1,
    maximum: 65_535,
    description: 'Unacknowledged bus messages a node takes at once',
  }),
  AMQP_QUEUE_MAX_LENGTH: Type.Integer({
    default: 100_000,
    minimum: 100,
    maximum: 10_000_000,
    description: "Bound of a node's bus queue; the oldest messages go first when it is full",
  }),
  AMQP_QUEUE_EXPIRES_MS: Type.Integer({
    default: 60_000,
    minimum: 1_000,
    maximum: 86_400_000,
    description: "A dead node's bus queue is deleted after it has had no consumer this long",
  }),
  AMQP_PUBLISH_TIMEOUT_MS: Type.Integer({
    default: 2_000,
    minimum: 50,
    maximum: 60_000,
    description: 'Longest wait for the broker on a publish before answering 503 bus_unavailable',
  }),
};

const tokens = {
  JWT_SECRET: Type.Optional(
    Type.String({ description: 'HS256 secret for client tokens (at least 32 characters in production)' }),
  ),
  JWT_PUBLIC_KEY: Type.Optional(
    Type.String({
      pattern: '-----BEGIN',
      description: 'PEM public key for RS256 or ES256 client tokens (\\n escapes allowed)',
      errorMessage: 'JWT_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY----- …)',
    }),
  ),
  JWT_ISSUER: Type.Optional(Type.String({ description: 'Required `iss` claim, when set' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ description: 'Required `aud` claim, when set' })),
  JWT_REQUIRE_EXP: Type.Boolean({
    default: false,
    description:
      '`true`: refuse client tokens without `exp` (a production node warns when neither this nor `JWT_MAX_AGE_SECONDS` is set)',
  }),
  JWT_MAX_AGE_SECONDS: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 31_536_000,
    description:
      'Refuse client tokens issued longer ago than this (they then need `iat`); 0 = no limit. An `iat` more than a minute ahead is always refused',
  }),
  API_KEYS: Type.Optional(
    Type.String({
      description: 'Comma-separated name:key:scope+scope entries; scopes are publish and admin',
    }),
  ),
  DEMO_ENABLED: Type.Optional(
    Type.Boolean({
      description:
        '`true`: the storefront demo at `/demo`, whose `/demo/token` mints client tokens for any user id (never in front of real users; a node with a real secret warns)',
      docDefault: 'true while `JWT_SECRET` is unset (the demo secret), else false',
    }),
  ),
};

const http = {
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({
    default: 10_000,
    minimum: 1_000,
    maximum: 300_000,
    description:
      'A request (WebSocket upgrades too) whose headers are not complete by then is answered 408 and closed (slowloris)',
  }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({
    default: 30_000,
    minimum: 1_000,
    maximum: 600_000,
    description:
      'A REST request that has not fully arrived by then (headers and body) is answered 408 and closed',
  }),
  ALLOWED_ORIGINS: Type.Optional(
    Type.String({ description: 'Comma-separated browser origins allowed to connect; unset = any' }),
  ),
  TRUSTED_PROXIES: Type.Optional(
    Type.String({
      description:
        'Comma-separated addresses or CIDR ranges of balancers whose `X-Forwarded-For` names the client (the nearest entry that is not itself a trusted proxy)',
    }),
  ),
};

const websocket = {
  WS_MAX_FRAME_BYTES: Type.Integer({
    default: 65_536,
    minimum: 256,
    maximum: 16_777_216,
    description: 'Largest client frame accepted; larger closes 1009',
  }),
  WS_MESSAGES_PER_SECOND: Type.Integer({
    default: 50,
    minimum: 1,
    maximum: 100_000,
    description: 'Client frames per second per connection (token bucket rate)',
  }),
  WS_MESSAGE_BURST: Type.Integer({
    default: 100,
    minimum: 1,
    maximum: 100_000,
    description: 'Token bucket size for client frames',
  }),
  WS_FLOOD_CLOSE_AFTER: Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 100_000,
    description: 'Frames rejected with rate_limited before the connection is closed 1008',
  }),
  WS_MAX_SUBSCRIPTIONS: Type.Integer({
    default: 100,
    minimum: 1,
    maximum: 100_000,
    description: 'Subscriptions per connection',
  }),
  WS_MAX_CONNECTIONS_PER_USER: Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 100_000,
    description: 'Concurrent connections per user (JWT sub)',
  }),
  WS_MAX_BUFFERED_BYTES: Type.Integer({
    default: 1_048_576,
    minimum: 1024,
    maximum: 1_073_741_824,
    description: 'Unsent bytes a connection may hold before it is closed 1013 (slow consumer)',
  }),
  WS_HEARTBEAT_MS: Type.Integer({
    default: 25_000,
    minimum: 100,
    maximum: 600_000,
    description: 'Server ping interval; peers silent for one interval are terminated',
  }),
  WS_AUTH_TIMEOUT_MS: Type.Integer({
    default: 5_000,
    minimum: 100,
    maximum: 600_000,
    description: 'Time a connection without a token query parameter has to send its auth frame',
  }),
  WS_MAX_AUTH_FRAME_BYTES: Type.Integer({
    default: 8_192,
    minimum: 512,
    maximum: 16_777_216,
    description:
      'Largest frame a connection may send before it is authenticated (an auth frame with a long token fits); larger closes 1009 unparsed. At most `WS_MAX_FRAME_BYTES`',
  }),
  WS_MAX_UNAUTHENTICATED: Type.Integer({
    default: 10_000,
    minimum: 1,
    maximum: 1_000_000,
    description:
      "Connections on the node not authenticated yet (a dead node's reconnect storm fits); further upgrades get 503",
  }),
  WS_MAX_UNAUTHENTICATED_PER_IP: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 1_000_000,
    description:
      'Connections from one client address not authenticated yet, further upgrades from it get 429; 0 = no limit. Behind a balancer set `TRUSTED_PROXIES` too, or every client shares its address',
  }),
  WS_ALLOW_GUESTS: Type.Boolean({
    default: false,
    description:
      '`true`: a connection may authenticate without a token, as a guest that may subscribe to `promotions` only (storefront visitors who have not signed in; docs/protocol.md §2.6)',
  }),
  WS_MAX_GUESTS_PER_IP: Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 100_000,
    description:
      'Guest connections (`WS_ALLOW_GUESTS`) per client address on each node (behind a balancer set `TRUSTED_PROXIES`); more are closed 4008',
  }),
  FANOUT_DELAY_USER_MS: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 1_000,
    description:
      'Longest a user:/order: message may wait on a node to share one socket write with others (0 = only while the node is busy)',
  }),
  FANOUT_DELAY_PROMOTIONS_MS: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 1_000,
    description:
      'Longest a promotions message may wait on a node to share one socket write with others (0 = only while the node is busy)',
  }),
};

const api = {
  API_BODY_LIMIT_BYTES: Type.Integer({
    default: 1_048_576,
    minimum: 1024,
    maximum: 67_108_864,
    description:
      'Largest REST request body (a body nesting arrays or objects deeper than 100 levels is refused too: 400 `invalid_json`)',
  }),
  API_MAX_DATA_BYTES: Type.Integer({
    default: 65_536,
    minimum: 64,
    maximum: 16_777_216,
    description: 'Largest serialized `data` of one published message',
  }),
  API_MAX_BATCH: Type.Integer({
    default: 100,
    minimum: 1,
    maximum: 10_000,
    description: 'Most messages in one POST /v1/publish/batch',
  }),
  IDEMPOTENCY_TTL_SECONDS: Type.Integer({
    default: 86_400,
    minimum: 1,
    maximum: 2_592_000,
    description: 'How long an Idempotency-Key and its first answer are remembered',
  }),
};

const retention = {
  SESSION_TTL_SECONDS: Type.Integer({
    default: 120,
    minimum: 1,
    maximum: 86_400,
    description: 'How long a session (and its subscriptions) is kept after its connection closes',
  }),
  ORDER_OWNER_TTL_SECONDS: Type.Integer({
    default: 2_592_000,
    minimum: 60,
    maximum: 31_536_000,
    description: 'How long the owner learned from an order event is remembered',
  }),
  READ_POSITION_TTL_SECONDS: Type.Integer({
    default: 2_592_000,
    minimum: 60,
    maximum: 31_536_000,
    description:
      "How long a user's read positions (ack frames, the inbox's unread counts) are kept after the user's last ack",
  }),
  HISTORY_USER_MAX_MESSAGES: Type.Integer({
    default: 1_000,
    minimum: 1,
    maximum: 1_000_000,
    description: 'Messages kept per user:/order: channel for recovery',
  }),
  HISTORY_USER_MAX_AGE_SECONDS: Type.Integer({
    default: 86_400,
    minimum: 1,
    maximum: 2_592_000,
    description: 'How long user:/order: messages stay recoverable',
  }),
  HISTORY_PROMOTIONS_MAX_MESSAGES: Type.Integer({
    default: 100,
    minimum: 1,
    maximum: 1_000_000,
    description: 'Messages kept per promotions channel for recovery',
  }),
  HISTORY_PROMOTIONS_MAX_AGE_SECONDS: Type.Integer({
    default: 3_600,
    minimum: 1,
    maximum: 2_592_000,
    description: 'How long promotions messages stay recoverable',
  }),
  HISTORY_REPLAY_LIMIT: Type.Integer({
    default: 1_000,
    minimum: 1,
    maximum: 1_000_000,
    description: 'Most messages one subscribe replays; further back answers recovered:false',
  }),
};

const drain = {
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    default: 30_000,
    minimum: 100,
    maximum: 600_000,
    description: 'Deadline for a graceful shutdown (drain included) on SIGTERM/SIGINT',
  }),
  DRAIN_WINDOW_MS: Type.Integer({
    default: 10_000,
    minimum: 0,
    maximum: 600_000,
    description:
      'On SIGTERM, reconnect frames go to the clients spread over this window; the rest are closed 1012',
  }),
  RECONNECT_URL: Type.Optional(
    Type.String({
      pattern: '^(director|wss?://[^/\\s]+(/\\S*)?)$',
      description:
        'Where reconnect frames (drain, rebalance) send clients: unset = their usual URL (the balancer); "director" = the least-loaded node; or a ws(s):// URL',
      errorMessage: 'RECONNECT_URL must be "director" or a ws:// or wss:// URL',
    }),
  ),
  REBALANCE_INTERVAL_MS: Type.Integer({
    default: 5_000,
    minimum: 0,
    maximum: 600_000,
    description:
      "How often a node compares the registry's connection counts with its capacity share of the cluster (> NODE_HEARTBEAT_MS; 0 = never)",
  }),
  REBALANCE_MARGIN_PERCENT: Type.Integer({
    default: 10,
    minimum: 1,
    maximum: 1_000,
    description:
      'A node sheds only when above its share by more than this two rounds running, and not while the cluster total moves over half this per round',
  }),
  REBALANCE_MAX_PER_SECOND: Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 10_000,
    description: 'Most clients one node asks to reconnect per second when rebalancing',
  }),
};

const registry = {
  PUBLIC_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^/\\s]+$',
      description: 'Base URL clients reach this node at, published in the node registry',
      docDefault: 'http://HOST:PORT',
      errorMessage: 'PUBLIC_URL must look like http://10.0.0.5:8080 (no path)',
    }),
  ),
  NODE_CAPACITY: Type.Integer({
    default: 1,
    minimum: 1,
    maximum: 1000,
    description: 'Relative capacity weight of this node (the director balances by load/capacity)',
  }),
  NODE_HEARTBEAT_MS: Type.Integer({
    default: 2_000,
    minimum: 100,
    maximum: 60_000,
    description:
      'How often the node refreshes its node-registry entry, at multiples of this on the wall clock (the same instants on every node)',
  }),
  NODE_TTL_SECONDS: Type.Integer({
    default: 10,
    minimum: 1,
    maximum: 3_600,
    description: 'A node that stopped heartbeating leaves the registry after this long',
  }),
  CLUSTER_STATS_INTERVAL_MS: Type.Integer({
    default: 1_000,
    minimum: 0,
    maximum: 60_000,
    description:
      'How often the node publishes its stats to the `cluster` channel for the operator console (`/dashboard`; docs/protocol.md §4); 0 = never, else at least 100',
  }),
};

const webhooks = {
  WEBHOOK_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^/\\s]+(/\\S*)?$',
      description:
        'http(s) URL that receives signed webhook events: user.online, user.offline, message.undelivered, message.read (docs/webhooks.md)',
      docDefault: 'unset (no webhooks)',
      errorMessage: 'WEBHOOK_URL must be an http:// or https:// URL',
    }),
  ),
  WEBHOOK_SECRET: Type.Optional(
    Type.String({
      description:
        'Signs every webhook (`Herald-Signature`, HMAC-SHA256); required with `WEBHOOK_URL`, at least 32 characters in production',
      docDefault: '—',
    }),
  ),
  WEBHOOK_OFFLINE_GRACE_MS: Type.Integer({
    default: 5_000,
    minimum: 0,
    maximum: 3_600_000,
    description:
      "user.offline waits this long after a user's last connection closed; a reconnect within it sends nothing",
  }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({
    default: 10,
    minimum: 1,
    maximum: 100,
    description: 'POSTs of one webhook event before it is dropped (counted and logged)',
  }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    default: 5_000,
    minimum: 100,
    maximum: 60_000,
    description:
      'Longest wait for the webhook endpoint to answer one POST (then it counts as failed and is retried)',
  }),
  WEBHOOK_CONCURRENCY: Type.Integer({
    default: 8,
    minimum: 1,
    maximum: 256,
    description: 'Webhook POSTs in flight per node at most',
  }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({
    default: 1_000,
    minimum: 10,
    maximum: 3_600_000,
    description:
      'Wait before the second attempt of a webhook event; each further one doubles (with jitter) up to `WEBHOOK_RETRY_MAX_MS`',
  }),
  WEBHOOK_RETRY_MAX_MS: Type.Integer({
    default: 300_000,
    minimum: 10,
    maximum: 86_400_000,
    description: 'Longest wait between two attempts of a webhook event',
  }),
  WEBHOOK_POLL_MS: Type.Integer({
    default: 250,
    minimum: 10,
    maximum: 60_000,
    description: 'How often an idle node looks for due webhook events and offline decisions',
  }),
  WEBHOOK_MAX_PENDING: Type.Integer({
    default: 100_000,
    minimum: 1,
    maximum: 10_000_000,
    description:
      'Webhook events the outbox holds at most, cluster-wide (more are refused and counted: a bounded outbox while the endpoint is down)',
  }),
};

/** The README's configuration tables: one per group, in this order. */
export const CONFIG_GROUPS: readonly { title: string; options: Record<string, TSchema> }[] = [
  { title: 'Node', options: node },
  { title: 'Cluster drivers (Redis and RabbitMQ)', options: drivers },
  { title: 'Client tokens and API keys', options: tokens },
  { title: 'HTTP', options: http },
  { title: 'WebSocket connections', options: websocket },
  { title: 'REST API', options: api },
  { title: 'Sessions and history', options: retention },
  { title: 'Shutdown, drain and rebalancing', options: drain },
  { title: 'Node registry and operator console', options: registry },
  { title: 'Webhooks', options: webhooks },
];

export const ENV_SCHEMA = Type.Object({
  ...node,
  ...drivers,
  ...tokens,
  ...http,
  ...websocket,
  ...api,
  ...retention,
  ...drain,
  ...registry,
  ...webhooks,
});

/** Every option as read: defaults filled in, types as declared above. */
export type EnvOptions = Static<typeof ENV_SCHEMA>;
export type OptionName = keyof EnvOptions;
/** The options that are integers with a default. */
export type IntOptionName = {
  [K in OptionName]-?: EnvOptions[K] extends number ? K : never;
}[OptionName];

/** An integer option's default (e.g. for drivers built outside a loaded configuration). */
export function intDefault(name: IntOptionName): number {
  const value = (ENV_SCHEMA.properties[name] as { default?: unknown }).default;
  if (typeof value !== 'number') throw new TypeError(`${name} has no integer default`);
  return value;
}
