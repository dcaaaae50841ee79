/**
 * `npm run bench:connects`: where a connect's CPU goes (issue 9, the connect target). Scenario 1 of
 * `npm run bench` alone, on three systems, the order rotating per round, each on fresh nodes and a fresh
 * load generator:
 *
 *  - `herald`: Herald as `npm run bench` runs it (two nodes in cluster mode, the machine's Redis and
 *    RabbitMQ, default settings);
 *  - `herald-memory`: the same two nodes on the embedded in-memory state, without Redis or RabbitMQ:
 *    Herald's own connect (token, session, presence, two subscriptions), the cluster state left out;
 *  - `socketio`: the Socket.IO 4 + redis-adapter nodes of `npm run bench` (plain connects).
 *
 * Per system: the time until every client is ready; the nodes' CPU per connect, split into their main
 * threads and their other threads (V8's optimizing compiler and GC helpers); the load generator's; the
 * Redis server's; and the Redis commands per connect (INFO commandstats, commands run by scripts
 * included). Medians of the rounds with their range. Knobs (knobs.ts): BENCH_CLIENTS, BENCH_ROUNDS,
 * BENCH_HANDSHAKES, BENCH_HERALD_DIST, and BENCH_CONNECT_SYSTEMS (a comma-separated subset of the three).
 */
import { Redis } from 'ioredis';
import { checkInterrupted, cleanUpAll, installSignalHandlers } from './cleanup.js';
import { Generator } from './generator-control.js';
import { knobs } from './knobs.js';
import { CpuMeter, infraPids, threadCpuMs } from './proc.js';
import { callsSince, commandCalls } from './redis-stats.js';
import { cell, ratio, spread, type Spread } from './report/stats.js';
import { HeraldSystem, REDIS_URL, snapshotBuild } from './systems/herald.js';
import { SocketIoSystem } from './systems/socketio.js';

const NODES = 2;
const SYSTEMS = ['herald', 'herald-memory', 'socketio'] as const;
type SystemKind = (typeof SYSTEMS)[number];

/** One system's connect phase in one round; CPU figures in ms per connect. */
interface Sample {
  seconds: number;
  nodesMain: number;
  nodesOthers: number;
  generator: number;
  redis: number;
  /** Redis commands per connect, by command. */
  commands: Map<string, number>;
  /** Handshakes that failed and were tried again (they inflate the time and CPU per connect). */
  handshakeFailures: number;
}

function chosenSystems(): SystemKind[] {
  if (knobs.connectSystems === '') return [...SYSTEMS];
  const names = [...new Set(knobs.connectSystems.split(',').map((s) => s.trim()))];
  for (const name of names)
    if (!SYSTEMS.includes(name as SystemKind))
      throw new Error(`BENCH_CONNECT_SYSTEMS: unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  return names as SystemKind[];
}

async function start(kind: SystemKind, build: string): Promise<HeraldSystem | SocketIoSystem> {
  if (kind === 'socketio') return SocketIoSystem.start(NODES);
  return HeraldSystem.start({
    build,
    execArgv: [],
    nodes: NODES,
    state: kind === 'herald' ? 'cluster' : 'memory',
  });
}

const sumThreads = (pids: number[]): { main: number; others: number } =>
  pids.map(threadCpuMs).reduce((a, b) => ({ main: a.main + b.main, others: a.others + b.others }), {
    main: 0,
    others: 0,
  });

async function connectOnce(
  kind: SystemKind,
  build: string,
  redis: Redis,
  redisPids: number[],
): Promise<Sample> {
  const system = await start(kind, build);
  let generator: Generator | undefined;
  try {
    generator = await Generator.start();
    const clients = knobs.clients;
    const redisServers = new CpuMeter({ redis: redisPids });
    const threadsBefore = sumThreads(system.pids);
    const callsBefore = commandCalls(await redis.info('commandstats'));
    const { ms, cpuMs } = await generator.connect(system.name, system.wsUrls, clients, knobs.handshakes);
    const threadsAfter = sumThreads(system.pids);
    const redisMs = redisServers.read().cpuMs.redis!;
    const calls = callsSince(callsBefore, commandCalls(await redis.info('commandstats')));
    calls.delete('info'); // this script's own readings
    const counters = await generator.counters();
    if (counters.ready !== clients)
      throw new Error(`${kind}: only ${counters.ready} of ${clients} clients were ready after connecting`);
    return {
      seconds: ms / 1000,
      nodesMain: (threadsAfter.main - threadsBefore.main) / clients,
      nodesOthers: (threadsAfter.others - threadsBefore.others) / clients,
      generator: cpuMs / clients,
      redis: redisMs / clients,
      commands: new Map([...calls].map(([name, n]) => [name, n / clients])),
      handshakeFailures: counters.handshakeFailures,
    };
  } finally {
    await generator?.stop();
    await system.stop();
  }
}

/** Each command's calls per connect, the median over the rounds, most called first (`evalsha 0.27, …`). */
function commandList(samples: Sample[]): string {
  const names = new Set(samples.flatMap((s) => [...s.commands.keys()]));
  const perConnect = [...names].map((name) => {
    const median = spread(samples.map((s) => s.commands.get(name) ?? 0))!.median;
    return [name, median] as const;
  });
  return perConnect
    .filter(([, n]) => n >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n.toFixed(2)}`)
    .join(', ');
}

