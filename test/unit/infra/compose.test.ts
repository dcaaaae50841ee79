/**
 * docker-compose.yml, Dockerfile and .dockerignore, checked by reading (there is no Docker engine in CI):
 * the stack's services, health checks and start order, each node's environment accepted by the real
 * configuration loader, shutdown timings that let a drain finish, and an image that builds from what
 * the build context holds.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../shared/config/config.js';

const root = new URL('../../..', import.meta.url).pathname;
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: string;
  init?: boolean;
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  ulimits?: { nofile: number };
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const nodes = ['herald-1', 'herald-2', 'herald-3'];
const node = (name: string): Service => services[name]!;

/** Compose's duration (40s, 1m30s, 500ms) in milliseconds. */
function ms(value: string): number {
  let total = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}

/** .env.example as a map: what a user copies to .env. */
const example = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

/** Compose's interpolation: ${X:-default}, ${X:?error} and ${X} from `vars` (as `.env` would give). */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, op?: string, arg?: string) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (op === '-') return arg ?? '';
      throw new Error(`${name} is required: ${arg ?? ''}`);
    },
  );
}

/** A node's environment as the container gets it with `.env` copied from .env.example. */
function nodeEnv(name: string, vars: Record<string, string> = example): Record<string, string> {
  return Object.fromEntries(
    Object.entries(node(name).environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]),
  );
}

