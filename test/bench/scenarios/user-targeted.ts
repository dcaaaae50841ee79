/**
 * Scenario 8: events to single users at a fixed rate, each to a random connected user's channel/room
 * (the same users, in the same order, for both systems of a round); publish call → client receive
 * latency of every event, and the nodes' largest event-loop delay over the phase.
 */
import type { LatencyResult } from '../results.js';
import { measuredPhase, paced, seededRandom, userEvent, type PhaseContext } from './phase.js';

export async function userTargeted(
  ctx: PhaseContext,
  perSecond: number,
  seconds: number,
  seed: number,
): Promise<LatencyResult> {
  const count = perSecond * seconds;
  const random = seededRandom(seed);
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
