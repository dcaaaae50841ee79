/**
 * Runs once before the suite:
 *  1. Makes sure the Redis and RabbitMQ the tests use (test/helpers/backends.ts) answer. Where nothing
 *     listens on a local address, it starts private servers on exactly those ports, in a temporary
 *     folder, and stops them after the suite: `redis-server` and a `rabbitmq-server` node of its own
 *     (own node name, distribution port, data and log folders; the machine's broker, if any, is never
 *     touched). Missing packages are installed from Debian when this process may (root with apt-get).
 *     When it cannot, the run stops at once with one line saying what to start.
 *  2. Builds the compiled service once before any test spawns it as a process (e2e, cluster tests).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import { AMQP_ADDRESS, AMQP_URL, REDIS_ADDRESS, REDIS_URL, type HostPort } from './helpers/backends.js';

const ROOT = new URL('..', import.meta.url).pathname;
const START_DEADLINE_MS = 90_000;
/** What to do instead, printed when private servers cannot be started. */
const ADVICE =
  'start them (docker compose up -d redis rabbitmq, then TEST_AMQP_URL=amqp://herald:herald@127.0.0.1:5672), or point TEST_REDIS_URL / TEST_AMQP_URL at running ones';

/** Where a private server can take the place of a missing one (they listen on 127.0.0.1). */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost']);

function listening({ host, port }: HostPort, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function installed(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian packages when this process may; false when it cannot. */
function aptInstall(packages: string[]): boolean {
  if (process.getuid?.() !== 0 || !installed('apt-get')) return false;
  console.log(`global setup: installing ${packages.join(', ')} from Debian`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
    return true;
  } catch {
    return false;
  }
}

function fail(what: string): never {
  throw new Error(`${what}: ${ADVICE}`);
}

async function waitUntil(check: () => Promise<boolean>, what: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) fail(`${what} exited with code ${server.exitCode} while starting`);
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  fail(`${what} did not answer within ${START_DEADLINE_MS / 1000} s`);
}

interface PrivateServer {
  name: string;
  child: ChildProcess;
}

/** Started in its own process group, so stopping it stops what it forked (rabbitmq-server runs erl). */
function spawnServer(name: string, file: string, args: string[], env?: NodeJS.ProcessEnv): PrivateServer {
  const child = spawn(file, args, { stdio: 'ignore', detached: true, ...(env ? { env } : {}) });
  const server = { name, child };
  started.push(server);
  return server;
}

/** Every private server started, for the teardown (also when a start failed halfway). */
const started: PrivateServer[] = [];

async function startRedis(address: HostPort, dir: string): Promise<void> {
  if (!installed('redis-server') && !aptInstall(['redis-server']))
    fail(`nothing listens on ${REDIS_URL} and redis-server is not installed`);
  const { child } = spawnServer('redis-server', 'redis-server', [
    '--port',
    String(address.port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ]);
  await waitUntil(
    async () => {
      const redis = new Redis(REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        redis.disconnect();
      }
    },
    `private redis-server on port ${address.port}`,
    child,
  );
}

async function startRabbitMq(address: HostPort, dir: string): Promise<void> {
  const script = ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/sbin/rabbitmq-server'].find(existsSync);
  if (script === undefined && !aptInstall(['rabbitmq-server']))
    fail(`nothing listens on ${AMQP_URL} and rabbitmq-server is not installed`);
  const plugins = join(dir, 'enabled_plugins');
  writeFileSync(plugins, '[].\n');
  // Empty configuration files: the machine's /etc/rabbitmq ones (listeners, paths) must not apply.
  writeFileSync(join(dir, 'rabbitmq.conf'), '');
  writeFileSync(join(dir, 'advanced.config'), '[].\n');
  // The plain script (not the /usr/sbin wrapper, which switches to the rabbitmq user) with its own
  // node name, ports and folders, so a broker already on this machine is not disturbed.
  const credentials = new URL(AMQP_URL);
  const { child } = spawnServer('rabbitmq-server', script ?? '/usr/lib/rabbitmq/bin/rabbitmq-server', [], {
    ...process.env,
    RABBITMQ_NODENAME: `herald-test-${address.port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(address.port),
    RABBITMQ_DIST_PORT: String(address.port + 20_000),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    // The user and vhost TEST_AMQP_URL names (guest by default) exist on first boot.
    RABBITMQ_DEFAULT_USER: decodeURIComponent(credentials.username) || 'guest',
    RABBITMQ_DEFAULT_PASS: decodeURIComponent(credentials.password) || 'guest',
    RABBITMQ_DEFAULT_VHOST: decodeURIComponent(credentials.pathname.slice(1)) || '/',
  });
  await waitUntil(
    async () => {
      try {
        const connection = await amqplib.connect(AMQP_URL, { timeout: 2_000 });
        await connection.close();
        return true;
      } catch {
        return false;
      }
    },
    `private rabbitmq-server on port ${address.port}`,
    child,
  );
}

/** SIGTERM to the server's process group (its forks too), SIGKILL after 15 s. */
async function stop(server: PrivateServer): Promise<void> {
  const pid = server.child.pid;
  if (pid === undefined || server.child.exitCode !== null || server.child.signalCode !== null) return;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pid, name);
    } catch {
      // The group is gone already.
    }
  };
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
  signal('SIGKILL'); // what the script left running in its group (erl)
}

export default async function setup(): Promise<() => Promise<void>> {
  let dir: string | undefined;
  const teardown = async (): Promise<void> => {
    // RabbitMQ first: it may still hold connections from the last tests.
    for (const server of [...started].reverse()) await stop(server);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [address, url, start] of [
      [REDIS_ADDRESS, REDIS_URL, startRedis],
      [AMQP_ADDRESS, AMQP_URL, startRabbitMq],
    ] as const) {
      if (await listening(address)) continue;
      if (!LOCAL_HOSTS.has(address.host)) fail(`nothing answers at ${url.replace(/\/\/[^@]*@/, '//')}`);
      dir ??= mkdtempSync(join(tmpdir(), 'herald-test-backends-'));
      console.log(
        `global setup: nothing listens on ${address.host}:${address.port}; starting a private server`,
      );
      await start(address, dir);
    }
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  } catch (err) {
    await teardown();
    // One line, and the run stops here: no test would get far without these servers or the build.
    console.error(`test setup: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    process.exit(1);
  }
  return teardown;
}