function report(results: Map<SystemKind, Sample[]>): string {
  const of = (kind: SystemKind, pick: (s: Sample) => number): Spread | undefined =>
    spread((results.get(kind) ?? []).map(pick));
  const total = (s: Sample): number => s.nodesMain + s.nodesOthers + s.generator + s.redis;
  // Label, figure, and whether a ratio to Socket.IO means anything (its connects use no Redis).
  const rows: [string, (s: Sample) => number, boolean][] = [
    ['connect time (s)', (s) => s.seconds, true],
    ['nodes CPU per connect (ms)', (s) => s.nodesMain + s.nodesOthers, true],
    ['… main threads', (s) => s.nodesMain, true],
    ['… other threads (compiler, GC)', (s) => s.nodesOthers, true],
    ['load generator CPU per connect (ms)', (s) => s.generator, true],
    ['Redis CPU per connect (ms)', (s) => s.redis, false],
    ['all CPU per connect (ms)', total, true],
    ['Redis commands per connect', (s) => [...s.commands.values()].reduce((a, b) => a + b, 0), false],
    ['handshakes failed and retried', (s) => s.handshakeFailures, false],
  ];
  const kinds = [...results.keys()];
  const vsSocketIo = results.has('socketio') ? kinds.filter((k) => k !== 'socketio') : [];
  const header = ['figure', ...kinds, ...vsSocketIo.map((k) => `${k} / socketio`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const [label, pick, comparable] of rows) {
    const cells = kinds.map((k) => cell(of(k, pick)));
    const ratios = vsSocketIo.map((k) => (comparable ? ratio(of(k, pick), of('socketio', pick)) : '–'));
    lines.push(`| ${[label, ...cells, ...ratios].join(' | ')} |`);
  }
  const commands = kinds.map((k) => `- ${k}: ${commandList(results.get(k)!) || 'none'}`);
  return `${lines.join('\n')}\n\nRedis commands per connect (median of the rounds; a script call and the commands it ran each count):\n${commands.join('\n')}`;
}

async function main(): Promise<void> {
  installSignalHandlers();
  const systems = chosenSystems();
  const build = knobs.heraldDist === '' ? snapshotBuild('connects') : knobs.heraldDist;
  // The CPU of the Redis at REDIS_URL: the one redis-server process this machine should be running.
  const redisPids = infraPids(['redis-server']);
  if (redisPids.length !== 1)
    console.warn(
      `warning: ${redisPids.length} redis-server processes here; Redis CPU is their sum (commands: REDIS_URL's)`,
    );
  const redis = new Redis(REDIS_URL);
  console.log(
    `Connects: ${knobs.clients} clients over ${NODES} nodes, ${knobs.handshakes} handshakes in flight, ` +
      `${knobs.rounds} round(s), systems ${systems.join(', ')}`,
  );
  const results = new Map<SystemKind, Sample[]>(systems.map((kind) => [kind, []]));
  try {
    for (let round = 1; round <= knobs.rounds; round++) {
      // Rotated each round: no system always goes first (or last) on a machine whose speed drifts.
      const shift = (round - 1) % systems.length;
      for (const kind of [...systems.slice(shift), ...systems.slice(0, shift)]) {
        checkInterrupted();
        const sample = await connectOnce(kind, build, redis, redisPids);
        results.get(kind)!.push(sample);
        const figures = [
          `${sample.seconds.toFixed(2)} s`,
          `nodes ${(sample.nodesMain + sample.nodesOthers).toFixed(3)} ms per connect (main ${sample.nodesMain.toFixed(3)})`,
          `generator ${sample.generator.toFixed(3)}`,
          `Redis ${sample.redis.toFixed(3)}`,
          `handshakes retried ${sample.handshakeFailures}`,
        ];
        console.log(`round ${round} ${kind}: ${figures.join(', ')}`);
      }
    }
  } finally {
    redis.disconnect();
    await cleanUpAll();
  }
  console.log(`\n${report(results)}`);
}

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanUpAll();
  process.exit(1);
});
