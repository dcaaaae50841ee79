/**
 * Webhooks (WEBHOOK_URL): Herald tells the shop's backend what it cannot see itself — a user came
 * online or went offline, a message for a user reached no connection, a user read messages — with
 * signed JSON POSTs `{id, type, ts, data}`, so the backend can fall back to e-mail or mobile push.
 *
 * Events (docs/webhooks.md):
 *  - `user.online {userId}`: the user's first connection in the cluster opened (presence counted 1),
 *    unless the user is within the grace of leaving (then nothing: a reconnect);
 *  - `user.offline {userId}`: the last one closed (presence counted 0) and no connection came back
 *    for WEBHOOK_OFFLINE_GRACE_MS;
 *  - `message.undelivered {userId, channel, id, offset}`: a message to `user:{id}` stored while
 *    presence knew no connection of that user anywhere;
 *  - `message.read {userId, channel, offset}`: a client moved its read position (ack).
 *
 * How (the outbox, shared/state/webhook-outbox.ts, holds everything that must survive a node):
 *  - Events are queued in the state store (Redis in cluster mode) and every node sends what is due,
 *    at most WEBHOOK_CONCURRENCY POSTs at a time, each bounded by WEBHOOK_TIMEOUT_MS. Memory holds
 *    only those in flight: a slow or dead endpoint delays nothing else and grows nothing here; the
 *    outbox itself holds at most WEBHOOK_MAX_PENDING (more are refused and counted).
 *  - At least once: a 2xx answer removes the event; anything else is tried again after an
 *    exponential backoff with jitter, up to WEBHOOK_MAX_ATTEMPTS, then dropped (counted and logged).
 *    A node that dies mid-send leaves its events leased; the lease runs out and another node sends
 *    them. Receivers deduplicate by `id`.
 *  - The online/offline decisions are atomic in the outbox, so each is made once for the cluster.
 *  - Signed: `Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * Nothing here throws into its callers (the gateway, the publisher): a state store that fails loses
 * that one event, which is counted (`failed`) and logged.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Config } from '../../shared/config/config.js';
import { LogEvery } from '../../shared/logger/log-every.js';
import type { Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import { userOfChannel } from '../../shared/protocol/channels.js';
import type { NodeRegistry } from '../../shared/state/node-registry.js';
import type { Presence } from '../../shared/state/presence.js';
import type { TakenEvent, WebhookEvent, WebhookOutbox } from '../../shared/state/webhook-outbox.js';

/** The WEBHOOK_* settings (shared/config/schema.ts documents each). */
export type WebhookSettings = NonNullable<Config['webhooks']>;