describe('docker-compose.yml', () => {
  it('runs Redis, RabbitMQ with the management UI, three gateway nodes from one Dockerfile, and nginx', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['redis', 'rabbitmq', ...nodes, 'nginx', 'haproxy']),
    );
    expect(services.rabbitmq!.image).toMatch(/^rabbitmq:[\d.]+-management/);
    expect(services.rabbitmq!.ports).toContain('15672:15672');
    // What `npm test` uses when it runs against compose (README): on the host's loopback only.
    expect(services.rabbitmq!.ports).toContain('127.0.0.1:5672:5672');
    expect(services.redis!.ports).toEqual(['127.0.0.1:6379:6379']);
    for (const name of nodes) {
      expect(node(name).build).toBe('.');
      expect(node(name).image).toBe('herald:local');
      expect(node(name).init).toBe(true);
    }
    expect(services.nginx!.ports).toEqual(['8080:8080']);
    // Room for two descriptors per client: HAProxy does not start without 2 x maxconn.
    const maxconn = Number(/^\s*maxconn (\d+)$/m.exec(read('infra/haproxy/haproxy.cfg'))![1]);
    expect(services.haproxy!.ulimits!.nofile).toBeGreaterThan(2 * maxconn);
    const nginxFiles = Number(/^worker_rlimit_nofile (\d+);$/m.exec(read('infra/nginx/nginx.conf'))![1]);
    expect(services.nginx!.ulimits!.nofile).toBeGreaterThanOrEqual(nginxFiles);
    // HAProxy is the documented alternative, started only with --profile haproxy.
    expect(services.haproxy!.profiles).toEqual(['haproxy']);
  });

  it('health-checks every service and starts each after what it needs is healthy', () => {
    expect(services.redis!.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(services.rabbitmq!.healthcheck!.test).toEqual(['CMD', 'rabbitmq-diagnostics', '-q', 'ping']);
    for (const name of nodes) {
      const test = node(name).healthcheck!.test;
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(test[3]).toContain("fetch('http://127.0.0.1:8080/readyz')");
      expect(node(name).depends_on).toEqual({
        redis: { condition: 'service_healthy' },
        rabbitmq: { condition: 'service_healthy' },
      });
    }
    for (const lb of ['nginx', 'haproxy']) {
      expect(services[lb]!.depends_on).toEqual(
        Object.fromEntries(nodes.map((n) => [n, { condition: 'service_healthy' }])),
      );
      expect(services[lb]!.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:8080/lb-health');
    }
  });

  it('gives each node a distinct NODE_ID and PUBLIC_URL on its own published port, and the cluster drivers', () => {
    for (const [i, name] of nodes.entries()) {
      const env = nodeEnv(name);
      expect(env.NODE_ID).toBe(name);
      expect(env.PORT).toBe('8080');
      expect(env.PUBLIC_URL).toBe(`http://localhost:${8081 + i}`);
      expect(node(name).ports).toEqual([`${8081 + i}:8080`]);
      expect(env.REDIS_URL).toBe('redis://redis:6379');
      expect(env.AMQP_URL).toMatch(/^amqp:\/\/herald:[^@]+@rabbitmq:5672$/);
    }
  });

  it('serves metrics, docs and admin routes on an internal port that is not published', () => {
    for (const name of nodes) {
      const config = loadConfig(nodeEnv(name));
      expect(config.internal).toEqual({ host: '0.0.0.0', port: 9090 });
      expect(node(name).ports!.join(' ')).not.toContain('9090');
    }
  });

  it('takes the secrets from the environment or .env, with no defaults', () => {
    const raw = node('herald-1').environment!;
    expect(raw.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?/);
    expect(raw.API_KEYS).toMatch(/^\$\{API_KEYS:\?/);
    expect(() => nodeEnv('herald-1', {})).toThrow(/JWT_SECRET is required/);
  });

  it("gives each node an environment the real configuration loader accepts (production, .env.example's values)", () => {
    for (const name of nodes) {
      const config = loadConfig(nodeEnv(name));
      expect(config).toMatchObject({ nodeId: name, nodeEnv: 'production', port: 8080 });
      expect(config.redisUrl).toBeDefined();
      expect(config.amqpUrl).toBeDefined();
    }
  });

  it('stops a node only after its drain and shutdown deadline (stop_grace_period > SHUTDOWN_TIMEOUT_MS > DRAIN_WINDOW_MS)', () => {
    const config = loadConfig(nodeEnv('herald-1'));
    expect(config.drainWindowMs).toBeLessThan(config.shutdownTimeoutMs);
    for (const name of nodes)
      expect(ms(node(name).stop_grace_period!)).toBeGreaterThan(config.shutdownTimeoutMs);
    // The balancers keep old tunnels on a reload long enough for a drain under way to finish.
    const hardStop = /^\s*hard-stop-after\s+(\d+)s$/m.exec(read('infra/haproxy/haproxy.cfg'))!;
    expect(Number(hardStop[1]) * 1000).toBeGreaterThanOrEqual(config.drainWindowMs + 10_000);
    const workerShutdown = /^worker_shutdown_timeout\s+(\d+)s;$/m.exec(read('infra/nginx/nginx.conf'))!;
    expect(Number(workerShutdown[1]) * 1000).toBeGreaterThanOrEqual(config.drainWindowMs + 10_000);
  });

  it('mounts the balancer configurations where the images read them, and every mounted file exists', () => {
    expect(services.nginx!.volumes).toContain('./infra/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(services.haproxy!.volumes).toContain(
      './infra/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro',
    );
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(path.join(root, source)), source).toBe(true);
      }
    }
  });

  it("names the nodes in the balancers' upstreams as compose does (service name, port 8080)", () => {
    const nginx = read('infra/nginx/nginx.conf');
    const haproxy = read('infra/haproxy/haproxy.cfg');
    expect([...nginx.matchAll(/^\s*server\s+(herald-\d+):(\d+)\b/gm)].map((m) => `${m[1]}:${m[2]}`)).toEqual(
      nodes.map((n) => `${n}:8080`),
    );
    expect(
      [...haproxy.matchAll(/^\s*server\s+\S+\s+(herald-\d+):(\d+)\b/gm)].map((m) => `${m[1]}:${m[2]}`),
    ).toEqual(nodes.map((n) => `${n}:8080`));
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one stage and runs in another, both on the same Node LTS slim image, as non-root', () => {
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(image).toMatch(/^node:(22|24)-bookworm-slim$/);
    expect(stages.map((s) => s.split('\n')[0])).toEqual([
      '${NODE_IMAGE} AS build',
      '${NODE_IMAGE} AS runtime',
    ]);
    const runtime = stages[1]!;
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\/readyz/m);
    expect(runtime).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/services\/main\.js"\]$/m);
  });

  it('copies everything `npm run build` reads into the build stage', () => {
    const copied = [...stages[0]!.matchAll(/^COPY (?!--)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    const build = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build!;
    // tsc -p tsconfig.build.json (which extends tsconfig.json and includes its folders), node scripts/*.mjs
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as { extends: string; include: string[] };
    const needed = [
      'package.json',
      'package-lock.json',
      'tsconfig.build.json',
      path.basename(tsconfig.extends),
      ...tsconfig.include,
      ...[...build.matchAll(/node (\S+)\//g)].map((m) => m[1]!),
    ];
    for (const file of needed) expect(copied, file).toContain(file);
  });

  it('keeps secrets, dependencies and build output out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['.env', 'node_modules', 'dist', '.git']));
    for (const needed of ['services', 'shared', 'scripts', 'package.json', 'tsconfig.json']) {
      expect(ignored).not.toContain(needed);
    }
  });
});
