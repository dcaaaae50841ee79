import { generateKeyPairSync } from 'node:crypto';
import type * as NodeOs from 'node:os';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenVerifier } from '../../../shared/auth/jwt.js';
import {
  ConfigError,
  DEMO_API_KEY,
  DEMO_JWT_SECRET,
  intDefault,
  loadConfig,
  startupWarnings,
} from '../../../shared/config/config.js';

const os = vi.hoisted(() => ({ hostname: undefined as string | undefined }));
vi.mock('node:os', async (importOriginal) => {
  const actual = await importOriginal<typeof NodeOs>();
  return { ...actual, hostname: (): string => os.hostname ?? actual.hostname() };
});
beforeEach(() => {
  // A fixed, ordinary host name keeps the derived NODE_ID independent of the machine running the tests.
  os.hostname = 'herald-test';
});

type Env = Record<string, string | undefined>;

const PROD_SECRET = 'p'.repeat(32);
const PROD_KEYS = 'orders:orders-key-0123456789:publish';
const production = (env: Env = {}): Env => ({
  NODE_ENV: 'production',
  JWT_SECRET: PROD_SECRET,
  API_KEYS: PROD_KEYS,
  ...env,
});

function problemsOf(env: Env): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

const p256PublicPem = (): string =>
  generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }).publicKey;

