/**
 * A Herald node: the REST API and the WebSocket gateway on one HTTP server, wired to the bus and the
 * state drivers through the cluster core (Publisher out, Dispatcher in).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApi, httpServerOptions, internalRequestHandler, type HeraldApi } from '../api/app.js';
import { Gateway } from '../gateway/gateway.js';
import { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config/config.js';
import { Dispatcher } from '../../shared/core/dispatcher.js';
import { Publisher, type PublishRouting } from '../../shared/core/publisher.js';
import { ReadSignals } from '../../shared/core/read-signals.js';
import { PresenceRouter } from '../../shared/core/router.js';
import { ReconnectTargets } from './reconnect-targets.js';
import { Rebalancer } from './rebalancer.js';
import type { Logger } from '../../shared/logger/logger.js';
import { Metrics } from '../../shared/metrics/metrics.js';
import { channelKind, CLUSTER_CHANNEL } from '../../shared/protocol/channels.js';
import { ClusterStats } from './cluster-stats.js';
import { Webhooks } from '../webhooks/webhooks.js';
import { announcedUrl } from './director.js';
import { createDrivers, type Drivers } from './drivers.js';
import { RegistryHeartbeat } from './registry-heartbeat.js';

/** How long requests in progress may take to finish once the HTTP servers close. */
const CLOSE_GRACE_MS = 2_000;
/** Keep-alive of the INTERNAL_PORT server: fastify's default for the public one. */
const INTERNAL_KEEP_ALIVE_MS = 72_000;

export interface HeraldNodeOptions {
  config: Config;
  log: Logger;
  /** Drivers to run on; default: chosen from the config (memory unless REDIS_URL / AMQP_URL). */
  drivers?: Drivers;
  /** Collect process metrics (off in tests that run several nodes in one process). */
  processMetrics?: boolean;
}

/** What /readyz reports: not ready while shutting down or while the bus cannot take publishes. */
class Readiness {
  stopping = false;

  constructor(private readonly drivers: Drivers) {}

  reasons(): string[] {
    const reasons: string[] = [];
    if (this.stopping) reasons.push('shutting down');
    if (!this.drivers.bus.ready) reasons.push('bus unavailable');
    if (!this.drivers.stateReady()) reasons.push('state store unavailable');
    return reasons;
  }
}

export class HeraldNode {
  private stopped: Promise<void> | undefined;
  private drained: Promise<void> | undefined;
  private heartbeat: RegistryHeartbeat | undefined;
  private stats: ClusterStats | undefined;
  /** The INTERNAL_PORT server, while it listens. */
  private internalServer: Server | undefined;
  private readonly startedAt = Date.now();

  private constructor(
    readonly config: Config,
    readonly app: HeraldApi,
    readonly gateway: Gateway,
    readonly drivers: Drivers,
    private readonly dispatcher: Dispatcher,
    private readonly publisher: Publisher,
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
    private readonly targets: ReconnectTargets,
    private readonly rebalancer: Rebalancer,
    private readonly log: Logger,
    /** WEBHOOK_URL: the webhooks this node makes and sends (any node sends any pending event). */
    readonly webhooks: Webhooks | undefined,
  ) {}

