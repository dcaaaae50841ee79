/**
 * The WebSocket edge: answers upgrades on `/ws`, owns the node's connections, the heartbeat, and the
 * local side of cluster delivery (it is the Dispatcher's DeliverySink).
 *
 * The upgrade path is a series of early-return guards, each answering a precise HTTP status before
 * any WebSocket state exists: wrong path 404, draining 503, disallowed Origin 403.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config/config.js';
import type { DeliverySink } from '../../shared/core/dispatcher.js';
import type { ReadMoved } from '../../shared/core/envelope.js';
import type { ReadMove, ReadSignals } from '../../shared/core/read-signals.js';
import { LogEvery } from '../../shared/logger/log-every.js';
import { redactUrlToken, type Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import { ownStrings } from '../../shared/protocol/channels.js';
import { MAX_CONNECT_CHANNELS } from '../../shared/protocol/frames.js';
import { CloseCodes } from '../../shared/protocol/errors.js';
import type { StateDrivers } from '../../shared/state/state.js';
import { ChannelAccess } from './channel-access.js';
import { ClientConnection, type ClientSocket, type UrlRequest } from './client-connection.js';
import type { ConnectionContext, PresenceWatch } from './connection-context.js';
import { Fanout, type GapRepair } from './fanout/fanout.js';
import { WriteScheduler } from './fanout/outlet.js';
import type WebSocket from 'ws';
import type { History } from '../../shared/state/history.js';
import { Admission, ClientAddress, PlacesPerAddress } from './admission.js';
import { SlicedInterval } from '../../shared/scheduling/sliced-interval.js';
import { Deadlines } from '../../shared/scheduling/deadlines.js';
import { TurnBudget } from '../../shared/scheduling/turn-budget.js';
import { SseSocket, type StreamPosition } from './sse-socket.js';
import { positionedFrames } from './history-frames.js';

/** Why a new connection was refused before any state existed (Gateway.guard). */
export type Refusal = 'draining' | 'origin' | 'unauthenticated' | 'unauthenticated_ip';

/** The HTTP status a refused WebSocket upgrade is answered with. */
const REFUSALS: Record<Refusal, [number, string]> = {
  draining: [503, 'Service Unavailable'],
  origin: [403, 'Forbidden'],
  unauthenticated: [503, 'Service Unavailable'],
  unauthenticated_ip: [429, 'Too Many Requests'],
};

/** What an SSE stream asks for, from its URL and headers (services/api/routes/sse.ts). */
export interface StreamRequest {
  /** Undefined: a guest (the node must take guests, WS_ALLOW_GUESTS). */
  token: string | undefined;
  channels: readonly string[];
  /** Where each channel resumes (Last-Event-ID); channels not in it start at their newest message. */
  cursor: ReadonlyMap<string, StreamPosition>;
}

export const WS_PATH = '/ws';
/** Fragments one client message may come in; ws closes 1008 beyond (WS_ERR_TOO_MANY_BUFFERED_PARTS). */
export const MAX_FRAGMENTS = 128;
/**
 * Periodic per-connection work (pings, session refreshes) is spread over this many ticks per period:
 * a ping is a socket write, so a tenth of 5,000 connections at once was a 15 ms stall every 2.5 s;
 * a hundredth is about a millisecond.
 */
const WORK_SLICES = 100;

export interface GatewayOptions {
  config: Config;
  /** Webhooks (user.online / user.offline), when configured. */
  presenceWatch?: PresenceWatch;
  verifier: TokenVerifier;
  state: StateDrivers;
  metrics: Metrics;
  log: Logger;
  /** Tells the other nodes when a user's read position moved; without it, this node's connections only. */
  readSignals?: ReadSignals;
  /**
   * Called once per ack that moved a user's read position (a hook for the `message.read` webhook);
   * after the user's connections were told. Must not throw.
   */
  onRead?(userId: string, channel: string, offset: number): void;
}

/** Shortest time between two log lines about refused origins. */
const ORIGIN_LOG_INTERVAL_MS = 60_000;