describe('loadConfig defaults', () => {
  it('when the environment is empty, then the documented defaults and memory drivers are used', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.nodeEnv).toBe('development');
    expect(config.logLevel).toBe('info');
    expect(config.redisUrl).toBeUndefined();
    expect(config.amqpUrl).toBeUndefined();
    expect(config.allowedOrigins).toEqual([]);
    expect(config.jwt).toEqual({
      secret: DEMO_JWT_SECRET,
      publicKey: undefined,
      issuer: undefined,
      audience: undefined,
      requireExp: false,
      maxAgeSeconds: 0,
    });
    expect(config.ws).toEqual({
      maxFrameBytes: intDefault('WS_MAX_FRAME_BYTES'),
      messagesPerSecond: 50,
      messageBurst: 100,
      floodCloseAfter: intDefault('WS_FLOOD_CLOSE_AFTER'),
      maxSubscriptions: 100,
      maxConnectionsPerUser: intDefault('WS_MAX_CONNECTIONS_PER_USER'),
      maxBufferedBytes: intDefault('WS_MAX_BUFFERED_BYTES'),
      heartbeatMs: 25_000,
      authTimeoutMs: 5_000,
      maxAuthFrameBytes: 8_192,
      maxUnauthenticated: 10_000,
      maxUnauthenticatedPerIp: 0,
      allowGuests: false,
      maxGuestsPerIp: 20,
    });
    expect(config.trustedProxies).toEqual([]);
    expect(config.nodeId).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  });

  it('when nothing is configured in development, then demo credentials are filled in and flagged', () => {
    const config = loadConfig({ NODE_ENV: 'development' });
    expect(config.demoCredentials).toEqual({ jwt: true, apiKeys: true });
    expect(config.jwt.secret).toBe(DEMO_JWT_SECRET);
    expect(config.apiKeys).toEqual([
      { name: 'demo', key: DEMO_API_KEY, scopes: new Set(['publish', 'admin']) },
    ]);
  });

  it('when secrets are configured in development, then no demo credentials are used', () => {
    const config = loadConfig({ JWT_SECRET: 'dev-secret', API_KEYS: 'a:k:publish' });
    expect(config.demoCredentials).toEqual({ jwt: false, apiKeys: false });
    expect(config.jwt.secret).toBe('dev-secret');
    expect(config.apiKeys.map((k) => k.key)).toEqual(['k']);
  });

  it('when NODE_ID is not set, then it is derived from the first label of the host name', () => {
    os.hostname = 'shop-node-1.eu.internal';
    expect(loadConfig({}).nodeId).toMatch(/^shop-node-1-[0-9a-f]{6}$/);
  });

  it('when the host name is a maximal 63-character label, then the derived NODE_ID is still valid', () => {
    os.hostname = 'h'.repeat(63);
    const config = loadConfig({});
    expect(config.nodeId).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  });

  it('when NODE_ID is set, then it is used as given', () => {
    expect(loadConfig({ NODE_ID: 'gw-a.1' }).nodeId).toBe('gw-a.1');
  });

  it('when NODE_ID has invalid characters, then the problem names NODE_ID', () => {
    expect(problemsOf({ NODE_ID: 'gw a' })).toEqual([expect.stringMatching(/^NODE_ID=/)]);
  });

  it('when REDIS_URL and AMQP_URL are set, then they are passed through', () => {
    const config = loadConfig({ REDIS_URL: 'redis://r:6379', AMQP_URL: 'amqps://mq' });
    expect(config.redisUrl).toBe('redis://r:6379');
    expect(config.amqpUrl).toBe('amqps://mq');
  });

  it('when REDIS_SENTINELS and REDIS_SENTINEL_NAME are set with AMQP_URL, then the node runs in cluster mode on the sentinels', () => {
    const config = loadConfig({
      REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'herald',
      AMQP_URL: 'amqp://mq',
    });
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisSentinel).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'herald',
    });
    // Behind Sentinel a publish waits for one replica by default; with one server, for none.
    expect(config.redis.minReplicas).toBe(1);
    expect(loadConfig({ REDIS_URL: 'redis://r', AMQP_URL: 'amqp://mq' }).redis.minReplicas).toBe(0);
    expect(
      loadConfig({ REDIS_URL: 'redis://r', AMQP_URL: 'amqp://mq', REDIS_MIN_REPLICAS: '2' }).redis
        .minReplicas,
    ).toBe(2);
    expect(problemsOf({ REDIS_MIN_REPLICAS: 'one' })).toEqual([
      expect.stringContaining('REDIS_MIN_REPLICAS'),
    ]);
  });

  it('when the sentinel settings are incomplete, malformed or mixed with REDIS_URL, then each problem is named', () => {
    expect(problemsOf({ REDIS_SENTINELS: 's1:26379', AMQP_URL: 'amqp://mq' })).toEqual([
      expect.stringContaining('REDIS_SENTINEL_NAME'),
    ]);
    expect(problemsOf({ REDIS_SENTINEL_NAME: 'herald' })).toEqual([
      expect.stringContaining('REDIS_SENTINELS'),
    ]);
    expect(
      problemsOf({ REDIS_SENTINELS: 's1, s2:99999', REDIS_SENTINEL_NAME: 'herald', AMQP_URL: 'amqp://mq' }),
    ).toEqual([expect.stringContaining('"s1"'), expect.stringContaining('"s2:99999"')]);
    expect(
      problemsOf({
        REDIS_SENTINELS: 's1:26379',
        REDIS_SENTINEL_NAME: 'herald',
        REDIS_URL: 'redis://r',
        AMQP_URL: 'amqp://mq',
      }),
    ).toEqual([expect.stringContaining('exclude each other')]);
  });

  it('when REDIS_CLUSTER_NODES is set with AMQP_URL, then the node runs on the Redis Cluster, waiting for one replica by default', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000,r2:7001', AMQP_URL: 'amqp://mq' });
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisCluster).toEqual({
      nodes: [
        { host: 'r1', port: 7000 },
        { host: 'r2', port: 7001 },
      ],
    });
    expect(config.redis.minReplicas).toBe(1);
    expect(
      loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000', AMQP_URL: 'amqp://mq', REDIS_MIN_REPLICAS: '0' }).redis
        .minReplicas,
    ).toBe(0);
  });

  it('when REDIS_CLUSTER_NODES is malformed, alone, or mixed with another Redis target, then each problem is named', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'r1:7000,r2', AMQP_URL: 'amqp://mq' })).toEqual([
      expect.stringContaining('REDIS_CLUSTER_NODES entry "r2"'),
    ]);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'r1:7000' })).toEqual([expect.stringContaining('go together')]);
    expect(
      problemsOf({ REDIS_CLUSTER_NODES: 'r1:7000', REDIS_URL: 'redis://r', AMQP_URL: 'amqp://mq' }),
    ).toEqual([expect.stringContaining('REDIS_URL and REDIS_CLUSTER_NODES exclude each other')]);
  });

  it('when AMQP_URL lists several brokers, then each must be an amqp URL', () => {
    const brokers = 'amqp://u:p@mq1:5672, amqp://u:p@mq2:5672';
    expect(loadConfig({ REDIS_URL: 'redis://r', AMQP_URL: brokers }).amqpUrl).toBe(brokers);
    expect(problemsOf({ REDIS_URL: 'redis://r', AMQP_URL: 'amqp://mq1,mq2:5672' })).toEqual([
      expect.stringContaining('AMQP_URL'),
    ]);
  });

  it('when REDIS_URL or AMQP_URL has the wrong scheme, then both are named', () => {
    const problems = problemsOf({ REDIS_URL: 'http://r', AMQP_URL: 'redis://mq' });
    expect(problems).toEqual([expect.stringContaining('REDIS_URL'), expect.stringContaining('AMQP_URL')]);
  });
});

