/**
 * Herald under test: two node processes in cluster mode on the machine's Redis and RabbitMQ, with the
 * product's default settings (nothing below tunes the node; NODE_ENV=production only checks secrets).
 * Each cluster has its own key prefix and exchange, deleted again by `stop()`. For
 * `npm run bench:connects` the nodes may instead run on the in-memory state (`state: 'memory'`).
 *
 * The nodes run a snapshot of `dist/` taken when the run started (`snapshotBuild`), so a rebuild by a
 * test run meanwhile does not change what is measured halfway.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, rmSync } from 'node:fs';
import { AMQP_URL, cleanUp as deleteClusterState, REDIS_URL } from '../../helpers/node-process.js';
import { TEST_SECRET } from '../../helpers/tokens.js';
import { onCleanup } from '../cleanup.js';
import { HttpClient } from '../http-client.js';
import type { System } from './system.js';
import { killAndWait, ROOT, startServer, type ServerProcess } from './server-process.js';

export { AMQP_URL, REDIS_URL };
/** The publisher's API key (scope publish); also used by wrk. */
export const PUBLISH_KEY = `bench-${randomBytes(12).toString('hex')}`;

export interface HeraldOptions {
  /** Directory holding the compiled service (services/main.js). */
  build: string;
  /** Extra `node` flags for every node (BENCH_PROFILE: --cpu-prof). */
  execArgv: string[];
  nodes: number;
  /**
   * `memory`: each node on the embedded in-memory state, without Redis or RabbitMQ. The nodes are then
   * not a cluster (a message reaches the clients of the node it was posted to only): for
   * `npm run bench:connects`, which measures connects alone. Default `cluster`.
   */
  state?: 'cluster' | 'memory';
}

/**
 * A copy of the compiled service (`dist/`) in node_modules/.cache/herald-bench/`name`: what every round
 * runs, whatever rebuilds `dist/` meanwhile. Inside the repository, so the copy resolves the same
 * packages; outside the typechecked and linted tree. Returns its directory.
 */
export function snapshotBuild(name: string): string {
  const build = `${ROOT}node_modules/.cache/herald-bench/${name}`;
  rmSync(build, { recursive: true, force: true });
  for (const part of ['services', 'shared'])
    cpSync(`${ROOT}dist/${part}`, `${build}/${part}`, { recursive: true });
  return build;
}

export class HeraldSystem implements System {
  readonly name = 'herald';
  readonly label = 'Herald';
  readonly broadcastBatch: (data: object[]) => Promise<void>;
  private readonly http = new HttpClient({ authorization: `Bearer ${PUBLISH_KEY}` });
  private readonly alive: boolean[];
  private turn = 0;

  private constructor(
    private readonly servers: ServerProcess[],
    readonly env: Record<string, string>,
    private readonly cleanUp: () => Promise<void>,
  ) {
    this.alive = servers.map(() => true);
    this.broadcastBatch = async (data) => {
      await this.post('/v1/publish/batch', {
        messages: data.map((d) => ({ channel: 'promotions', event: 'promotion', data: d })),
      });
    };
  }

  static async start(options: HeraldOptions): Promise<HeraldSystem> {
    const tag = `b${randomBytes(4).toString('hex')}`;
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      JWT_SECRET: TEST_SECRET,
      API_KEYS: `bench:${PUBLISH_KEY}:publish`,
      ...(options.state === 'memory' ? {} : { REDIS_URL, AMQP_URL }),
      REDIS_PREFIX: `herald-bench:${tag}:`,
      AMQP_EXCHANGE: `herald-bench.${tag}`,
    };
    const ids = Array.from({ length: options.nodes }, (_, i) => `${tag}-n${i + 1}`);
    // Registered before the first node starts: whatever they create is removed even if starting fails.
    // On the in-memory state they create nothing outside their processes.
    const cleanUp =
      options.state === 'memory'
        ? () => Promise.resolve()
        : onCleanup(`herald ${tag}`, () => deleteClusterState(env.REDIS_PREFIX, env.AMQP_EXCHANGE, ids));
    const servers = await Promise.all(
      ids.map((id) =>
        startServer(
          `herald node ${id}`,
          [...options.execArgv, `${options.build}/services/main.js`],
          { ...env, NODE_ID: id },
          (line) =>
            line.includes('"herald node listening"')
              ? (JSON.parse(line) as { port: number }).port
              : undefined,
        ),
      ),
    );
    return new HeraldSystem(servers, env, cleanUp);
  }

  get wsUrls(): string[] {
    return this.servers.map((s) => `ws://127.0.0.1:${s.port}/ws`);
  }

  get httpUrls(): string[] {
    return this.servers.map((s) => `http://127.0.0.1:${s.port}`);
  }

  get pids(): number[] {
    return this.servers.map((s) => s.pid);
  }

  async broadcast(data: object): Promise<void> {
    await this.post('/v1/publish', { channel: 'promotions', event: 'promotion', data });
  }

  async toUser(user: string, data: object): Promise<void> {
    await this.post('/v1/publish', { channel: `user:${user}`, event: 'probe', data });
  }

  async warmUp(inFlight: number): Promise<void> {
    // A segment channel nobody subscribes to: opens the keep-alive connections to every node.
    await Promise.all(
      Array.from({ length: inFlight }, (_, i) =>
        this.post('/v1/publish', { channel: 'promotions:bench-warmup', event: 'warmup', data: { i } }),
      ),
    );
  }

  async lagMaxMs(i: number): Promise<number> {
    const res = await this.http.send('GET', `${this.httpUrls[i]}/metrics`);
    const value = /^herald_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(res.text)?.[1];
    if (value === undefined)
      throw new Error(`node ${i}: no herald_nodejs_eventloop_lag_max_seconds in /metrics`);
    return Number(value) * 1000;
  }

  kill(i: number): void {
    this.alive[i] = false;
    this.servers[i]!.child.kill('SIGKILL');
  }

  /** Round-robin over the live nodes, as a load balancer in front of them would. */
  private async post(path: string, body: unknown): Promise<void> {
    let i = this.turn++ % this.servers.length;
    while (!this.alive[i]) i = (i + 1) % this.servers.length;
    const res = await this.http.send('POST', `${this.httpUrls[i]}${path}`, body);
    if (res.status !== 202) throw new Error(`POST ${path} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }

  /** SIGTERM (drain, then exit: --cpu-prof writes its profile); the clients should be gone already. */
  async stopGracefully(): Promise<void> {
    await Promise.all(this.servers.map((s) => killAndWait(s, 'SIGTERM')));
  }

  async stop(): Promise<void> {
    this.http.close();
    await Promise.all(this.servers.map((s) => killAndWait(s)));
    await this.cleanUp();
  }

  output(i: number): string {
    return this.servers[i]!.output();
  }
}
