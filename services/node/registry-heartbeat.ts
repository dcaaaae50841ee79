/**
 * Keeps this node's node-registry entry fresh: one heartbeat at start, then one at every multiple of
 * NODE_HEARTBEAT_MS on the wall clock, and removal on a graceful stop. A node that dies stops
 * heartbeating and leaves the registry within NODE_TTL_SECONDS.
 *
 * Aligned ticks make the registry one snapshot: every node counts its connections at the same
 * instants (give or take clock skew and event-loop lag), so counts read together are of the same age
 * and the rebalancer can compare them while clients are connecting (rebalancer.ts). A tick missed
 * under load is skipped, not made up; a clock stepped back realigns at once.
 */
import type { Logger } from '../../shared/logger/logger.js';
import type { NodeAnnouncement, NodeRegistry } from '../../shared/state/node-registry.js';

/** The first multiple of `periodMs` after `now` (the next aligned tick). */
export function nextTick(now: number, periodMs: number): number {
  return (Math.floor(now / periodMs) + 1) * periodMs;
}

export class RegistryHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = 0;
  private running = false;
  private failing = false;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly announce: () => NodeAnnouncement,
    private readonly options: { heartbeatMs: number; ttlSeconds: number },
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.running = true;
    this.dueAt = nextTick(Date.now(), this.options.heartbeatMs);
    this.schedule();
  }

  /** Stops heartbeating and removes the entry (graceful stop). */
  async stop(nodeId: string): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.registry
      .remove(nodeId)
      .catch((err: unknown) => this.log.warn({ err }, 'could not leave the node registry'));
  }

  /** Announces the current state now (e.g. draining) instead of at the next tick. */
  beatNow(): Promise<void> {
    return this.beat();
  }

  private schedule(): void {
    const now = Date.now();
    // A timer may fire a millisecond early: the tick it serves is then still ahead, so it is passed.
    // Late (event-loop lag) or after the clock jumped, go to the next tick from now.
    if (this.dueAt <= now + 1 || this.dueAt - now > this.options.heartbeatMs)
      this.dueAt = nextTick(now + 1, this.options.heartbeatMs);
    this.timer = setTimeout(() => {
      if (!this.running) return;
      this.dueAt += this.options.heartbeatMs;
      this.schedule();
      void this.beat();
    }, this.dueAt - now);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      await this.registry.heartbeat(this.announce(), this.options.ttlSeconds);
      if (this.failing) this.log.info('node registry heartbeat recovered');
      this.failing = false;
    } catch (err) {
      // Logged once per outage, not once per beat.
      if (!this.failing) this.log.warn({ err }, 'node registry heartbeat failed');
      this.failing = true;
    }
  }
}