describe('loadConfig in production', () => {
  it('when no secrets are configured, then ConfigError names JWT_SECRET and API_KEYS', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toContainEqual(expect.stringContaining('JWT_SECRET'));
    expect(problems).toContainEqual(expect.stringContaining('API_KEYS'));
  });

  it('when real secrets are configured, then it loads without demo credentials', () => {
    const config = loadConfig(production());
    expect(config.nodeEnv).toBe('production');
    expect(config.demoCredentials).toEqual({ jwt: false, apiKeys: false });
  });

  it('when JWT_SECRET is shorter than 32 characters, then it is rejected', () => {
    expect(problemsOf(production({ JWT_SECRET: 'p'.repeat(31) }))).toEqual([
      'JWT_SECRET must be at least 32 characters when NODE_ENV=production',
    ]);
  });

  it('when only JWT_PUBLIC_KEY is configured, then no JWT_SECRET is required', () => {
    const config = loadConfig(production({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: p256PublicPem() }));
    expect(config.jwt.secret).toBeUndefined();
    expect(config.demoCredentials.jwt).toBe(false);
  });

  it('when an API key is shorter than 16 characters, then API_KEYS is named', () => {
    expect(problemsOf(production({ API_KEYS: 'orders:short-key:publish' }))).toEqual([
      expect.stringMatching(/^API_KEYS: .*at least 16 characters/),
    ]);
  });
});

