/**
 * `npm run bench`: Herald side by side with a minimal Socket.IO 4 + @socket.io/redis-adapter cluster, in
 * the same run, with the same load generator (not a test; issue 9, item 6).
 *
 * Per round and system (alternating which goes first, fresh nodes each time): two nodes as separate
 * processes on the machine's Redis (and RabbitMQ for Herald), default settings; a load generator process
 * with BENCH_CLIENTS clients round-robin over them, each on `user:{id}` and `promotions`. Scenarios:
 * connects, memory per connection, clients moved/closed, broadcast one message per request (one at a
 * time, 64 in flight), batches (Herald), paced broadcast latency, user-targeted latency and event-loop
 * lag, the REST publish rate with wrk (Herald), and a reconnect storm. Prints a table (median and range of
 * the rounds, ratio Herald/Socket.IO) and the targets; writes JSON, Markdown and an SVG chart to
 * test/bench/results/. Knobs: test/bench/knobs.ts; method: docs/benchmark.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { checkInterrupted, cleanUpAll, installSignalHandlers } from './cleanup.js';
import type { SystemName } from './generator-protocol.js';
import { knobs } from './knobs.js';
import { damonMonitors } from './machine.js';
import { infraPids } from './proc.js';
import { render, writeResults, type RunInfo } from './report/report.js';
import type { RunResult } from './results.js';
import { runSystem } from './scenarios/run-system.js';
import { ensureWrk } from './scenarios/wrk.js';
import { HeraldSystem, snapshotBuild } from './systems/herald.js';
import { ROOT } from './systems/server-process.js';
import { SocketIoSystem } from './systems/socketio.js';
import type { System } from './systems/system.js';

const NODES = 2;
const RESULTS = `${ROOT}test/bench/results`;

function git(): RunInfo['git'] {
  const run = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  try {
    return {
      commit: run('rev-parse', 'HEAD').trim(),
      dirtyFiles: run('status', '--porcelain').split('\n').filter(Boolean).length,
    };
  } catch {
    return { commit: 'unknown', dirtyFiles: 0 };
  }
}

async function main(): Promise<void> {
  installSignalHandlers();
  const systems: SystemName[] = knobs.only ? [knobs.only] : ['socketio', 'herald'];
  if (systems.includes('herald')) ensureWrk();
  const build = knobs.heraldDist === '' ? snapshotBuild('build') : knobs.heraldDist;
  const profileDir = `${RESULTS}/profiles`;
  if (knobs.profile) mkdirSync(profileDir, { recursive: true });
  const execArgv = knobs.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const infra = infraPids();
  const info: RunInfo = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, damon: damonMonitors() },
    git: git(),
    knobs,
    herald: { env: {}, execArgv },
  };
  console.log(
    `Benchmark: ${knobs.clients} clients, ${knobs.rounds} round(s), systems ${systems.join(' + ')}` +
      `${knobs.profile ? `, Herald profiles in ${profileDir}` : ''}`,
  );

  const runs: RunResult[] = [];
  let failure: unknown;
  try {
    for (let round = 1; round <= knobs.rounds; round++) {
      const order = round % 2 === 1 ? systems : [...systems].reverse();
      for (const [i, name] of order.entries()) {
        checkInterrupted();
        const system: System =
          name === 'herald'
            ? await HeraldSystem.start({ build, execArgv, nodes: NODES })
            : await SocketIoSystem.start(NODES);
        if (system instanceof HeraldSystem) info.herald.env = redactedEnv(system.env);
        try {
          runs.push(await runSystem(system, knobs, round, i + 1, infra));
        } catch (err) {
          if (system instanceof HeraldSystem)
            console.error(
              `last output of the Herald nodes:\n${system.output(0).slice(-3000)}\n${system.output(1).slice(-3000)}`,
            );
          throw err;
        } finally {
          await system.stop();
        }
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    await cleanUpAll();
  }

  if (runs.length > 0) {
    const { text, markdown, targets } = render(info, runs);
    console.log(`\n${text}\n`);
    const files = writeResults(info, runs, markdown, targets);
    console.log(`Written: ${files.join(', ')} (and latest.*)`);
  }
  if (failure !== undefined) {
    console.error(
      `\nBENCHMARK FAILED${runs.length > 0 ? ' (the table above holds the finished runs only)' : ''}:`,
    );
    console.error(failure);
    process.exit(1);
  }
}

const redactedEnv = (env: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, /SECRET|KEYS/.test(k) ? '[redacted]' : v]));

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanUpAll();
  process.exit(1);
});