  static async create(options: HeraldNodeOptions): Promise<HeraldNode> {
    const { config } = options;
    const log = options.log;
    const drivers = options.drivers ?? createDrivers(config, log);
    const metrics = new Metrics(options.processMetrics ?? true);
    const verifier = new TokenVerifier(config.jwt);
    const webhooks =
      config.webhooks === undefined
        ? undefined
        : new Webhooks(
            config.webhooks,
            { nodeId: config.nodeId, presenceTtlMs: config.redis.presenceTtlSeconds * 1000 },
            drivers.state.webhooks,
            drivers.state.presence,
            drivers.state.registry,
            metrics,
            log.child({ service: 'webhooks' }),
          );
    // One presence router for messages and read receipts (undefined: BUS_ROUTING=broadcast).
    const router = config.busRouting === 'presence' ? new PresenceRouter(drivers.state.presence) : undefined;
    const gateway = new Gateway({
      presenceWatch: webhooks,
      ...(webhooks === undefined
        ? {}
        : {
            onRead: (userId: string, channel: string, offset: number) =>
              webhooks.read(userId, channel, offset),
          }),
      config,
      verifier,
      state: drivers.state,
      metrics,
      log: log.child({ service: 'gateway' }),
      readSignals: new ReadSignals(drivers.bus, router, config.nodeId),
    });
    const dispatcher = new Dispatcher(drivers.bus, gateway, log.child({ service: 'dispatcher' }), () =>
      metrics.busReceived.inc(),
    );
    let routing: PublishRouting | undefined;
    if (router !== undefined) {
      routing = {
        nodeId: config.nodeId,
        router,
        local: (envelope) => dispatcher.local(envelope),
      };
      // Messages routed by presence while this node's entries were missing went elsewhere: catch up.
      drivers.state.presence.onRestored?.(() => gateway.resync());
    }
    const publisher = new Publisher(
      drivers.bus,
      drivers.state.history,
      {
        published: (channel, route, busMs) => {
          // What the REST API published: the node's own stats (cluster-stats.ts) are not counted.
          if (channel !== CLUSTER_CHANNEL) metrics.published.inc({ kind: channelKind(channel) });
          metrics.routes.inc({ route });
          if (busMs !== undefined) metrics.busPublishSeconds.observe(busMs / 1000);
        },
        ...(webhooks === undefined ? {} : { stored: (messages) => webhooks.stored(messages) }),
        busFailed: (channel, err) => {
          metrics.busFailures.inc({ kind: channelKind(channel) });
          log.warn(
            { err, channel },
            'bus refused a stored message; it is sent again, and nodes repair it from history',
          );
        },
      },
      routing,
    );
    const readiness = new Readiness(drivers);
    const app = await buildApi({
      config,
      publisher,
      state: drivers.state,
      metrics,
      log: log.child({ service: 'api' }),
      notReadyReasons: () => readiness.reasons(),
      streams: gateway,
    });
    const targets = new ReconnectTargets(config.reconnectUrl, drivers.state.registry, config.nodeId);
    const rebalancer = new Rebalancer(gateway, drivers.state.registry, () => targets.next(), {
      nodeId: config.nodeId,
      settings: config.rebalance,
      metrics,
      log: log.child({ service: 'rebalancer' }),
    });
    return new HeraldNode(
      config,
      app,
      gateway,
      drivers,
      dispatcher,
      publisher,
      readiness,
      metrics,
      targets,
      rebalancer,
      log,
      webhooks,
    );
  }

  /**
   * Starts consuming the bus and listening; resolves with the bound port, and with INTERNAL_PORT the
   * internal server's URL.
   */
  async start(): Promise<{ port: number; url: string; internalUrl?: string }> {
    await this.dispatcher.start();
    // Before the first connection is held under this node's id (webhooks.ts).
    await this.webhooks?.adoptEarlierRun().catch((err: unknown) => {
      this.log.warn({ err }, 'webhooks: could not adopt what an earlier run of this node held');
    });
    this.app.server.on('upgrade', (req, socket, head) => this.gateway.handleUpgrade(req, socket, head));
    await this.app.listen({ port: this.config.port, host: this.config.host });
    const internalUrl = await this.listenInternal();
    const { port } = this.app.server.address() as AddressInfo;
    const host = this.config.host === '0.0.0.0' || this.config.host === '::' ? '127.0.0.1' : this.config.host;
    const url = `http://${host}:${port}`;
    // With PORT=0 the configured public URL names port 0; announce the bound one instead.
    const publicUrl = announcedUrl(this.config, port);
    const { nodeId, node } = this.config;
    this.heartbeat = new RegistryHeartbeat(
      this.drivers.state.registry,
      () => ({
        id: nodeId,
        url: publicUrl,
        connections: this.gateway.connectionCount,
        capacity: node.capacity,
        draining: this.readiness.stopping,
        startedAt: this.startedAt,
      }),
      node,
      this.log.child({ service: 'registry' }),
    );
    await this.heartbeat.start();
    this.rebalancer.start();
    this.stats = new ClusterStats(
      this.publisher,
      this.metrics,
      {
        nodeId,
        intervalMs: this.config.clusterStatsIntervalMs,
        startedAt: this.startedAt,
        live: () => ({ connections: this.gateway.connectionCount, draining: this.readiness.stopping }),
      },
      this.log.child({ service: 'cluster-stats' }),
    );
    await this.stats.start();
    this.webhooks?.start();
    this.log.info({ port, node: nodeId, publicUrl, internalUrl }, 'herald node listening');
    return { port, url, ...(internalUrl === undefined ? {} : { internalUrl }) };
  }

