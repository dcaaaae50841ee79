/**
 * Keeps this node's node-registry entry fresh: one heartbeat at start, then every NODE_HEARTBEAT_MS,
 * and removal on a graceful stop. A node that dies stops heartbeating and leaves the registry within
 * NODE_TTL_SECONDS.
 */
import type { Logger } from '../../shared/logger/logger.js';
import type { NodeAnnouncement, NodeRegistry } from '../../shared/state/node-registry.js';

export class RegistryHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly announce: () => NodeAnnouncement,
    private readonly options: { heartbeatMs: number; ttlSeconds: number },
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Stops heartbeating and removes the entry (graceful stop). */
  async stop(nodeId: string): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.registry
      .remove(nodeId)
      .catch((err: unknown) => this.log.warn({ err }, 'could not leave the node registry'));
  }

  /** Announces the current state now (e.g. draining) instead of at the next interval. */
  beatNow(): Promise<void> {
    return this.beat();
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
