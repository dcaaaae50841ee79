/**
 * Scenarios 4-7: promotions to every client. One message per request, one at a time or with a number of
 * requests in flight; the batch scenario (Herald only); and a paced broadcast whose every delivery is
 * timed. Each fails loudly when a delivery is missing.
 */
import type { DeliveryResult, LatencyResult } from '../results.js';
import { inFlightPool, measuredPhase, paced, promotion, type PhaseContext } from './phase.js';

const noUsers: number[] = [];

/** Unmeasured promotions, one at a time (warms both systems' code paths alike). */
export async function warmUp(ctx: PhaseContext, count: number, inFlight: number): Promise<void> {
  await ctx.system.warmUp(inFlight);
  if (count === 0) return;
  await measuredPhase(
    ctx,
    { phase: 'warm-up', promotions: count, userTargets: noUsers, timed: 'none' },
    count,
    async () => {
      for (let i = 0; i < count; i++) await ctx.system.broadcast(promotion(`warmup-${i}`));
    },
  );
}

export async function broadcastOneAtATime(ctx: PhaseContext, count: number): Promise<DeliveryResult> {
  const phase = 'broadcast, one at a time';
  const { result } = await measuredPhase(
    ctx,
    { phase, promotions: count, userTargets: noUsers, timed: 'none' },
    count,
    async () => {
      for (let i = 0; i < count; i++) await ctx.system.broadcast(promotion(`one-${i}`));
    },
  );
  return result;
}

export async function broadcastInFlight(
  ctx: PhaseContext,
  count: number,
  inFlight: number,
): Promise<DeliveryResult> {
  const phase = `broadcast, ${inFlight} in flight`;
  const { result } = await measuredPhase(
    ctx,
    { phase, promotions: count, userTargets: noUsers, timed: 'none' },
    count,
    () => inFlightPool(count, inFlight, (i) => ctx.system.broadcast(promotion(`burst-${i}`))),
  );
  return result;
}

/** Batches of `batch` promotions per request, one request at a time; undefined without a batch publish. */
export async function broadcastBatches(
  ctx: PhaseContext,
  count: number,
  batch: number,
): Promise<DeliveryResult | undefined> {
  const publishBatch = ctx.system.broadcastBatch;
  if (!publishBatch) return undefined;
  const phase = `broadcast, batches of ${batch}`;
  const { result } = await measuredPhase(
    ctx,
    { phase, promotions: count, userTargets: noUsers, timed: 'none' },
    count,
    async () => {
      for (let sent = 0; sent < count; sent += batch) {
        const size = Math.min(batch, count - sent);
        await publishBatch(Array.from({ length: size }, (_, k) => promotion(`batch-${sent + k}`)));
      }
    },
  );
  return result;
}

/** `perSecond` promotions a second for `seconds`; the latency of every delivery. */
export async function pacedBroadcast(
  ctx: PhaseContext,
  perSecond: number,
  seconds: number,
): Promise<LatencyResult> {
  const count = perSecond * seconds;
  const phase = `paced broadcast, ${perSecond}/s`;
  await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i))); // resets the nodes' maxima
  const { result, progress } = await measuredPhase(
    ctx,
    { phase, promotions: count, userTargets: noUsers, timed: 'promotions' },
    count,
    () => paced(count, perSecond, (i) => ctx.system.broadcast(promotion(`paced-${i}`))),
  );
  const lags = await Promise.all(ctx.system.pids.map((_, i) => ctx.system.lagMaxMs(i)));
  return { ...result, latency: progress.latency!, lagMaxMs: Math.max(...lags) };
}