  /**
   * Closes the HTTP servers: requests in progress may finish for CLOSE_GRACE_MS; then every socket
   * still open is closed (a closed server no longer times out a client that never finishes its
   * request, and that one would hold the shutdown forever).
   */
  private async closeServers(): Promise<void> {
    const internal = this.internalServer;
    const closing = Promise.all([
      this.app.close(),
      internal === undefined ? undefined : new Promise<void>((resolve) => internal.close(() => resolve())),
    ]);
    const grace = setTimeout(() => {
      this.app.server.closeAllConnections();
      internal?.closeAllConnections();
    }, CLOSE_GRACE_MS);
    try {
      await closing;
    } finally {
      clearTimeout(grace);
    }
  }

  /** The INTERNAL_PORT server's URL while it listens (with INTERNAL_PORT=0, the bound port). */
  get internalAddress(): string | undefined {
    const address = this.internalServer?.address();
    if (address === null || address === undefined || typeof address === 'string') return undefined;
    // A wildcard bind is reached on loopback from this host.
    const host =
      address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
    return `http://${address.family === 'IPv6' ? `[${host}]` : host}:${address.port}`;
  }

  /** Opens INTERNAL_PORT (metrics, docs, admin routes), when configured; resolves with its URL. */
  private async listenInternal(): Promise<string | undefined> {
    const internal = this.config.internal;
    if (internal === undefined) return undefined;
    // The public server's timeouts (slowloris) and fastify's keep-alive.
    const server = createServer(
      { ...httpServerOptions(this.config), keepAliveTimeout: INTERNAL_KEEP_ALIVE_MS },
      internalRequestHandler(this.app),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(internal.port, internal.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.internalServer = server;
    return this.internalAddress;
  }

  notReadyReasons(): string[] {
    return this.readiness.reasons();
  }

  /**
   * Graceful drain (SIGTERM): /readyz fails and the registry marks the node draining at once, new
   * upgrades get 503, and the clients are asked to reconnect elsewhere over DRAIN_WINDOW_MS (they
   * resume there through history); the rest are closed 1012. Call `stop` afterwards. Idempotent.
   */
  drain(): Promise<void> {
    this.drained ??= this.drainClients();
    return this.drained;
  }

  private async drainClients(): Promise<void> {
    this.readiness.stopping = true;
    this.metrics.draining.set(1);
    this.rebalancer.stop();
    await this.heartbeat?.beatNow();
    this.log.info(
      { connections: this.gateway.connectionCount, windowMs: this.config.drainWindowMs },
      'draining',
    );
    await this.gateway.drain(this.config.drainWindowMs, () => this.targets.next());
  }

  /** Stops taking connections, closes every client (1001), then the server and the drivers. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.readiness.stopping = true;
    this.rebalancer.stop();
    this.stats?.stop();
    await this.heartbeat?.stop(this.config.nodeId);
    await this.gateway.close(undefined, undefined, Math.max(100, this.config.shutdownTimeoutMs / 2));
    await this.closeServers();
    // After the gateway: its last presence removes still mark users leaving. Pending events stay in
    // the outbox for the other nodes (or this one's next start).
    await this.webhooks?.stop();
    this.publisher.close();
    await this.drivers.bus.close();
    await this.drivers.closeState();
    this.log.info('herald node stopped');
  }
}
