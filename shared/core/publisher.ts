/**
 * Publishing: reserve the channel's next offset, build the client `message` frame once, and hand it
 * to the bus as one envelope. Every node (this one included) delivers it from the bus, unless routing
 * (router.ts) names the nodes that need it: then this node delivers its own share at once, without
 * the bus, and the bus carries it to the others named only (nowhere when this node is the only one,
 * or when no node holds a connection of the user).
 */
import { randomUUID } from 'node:crypto';
import { BusUnavailableError, type Bus } from '../bus/bus.js';
import type { History } from '../state/history.js';
import { encodeControlEnvelope, encodeMessageEnvelope, type ControlMessage } from './envelope.js';
import { messageFrameJson } from './message-frame.js';
import type { Router } from './router.js';

export interface PublishInput {
  channel: string;
  event: string;
  /** The message data, already serialized as JSON (the API serialized it once to check its size). */
  dataJson: string;
  /** Message id; one event published to several channels keeps one id. Default: a new UUID. */
  id?: string;
  /**
   * For a channel only one user's connections may subscribe other than `user:{id}` (an `order:`
   * channel whose owner the caller just claimed): that user, whose nodes the message is routed to.
   */
  routeUser?: string;
}

export interface PublishedMessage {
  channel: string;
  id: string;
  offset: number;
  epoch: string;
}

/** How `publishMany` runs; without options a publish always stores new messages. */
export interface PublishOptions {
  /**
   * Makes the publish idempotent; names the request (the API passes its scoped Idempotency-Key with
   * the request's fingerprint): the i-th message to `channel` is appended under the dedupe key `${dedupeKey}#${channel}#${i}`, so a
   * retry of the same request stores nothing again, even when the first attempt died after storing.
   * Requires `dedupeTtlSeconds`.
   */
  dedupeKey?: string;
  /** How long the dedupe keys are remembered (IDEMPOTENCY_TTL_SECONDS). */
  dedupeTtlSeconds?: number;
}

/**
 * How a message left this node: to every node, to the nodes named, to this node alone, or to no node
 * (its user is connected nowhere: it is stored, and read from history by whoever subscribes later).
 */
export type Route = 'broadcast' | 'targeted' | 'local' | 'none';

export interface PublishObserver {
  /** `busMs`: the bus's time to confirm (undefined when the bus was not needed). */
  published(channel: string, route: Route, busMs: number | undefined): void;
  /** The bus refused a message already in history: nodes get it by gap repair or catch-up. */
  busFailed(channel: string, err: unknown): void;
  /** Messages stored (then handed to the bus): the webhooks look for users with no connection. */
  stored?(messages: readonly PublishedMessage[]): void;
}

/** Targeted routing (router.ts): without it every message goes to every node through the bus. */
export interface PublishRouting {
  /** This node's id, as presence names it. */
  nodeId: string;
  router: Router;
  /** Delivers an envelope to this node's subscribers, as if the bus had brought it (Dispatcher.local). */
  local(envelope: Buffer): void;
}

/** Envelopes the bus refused, kept to send again; beyond this the oldest are left to history repair. */
const MAX_UNSENT = 10_000;
const RESEND_INTERVAL_MS = 1_000;

export class Publisher {
  /** Stored messages the bus refused, oldest first, sent again once the bus takes them. */
  private unsent: { channel: string; envelope: Buffer; nodes: readonly string[] | undefined }[] = [];
  private resendTimer: NodeJS.Timeout | undefined;
  private resending = false;
  private closed = false;

  constructor(
    private readonly bus: Bus,
    private readonly history: History,
    private readonly observer?: PublishObserver,
    private readonly routing?: PublishRouting,
  ) {}

  /** How many stored messages wait to be sent on the bus again. */
  get unsentCount(): number {
    return this.unsent.length;
  }

  /** Rejects with `BusUnavailableError` when the bus does not take the message. */
  async publish(input: PublishInput): Promise<PublishedMessage> {
    const [published] = await this.publishMany([input]);
    return published!;
  }

