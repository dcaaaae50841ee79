/**
 * Scenarios 1-3: every client connects (round-robin over the nodes, bounded handshakes in flight), then
 * the clients are watched for moves and closes for the watch window (the rebalance interval is 5 s), and
 * the nodes' resident memory growth is divided by the clients.
 */
import { rssKib, totalCpuMs } from '../proc.js';
import type { RunResult } from '../results.js';
import { sleep, type PhaseContext } from './phase.js';

export async function connectScenario(
  ctx: PhaseContext,
  handshakes: number,
  watchMs: number,
): Promise<Pick<RunResult, 'connect' | 'memory' | 'churn'>> {
  const { system, generator, clients } = ctx;
  const rssBeforeKib = system.pids.map(rssKib);
  const cpuBefore = totalCpuMs(system.pids);
  const { ms } = await generator.connect(system.name, system.wsUrls, clients, handshakes);
  const nodeCpuMsPerConnect = (totalCpuMs(system.pids) - cpuBefore) / clients;
  await sleep(watchMs);
  const counters = await generator.counters();
  if (counters.ready !== clients)
    throw new Error(
      `${system.label}: only ${counters.ready} of ${clients} clients connected after the watch window`,
    );
  const rssAfterKib = system.pids.map(rssKib);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  return {
    connect: { seconds: ms / 1000, handshakeFailures: counters.handshakeFailures, nodeCpuMsPerConnect },
    memory: { rssBeforeKib, rssAfterKib, perConnectionKib: (sum(rssAfterKib) - sum(rssBeforeKib)) / clients },
    churn: { moved: counters.moved, closed: counters.closed, closeCodes: counters.closeCodes, watchMs },
  };
}
