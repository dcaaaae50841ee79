/**
 * A private RabbitMQ cluster for one test file: `size` rabbitmq-server nodes on free ports of
 * 127.0.0.1, each with its own node name, distribution port and folders under one temporary folder
 * (which is also their HOME, so they share an Erlang cookie no other broker knows), joined into one
 * cluster with `rabbitmqctl join_cluster`. The machine's broker is never touched. `rabbitmq-server`
 * is installed from Debian when missing (and this process may).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { privateDir } from './nginx.js';
import { serverPort } from './ports.js';
import { waitFor } from './wait.js';

export interface Broker {
  /** Erlang node name, e.g. herald-rmq-41234@localhost. */
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
}

export interface PrivateRabbitCluster {
  readonly brokers: Broker[];
  /** Every broker's URL, comma-separated: AMQP_URL. */
  readonly urls: string;
  /** SIGKILLs broker `i` (its whole process group). */
  kill(i: number): Promise<void>;
  /** The queues that live on broker `i` (rabbitmqctl list_queues --local). */
  queues(i: number): { name: string; consumers: number }[];
  stop(): Promise<void>;
}

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const CTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';

function ensureRabbitMq(): void {
  if (existsSync(SERVER) && existsSync(CTL)) return;
  const install = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq rabbitmq-server'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'inherit',
  });
  if (install.status !== 0)
    throw new Error('these tests need rabbitmq-server: apt-get install rabbitmq-server');
}

/** The end of a broker's own log files, for a failure message. */
function logTail(dir: string, broker: Broker): string {
  const logs = join(dir, String(broker.port), 'log');
  try {
    return readdirSync(logs)
      .map((file) => readFileSync(join(logs, file), 'utf8').slice(-1_500))
      .join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startRabbitCluster(size = 3): Promise<PrivateRabbitCluster> {
  ensureRabbitMq();
  const dir = privateDir('herald-rabbit-cluster-');
  const cookie = join(dir, '.erlang.cookie');
  writeFileSync(cookie, randomBytes(16).toString('hex'));
  chmodSync(cookie, 0o400);
  const env = { ...process.env, HOME: dir };
  const brokers: Broker[] = [];
  const alive = (b: Broker): boolean => b.child.exitCode === null && b.child.signalCode === null;
  const killGroup = async (b: Broker): Promise<void> => {
    if (!alive(b) || b.child.pid === undefined) return;
    const exited = new Promise((resolve) => b.child.once('exit', resolve));
    try {
      process.kill(-b.child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
    await exited;
  };
  const ctl = (node: string, args: string[], timeoutMs = 60_000): string => {
    const run = spawnSync(CTL, ['-n', node, ...args], { env, encoding: 'utf8', timeout: timeoutMs });
    if (run.status !== 0)
      throw new Error(`rabbitmqctl -n ${node} ${args.join(' ')} failed: ${run.stdout}${run.stderr}`);
    return run.stdout;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(brokers.map(killGroup));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      const [port, distPort] = [await serverPort(), await serverPort()];
      const name = `herald-rmq-${port}@localhost`;
      const base = join(dir, String(port));
      mkdirSync(base);
      writeFileSync(join(base, 'enabled_plugins'), '[].\n');
      // Empty configuration files: the machine's /etc/rabbitmq ones (listeners, paths) must not apply.
      writeFileSync(join(base, 'rabbitmq.conf'), '');
      writeFileSync(join(base, 'advanced.config'), '[].\n');
      const child = spawn(SERVER, [], {
        cwd: base, // where Erlang writes erl_crash.dump if the node dies
        stdio: 'ignore',
        detached: true, // its own process group: kill() takes erl with it
        env: {
          ...env,
          RABBITMQ_NODENAME: name,
          RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
          RABBITMQ_NODE_PORT: String(port),
          RABBITMQ_DIST_PORT: String(distPort),
          RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
          RABBITMQ_LOG_BASE: join(base, 'log'),
          RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
          RABBITMQ_CONFIG_FILE: join(base, 'rabbitmq.conf'),
          RABBITMQ_ADVANCED_CONFIG_FILE: join(base, 'advanced.config'),
        },
      });
      brokers.push({ name, port, url: `amqp://guest:guest@127.0.0.1:${port}`, child });
    }
    await Promise.all(
      brokers.map((b) =>
        waitFor(
          async () => {
            if (!alive(b))
              throw new Error(`rabbitmq-server ${b.name} exited while starting:\n${logTail(dir, b)}`);
            try {
              const connection = await amqplib.connect(b.url, { timeout: 2_000 });
              await connection.close();
              return true;
            } catch {
              return false;
            }
          },
          `rabbitmq-server ${b.name} answers`,
          90_000,
          250,
        ),
      ),
    );
    const [first, ...others] = brokers;
    for (const b of others) {
      ctl(b.name, ['stop_app']);
      ctl(b.name, ['join_cluster', first!.name]);
      ctl(b.name, ['start_app']);
    }
    const running = JSON.parse(ctl(first!.name, ['cluster_status', '--formatter', 'json'])) as {
      running_nodes: string[];
    };
    if (running.running_nodes.length !== size)
      throw new Error(`rabbitmq cluster has ${running.running_nodes.length} running nodes, not ${size}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    brokers,
    urls: brokers.map((b) => b.url).join(','),
    async kill(i) {
      await killGroup(brokers[i]!);
    },
    queues(i) {
      const out = ctl(brokers[i]!.name, [
        'list_queues',
        '--local',
        'name',
        'consumers',
        '--formatter',
        'json',
      ]);
      return JSON.parse(out) as { name: string; consumers: number }[];
    },
    stop,
  };
}
