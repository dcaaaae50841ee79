/**
 * Scenarios 1-3: every client connects (round-robin over the nodes, bounded handshakes in flight), then
 * the clients are watched for moves and closes for the watch window (the rebalance interval is 5 s), and
 * the nodes' resident memory growth is divided by the clients. While they connect, the CPU of the
 * nodes, of the load generator and of Redis + RabbitMQ is read per connect: everything shares the
 * machine's cores, so the connect time follows their sum (docs/benchmark.md, scenario 1).
 */
import { CpuMeter, rssKib } from '../proc.js';
import type { RunResult } from '../results.js';
import { sleep, type PhaseContext } from './phase.js';

export async function connectScenario(
  ctx: PhaseContext,
  handshakes: number,
  watchMs: number,
): Promise<Pick<RunResult, 'connect' | 'memory' | 'churn'>> {
  const { system, generator, clients } = ctx;
  const rssBeforeKib = system.pids.map(rssKib);
  const meter = new CpuMeter({ nodes: system.pids, infra: ctx.infraPids });
  const { ms, cpuMs: generatorCpuMs } = await generator.connect(
    system.name,
    system.wsUrls,
    clients,
    handshakes,
  );
  const { cpuMs } = meter.read();
  await sleep(watchMs);
  const counters = await generator.counters();
  if (counters.ready !== clients)
    throw new Error(
      `${system.label}: only ${counters.ready} of ${clients} clients connected after the watch window`,
    );
  const rssAfterKib = system.pids.map(rssKib);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  return {
    connect: {
      seconds: ms / 1000,
      handshakeFailures: counters.handshakeFailures,
      nodeCpuMsPerConnect: cpuMs.nodes! / clients,
      generatorCpuMsPerConnect: generatorCpuMs / clients,
      infraCpuMsPerConnect: cpuMs.infra! / clients,
    },
    memory: { rssBeforeKib, rssAfterKib, perConnectionKib: (sum(rssAfterKib) - sum(rssBeforeKib)) / clients },
    churn: { moved: counters.moved, closed: counters.closed, closeCodes: counters.closeCodes, watchMs },
  };
}
