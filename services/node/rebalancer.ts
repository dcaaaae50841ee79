/**
 * Active rebalancing. Long-lived WebSockets defeat load balancing: after a scale-out the new node
 * sits idle while the old ones stay full. Every REBALANCE_INTERVAL_MS each node compares its own
 * connections with its share of the cluster's (by capacity, from the node registry); a node above
 * its share by more than REBALANCE_MARGIN_PERCENT asks its longest-connected clients to reconnect,
 * at most REBALANCE_MAX_PER_SECOND per second, until it is back at its share. The clients resume on
 * whichever node the balancer (or the director) gives them, losing nothing.
 *
 * Only nodes above their share shed, and each sheds toward the share computed from the registry, so
 * the cluster converges instead of oscillating; registry counts lag by up to NODE_HEARTBEAT_MS, which
 * the next round corrects. Draining nodes are not part of the cluster's share.
 */
import type { Config } from '../../shared/config/config.js';
import type { Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import type { NodeRecord, NodeRegistry } from '../../shared/state/node-registry.js';

export interface RebalanceHost {
  readonly connectionCount: number;
  move(
    count: number,
    spacingMs: number,
    target: () => Promise<string | undefined>,
    keepGoing: () => boolean,
  ): Promise<number>;
}

/** How many clients a node holding `own` of `nodes` should shed now (0 when within the margin). */
export function excessConnections(
  selfId: string,
  own: number,
  capacity: number,
  nodes: readonly NodeRecord[],
  marginPercent: number,
): number {
  let total = own;
  let totalCapacity = capacity;
  for (const node of nodes) {
    if (node.id === selfId || node.draining) continue;
    total += node.connections;
    totalCapacity += Math.max(1, node.capacity);
  }
  if (totalCapacity === capacity) return 0; // alone: nowhere to send anyone
  const share = (total * capacity) / totalCapacity;
  if (own <= share * (1 + marginPercent / 100)) return 0;
  return Math.floor(own - share);
}

export class Rebalancer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly host: RebalanceHost,
    private readonly registry: NodeRegistry,
    private readonly target: () => Promise<string | undefined>,
    private readonly options: {
      nodeId: string;
      capacity: number;
      settings: Config['rebalance'];
      metrics: Metrics;
      log: Logger;
    },
  ) {}

  start(): void {
    if (this.options.settings.intervalMs === 0) return;
    this.timer = setInterval(() => void this.round(), this.options.settings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One check; sheds (paced) when above the share. Never throws; skipped while a round still sheds. */
  async round(): Promise<number> {
    if (this.running || this.stopped) return 0;
    this.running = true;
    try {
      const { nodeId, capacity, settings, metrics, log } = this.options;
      const nodes = await this.registry.list();
      const excess = excessConnections(
        nodeId,
        this.host.connectionCount,
        capacity,
        nodes,
        settings.marginPercent,
      );
      if (excess === 0) return 0;
      metrics.rebalanceRounds.inc();
      log.info({ connections: this.host.connectionCount, excess }, 'above the cluster share; moving clients');
      return await this.host.move(excess, 1000 / settings.maxPerSecond, this.target, () => !this.stopped);
    } catch (err) {
      this.options.log.warn({ err }, 'rebalancing check failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