describe('loadConfig validation', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', '1e3'],
    ['WS_HEARTBEAT_MS', '99'],
    ['API_MAX_BATCH', '10001'],
    ['WS_MAX_FRAME_BYTES', '0x100'],
  ])('when %s=%j is not an integer in range, then the problem names the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}=`));
    expect(problems[0]).toContain('must be an integer from');
  });

  it('when an integer is at the edges of its range or padded with spaces, then it is accepted', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65535);
    expect(loadConfig({ PORT: ' 9000 ' }).port).toBe(9000);
  });

  it('when an integer variable is empty, then its default is used', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(8080);
  });

  it('when LOG_LEVEL is unknown, then the problem names LOG_LEVEL', () => {
    expect(problemsOf({ LOG_LEVEL: 'verbose' })).toEqual([expect.stringMatching(/^LOG_LEVEL="verbose"/)]);
  });

  it('when LOG_LEVEL is known, then it is used', () => {
    expect(loadConfig({ LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
  });

  it('when NODE_ENV is unknown, then the problem names NODE_ENV', () => {
    expect(problemsOf({ NODE_ENV: 'staging' })).toEqual([expect.stringMatching(/^NODE_ENV="staging"/)]);
  });

  it('when ALLOWED_ORIGINS lists origins, then they are trimmed into a list', () => {
    expect(
      loadConfig({ ALLOWED_ORIGINS: ' https://shop.example.com , http://localhost:3000,' }).allowedOrigins,
    ).toEqual(['https://shop.example.com', 'http://localhost:3000']);
  });

  it("when ALLOWED_ORIGINS is '*', then any origin is accepted (empty list)", () => {
    expect(loadConfig({ ALLOWED_ORIGINS: '*' }).allowedOrigins).toEqual([]);
  });

  it("when ALLOWED_ORIGINS mixes '*' with origins, then the contradiction stops boot", () => {
    expect(problemsOf({ ALLOWED_ORIGINS: 'https://a.example.com,*' })).toEqual([
      expect.stringContaining('ALLOWED_ORIGINS mixes *'),
    ]);
  });

  it.each(['shop.example.com', 'https://shop.example.com/path', 'ftp://shop.example.com', 'https://'])(
    'when ALLOWED_ORIGINS has the bad entry %j, then the problem names it',
    (entry) => {
      const problems = problemsOf({ ALLOWED_ORIGINS: `https://ok.example.com,${entry}` });
      expect(problems).toEqual([expect.stringContaining(`ALLOWED_ORIGINS entry ${JSON.stringify(entry)}`)]);
    },
  );

  it('when WS_MESSAGE_BURST is below WS_MESSAGES_PER_SECOND, then the contradiction is rejected', () => {
    expect(problemsOf({ WS_MESSAGES_PER_SECOND: '50', WS_MESSAGE_BURST: '49' })).toEqual([
      'WS_MESSAGE_BURST must be at least WS_MESSAGES_PER_SECOND',
    ]);
    const config = loadConfig({ WS_MESSAGES_PER_SECOND: '50', WS_MESSAGE_BURST: '50' });
    expect(config.ws.messageBurst).toBe(50);
  });

  it('when API_MAX_DATA_BYTES exceeds API_BODY_LIMIT_BYTES, then the contradiction is rejected', () => {
    expect(problemsOf({ API_MAX_DATA_BYTES: '4096', API_BODY_LIMIT_BYTES: '2048' })).toEqual([
      'API_MAX_DATA_BYTES must not exceed API_BODY_LIMIT_BYTES',
    ]);
  });

  it('when JWT_PUBLIC_KEY uses literal \\n escapes, then it becomes a usable PEM key', () => {
    const pem = p256PublicPem();
    const escaped = pem.replace(/\n/g, '\\n');
    expect(escaped).not.toContain('\n');
    const config = loadConfig({ JWT_PUBLIC_KEY: escaped });
    expect(config.jwt.publicKey).toBe(pem);
    expect(config.jwt.secret).toBeUndefined();
    expect(config.demoCredentials.jwt).toBe(false);
    expect(new TokenVerifier(config.jwt).acceptedAlgorithms).toEqual(['ES256']);
  });

  it('when JWT_PUBLIC_KEY is not PEM, then the problem names JWT_PUBLIC_KEY', () => {
    expect(problemsOf({ JWT_PUBLIC_KEY: 'ssh-rsa AAAA' })).toEqual([
      expect.stringMatching(/^JWT_PUBLIC_KEY /),
    ]);
  });

  it('when JWT_ISSUER and JWT_AUDIENCE are set, then they are passed to the token settings', () => {
    const config = loadConfig({ JWT_ISSUER: 'https://auth.shop', JWT_AUDIENCE: 'herald' });
    expect(config.jwt).toMatchObject({ issuer: 'https://auth.shop', audience: 'herald' });
  });

  it('when several variables are wrong, then every problem is reported at once', () => {
    let caught: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', PORT: 'http', LOG_LEVEL: 'loud', ALLOWED_ORIGINS: 'nope' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.name).toBe('ConfigError');
    expect(error.problems.length).toBeGreaterThan(1);
    for (const name of ['PORT', 'LOG_LEVEL', 'ALLOWED_ORIGINS', 'JWT_SECRET', 'API_KEYS']) {
      expect(error.problems).toContainEqual(expect.stringContaining(name));
      expect(error.message).toContain(name);
    }
  });
});

describe('webhook settings', () => {
  it('when webhooks are off, then a bad WEBHOOK_* tuning value stops nothing; with them on, it is named', () => {
    expect(loadConfig({ WEBHOOK_TIMEOUT_MS: 'soon' }).webhooks).toBeUndefined();
    const on = { WEBHOOK_URL: 'https://shop.example.com/hooks', WEBHOOK_SECRET: 's' };
    expect(problemsOf({ ...on, WEBHOOK_TIMEOUT_MS: 'soon' })).toEqual([
      expect.stringMatching(/^WEBHOOK_TIMEOUT_MS="soon" must be an integer from 100 to 60000/),
    ]);
    expect(problemsOf({ WEBHOOK_MAX_PENDING: '0' })).toEqual([
      expect.stringMatching(/^WEBHOOK_MAX_PENDING=/),
    ]);
    expect(loadConfig({ ...on, WEBHOOK_TIMEOUT_MS: '250' }).webhooks).toMatchObject({ timeoutMs: 250 });
  });
});

describe('cluster stats (the operator console)', () => {
  it('when nothing is set, then every node publishes its stats every second; 0 turns them off', () => {
    expect(loadConfig({}).clusterStatsIntervalMs).toBe(1_000);
    expect(loadConfig({ CLUSTER_STATS_INTERVAL_MS: '0' }).clusterStatsIntervalMs).toBe(0);
    expect(loadConfig({ CLUSTER_STATS_INTERVAL_MS: '250' }).clusterStatsIntervalMs).toBe(250);
  });

  it('when the interval is below 100 ms but not 0, or not an integer, then boot is refused naming it', () => {
    expect(problemsOf({ CLUSTER_STATS_INTERVAL_MS: '5' })).toEqual([
      expect.stringContaining('CLUSTER_STATS_INTERVAL_MS must be 0 (off) or at least 100') as unknown,
    ]);
    expect(problemsOf({ CLUSTER_STATS_INTERVAL_MS: 'often' })).toEqual([
      expect.stringContaining('CLUSTER_STATS_INTERVAL_MS') as unknown,
    ]);
  });
});

describe('drain, rebalancing and reconnect targets', () => {
  it('when nothing is set, then drain 10 s inside a 30 s shutdown, rebalance every 5 s, reconnect to the usual URL', () => {
    const config = loadConfig({});
    expect(config.drainWindowMs).toBe(10_000);
    expect(config.shutdownTimeoutMs).toBe(30_000);
    expect(config.rebalance).toEqual({ intervalMs: 5_000, marginPercent: 10, maxPerSecond: 20 });
    expect(config.reconnectUrl).toEqual({ kind: 'usual' });
  });

  it('when RECONNECT_URL is director or a WebSocket URL, then it is read as such; anything else is refused', () => {
    expect(loadConfig({ RECONNECT_URL: 'director' }).reconnectUrl).toEqual({ kind: 'director' });
    expect(loadConfig({ RECONNECT_URL: 'wss://push.example.com/ws' }).reconnectUrl).toEqual({
      kind: 'fixed',
      url: 'wss://push.example.com/ws',
    });
    expect(problemsOf({ RECONNECT_URL: 'https://push.example.com' })).toEqual([
      expect.stringContaining('RECONNECT_URL') as unknown,
    ]);
  });

  it('when rebalancing runs no slower than the registry heartbeat, then boot is refused (0 turns it off)', () => {
    expect(problemsOf({ REBALANCE_INTERVAL_MS: '2000' })).toEqual([
      expect.stringContaining('REBALANCE_INTERVAL_MS must exceed NODE_HEARTBEAT_MS') as unknown,
    ]);
    expect(problemsOf({ NODE_HEARTBEAT_MS: '5000', NODE_TTL_SECONDS: '30' })).toHaveLength(1);
    expect(loadConfig({ REBALANCE_INTERVAL_MS: '2001' }).rebalance.intervalMs).toBe(2_001);
    expect(loadConfig({ REBALANCE_INTERVAL_MS: '0', NODE_HEARTBEAT_MS: '5000' }).rebalance.intervalMs).toBe(
      0,
    );
  });

  it('when the shutdown deadline leaves less than 5 s after the drain window, then boot is refused', () => {
    expect(problemsOf({ DRAIN_WINDOW_MS: '26000' })).toEqual([
      expect.stringContaining('SHUTDOWN_TIMEOUT_MS must exceed DRAIN_WINDOW_MS') as unknown,
    ]);
    expect(loadConfig({ DRAIN_WINDOW_MS: '25000' }).drainWindowMs).toBe(25_000);
  });
});

describe('production warnings and the token policy', () => {
  it('when a production node has no ALLOWED_ORIGINS, no JWT_AUDIENCE and no token lifetime policy, then each is named once', () => {
    const warnings = startupWarnings(loadConfig(production()));
    expect(warnings.map((w) => w.setting)).toEqual(['ALLOWED_ORIGINS', 'JWT_AUDIENCE', 'JWT_REQUIRE_EXP']);
    for (const { setting, message } of warnings) expect(message).toContain(setting);
  });

  it('when they are set, or the node is not in production, then nothing is warned', () => {
    const set = production({
      ALLOWED_ORIGINS: 'https://shop.example.com',
      JWT_AUDIENCE: 'herald',
      JWT_MAX_AGE_SECONDS: '86400',
    });
    expect(startupWarnings(loadConfig(set))).toEqual([]);
    expect(
      startupWarnings(
        loadConfig(
          production({ JWT_REQUIRE_EXP: 'true', ALLOWED_ORIGINS: 'https://a.b', JWT_AUDIENCE: 'h' }),
        ),
      ),
    ).toEqual([]);
    expect(startupWarnings(loadConfig({}))).toEqual([]);
  });

  it('when JWT_REQUIRE_EXP is not true or false, then the problem names it; the policy reaches the verifier options', () => {
    expect(problemsOf({ JWT_REQUIRE_EXP: 'yes' })).toEqual([expect.stringContaining('JWT_REQUIRE_EXP')]);
    const config = loadConfig({ JWT_REQUIRE_EXP: 'true', JWT_MAX_AGE_SECONDS: '600' });
    expect(config.jwt).toMatchObject({ requireExp: true, maxAgeSeconds: 600 });
  });
});

describe('unauthenticated connection limits', () => {
  it('when TRUSTED_PROXIES lists addresses and ranges, then they are kept; a malformed entry is named', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1,fd00::/8' }).trustedProxies).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
      'fd00::/8',
    ]);
    expect(problemsOf({ TRUSTED_PROXIES: '10.0.0.0/40,proxy.local' })).toEqual([
      expect.stringContaining('"10.0.0.0/40"'),
      expect.stringContaining('"proxy.local"'),
    ]);
  });

  it('when the frame limit is below the auth frame limit, then the auth frame limit follows it down', () => {
    expect(loadConfig({ WS_MAX_FRAME_BYTES: '1024' }).ws.maxAuthFrameBytes).toBe(1024);
    expect(loadConfig({ WS_MAX_AUTH_FRAME_BYTES: '4096' }).ws.maxAuthFrameBytes).toBe(4096);
  });
});

