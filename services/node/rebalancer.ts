/**
 * Active rebalancing. Long-lived WebSockets defeat load balancing: after a scale-out the new node
 * sits idle while the old ones stay full. Every REBALANCE_INTERVAL_MS each node reads the node
 * registry and compares its connections with its share of the cluster's (by capacity); a node above
 * its share by more than REBALANCE_MARGIN_PERCENT asks its longest-connected clients to reconnect,
 * at most REBALANCE_MAX_PER_SECOND per second, until it is back at its share. The clients resume on
 * whichever node the balancer (or the director) gives them, losing nothing.
 *
 * Only nodes above their share shed, and each sheds toward the share computed from the registry, so
 * the cluster converges instead of oscillating. Draining nodes are not part of the cluster's share.
 *
 * Calm: moving a client costs it a reconnect and the cluster an authentication, a resume and a
 * history read, so a node sheds only on an excess that is real. Three rules (ShedPolicy):
 *  1. Counts of the same age. Every count compared is the registry's, this node's own included: a
 *     live count set against the others' last heartbeat runs ahead of them whenever clients are
 *     connecting, and a balanced cluster would shed. Every node heartbeats at the same wall-clock
 *     instants (multiples of NODE_HEARTBEAT_MS, registry-heartbeat.ts), so one registry read is one
 *     snapshot of the cluster, give or take clock skew and a read that lands while a tick is written.
 *  2. Hold off while the cluster total changes fast: by more than half the margin (of the larger of
 *     the two totals) since the previous round. Counts read up to a round apart then differ by at
 *     most that much of a node's share when clients arrive evenly, so timing alone cannot carry a
 *     node past its share plus the margin. A ramp, a reconnect storm, a node dying all hold it off;
 *     a scale-out does not (the total stays, only the shares change).
 *  3. Act only on an excess that persists: two consecutive rounds (REBALANCE_INTERVAL_MS exceeds
 *     NODE_HEARTBEAT_MS, so they read different ticks) both see this node above its share plus the
 *     margin, with the total calm between them. The amount is the latest round's excess,
 *     capped by how far the live count is above the share (clients that left meanwhile are not
 *     shed again), and the move stops early once the live count is down to the share. After shedding
 *     the policy starts over, so the next move waits for two rounds of counts taken after this one.
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

/** One registry read as this node sees it: its registered count, its share, the cluster's total. */
export interface ClusterView {
  own: number;
  share: number;
  total: number;
}

/**
 * This node's view of the cluster from registry entries alone (all of the same age); undefined when
 * it cannot compare: it has no entry yet, it is draining, or no other non-draining node is listed.
 */
export function clusterView(selfId: string, nodes: readonly NodeRecord[]): ClusterView | undefined {
  const self = nodes.find((n) => n.id === selfId);
  if (self === undefined || self.draining) return undefined;
  let total = 0;
  let totalCapacity = 0;
  let others = 0;
  for (const node of nodes) {
    if (node.draining) continue;
    total += node.connections;
    totalCapacity += Math.max(1, node.capacity);
    if (node.id !== selfId) others++;
  }
  if (others === 0) return undefined; // alone: nowhere to send anyone
  return { own: self.connections, share: (total * Math.max(1, self.capacity)) / totalCapacity, total };
}

/** How many clients a node should shed to get to its share (0 when within the margin). */
export function excessConnections(view: ClusterView, marginPercent: number): number {
  if (view.own <= view.share * (1 + marginPercent / 100)) return 0;
  return Math.floor(view.own - view.share);
}

/** Whether the cluster total moved by more than half the margin (of the larger total) between rounds. */
export function changingFast(previousTotal: number, total: number, marginPercent: number): boolean {
  return Math.abs(total - previousTotal) > (Math.max(total, previousTotal) * marginPercent) / 200;
}

/**
 * What one round decided: `alone` nothing to compare (see clusterView), `changing` the total moved
 * fast since the previous round, `balanced` within the margin, `pending` an excess not seen in the
 * previous round too, `shed` move `count` clients (`share`: the share they bring this node down to).
 */
export type Verdict =
  | { outcome: 'alone' | 'changing' | 'balanced' | 'pending' }
  | { outcome: 'shed'; count: number; share: number };

export type RebalanceOutcome = Verdict['outcome'];

/** The rebalancer's decisions round after round (the three rules of the module comment); no I/O. */
export class ShedPolicy {
  private previous: { total: number; excess: number } | undefined;

  constructor(
    private readonly selfId: string,
    private readonly marginPercent: number,
  ) {}

  /** One round: `nodes` from one registry read, `live` this node's connections now. */
  next(nodes: readonly NodeRecord[], live: number): Verdict {
    const view = clusterView(this.selfId, nodes);
    if (view === undefined) {
      this.previous = undefined;
      return { outcome: 'alone' };
    }
    const excess = excessConnections(view, this.marginPercent);
    const previous = this.previous;
    this.previous = { total: view.total, excess };
    if (previous !== undefined && changingFast(previous.total, view.total, this.marginPercent))
      return { outcome: 'changing' };
    if (excess === 0) return { outcome: 'balanced' };
    if (previous === undefined || previous.excess === 0) return { outcome: 'pending' };
    const count = Math.min(excess, Math.floor(live - view.share));
    if (count <= 0) return { outcome: 'balanced' };
    this.previous = undefined; // the next move waits for two rounds of counts taken after this one
    return { outcome: 'shed', count, share: view.share };
  }

  /** Forgets the previous round (a registry read failed: the next two rounds must agree again). */
  reset(): void {
    this.previous = undefined;
  }
}

export class Rebalancer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly policy: ShedPolicy;

  constructor(
    private readonly host: RebalanceHost,
    private readonly registry: NodeRegistry,
    private readonly target: () => Promise<string | undefined>,
    private readonly options: {
      nodeId: string;
      settings: Config['rebalance'];
      metrics: Metrics;
      log: Logger;
    },
  ) {
    this.policy = new ShedPolicy(options.nodeId, options.settings.marginPercent);
  }

  start(): void {
    if (this.options.settings.intervalMs === 0) return;
    this.timer = setInterval(() => void this.round(), this.options.settings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One check; sheds (paced) when the policy says so. Never throws; skipped while a round still sheds. */
  async round(): Promise<number> {
    if (this.running || this.stopped) return 0;
    this.running = true;
    const { settings, metrics, log } = this.options;
    try {
      const nodes = await this.registry.list();
      const verdict = this.policy.next(nodes, this.host.connectionCount);
      metrics.rebalanceChecks.inc({ outcome: verdict.outcome });
      if (verdict.outcome !== 'shed') {
        log.debug({ connections: this.host.connectionCount, outcome: verdict.outcome }, 'rebalancing check');
        return 0;
      }
      metrics.rebalanceRounds.inc();
      log.info(
        { connections: this.host.connectionCount, excess: verdict.count, share: Math.floor(verdict.share) },
        'above the cluster share for two rounds; moving clients',
      );
      return await this.host.move(
        verdict.count,
        1000 / settings.maxPerSecond,
        this.target,
        () => !this.stopped && this.host.connectionCount > verdict.share,
      );
    } catch (err) {
      this.policy.reset();
      metrics.rebalanceChecks.inc({ outcome: 'failed' });
      log.warn({ err }, 'rebalancing check failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
