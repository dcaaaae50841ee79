/**
 * One measured phase: arm the load generator with what must arrive, publish, wait for the last delivery,
 * and read the CPU every process used meanwhile. A phase in which deliveries stop arriving fails with the
 * scenario's name and what is missing.
 */
import type { Expectation, Progress } from '../generator-protocol.js';
import type { Generator } from '../generator-control.js';
import { CpuMeter } from '../proc.js';
import type { DeliveryResult } from '../results.js';
import type { System } from '../systems/system.js';

export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PhaseContext {
  system: System;
  generator: Generator;
  clients: number;
  infraPids: number[];
  stallMs: number;
}

export interface PhaseOutcome {
  result: DeliveryResult;
  progress: Progress;
}

/**
 * Runs `publish` under `expectation` and measures from its start to the last expected delivery.
 * `messages` is the number of messages published (for the result).
 */
export async function measuredPhase(
  ctx: PhaseContext,
  expectation: Expectation,
  messages: number,
  publish: () => Promise<void>,
): Promise<PhaseOutcome> {
  const { system, generator } = ctx;
  const before = await generator.counters();
  await generator.arm(expectation);
  const meter = new CpuMeter({
    nodes: system.pids,
    generator: [generator.pid],
    infra: ctx.infraPids,
    publisher: [process.pid],
  });
  const started = now();
  let failure: Error | undefined;
  const publishing = publish().catch((err: unknown) => void (failure = asError(err)));
  const done = await waitDone(ctx, expectation.phase, () => failure);
  const { wallMs, cpuMs } = meter.read();
  await publishing;
  if (failure) throw failure;
  const progress = await generator.progress(true);
  const after = await generator.counters();
  const seconds = (done - started) / 1000;
  const deliveries = progress.expected;
  return {
    progress,
    result: {
      messages,
      deliveries,
      seconds,
      deliveriesPerSecond: deliveries / seconds,
      nodeCpuMsPer1000: (cpuMs.nodes! / deliveries) * 1000,
      generatorCpuMsPer1000: (cpuMs.generator! / deliveries) * 1000,
      generatorCorePercent: (cpuMs.generator! / wallMs) * 100,
      infraCpuMsPer1000: (cpuMs.infra! / deliveries) * 1000,
      publisherCorePercent: (cpuMs.publisher! / wallMs) * 100,
      extra: progress.extra,
      outOfOrder: after.outOfOrder - before.outOfOrder,
      duplicates: after.duplicates - before.duplicates,
    },
  };
}

/** Resolves with the time of the phase's last delivery; fails when nothing new arrived for `stallMs`. */
async function waitDone(ctx: PhaseContext, phase: string, failure: () => Error | undefined): Promise<number> {
  let arrived = -1;
  let lastProgress = Date.now();
  for (;;) {
    const error = failure();
    if (error)
      throw new Error(`${ctx.system.label}, scenario "${phase}": publishing failed: ${error.message}`);
    const done = await ctx.generator.poll('done', 2_000);
    if (done?.phase === phase) return done.at;
    if (done) continue;
    const progress = await ctx.generator.progress();
    if (progress.arrived > arrived) {
      arrived = progress.arrived;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > ctx.stallMs) {
      const c = await ctx.generator.counters();
      throw new Error(
        `${ctx.system.label}, scenario "${phase}": ${progress.missing} of ${progress.expected} expected deliveries ` +
          `missing (${progress.clientsShort} clients short; ${progress.extra} extra) after ` +
          `${Math.round(ctx.stallMs / 1000)} s without progress.\n  clients short: ${progress.shortSamples.join('; ')}` +
          `\n  generator: ${c.ready} clients ready, ${c.moved} moved, ${c.closed} closed, ${c.duplicates} duplicates ` +
          `dropped, ${c.outOfOrder} out of order, ${c.errors} errors${c.errorSamples.length > 0 ? `: ${c.errorSamples.join(' | ')}` : ''}`,
      );
    }
  }
}

/** Runs `task(i)` for i in [0, count) with at most `inFlight` running at once. */
export async function inFlightPool(
  count: number,
  inFlight: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

/**
 * Calls `send(i)` for i in [0, count) at `perSecond`, on schedule (not waiting for earlier calls);
 * resolves once every call settled, failing with the first error.
 */
export async function paced(
  count: number,
  perSecond: number,
  send: (i: number) => Promise<void>,
): Promise<void> {
  const calls: Promise<void>[] = [];
  let failure: Error | undefined;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
      while (calls.length < due)
        calls.push(send(calls.length).catch((err: unknown) => void (failure ??= asError(err))));
      if (calls.length >= count) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all(calls);
  if (failure) throw failure;
}

/** ~200 bytes of promotion data (as JSON), stamped with the publish time. */
export function promotion(id: string): object {
  return {
    sentAt: now(),
    promotionId: id,
    title: 'Black Friday',
    body: '-30% on everything in the store, today only, while stocks last.',
    url: 'https://shop.example.com/promotions/bf',
  };
}

/** A small user-targeted event (an order status), stamped with the publish time. */
export function userEvent(n: number): object {
  return { sentAt: now(), orderId: `o-${n}`, status: 'shipped' };
}

/** Deterministic pseudo-random integers (mulberry32): both systems of a round target the same users. */
export function seededRandom(seed: number): (below: number) => number {
  let a = seed >>> 0;
  return (below) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(JSON.stringify(err)));