describe('internal port', () => {
  it('when INTERNAL_PORT is unset, then everything is served on PORT', () => {
    expect(loadConfig({}).internal).toBeUndefined();
  });

  it('when INTERNAL_PORT is set, then it listens on loopback unless INTERNAL_HOST says otherwise', () => {
    expect(loadConfig({ INTERNAL_PORT: '9090' }).internal).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(loadConfig({ INTERNAL_PORT: '9090', INTERNAL_HOST: '0.0.0.0' }).internal).toEqual({
      host: '0.0.0.0',
      port: 9090,
    });
  });

  it('when INTERNAL_PORT is malformed, equals PORT, or INTERNAL_HOST comes alone, then each problem is named', () => {
    expect(problemsOf({ INTERNAL_PORT: '70000' })).toEqual([
      expect.stringContaining('INTERNAL_PORT="70000"'),
    ]);
    expect(problemsOf({ INTERNAL_PORT: '8080', PORT: '8080' })).toEqual([
      'INTERNAL_PORT must differ from PORT',
    ]);
    expect(problemsOf({ INTERNAL_HOST: '0.0.0.0' })).toEqual(['INTERNAL_HOST needs INTERNAL_PORT']);
  });
});

describe('guests', () => {
  it('when WS_ALLOW_GUESTS is unset, then the node takes no guests; true turns them on, with 20 per address by default', () => {
    expect(loadConfig({}).ws).toMatchObject({ allowGuests: false, maxGuestsPerIp: 20 });
    expect(loadConfig({ WS_ALLOW_GUESTS: 'true', WS_MAX_GUESTS_PER_IP: '5' }).ws).toMatchObject({
      allowGuests: true,
      maxGuestsPerIp: 5,
    });
  });

  it('when WS_ALLOW_GUESTS is not true or false, then the problem names it', () => {
    expect(problemsOf({ WS_ALLOW_GUESTS: 'yes' })).toEqual(['WS_ALLOW_GUESTS must be true or false']);
  });
});

