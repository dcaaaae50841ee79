/** The figures of the comparison table: one row each, read from every round's result of both systems. */
import type { Knobs } from '../knobs.js';
import type { RunResult } from '../results.js';

export interface Figure {
  key: string;
  label: string;
  value: (r: RunResult) => number | undefined;
  /** Shown below the main table (how the measurement itself behaved), not compared. */
  info?: boolean;
}

export function figures(k: Knobs): Figure[] {
  const n = k.clients.toLocaleString('en-US');
  const f = (key: string, label: string, value: Figure['value'], info = false): Figure => ({
    key,
    label,
    value,
    info,
  });
  return [
    f('connectSeconds', `connects: all ${n} clients ready (s)`, (r) => r.connect.seconds),
    f('connectCpu', 'connects: node CPU per connect (ms)', (r) => r.connect.nodeCpuMsPerConnect),
    f(
      'memoryKib',
      'memory per connection (KiB, node RSS growth / clients)',
      (r) => r.memory.perConnectionKib,
    ),
    f('moved', `clients moved, connect + ${k.watchMs / 1000} s`, (r) => r.churn.moved),
    f('closed', `clients closed, connect + ${k.watchMs / 1000} s`, (r) => r.churn.closed),
    f(
      'oneCpu',
      'broadcast, one at a time: node CPU per 1,000 deliveries (ms)',
      (r) => r.broadcastOneAtATime.nodeCpuMsPer1000,
    ),
    f('oneRate', 'broadcast, one at a time: deliveries/s', (r) => r.broadcastOneAtATime.deliveriesPerSecond),
    f(
      'burstCpu',
      `broadcast, ${k.inFlight} in flight: node CPU per 1,000 deliveries (ms)`,
      (r) => r.broadcastInFlight.nodeCpuMsPer1000,
    ),
    f(
      'burstRate',
      `broadcast, ${k.inFlight} in flight: deliveries/s`,
      (r) => r.broadcastInFlight.deliveriesPerSecond,
    ),
    f(
      'batchCpu',
      `broadcast, batches of ${k.batch}: node CPU per 1,000 deliveries (ms)`,
      (r) => r.broadcastBatch?.nodeCpuMsPer1000,
    ),
    f(
      'batchRate',
      `broadcast, batches of ${k.batch}: deliveries/s`,
      (r) => r.broadcastBatch?.deliveriesPerSecond,
    ),
    f(
      'pacedRate',
      `paced broadcast ${k.pacedRate}/s: deliveries/s achieved (offered ${(k.pacedRate * k.clients).toLocaleString('en-US')})`,
      (r) => r.paced.deliveriesPerSecond,
    ),
    f('pacedP50', `paced broadcast ${k.pacedRate}/s: latency p50 (ms)`, (r) => r.paced.latency.p50),
    f('pacedP99', `paced broadcast ${k.pacedRate}/s: latency p99 (ms)`, (r) => r.paced.latency.p99),
    f('pacedMax', `paced broadcast ${k.pacedRate}/s: latency max (ms)`, (r) => r.paced.latency.max),
    f('userP50', `user-targeted ${k.userRate}/s: publish→client p50 (ms)`, (r) => r.userTargeted.latency.p50),
    f('userP99', `user-targeted ${k.userRate}/s: publish→client p99 (ms)`, (r) => r.userTargeted.latency.p99),
    f('userMax', `user-targeted ${k.userRate}/s: publish→client max (ms)`, (r) => r.userTargeted.latency.max),
    f(
      'userLag',
      `user-targeted ${k.userRate}/s: node event-loop lag max (ms)`,
      (r) => r.userTargeted.lagMaxMs,
    ),
    f(
      'wrkRate',
      `REST publish, wrk ${k.wrkConnections} connections, one node, users connected nowhere (messages/s)`,
      (r) => r.wrk?.messagesPerSecond,
    ),
    f(
      'wrkOnlineRate',
      `REST publish, wrk ${k.wrkConnections} connections, one node, connected users (messages/s)`,
      (r) => r.wrkOnline?.messagesPerSecond,
    ),
    f('wrkNon2xx', 'REST publish, wrk: non-2xx responses (both)', (r) =>
      r.wrk === undefined ? undefined : r.wrk.non2xx + (r.wrkOnline?.non2xx ?? 0),
    ),
    f('stormClients', 'reconnect storm: clients of the killed node', (r) => r.storm?.clients),
    f('stormSeconds', 'reconnect storm: time until all back (s)', (r) => r.storm?.seconds),
    f('stormLag', 'reconnect storm: survivor event-loop lag max (ms)', (r) => r.storm?.survivorLagMaxMs),
    // How the measurement itself behaved: a generator near 100 % of a core caps the delivery rates.
    f(
      'genConnect',
      'load generator CPU per connect (ms; its tokens are minted before the clock)',
      (r) => r.connect.generatorCpuMsPerConnect,
      true,
    ),
    f('infraConnect', 'Redis + RabbitMQ CPU per connect (ms)', (r) => r.connect.infraCpuMsPerConnect, true),
    f(
      'genOne',
      'load generator CPU, one at a time (% of a core)',
      (r) => r.broadcastOneAtATime.generatorCorePercent,
      true,
    ),
    f(
      'genBurst',
      `load generator CPU, ${k.inFlight} in flight (% of a core)`,
      (r) => r.broadcastInFlight.generatorCorePercent,
      true,
    ),
    f(
      'genBurst1000',
      `load generator CPU per 1,000 deliveries, ${k.inFlight} in flight (ms)`,
      (r) => r.broadcastInFlight.generatorCpuMsPer1000,
      true,
    ),
    f('genPacedCore', 'load generator CPU, paced (% of a core)', (r) => r.paced.generatorCorePercent, true),
    f(
      'genPaced',
      `load generator CPU per 1,000 deliveries, paced (ms)`,
      (r) => r.paced.generatorCpuMsPer1000,
      true,
    ),
    f(
      'infraBurst',
      `Redis + RabbitMQ CPU per 1,000 deliveries, ${k.inFlight} in flight (ms)`,
      (r) => r.broadcastInFlight.infraCpuMsPer1000,
      true,
    ),
    f(
      'infraOne',
      'Redis + RabbitMQ CPU per 1,000 deliveries, one at a time (ms)',
      (r) => r.broadcastOneAtATime.infraCpuMsPer1000,
      true,
    ),
    f(
      'pubBurst',
      `publisher (orchestrator) CPU, ${k.inFlight} in flight (% of a core)`,
      (r) => r.broadcastInFlight.publisherCorePercent,
      true,
    ),
    f(
      'pubUser',
      'publisher (orchestrator) CPU, user-targeted (% of a core)',
      (r) => r.userTargeted.publisherCorePercent,
      true,
    ),
    f(
      'pacedCpu',
      'paced broadcast: node CPU per 1,000 deliveries (ms)',
      (r) => r.paced.nodeCpuMsPer1000,
      true,
    ),
    f(
      'machineWakeP99',
      'machine: an idle probe process, 5 ms timer wake-up delay p99 during user-targeted (ms)',
      (r) => r.userTargeted.machineWake.p99,
      true,
    ),
    f(
      'machineWakeMax',
      'machine: the same probe, wake-up delay max (ms)',
      (r) => r.userTargeted.machineWake.max,
      true,
    ),
    f(
      'userCpu',
      'user-targeted: node CPU per 1,000 events (ms)',
      (r) => r.userTargeted.nodeCpuMsPer1000,
      true,
    ),
    f('wrkNodeCpu', 'REST publish, wrk: node CPU (% of a core)', (r) => r.wrk?.nodeCorePercent, true),
    f('wrkP99', 'REST publish, wrk: request latency p99 (ms)', (r) => r.wrk?.latencyP99Ms, true),
    f(
      'wrkOnlineNodeCpu',
      'REST publish, wrk to connected users: node CPU (% of a core)',
      (r) => r.wrkOnline?.nodeCorePercent,
      true,
    ),
    f(
      'wrkOnlineP99',
      'REST publish, wrk to connected users: request latency p99 (ms)',
      (r) => r.wrkOnline?.latencyP99Ms,
      true,
    ),
    f('handshakeFailures', 'handshakes failed and retried', (r) => r.connect.handshakeFailures, true),
    f(
      'resumeFallbacks',
      'reconnect storm: resumes refused (subscribed instead)',
      (r) => r.storm?.resumeFallbacks,
      true,
    ),
    f('duplicates', 'deliveries dropped as duplicates by the clients', (r) => r.counters.duplicates, true),
    f('outOfOrder', 'deliveries after a higher offset of their channel', (r) => r.counters.outOfOrder, true),
    f('extra', 'deliveries beyond the expected (a client got one twice)', (r) => extra(r), true),
    f('movedTotal', 'clients moved over the whole run', (r) => r.counters.moved, true),
  ];
}

const extra = (r: RunResult): number =>
  [r.broadcastOneAtATime, r.broadcastInFlight, r.broadcastBatch, r.paced, r.userTargeted].reduce(
    (sum, d) => sum + (d?.extra ?? 0),
    0,
  );
