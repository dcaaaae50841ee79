/**
 * The webhook outbox: the events waiting to be POSTed to WEBHOOK_URL, and the "leaving" marks of
 * users whose last connection closed (user.offline waits WEBHOOK_OFFLINE_GRACE_MS for a reconnect).
 *
 * Why in the state store: delivery is at least once, so an event must outlive the node that made it
 * (Redis in cluster mode: any node sends what a dead node left; memory: the single node's own), and
 * the online/offline decisions must be taken once for the whole cluster, not once per node.
 *
 * Every driver keeps the guarantees documented on each method
 * (test/contracts/webhook-outbox.contract.ts runs them against memory and Redis). Each call is atomic
 * for the whole cluster. Times (`dueAt`, `now`, leases) are the callers' clocks in ms since the
 * epoch: a skew between nodes shifts a retry or a lease by that much. A full outbox is not an error:
 * it is counted in the answer (`enqueue`) or answered false (`online`, `offline`), never blocking. A
 * Redis call that cannot be answered in time rejects with `StateUnavailableError` (`temporary`: the
 * webhooks loop tries again next tick); the memory driver never rejects.
 */
export interface WebhookEvent {
  /** Unique per event; receivers deduplicate by it (delivery is at least once). */
  id: string;
  type: 'user.online' | 'user.offline' | 'message.undelivered' | 'message.read';
  /** When it happened, in milliseconds since the epoch. */
  ts: number;
  data: Record<string, unknown>;
}

export interface TakenEvent {
  event: WebhookEvent;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface WebhookOutbox {
  /**
   * Queues events, due now, and resolves with how many were refused because the outbox already held
   * `maxPending` events. Idempotent per event id: an id the outbox holds (due, leased or waiting for
   * a retry) adds nothing and is not counted as refused, so a retried enqueue never doubles an event.
   */
  enqueue(events: readonly WebhookEvent[]): Promise<number>;
  /**
   * Leases up to `max` due events (enqueued, or a retry whose time came), oldest due first (those due
   * at one millisecond in any order), each with the number of this attempt (1 for the first). A taken
   * event is not handed out again for `leaseMs`, and comes back when the lease runs out without `done`
   * or `retry` (its taker died or hung): no event is lost with a node, and two nodes may send one
   * event twice only across such an expiry. `max` of 0 or less takes nothing.
   */
  take(max: number, leaseMs: number): Promise<TakenEvent[]>;
  /** Forgets the event for good (delivered, or given up). A no-op for an id the outbox no longer holds. */
  done(id: string): Promise<void>;
  /**
   * Makes the event due again at `dueAt`; its next `take` counts the next attempt. A no-op for an id
   * the outbox no longer holds (it is never re-created).
   */
  retry(id: string, dueAt: number): Promise<void>;
  /** Events held (due, leased or waiting for a retry). */
  pending(): Promise<number>;
  /**
   * The user's first connection in the cluster opened. A user marked leaving is unmarked and nothing
   * is queued (a reconnect within the grace); otherwise `event` (user.online) is queued as `enqueue`
   * would. Answers whether it was queued (false too when the outbox is full).
   */
  online(userId: string, event: WebhookEvent): Promise<boolean>;
  /** The user's last connection closed: marks the user leaving until `dueAt`, replacing any mark. */
  leaving(userId: string, dueAt: number): Promise<void>;
  /**
   * Up to `max` users whose mark is due at `now` (`dueAt <= now`), in no particular order, with the
   * mark's `dueAt`. They stay marked: `offline` or `stay` decides.
   */
  dueLeavers(now: number, max: number): Promise<{ userId: string; dueAt: number }[]>;
  /**
   * If the user's mark is still the one due at `dueAt`, removes it and queues `event` (user.offline);
   * answers whether it queued it (false when the outbox is full: the mark is removed all the same).
   * So of several nodes deciding at once one queues it, and a later mark (the user came and went
   * again) is left for its own decision.
   */
  offline(userId: string, dueAt: number, event: WebhookEvent): Promise<boolean>;
  /** Removes the user's mark without an event if it is still the one due at `dueAt` (the user is back). */
  stay(userId: string, dueAt: number): Promise<void>;
  /** Records that `nodeId` holds connections of `userId` (idempotent). */
  hold(nodeId: string, userId: string): Promise<void>;
  /** Forgets that `nodeId` holds connections of `userId`; a node holding no one leaves `holders`. */
  release(nodeId: string, userId: string): Promise<void>;
  /** The nodes that hold connections of any user (in no particular order). */
  holders(): Promise<string[]>;
  /**
   * For a node that left the registry without closing its connections (it crashed): marks every user
   * it held leaving at `dueAt` (an earlier mark stays), deletes its record, and answers how many users
   * it held. Atomic: of several nodes adopting one node at once, one gets the users, the others 0.
   */
  adopt(nodeId: string, dueAt: number): Promise<number>;
  /** Releases the driver; the events stay in a shared store for any node to send. */
  close(): Promise<void>;
}
