/**
 * Scenario 10, last in a run: SIGKILL one node; all its clients reconnect at once (bounded handshakes in
 * flight) to the survivor: Herald clients `resume` their session with their positions, Socket.IO
 * clients connect plainly. Measures the time until all are back and the survivor's largest event-loop
 * delay meanwhile, then checks that one more promotion reaches every client.
 */
import { CpuMeter } from '../proc.js';
import type { StormResult } from '../results.js';
import { measuredPhase, now, promotion, type PhaseContext } from './phase.js';

export async function reconnectStorm(ctx: PhaseContext): Promise<StormResult> {
  const { system, generator } = ctx;
  const victim = system.pids.length - 1;
  const survivor = 0;
  await system.lagMaxMs(survivor); // resets its maximum
  const before = await generator.counters();
  const { expected } = await generator.request<{ expected: number }>({
    kind: 'storm',
    deadUrl: system.wsUrls[victim]!,
    liveUrls: system.wsUrls.filter((_, i) => i !== victim),
  });
  const meter = new CpuMeter({ survivor: [system.pids[survivor]!] });
  const killedAt = now();
  system.kill(victim);
  const done = await generator.next('storm-done', 180_000);
  const { cpuMs } = meter.read();
  const survivorLagMaxMs = await system.lagMaxMs(survivor);
  const after = await generator.counters();
  const check = await measuredPhase(
    ctx,
    { phase: 'after the storm', promotions: 1, userTargets: [], timed: 'none' },
    1,
    () => system.broadcast(promotion('after-storm')),
  );
  return {
    clients: expected,
    seconds: (done.at - killedAt) / 1000,
    survivorLagMaxMs,
    survivorCpuMs: cpuMs.survivor!,
    resumeFallbacks: after.resumeFallbacks - before.resumeFallbacks,
    afterStormDelivered: check.result.deliveries,
  };
}