  /**
   * Publishes several messages in order.
   *  - While the bus is known to be down, nothing is stored: rejects with BusUnavailableError (503).
   *  - Each message is appended to history first (offset assignment and storage in one step), so a
   *    resolved publish means durable.
   *  - Then the envelopes are handed to the bus back to back, in input order, without waiting for each
   *    confirm: receiving nodes get the burst in few reads and write it to each socket in one syscall.
   *  - A message the bus then refuses is still durable: it is sent again every second until the bus
   *    takes it (so a channel's last message does not wait for a next one), and meanwhile nodes fill
   *    the gap from history when the next message of the channel arrives or their bus resumes;
   *    recovering clients get it anyway. So that failure is reported to the observer, not the caller.
   *  - With `dedupeKey`, a message history already holds under its dedupe key (a retry of a request
   *    whose first attempt stored it, and may have died before sending it) is not stored again: its
   *    frame is rebuilt as first stored (original id, ts, and event and data while history retains
   *    them), byte for byte the first one, and sent on the bus again (nodes and clients drop a copy by
   *    its offset); the answer names the original id, offset and epoch.
   */
  async publishMany(
    inputs: readonly PublishInput[],
    options: PublishOptions = {},
  ): Promise<PublishedMessage[]> {
    const { dedupeKey, dedupeTtlSeconds } = options;
    if (dedupeKey !== undefined && dedupeTtlSeconds === undefined)
      throw new TypeError('publishMany: dedupeKey needs dedupeTtlSeconds');
    if (!this.bus.ready) throw new BusUnavailableError('cluster bus unavailable; nothing was published');
    const fresh = inputs.map((input) => ({
      id: input.id ?? randomUUID(),
      event: input.event,
      dataJson: input.dataJson,
      ts: Date.now(),
    }));
    const router = this.routing?.router;
    // Each route lookup is issued right after its append (router.ts: it must run after it).
    const steps = await Promise.all(
      inputs.map((input, i) => {
        const appending =
          dedupeKey === undefined || dedupeTtlSeconds === undefined
            ? this.history.append(input.channel, fresh[i]!)
            : this.history.append(input.channel, fresh[i]!, {
                key: `${dedupeKey}#${input.channel}#${i}`,
                ttlSeconds: dedupeTtlSeconds,
              });
        const routing = router?.nodesFor(input.channel, input.routeUser, appending);
        return routing === undefined
          ? appending.then((appended) => ({ appended, nodes: undefined }))
          : Promise.all([appending, routing]).then(([appended, nodes]) => ({ appended, nodes }));
      }),
    );
    const started = performance.now();
    const sends: Promise<void>[] = [];
    const published = inputs.map((input, i): PublishedMessage => {
      const { appended, nodes } = steps[i]!;
      const { offset, epoch, replayed } = appended;
      // A replay: the message as history holds it (a retry's data may differ, e.g. a default timestamp).
      const message =
        replayed === undefined
          ? fresh[i]!
          : { ...fresh[i]!, ...replayed.retained, id: replayed.id, ts: replayed.ts };
      if (nodes?.length === 0) {
        // Nobody to deliver it to: stored only (no frame is built).
        this.observer?.published(input.channel, 'none', undefined);
        return { channel: input.channel, id: message.id, offset, epoch };
      }
      const frameJson = messageFrameJson({ channel: input.channel, offset, epoch, ...message });
      const envelope = encodeMessageEnvelope(input.channel, offset, epoch, frameJson, message.ts);
      const remote = this.deliverOwnShare(envelope, nodes);
      if (remote === undefined || remote.length > 0) {
        const route: Route = remote === undefined ? 'broadcast' : 'targeted';
        sends.push(
          this.bus.publish(envelope, remote).then(
            () => this.observer?.published(input.channel, route, performance.now() - started),
            (err: unknown) => {
              this.observer?.busFailed(input.channel, err);
              this.keepUnsent(input.channel, envelope, remote);
            },
          ),
        );
      } else this.observer?.published(input.channel, 'local', undefined);
      return { channel: input.channel, id: message.id, offset, epoch };
    });
    this.observer?.stored?.(published);
    await Promise.all(sends);
    return published;
  }

  /**
   * Delivers `envelope` here when routing names this node; returns the nodes the bus must still carry
   * it to (undefined: every node).
   */
  private deliverOwnShare(
    envelope: Buffer,
    nodes: readonly string[] | undefined,
  ): readonly string[] | undefined {
    const routing = this.routing;
    if (routing === undefined || nodes === undefined) return nodes;
    if (!nodes.includes(routing.nodeId)) return nodes;
    routing.local(envelope);
    return nodes.filter((node) => node !== routing.nodeId);
  }

  async control(message: ControlMessage): Promise<void> {
    await this.bus.publish(encodeControlEnvelope(message));
  }

  /** Stops sending refused messages again (they stay in history). */
  close(): void {
    this.closed = true;
    clearTimeout(this.resendTimer);
    this.unsent = [];
  }

  private keepUnsent(channel: string, envelope: Buffer, nodes: readonly string[] | undefined): void {
    if (this.closed) return;
    this.unsent.push({ channel, envelope, nodes });
    if (this.unsent.length > MAX_UNSENT) this.unsent.shift();
    this.scheduleResend();
  }

  private scheduleResend(): void {
    if (this.resendTimer !== undefined || this.closed) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      void this.resend();
    }, RESEND_INTERVAL_MS);
    this.resendTimer.unref();
  }

  /** Sends the refused messages again, in order; those refused again wait for the next round. */
  private async resend(): Promise<void> {
    if (this.resending || this.closed) return;
    this.resending = true;
    try {
      if (!this.bus.ready) return;
      const batch = this.unsent;
      this.unsent = [];
      const results = await Promise.allSettled(batch.map((m) => this.bus.publish(m.envelope, m.nodes)));
      const refused = batch.filter((_, i) => results[i]!.status === 'rejected');
      if (!this.closed) this.unsent = [...refused, ...this.unsent].slice(-MAX_UNSENT);
    } finally {
      this.resending = false;
      if (this.unsent.length > 0) this.scheduleResend();
    }
  }
}