/** The header value for `body` signed at `t` (unix seconds). */
export function webhookSignature(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** What a node needs besides the settings: who it is, and how long a dead node's presence lingers. */
export interface WebhookNode {
  nodeId: string;
  /** PRESENCE_TTL_SECONDS in ms: a crashed node's connections count in presence for this long. */
  presenceTtlMs: number;
  /** How often the node looks for nodes that left the registry holding users (default 5 s). */
  sweepMs?: number;
}

/** Users whose offline is decided per poll at most (the rest wait for the next one). */
const LEAVERS_PER_POLL = 200;
/** How often the pending gauge is read from the outbox. */
const PENDING_EVERY_MS = 5_000;

export class Webhooks {
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  private lastPendingAt = 0;
  private readonly sends = new Set<Promise<void>>();
  /** This node's connections per user (what it records as held in the outbox). */
  private readonly local = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  /** A full outbox or a state store that is down may refuse every event: logged once a minute. */
  private readonly refusedLog = new LogEvery(60_000);
  private readonly failedLog = new LogEvery(60_000);
  private readonly pollLog = new LogEvery(60_000);
  /** A taker's lease: a live node always answers (or times out) well before it runs out. */
  private readonly leaseMs: number;

  constructor(
    private readonly settings: WebhookSettings,
    private readonly self: WebhookNode,
    private readonly outbox: WebhookOutbox,
    private readonly presence: Presence,
    private readonly registry: NodeRegistry,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly random: () => number = Math.random,
  ) {
    this.leaseMs = 2 * settings.timeoutMs + 5_000;
  }

  // ---- events ---------------------------------------------------------------------------------

  /** A connection of `userId` joined presence, which now counts `count` of them cluster-wide. */
  connected(userId: string, count: number): void {
    const here = (this.local.get(userId) ?? 0) + 1;
    this.local.set(userId, here);
    // Recorded so that, should this node die with them, another node marks them leaving (sweep).
    if (here === 1)
      this.outbox.hold(this.self.nodeId, userId).catch((err: unknown) => this.failed('user.offline', err));
    if (count !== 1) return;
    const event = this.event('user.online', { userId });
    this.track(event, this.outbox.online(userId, event));
  }

  /** A connection of `userId` left presence, which now counts `left` of them cluster-wide. */
  disconnected(userId: string, left: number): void {
    const here = (this.local.get(userId) ?? 1) - 1;
    if (here > 0) this.local.set(userId, here);
    else {
      this.local.delete(userId);
      this.outbox.release(this.self.nodeId, userId).catch((err: unknown) => this.failed('user.offline', err));
    }
    if (left !== 0) return;
    this.outbox
      .leaving(userId, Date.now() + this.settings.offlineGraceMs)
      .catch((err: unknown) => this.failed('user.offline', err));
  }

  /**
   * Nodes that left the registry still holding users (they crashed: no connection of theirs was
   * closed, so no user of theirs was marked leaving): their users are marked leaving once the dead
   * node's presence entries have lapsed, and the usual decision follows (offline unless a connection
   * is live elsewhere by then).
   */
  private async sweep(): Promise<void> {
    const [holders, live] = await Promise.all([this.outbox.holders(), this.registry.list()]);
    const alive = new Set(live.map((n) => n.id));
    alive.add(this.self.nodeId);
    const dueAt = this.crashedLeavingAt();
    for (const nodeId of holders) {
      if (alive.has(nodeId)) continue;
      const users = await this.outbox.adopt(nodeId, dueAt);
      if (users > 0) this.log.info({ node: nodeId, users }, 'a node left holding users: they are leaving');
    }
  }

  /**
   * Call before this node takes any connection. A record under this node's id is then an earlier
   * run's that died holding users (SIGKILL, OOM), restarted under the same NODE_ID: its registry
   * entry never lapsed, so no sweep, here or elsewhere, would adopt it. This run adopts it as a sweep
   * adopts another node's. A clean stop leaves no record (every connection was released).
   */
  async adoptEarlierRun(): Promise<void> {
    const users = await this.outbox.adopt(this.self.nodeId, this.crashedLeavingAt());
    if (users > 0)
      this.log.info(
        { node: this.self.nodeId, users },
        'an earlier run of this node left holding users: they are leaving',
      );
  }

  /** When users of a crashed run are due to leave: once its presence entries lapsed, plus the grace. */
  private crashedLeavingAt(): number {
    return Date.now() + this.self.presenceTtlMs + this.settings.offlineGraceMs;
  }

  /**
   * Messages just stored: those to a `user:` channel whose user has no connection anywhere become
   * message.undelivered. The event id is derived from the message, so a publish retried with its
   * Idempotency-Key (the same message id) does not make a second event while the first is pending.
   */
  stored(messages: readonly { channel: string; id: string; offset: number }[]): void {
    for (const m of messages) {
      const userId = userOfChannel(m.channel);
      if (userId === undefined) continue;
      this.presence
        .nodesOf(userId)
        .then((nodes) => {
          if (nodes.length > 0) return;
          const event = this.event(
            'message.undelivered',
            { userId, channel: m.channel, id: m.id, offset: m.offset },
            `undelivered:${m.id}:${m.channel}`,
          );
          this.track(
            event,
            this.outbox.enqueue([event]).then((refused) => refused === 0),
          );
        })
        .catch((err: unknown) => this.failed('message.undelivered', err));
    }
  }

  /** A client moved its read position on `channel` to `offset`. */
  read(userId: string, channel: string, offset: number): void {
    const event = this.event('message.read', { userId, channel, offset });
    this.track(
      event,
      this.outbox.enqueue([event]).then((refused) => refused === 0),
    );
  }

  private event(type: WebhookEvent['type'], data: Record<string, unknown>, id?: string): WebhookEvent {
    return { id: id ?? randomUUID(), type, ts: Date.now(), data };
  }

  /** Counts what became of an event; `queued` false means refused (full) or, for online, a reconnect. */
  private track(event: WebhookEvent, queued: Promise<boolean>): void {
    queued.then(
      (ok) => {
        if (ok) {
          this.metrics.webhookEvents.inc({ type: event.type, outcome: 'queued' });
          this.kick();
        } else if (event.type !== 'user.online') {
          this.metrics.webhookEvents.inc({ type: event.type, outcome: 'refused' });
          const refused = this.refusedLog.take();
          if (refused !== undefined)
            this.log.warn(
              { type: event.type, refused, max: 'WEBHOOK_MAX_PENDING' },
              'webhook outbox full: events refused (is the endpoint down? logged once a minute at most; herald_webhook_events_total counts each)',
            );
        }
      },
      (err: unknown) => this.failed(event.type, err),
    );
  }

  private failed(type: WebhookEvent['type'], err: unknown): void {
    this.metrics.webhookEvents.inc({ type, outcome: 'failed' });
    const lost = this.failedLog.take();
    if (lost !== undefined)
      this.log.warn(
        { err, type, lost },
        'webhook events lost: the state store did not take them (logged once a minute at most; herald_webhook_events_total counts each)',
      );
  }

  // ---- sending ------------------------------------------------------------------------------------

  start(): void {
    this.stopped = false;
    this.schedule(0);
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.warn({ err }, 'webhook sweep failed'));
    }, this.self.sweepMs ?? 5_000);
    this.sweeper.unref();
  }

  /** Stops polling and waits for the POSTs in flight (each bounded by WEBHOOK_TIMEOUT_MS). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.sends]);
  }

  /** Something was queued here: look for due events now rather than at the next poll. */
  private kick(): void {
    if (!this.stopped && !this.polling) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    let full = false;
    try {
      await this.decideOffline();
      const room = this.settings.concurrency - this.inFlight;
      if (room > 0) {
        const taken = await this.outbox.take(room, this.leaseMs);
        full = taken.length === room;
        for (const t of taken) this.send(t);
      }
      if (Date.now() - this.lastPendingAt >= PENDING_EVERY_MS) {
        this.lastPendingAt = Date.now();
        this.metrics.webhookPending.set(await this.outbox.pending());
      }
    } catch (err) {
      const failures = this.pollLog.take();
      if (failures !== undefined)
        this.log.warn(
          { err, failures },
          'webhook polls failed; trying again at each next one (logged once a minute at most)',
        );
    } finally {
      this.polling = false;
      // A full take may have left more due: go on as soon as a slot frees (send → kick), else poll.
      if (!full) this.schedule(this.settings.pollMs);
    }
  }

  /** Users whose grace ran out: offline if presence still counts none, else the mark is dropped. */
  private async decideOffline(): Promise<void> {
    const due = await this.outbox.dueLeavers(Date.now(), LEAVERS_PER_POLL);
    await Promise.all(
      due.map(async ({ userId, dueAt }) => {
        const { connections } = await this.presence.get(userId);
        if (connections > 0) return this.outbox.stay(userId, dueAt);
        const event = this.event('user.offline', { userId });
        this.track(event, this.outbox.offline(userId, dueAt, event));
      }),
    );
  }

  private send(taken: TakenEvent): void {
    this.inFlight += 1;
    const sending = this.post(taken).finally(() => {
      this.inFlight -= 1;
      this.sends.delete(sending);
      this.kick();
    });
    this.sends.add(sending);
  }

  private async post({ event, attempt }: TakenEvent): Promise<void> {
    const body = JSON.stringify(event);
    const started = performance.now();
    let status: number | undefined;
    let problem: string | undefined;
    try {
      const res = await this.fetchImpl(this.settings.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Herald-Webhooks/1',
          'herald-signature': webhookSignature(this.settings.secret, Math.floor(Date.now() / 1000), body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      problem = err instanceof Error ? (err.name === 'TimeoutError' ? 'timeout' : err.message) : String(err);
    }
    this.metrics.webhookSeconds.observe((performance.now() - started) / 1000);
    try {
      if (status !== undefined && status >= 200 && status < 300) {
        this.metrics.webhookAttempts.inc({ outcome: 'ok' });
        await this.outbox.done(event.id);
        return;
      }
      const why = problem ?? `HTTP ${status}`;
      if (attempt >= this.settings.maxAttempts) {
        this.metrics.webhookAttempts.inc({ outcome: 'gave_up' });
        this.log.warn(
          { id: event.id, type: event.type, attempts: attempt, why },
          'webhook dropped after WEBHOOK_MAX_ATTEMPTS failed attempts',
        );
        await this.outbox.done(event.id);
        return;
      }
      this.metrics.webhookAttempts.inc({ outcome: 'failed' });
      this.log.debug({ id: event.id, type: event.type, attempt, why }, 'webhook attempt failed; retrying');
      await this.outbox.retry(event.id, Date.now() + this.backoff(attempt));
    } catch (err) {
      // The outbox could not record the outcome: the lease runs out and the event is sent again.
      this.log.warn({ err, id: event.id }, 'webhook outcome not recorded; it will be sent again');
    }
  }

  /** The wait before attempt `attempt + 1`: retryBaseMs × 2^(attempt−1), capped, from half to all of it. */
  backoff(attempt: number): number {
    const { retryBaseMs, retryMaxMs } = this.settings;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }
}
