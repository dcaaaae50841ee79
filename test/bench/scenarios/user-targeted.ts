/**
 * Scenario 8: events to single users at a fixed rate, each to a random connected user's channel/room
 * (the same users, in the same order, for both systems of a round); publish call → client receive
 * latency of every event, the nodes' largest event-loop delay over the phase, and how late an idle probe
 * process woke meanwhile (machine.ts: the machine's own floor). First `warmupSeconds`
 * of the same traffic, unmeasured (their deliveries are still checked).
 */
import { startWakeProbe } from '../machine.js';
import type { UserTargetedResult } from '../results.js';
import { measuredPhase, paced, seededRandom, userEvent, type PhaseContext } from './phase.js';

export async function userTargeted(
  ctx: PhaseContext,
  perSecond: number,
  seconds: number,
  seed: number,
  warmupSeconds: number,
): Promise<UserTargetedResult> {
  const random = seededRandom(seed);
  /** `span` seconds of events at `perSecond`, each to a random client's user channel/room. */
  const run = (phase: string, span: number, timed: 'user' | 'none'): ReturnType<typeof measuredPhase> => {
    const count = perSecond * span;
    const targets = Array.from({ length: count }, () => random(ctx.clients));
    return measuredPhase(ctx, { phase, promotions: 0, userTargets: targets, timed }, count, () =>
      paced(count, perSecond, (i) => ctx.system.toUser(`bench-${targets[i]!}`, userEvent(i))),
    );
  };
  if (warmupSeconds > 0) await run('user-targeted warm-up', warmupSeconds, 'none');
  // Reset the nodes' event-loop lag readings: the phase's own maximum is read after it.
  await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i)));
  const stopProbe = await startWakeProbe();
  const { result, progress } = await run(`user-targeted, ${perSecond}/s`, seconds, 'user').catch(
    async (err: unknown) => {
      await stopProbe().catch(() => undefined);
      throw err;
    },
  );
  const machineWake = await stopProbe();
  const lags = await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i)));
  return { ...result, latency: progress.latency!, lagMaxMs: Math.max(...lags), machineWake };
}
