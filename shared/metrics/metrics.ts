/**
 * Prometheus metrics of one node (prom-client). Each node owns its registry, so several nodes can
 * live in one test process without sharing counters.
 */
import { readdirSync, statSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChannelKind } from '../protocol/channels.js';

/** Default metrics that list every handle, resource or fd on each scrape (see the constructor). */
const LISTING_METRICS = [
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'process_open_fds',
];

/**
 * Open file descriptors: Linux 6.2+ gives the count as the size of /proc/self/fd (one stat); older
 * kernels say 0 there, and the directory is listed instead (as prom-client does).
 */
function openFds(): number | undefined {
  try {
    const { size } = statSync('/proc/self/fd');
    return size > 0 ? size : readdirSync('/proc/self/fd').length - 1; // minus the listing's own fd
  } catch {
    return undefined;
  }
}

export class Metrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'herald_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'herald_subscriptions',
    help: 'Active channel subscriptions',
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'herald_messages_published_total',
    help: 'Messages accepted by the REST API and handed on (bus publish confirmed, delivered here alone, or stored only for a user connected nowhere), by channel kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly busReceived = new Counter({
    name: 'herald_bus_messages_received_total',
    help: 'Payloads this node took from the bus (messages and control), what targeted routing saves',
    registers: [this.registry],
  });
  readonly routes = new Counter({
    name: 'herald_publish_routes_total',
    help: 'Published messages by route: broadcast (every node, fanout exchange), targeted (the nodes holding the user, direct exchange), local (this node only, no bus), none (the user is connected nowhere: stored only)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly delivered = new Counter({
    name: 'herald_messages_delivered_total',
    help: 'Message frames written to client connections',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'herald_bus_duplicates_total',
    help: 'Messages the bus delivered again (at-least-once after a reconnect), dropped before fan-out',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly guests = new Gauge({
    name: 'herald_guest_connections',
    help: 'Open guest connections (WS_ALLOW_GUESTS: no token, promotions only)',
    registers: [this.registry],
  });
  readonly sseConnections = new Gauge({
    name: 'herald_sse_connections',
    help: 'Open Server-Sent Events streams (GET /v1/sse; also counted in herald_connections)',
    registers: [this.registry],
  });
  readonly webhookEvents = new Counter({
    name: 'herald_webhook_events_total',
    help: 'Webhook events made, by type and outcome (queued; refused: the outbox held WEBHOOK_MAX_PENDING; failed: the state store could not take it)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly webhookAttempts = new Counter({
    name: 'herald_webhook_attempts_total',
    help: 'Webhook POSTs, by outcome (ok: 2xx; failed: anything else, retried; gave_up: failed at WEBHOOK_MAX_ATTEMPTS)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly webhookPending = new Gauge({
    name: 'herald_webhook_pending',
    help: 'Webhook events the outbox holds (due, in flight or waiting for a retry), cluster-wide',
    registers: [this.registry],
  });
  readonly webhookSeconds = new Histogram({
    name: 'herald_webhook_request_seconds',
    help: 'Time from a webhook POST to its answer (or its failure)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly closes = new Counter({
    name: 'herald_connection_closes_total',
    help: 'Connections closed by the server, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly upgradesRefused = new Counter({
    name: 'herald_upgrades_refused_total',
    help: 'WebSocket upgrades and SSE streams refused before the handshake, by reason (origin, path, draining, unauthenticated, unauthenticated_ip)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: 'herald_client_errors_total',
    help: 'Error frames sent to clients, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly recoveries = new Counter({
    name: 'herald_history_recoveries_total',
    help: 'Subscribes that named an offset, by outcome (recovered true/false; none = no offset given)',
    labelNames: ['recovered'] as const,
    registers: [this.registry],
  });
  readonly repairs = new Counter({
    name: 'herald_gap_repairs_total',
    help: 'Gaps in a channel filled from history (ok) or left open because history was unreachable',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly busFailures = new Counter({
    name: 'herald_bus_publish_failures_total',
    help: 'Messages stored in history that the bus then refused (delivered later by gap repair)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly busPublishSeconds = new Histogram({
    name: 'herald_bus_publish_seconds',
    help: 'Time for the bus to accept a published message',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly moves = new Counter({
    name: 'herald_reconnect_requests_total',
    help: 'Clients asked to reconnect elsewhere (reconnect frame), by reason: drain or rebalance',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly rebalanceChecks = new Counter({
    name: 'herald_rebalance_checks_total',
    help: 'Rebalancing checks by outcome: alone, changing (total moving fast: held off), balanced, pending (excess seen once), shed, failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly rebalanceRounds = new Counter({
    name: 'herald_rebalance_rounds_total',
    help: 'Rebalancing checks that found this node above its share of the cluster and shed clients',
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'herald_delivery_latency_seconds',
    help: 'From the REST publish to the fan-out on this node (bus messages; clocks of the nodes)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** The gateway's write counters, read at scrape time (see `watchWrites`). */
  private writes: { readonly writes: number; readonly frames: number } | undefined;
  readonly socketWrites: Counter = new Counter({
    name: 'herald_socket_writes_total',
    help: 'Socket writes of WebSocket frames (one syscall each); frames per write is how much the fan-out coalesced',
    registers: [this.registry],
    collect: (): void => this.copyWrites(this.socketWrites, 'writes'),
  });
  readonly socketFrames: Counter = new Counter({
    name: 'herald_socket_frames_total',
    help: 'WebSocket frames written to client sockets (messages and replies)',
    registers: [this.registry],
    collect: (): void => this.copyWrites(this.socketFrames, 'frames'),
  });
  readonly draining = new Gauge({
    name: 'herald_draining',
    help: '1 while this node drains (SIGTERM), else 0',
    registers: [this.registry],
  });

  constructor(defaultMetrics = true) {
    if (!defaultMetrics) return;
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    // prom-client collects these by listing every handle, resource or file descriptor on the event
    // loop: with 10,000 sockets in a process a scrape took 14-17 ms of it (Herald's registry without
    // them: 2 ms), a stall every connection on the node waits out. The connection
    // gauges say what the handles did; the fds are counted below without listing them.
    for (const name of LISTING_METRICS) this.registry.removeSingleMetric(`herald_${name}`);
    if (process.platform === 'linux')
      new Gauge({
        name: 'herald_process_open_fds',
        help: 'Number of open file descriptors.',
        registers: [this.registry],
        collect() {
          const open = openFds();
          if (open !== undefined) this.set(open);
        },
      });
  }

  /** Reports `source`'s counters (the gateway's write scheduler) as herald_socket_{writes,frames}_total. */
  watchWrites(source: { readonly writes: number; readonly frames: number }): void {
    this.writes = source;
  }

  private copyWrites(counter: Counter, field: 'writes' | 'frames'): void {
    const total = this.writes?.[field] ?? 0;
    counter.reset();
    counter.inc(total);
  }

  countDelivered(kind: ChannelKind, n: number): void {
    this.delivered.inc({ kind }, n);
  }
}
