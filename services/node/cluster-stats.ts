/**
 * Node stats for the operator console: every CLUSTER_STATS_INTERVAL_MS this node publishes one
 * `node.stats` message to the `cluster` channel, through the ordinary publish path (history, then the
 * bus to every node), so an operator subscribed on any node sees every node (docs/protocol.md §4).
 *
 * The figures come from the node's own metrics: rates are the change of a counter over the last
 * interval, the rest are totals since the node started. A tick waits for the previous publish; one that
 * fails (bus or state store down) is logged once and skipped, and the next interval tries again.
 */
import type { Publisher } from '../../shared/core/publisher.js';
import type { Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import { CLUSTER_CHANNEL } from '../../shared/protocol/channels.js';

export const NODE_STATS_EVENT = 'node.stats';

/** The `data` of a `node.stats` message (docs/protocol.md §4 lists the fields). */
export interface NodeStats {
  node: string;
  connections: number;
  draining: boolean;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  recoveries: number;
  drains: number;
  rebalances: number;
  intervalMs: number;
  startedAt: number;
}

/** Counter totals read at one instant. */
interface Sample {
  at: number;
  published: number;
  delivered: number;
}

export interface ClusterStatsOptions {
  nodeId: string;
  /** CLUSTER_STATS_INTERVAL_MS; 0 = never publish. */
  intervalMs: number;
  startedAt: number;
  /** What only the node knows: its connections now, and whether it drains. */
  live: () => { connections: number; draining: boolean };
}

export class ClusterStats {
  private timer: NodeJS.Timeout | undefined;
  private last: Sample | undefined;
  private running = false;
  private failing = false;
  /** The tick in progress: the next one waits for it. */
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly publisher: Publisher,
    private readonly metrics: Metrics,
    private readonly options: ClusterStatsOptions,
    private readonly log: Logger,
  ) {}

  /** Takes the first sample (rates start from here) and starts the interval; nothing with interval 0. */
  async start(): Promise<void> {
    if (this.options.intervalMs === 0 || this.running) return;
    this.running = true;
    this.last = await this.sample();
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops publishing. Idempotent. A publish in progress is not waited for (a bus that never answers
   * must not hold the node's shutdown); whatever it ends with is dropped quietly.
   */
  stop(): void {
    this.running = false;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The stats as of now, against the previous sample (which this replaces). Exposed for tests. */
  async collect(): Promise<NodeStats> {
    const now = await this.sample();
    const previous = this.last ?? now;
    this.last = now;
    const seconds = (now.at - previous.at) / 1000;
    const rate = (from: number, to: number): number =>
      seconds <= 0 ? 0 : Math.round(((to - from) / seconds) * 10) / 10;
    const [recoveries, moves] = await Promise.all([this.metrics.recoveries.get(), this.metrics.moves.get()]);
    const sum = (
      metric: { values: { value: number; labels: Record<string, string | number | undefined> }[] },
      label: string,
      value: string,
    ): number => metric.values.reduce((n, v) => (v.labels[label] === value ? n + v.value : n), 0);
    const { connections, draining } = this.options.live();
    return {
      node: this.options.nodeId,
      connections,
      draining,
      messagesPerSecond: rate(previous.published, now.published),
      deliveriesPerSecond: rate(previous.delivered, now.delivered),
      recoveries: sum(recoveries, 'recovered', 'true'),
      drains: sum(moves, 'reason', 'drain'),
      rebalances: sum(moves, 'reason', 'rebalance'),
      intervalMs: this.options.intervalMs,
      startedAt: this.options.startedAt,
    };
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    try {
      const stats = await this.collect();
      if (!this.running) return;
      await this.publisher.publish({
        channel: CLUSTER_CHANNEL,
        event: NODE_STATS_EVENT,
        dataJson: JSON.stringify(stats),
      });
      if (this.failing) this.log.info('node stats published again');
      this.failing = false;
    } catch (err) {
      if (!this.running) return; // stopped meanwhile: the drivers may be closing
      if (!this.failing) this.log.warn({ err }, 'could not publish node stats; trying every interval');
      this.failing = true;
    }
  }

  private async sample(): Promise<Sample> {
    const total = async (metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> =>
      (await metric.get()).values.reduce((n, v) => n + v.value, 0);
    const [published, delivered] = await Promise.all([
      total(this.metrics.published),
      total(this.metrics.delivered),
    ]);
    return { at: Date.now(), published, delivered };
  }
}