describe('storefront demo', () => {
  it('when DEMO_ENABLED is unset, then the demo is on only while the public demo secret signs tokens', () => {
    expect(loadConfig({}).demoEnabled).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).demoEnabled).toBe(true);
    expect(loadConfig({ JWT_SECRET: 'a-real-secret-of-at-least-32-characters!' }).demoEnabled).toBe(false);
    expect(loadConfig(production()).demoEnabled).toBe(false);
  });

  it('when the demo is turned on with a real secret, then every environment warns that anyone can mint tokens; a bad value is named', () => {
    for (const env of [
      production({ DEMO_ENABLED: 'true' }),
      { JWT_SECRET: PROD_SECRET, DEMO_ENABLED: 'true' },
    ])
      expect(startupWarnings(loadConfig(env)).map((w) => w.setting)).toContain('DEMO_ENABLED');
    expect(startupWarnings(loadConfig({}))).toEqual([]); // the demo secret: anyone can mint anyway
    expect(problemsOf({ DEMO_ENABLED: 'on' })).toEqual(['DEMO_ENABLED must be true or false']);
  });

  it('when a production node takes guests without TRUSTED_PROXIES, then it warns that they may share a balancer address', () => {
    const warned = startupWarnings(loadConfig(production({ WS_ALLOW_GUESTS: 'true' })));
    expect(warned.map((w) => w.setting)).toContain('TRUSTED_PROXIES');
    const trusted = production({ WS_ALLOW_GUESTS: 'true', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(startupWarnings(loadConfig(trusted)).map((w) => w.setting)).not.toContain('TRUSTED_PROXIES');
  });
});