export class Gateway implements DeliverySink {
  readonly fanout: Fanout;
  /** Coalesces every socket write of this node (fanout/outlet.ts). */
  readonly scheduler: WriteScheduler;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<ClientConnection>();
  /** Open connections by user: the connection itself while a user has one, a set beyond that. */
  private readonly byUser = new Map<string, ClientConnection | Set<ClientConnection>>();
  private readonly ctx: ConnectionContext;
  private readonly heartbeat: SlicedInterval;
  private readonly sessionRefresh: SlicedInterval;
  private nextSlice = 0;
  private readonly allowedOrigins: ReadonlySet<string>;
  /** Places of connections not authenticated yet, on the node and per client address (admission.ts). */
  private readonly admission: Admission;
  private readonly clientAddress: ClientAddress;
  private accepting = true;
  /** WebSocket handshakes per event-loop turn (a reconnect storm is spread over turns). */
  private readonly handshakes: TurnBudget;
  /** When the last client was asked to move (rebalancing pace). */
  private lastMoveAt = 0;
  /** Refused origins since the last log line about them, and when that was (logRefusedOrigin). */
  private readonly refusedOrigins = new LogEvery(ORIGIN_LOG_INTERVAL_MS);

  constructor(private readonly options: GatewayOptions) {
    const { config, metrics, log } = options;
    this.allowedOrigins = new Set(config.allowedOrigins);
    this.admission = new Admission(config.ws.maxUnauthenticated, config.ws.maxUnauthenticatedPerIp);
    this.clientAddress = new ClientAddress(config.trustedProxies);
    this.scheduler = new WriteScheduler(config.ws.maxBufferedBytes);
    this.handshakes = new TurnBudget(HANDSHAKE_BUDGET_MS, (err) =>
      log.error({ err }, 'a deferred WebSocket handshake failed'),
    );
    metrics.watchWrites(this.scheduler);
    this.fanout = new Fanout(
      {
        delivered: (kind, n) => metrics.countDelivered(kind, n),
        duplicate: (kind) => metrics.duplicates.inc({ kind }),
        repaired: (_channel, ok) => metrics.repairs.inc({ outcome: ok ? 'ok' : 'failed' }),
        failed: (channel, err) => log.error({ err, channel }, 'fan-out: a recipient threw'),
      },
      gapRepair(options.state.history, config.history.replayLimit),
      {
        delayMs: config.fanout.maxDelayMs,
        maxAgeMs: {
          user: config.history.user.maxAgeMs,
          order: config.history.user.maxAgeMs,
          promotions: config.history.promotions.maxAgeMs,
          segment: config.history.promotions.maxAgeMs,
        },
      },
    );
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.ws.maxFrameBytes,
      perMessageDeflate: false, // the fan-out shares one frame between sockets; compression would break that
      clientTracking: false,
      // Pongs go through the connection's outlet instead (rate limit and byte budget, client-connection.ts).
      autoPong: false,
      // A client frame is JSON of at most WS_MAX_FRAME_BYTES: no client needs many fragments for
      // one, and each costs a parse step and a buffer until the last. More closes 1008.
      maxFragments: MAX_FRAGMENTS,
    });
    this.ctx = {
      nodeId: config.nodeId,
      limits: config.ws,
      sessionTtlSeconds: config.sessionTtlSeconds,
      verifier: options.verifier,
      access: new ChannelAccess(options.state.orderOwners),
      guests: config.ws.allowGuests ? new PlacesPerAddress(config.ws.maxGuestsPerIp) : undefined,
      presenceWatch: options.presenceWatch,
      fanout: this.fanout,
      scheduler: this.scheduler,
      replayLimit: config.history.replayLimit,
      state: options.state,
      metrics,
      log,
      deadlines: {
        auth: new Deadlines(
          AUTH_DEADLINE_RESOLUTION_MS,
          (c: ClientConnection) => c.authTimedOut(),
          (err) => log.error({ err }, 'auth timeout handling failed'),
        ),
        // JWT `exp` is in whole seconds: so are the expiry buckets.
        expiry: new Deadlines(
          1_000,
          (c: ClientConnection) => c.tokenExpired(),
          (err) => log.error({ err }, 'token expiry handling failed'),
        ),
      },
      onAuthenticated: (c) => {
        c.releaseAdmission();
        this.index(c);
      },
      onClosed: (c) => this.unindex(c),
      onGone: (c) => {
        c.releaseAdmission();
        if (this.connections.delete(c)) this.options.metrics.connections.dec();
      },
      readPositionTtlSeconds: config.readPositionTtlSeconds,
      readMoved: (from, move) => this.announceRead(from, move),
      // Called through a closure, not taken off `options` (a method of it, as far as types know).
      ...(options.onRead === undefined
        ? {}
        : {
            onRead: (userId: string, channel: string, offset: number) =>
              options.onRead?.(userId, channel, offset),
          }),
    };
    // Pings and session refreshes are spread over their period (a hundredth of the connections per tick).
    this.heartbeat = new SlicedInterval(config.ws.heartbeatMs, WORK_SLICES, (slice) => this.beat(slice));
    // Sessions of open connections must outlive their TTL: refresh them three times per TTL.
    this.sessionRefresh = new SlicedInterval((config.sessionTtlSeconds * 1000) / 3, WORK_SLICES, (slice) =>
      this.refreshSessions(slice),
    );
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Handler for the HTTP server's `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroySocket);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const { metrics } = this.options;
    if (url.pathname !== WS_PATH) {
      metrics.upgradesRefused.inc({ reason: 'path' });
      return reject(socket, 404, 'Not Found');
    }
    const channels = urlChannels(url.searchParams.get('channels'));
    if (channels === null) {
      metrics.upgradesRefused.inc({ reason: 'channels' });
      return reject(socket, 400, 'Bad Request');
    }
    const guarded = this.guard(req);
    if ('refused' in guarded) {
      const [status, text] = REFUSALS[guarded.refused];
      return reject(socket, status, text);
    }
    const { admitted, address } = guarded;
    // Until a connection owns the place (accept), the socket gives it back when it closes.
    socket.once('close', admitted);
    const token = url.searchParams.get('token') ?? undefined;
    this.handshakes.run(() => {
      // It may have waited a few turns: the client may have gone, or the node started draining.
      if (socket.destroyed) return;
      if (!this.accepting) return reject(socket, 503, 'Service Unavailable');
      // With a query token the verdict follows at once: the 101 waits (corked) for the welcome and the
      // named channels' replies, or the refusal, and they leave in one write (client-connection.ts).
      const upgradeHeld = token !== undefined && token !== '';
      if (upgradeHeld) socket.cork();
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        socket.removeListener('error', destroySocket); // ws listens from now on
        socket.removeListener('close', admitted);
        this.accept(ws, token === '' ? undefined : token, { channels, upgradeHeld }, req, admitted, address);
      });
    });
  }

  /**
   * The guards of every new connection, WebSocket or SSE, before any state exists: draining, a
   * disallowed Origin, and the places of connections not authenticated yet (node-wide and per client
   * address). Admitted, the caller owns the place taken until it hands it to a connection.
   */
  private guard(
    req: IncomingMessage,
  ): { refused: Refusal } | { admitted: () => void; address: string | undefined } {
    const { metrics } = this.options;
    if (!this.accepting) {
      metrics.upgradesRefused.inc({ reason: 'draining' });
      return { refused: 'draining' };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && this.allowedOrigins.size > 0 && !this.allowedOrigins.has(origin)) {
      metrics.upgradesRefused.inc({ reason: 'origin' });
      this.logRefusedOrigin(origin);
      return { refused: 'origin' };
    }
    // The client address costs a getpeername() system call: read only when something counts by it.
    const address =
      this.admission.perAddress || this.ctx.guests !== undefined ? this.clientAddress.of(req) : undefined;
    const admitted = this.admission.admit(address);
    if (admitted === 'node') {
      metrics.upgradesRefused.inc({ reason: 'unauthenticated' });
      return { refused: 'unauthenticated' };
    }
    if (admitted === 'ip') {
      metrics.upgradesRefused.inc({ reason: 'unauthenticated_ip' });
      return { refused: 'unauthenticated_ip' };
    }
    return { admitted, address };
  }

  /**
   * Opens a Server-Sent Events stream (GET /v1/sse) on `res`, or says why not (nothing is written
   * then: the route answers the refusal). The stream is a ClientConnection like any WebSocket's
   * (sse-socket.ts): its token and channels, which come in the URL, become the `auth` and `subscribe`
   * frames a WebSocket client would send, each channel recovering from its position in `cursor`.
   */
  openStream(req: IncomingMessage, res: ServerResponse, stream: StreamRequest): Refusal | undefined {
    const guarded = this.guard(req);
    if ('refused' in guarded) return guarded.refused;
    const origin = req.headers.origin;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx would otherwise buffer the stream (infra/nginx/nginx.conf turns buffering off too).
      'x-accel-buffering': 'no',
      ...(origin === undefined ? {} : { 'access-control-allow-origin': origin, vary: 'Origin' }),
    });
    // A comment: sends the headers now, so the client's EventSource opens before the first event.
    res.write(': herald\n\n');
    const resumed = [...stream.cursor].filter(([channel]) => stream.channels.includes(channel));
    const socket = new SseSocket(res, resumed);
    const connection = this.open(socket, stream.token, req, guarded.admitted, guarded.address, 'sse');
    const { metrics } = this.options;
    metrics.sseConnections.inc();
    connection.onceGone(() => metrics.sseConnections.dec());
    if (stream.token === undefined) connection.request({ type: 'auth' });
    for (const channel of stream.channels) {
      const position = stream.cursor.get(channel);
      connection.request({ type: 'subscribe', channel, ...position });
    }
    return undefined;
  }

  /**
   * Refused origins are the client's text, sent as often as it likes: logged for the first one, then
   * at most once per ORIGIN_LOG_INTERVAL_MS with the count since (the metric counts each), cut short.
   */
  private logRefusedOrigin(origin: string): void {
    const refused = this.refusedOrigins.take();
    if (refused === undefined) return;
    this.options.log.warn(
      { origin: origin.slice(0, 200), refused },
      'upgrades refused: origin not allowed (logged once a minute at most; herald_upgrades_refused_total counts each)',
    );
  }

  /**
   * Takes a fresh WebSocket in. A method of its own, with no closure in it: nothing the connection
   * keeps (its listeners) holds on to the upgrade request, which is garbage once the upgrade is done.
   */
  private accept(
    ws: WebSocket,
    token: string | undefined,
    from: UrlRequest,
    req: IncomingMessage,
    admitted: () => void,
    address: string | undefined,
  ): void {
    this.open(ws, token, req, admitted, address, 'websocket', from);
  }

  /** A new connection over `socket` (a WebSocket, or an SSE stream's adapter), counted and tracked. */
  private open(
    socket: ClientSocket,
    token: string | undefined,
    req: IncomingMessage,
    admitted: () => void,
    address: string | undefined,
    transport: 'websocket' | 'sse',
    from: UrlRequest = {},
  ): ClientConnection {
    const connection = new ClientConnection(socket, this.ctx, token, address, from);
    // Given back once authenticated or gone (ctx.onAuthenticated, ctx.onGone), whichever comes first.
    connection.admitted = admitted;
    connection.slice = this.nextSlice++ % WORK_SLICES;
    // Only at debug level: the peer address costs a getpeername() system call.
    if (this.options.log.isLevelEnabled('debug'))
      this.options.log.debug(
        { conn: connection.id, url: redactUrlToken(req.url), ip: req.socket.remoteAddress, transport },
        'connection opened',
      );
    this.connections.add(connection);
    this.options.metrics.connections.inc();
    return connection;
  }

  // ---- DeliverySink ------------------------------------------------------------------------------

  deliver(channel: string, offset: number, epoch: string, frame: Buffer, publishedAt: number): void {
    this.options.metrics.deliveryLatency.observe(Math.max(0, Date.now() - publishedAt) / 1000);
    this.fanout.deliver(channel, offset, epoch, frame);
  }

  resync(): void {
    this.fanout.catchUp();
  }

  readMoved(read: ReadMoved): void {
    // A copy of a broadcast this node sent itself (the route lookup failed: every node got it).
    if (read.origin === this.options.config.nodeId) return;
    this.tellReaders(undefined, read);
  }

  /** A local ack moved a read position: the user's other connections here, then the other nodes. */
  private announceRead(from: unknown, move: ReadMove): void {
    this.tellReaders(from, move);
    this.options.readSignals
      ?.announce(move)
      .catch((err: unknown) =>
        this.options.log.warn(
          { err, channel: move.channel },
          'could not tell the other nodes of a read position (their connections learn it on subscribe)',
        ),
      );
  }

  /** `read` to every local connection of the user subscribed to the channel, but `except`. */
  private tellReaders(except: unknown, move: ReadMove): void {
    const indexed = this.byUser.get(move.userId);
    if (indexed === undefined) return;
    const frame = { type: 'read', channel: move.channel, offset: move.offset, epoch: move.epoch } as const;
    for (const connection of indexed instanceof ClientConnection ? [indexed] : indexed) {
      if (connection !== except && connection.subscribedTo(move.channel)) connection.send(frame);
    }
  }

  disconnectUser(userId: string, reason: string): void {
    const indexed = this.byUser.get(userId);
    if (indexed === undefined) return;
    const connections = indexed instanceof ClientConnection ? [indexed] : [...indexed];
    this.options.log.info({ userId, connections: connections.length }, 'disconnecting user');
    for (const connection of connections) {
      this.options.metrics.closes.inc({ reason: 'disconnected' });
      connection.close(CloseCodes.disconnected, reason.slice(0, 100));
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** From now on upgrades are answered 503 (shutdown, and drain later); open connections stay. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Graceful drain: no new upgrades, then every client gets a `reconnect` frame, one at a time spread
   * evenly over `windowMs` (so they arrive elsewhere as a trickle, not a storm, and resume there);
   * whoever is still here at the end of the window is closed 1012. Resolves when all are gone (or
   * `graceMs` after the window, when the rest are terminated).
   */
  async drain(windowMs: number, target: () => Promise<string | undefined>, graceMs = 2_000): Promise<void> {
    this.stopAccepting();
    const all = [...this.connections];
    const started = Date.now();
    const step = all.length > 0 ? windowMs / all.length : 0;
    for (let i = 0; i < all.length; i++) {
      const due = started + i * step - Date.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      if (all[i]!.requestReconnect(0, await target(), windowMs + graceMs)) {
        this.options.metrics.moves.inc({ reason: 'drain' });
      }
    }
    const rest = started + windowMs - Date.now();
    if (rest > 0 && this.connections.size > 0) {
      await Promise.race([this.allGone(), new Promise((resolve) => setTimeout(resolve, rest).unref())]);
    }
    await this.close(CloseCodes.serviceRestart, 'node draining', graceMs);
  }

  /**
   * Asks up to `count` of the longest-connected clients to reconnect elsewhere, one every `spacingMs`
   * (rebalancing); stops early when `keepGoing` says so. Resolves with how many were asked.
   */
  async move(
    count: number,
    spacingMs: number,
    target: () => Promise<string | undefined>,
    keepGoing: () => boolean,
  ): Promise<number> {
    let moved = 0;
    for (const connection of [...this.connections]) {
      if (moved >= count || !keepGoing()) break;
      // Spaced from the previous move of any round, so the rate holds across rounds too; 1 ms over the
      // spacing keeps even a closed one-second window at the cap, not one above it.
      const wait = this.lastMoveAt + spacingMs + 1 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (!this.connections.has(connection) || !keepGoing()) continue;
      if (connection.requestReconnect(0, await target(), MOVE_CLOSE_AFTER_MS)) {
        this.lastMoveAt = Date.now();
        moved++;
        this.options.metrics.moves.inc({ reason: 'rebalance' });
      }
    }
    return moved;
  }

  private allGone(): Promise<void> {
    return Promise.all([...this.connections].map((c) => new Promise<void>((r) => c.onceGone(r)))).then(
      () => undefined,
    );
  }

  /** Stops accepting upgrades and closes every connection with `code`; resolves when all are gone. */
  async close(
    code: number = CloseCodes.goingAway,
    reason = 'server shutting down',
    timeoutMs = 5_000,
  ): Promise<void> {
    this.stopAccepting();
    this.heartbeat.stop();
    this.sessionRefresh.stop();
    this.ctx.deadlines.auth.stop();
    this.ctx.deadlines.expiry.stop();
    const gone = this.allGone();
    for (const connection of [...this.connections]) connection.close(code, reason);
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([gone, deadline]);
    for (const connection of this.connections) connection.terminate();
    this.wss.close();
  }

  private beat(slice: number): void {
    for (const connection of this.connections) {
      if (connection.slice !== slice) continue;
      if (!connection.alive) {
        this.options.metrics.closes.inc({ reason: 'heartbeat' });
        connection.terminate();
        continue;
      }
      connection.alive = false;
      connection.ping();
    }
  }

  private refreshSessions(slice: number): void {
    const ids: string[] = [];
    for (const connection of this.connections) {
      if (connection.slice !== slice) continue;
      const session = connection.session;
      if (session !== undefined) ids.push(session);
    }
    if (ids.length === 0) return;
    this.options.state.sessions
      .touch(ids, this.options.config.sessionTtlSeconds)
      .catch((err: unknown) => this.options.log.warn({ err }, 'session refresh failed'));
  }

  private index(connection: ClientConnection): void {
    const userId = connection.userId;
    if (userId === undefined) return;
    const indexed = this.byUser.get(userId);
    if (indexed === undefined) this.byUser.set(userId, connection);
    else if (indexed instanceof ClientConnection) this.byUser.set(userId, new Set([indexed, connection]));
    else indexed.add(connection);
  }

  private unindex(connection: ClientConnection): void {
    const userId = connection.userId;
    if (userId === undefined) return;
    const indexed = this.byUser.get(userId);
    if (indexed === connection) this.byUser.delete(userId);
    else if (indexed instanceof Set && indexed.delete(connection) && indexed.size === 1)
      this.byUser.set(userId, indexed.values().next().value!);
  }
}

/**
 * Time per event-loop turn spent on WebSocket handshakes (and the connections they create) before
 * further ones wait for the next turn: with the authentication and state work each starts, a turn
 * stays well under the 100 ms that would stall everything else.
 */
const HANDSHAKE_BUDGET_MS = 10;

/** Auth timeouts fire up to this late. */
const AUTH_DEADLINE_RESOLUTION_MS = 100;

/** A client asked to move that has not left by then is closed 1012 (it reconnects the usual way). */
const MOVE_CLOSE_AFTER_MS = 10_000;

/** `error` listener of an upgrading socket (a plain function: it must not keep the request alive). */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * The channels a WebSocket URL names to subscribe at connect (`channels=user:42,promotions`), trimmed,
 * empty names left out: undefined for none, null for more than an auth frame may name (the upgrade is
 * refused 400). Each name is judged after authentication, as a `subscribe` frame's would be.
 */
function urlChannels(text: string | null): readonly string[] | undefined | null {
  if (text === null) return undefined;
  // Empty names (a trailing comma, an empty value) name nothing.
  const channels = text
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  if (channels.length === 0) return undefined;
  return channels.length > MAX_CONNECT_CHANNELS ? null : ownStrings(channels);
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Fills fan-out gaps from history: the missing messages rebuilt as the very frames publishers sent. */
function gapRepair(history: History, limit: number): GapRepair {
  return async (channel, after, upTo) => {
    const range = await history.read(channel, after, Math.min(limit, upTo - after));
    return positionedFrames(
      channel,
      range.epoch,
      range.messages.filter((m) => m.offset <= upTo),
    );
  };
}
