/** Every scenario, in order, on one freshly started system with a fresh load generator. */
import { Generator } from '../generator-control.js';
import type { Knobs } from '../knobs.js';
import type { RunResult } from '../results.js';
import { HeraldSystem, PUBLISH_KEY } from '../systems/herald.js';
import type { System } from '../systems/system.js';
import {
  broadcastBatches,
  broadcastInFlight,
  broadcastOneAtATime,
  pacedBroadcast,
  warmUp,
} from './broadcast.js';
import { connectScenario } from './connect.js';
import { sleep, type PhaseContext } from './phase.js';
import { reconnectStorm } from './storm.js';
import { userTargeted } from './user-targeted.js';
import { wrkPublishRate } from './wrk.js';

/** Both nodes up and registered (Herald heartbeats every 2 s by default) before clients come. */
const SETTLE_MS = 3_000;

export async function runSystem(
  system: System,
  knobs: Knobs,
  round: number,
  order: number,
  infraPids: number[],
): Promise<RunResult> {
  const log = (what: string): void => console.log(`  [round ${round}] ${system.label}: ${what}`);
  await sleep(SETTLE_MS);
  const generator = await Generator.start();
  try {
    const ctx: PhaseContext = {
      system,
      generator,
      clients: knobs.clients,
      infraPids,
      stallMs: knobs.stallMs,
    };
    log(`connecting ${knobs.clients} clients`);
    const connected = await connectScenario(ctx, knobs.handshakes, knobs.watchMs);
    log(
      `connected in ${connected.connect.seconds.toFixed(2)} s ` +
        `(CPU per connect: nodes ${ms3(connected.connect.nodeCpuMsPerConnect)}, generator ${ms3(connected.connect.generatorCpuMsPerConnect)}, ` +
        `Redis + RabbitMQ ${ms3(connected.connect.infraCpuMsPerConnect)} ms); moved ${connected.churn.moved}, closed ${connected.churn.closed}; ` +
        `${connected.memory.perConnectionKib.toFixed(1)} KiB/connection`,
    );
    await warmUp(ctx, knobs.warmup, knobs.inFlight);
    const broadcastOne = await broadcastOneAtATime(ctx, knobs.broadcasts);
    log(
      `one at a time: ${fmt(broadcastOne.deliveriesPerSecond)} deliveries/s, ${broadcastOne.nodeCpuMsPer1000.toFixed(2)} ms CPU/1000`,
    );
    const burst = await broadcastInFlight(ctx, knobs.broadcasts, knobs.inFlight);
    log(
      `${knobs.inFlight} in flight: ${fmt(burst.deliveriesPerSecond)} deliveries/s, ${burst.nodeCpuMsPer1000.toFixed(2)} ms CPU/1000`,
    );
    const batch = await broadcastBatches(ctx, knobs.broadcasts, knobs.batch);
    if (batch)
      log(
        `batches of ${knobs.batch}: ${fmt(batch.deliveriesPerSecond)} deliveries/s, ${batch.nodeCpuMsPer1000.toFixed(2)} ms CPU/1000`,
      );
    const pacedResult = await pacedBroadcast(ctx, knobs.pacedRate, knobs.seconds);
    log(
      `paced ${knobs.pacedRate}/s: p50 ${pacedResult.latency.p50.toFixed(1)} ms, p99 ${pacedResult.latency.p99.toFixed(1)} ms`,
    );
    const user = await userTargeted(ctx, knobs.userRate, knobs.seconds, round, knobs.userWarmupSeconds);
    log(
      `user-targeted ${knobs.userRate}/s: p50 ${user.latency.p50.toFixed(2)} ms, p99 ${user.latency.p99.toFixed(2)} ms, lag max ${user.lagMaxMs.toFixed(0)} ms`,
    );
    let wrk: RunResult['wrk'];
    let wrkOnline: RunResult['wrkOnline'];
    if (system instanceof HeraldSystem) {
      const rate = (onlineUsers?: number): ReturnType<typeof wrkPublishRate> =>
        wrkPublishRate(
          system.httpUrls[0]!,
          system.pids[0]!,
          PUBLISH_KEY,
          knobs.wrkConnections,
          knobs.seconds,
          onlineUsers,
        );
      wrk = await rate();
      log(`wrk, users connected nowhere: ${fmt(wrk.messagesPerSecond)} messages/s, ${wrk.non2xx} non-2xx`);
      wrkOnline = await rate(knobs.clients);
      log(
        `wrk, connected users: ${fmt(wrkOnline.messagesPerSecond)} messages/s, ${wrkOnline.non2xx} non-2xx`,
      );
    }
    let storm: RunResult['storm'];
    if (knobs.profile) {
      log('BENCH_PROFILE: no storm; stopping the nodes gracefully so they write their profiles');
      await generator.request({ kind: 'close-all' });
      await system.stopGracefully();
      log(`profiles: CPU.*.<pid>.*.cpuprofile, node pids ${system.pids.join(', ')}`);
    } else {
      storm = await reconnectStorm(ctx);
      log(
        `storm: ${storm.clients} clients back in ${storm.seconds.toFixed(2)} s, survivor lag max ${storm.survivorLagMaxMs.toFixed(0)} ms`,
      );
    }
    const counters = await generator.counters();
    return {
      system: system.name,
      round,
      order,
      clients: knobs.clients,
      ...connected,
      broadcastOneAtATime: broadcastOne,
      broadcastInFlight: burst,
      broadcastBatch: batch,
      paced: pacedResult,
      userTargeted: user,
      wrk,
      wrkOnline,
      storm,
      counters,
    };
  } finally {
    await generator.stop();
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms3 = (n: number): string => n.toFixed(3);
