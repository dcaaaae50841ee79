/**
 * Scenario 8: events to single users at a fixed rate, each to a random connected user's channel/room
 * (the same users, in the same order, for both systems of a round); publish call → client receive
 * latency of every event, and the nodes' largest event-loop delay over the phase. First `warmupSeconds`
 * of the same traffic, unmeasured (their deliveries are still checked).
 */
import type { LatencyResult } from '../results.js';
import { measuredPhase, paced, seededRandom, userEvent, type PhaseContext } from './phase.js';

export async function userTargeted(
  ctx: PhaseContext,
  perSecond: number,
  seconds: number,
  seed: number,
  warmupSeconds: number,
): Promise<LatencyResult> {
  const random = seededRandom(seed);
  if (warmupSeconds > 0) {
    const count = perSecond * warmupSeconds;
    const targets = Array.from({ length: count }, () => random(ctx.clients));
    await measuredPhase(
      ctx,
      { phase: 'user-targeted warm-up', promotions: 0, userTargets: targets, timed: 'none' },
      count,
      () => paced(count, perSecond, (i) => ctx.system.toUser(`bench-${targets[i]!}`, userEvent(i))),
    );
  }
  const count = perSecond * seconds;
  const targets = Array.from({ length: count }, () => random(ctx.clients));
  const phase = `user-targeted, ${perSecond}/s`;
  await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i)));
  const { result, progress } = await measuredPhase(
    ctx,
    { phase, promotions: 0, userTargets: targets, timed: 'user' },
    count,
    () => paced(count, perSecond, (i) => ctx.system.toUser(`bench-${targets[i]!}`, userEvent(i))),
  );
  const lags = await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i)));
  return { ...result, latency: progress.latency!, lagMaxMs: Math.max(...lags) };
}
