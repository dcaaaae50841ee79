/**
 * The webhook outbox: the events waiting to be POSTed to WEBHOOK_URL, and the "leaving" marks of
 * users whose last connection closed (user.offline waits WEBHOOK_OFFLINE_GRACE_MS for a reconnect).
 *
 * Why in the state store: delivery is at least once, so an event must outlive the node that made it
 * (Redis in cluster mode: any node sends what a dead node left; memory: the single node's own), and
 * the online/offline decisions must be taken once for the whole cluster, not once per node.
 *
 * Semantics every driver keeps (test/contracts/webhook-outbox.contract.ts):
 *  - Events are identified by `id`. `enqueue` of an id the outbox already holds adds nothing, and an
 *    outbox holding `maxPending` events refuses new ones (counted in the answer, never blocking).
 *  - `take(max, leaseMs)` hands out up to `max` events that are due (enqueued, or a retry whose time
 *    came), oldest due first (those due at one millisecond in any order), each with the number of this attempt (1 for the first). A taken event is
 *    leased: it is not handed out again for `leaseMs`, and comes back when the lease runs out without
 *    `done` or `retry` (its taker died or hung): no event is lost with a node, and two nodes may send
 *    one event twice only across such an expiry.
 *  - `done(id)` forgets an event for good; `retry(id, dueAt)` makes it due again at `dueAt` (ms since
 *    the epoch); both are no-ops for an id the outbox no longer holds.
 *  - `online(userId, event)`: the user's first connection in the cluster opened. A user marked
 *    leaving is unmarked and nothing is queued (a reconnect within the grace); otherwise `event`
 *    (user.online) is queued. Returns whether it was.
 *  - `leaving(userId, dueAt)`: the user's last connection closed; marks it leaving until `dueAt`.
 *  - `dueLeavers(now, max)`: users whose mark is due (they stay marked); `offline(userId, dueAt,
 *    event)` queues `event` (user.offline) and removes the mark if it is still the one due at `dueAt`
 *    (so of several nodes deciding at once, one queues it), and returns whether it did; `stay(userId,
 *    dueAt)` removes that mark without an event (the user has connections again).
 *  - A node's users: `hold(nodeId, userId)` / `release(nodeId, userId)` record which users a node holds
 *    connections of; `holders()` lists the nodes with any. `adopt(nodeId, dueAt)` is for a node that
 *    left the registry without closing its connections (it crashed): every user it held is marked
 *    leaving at `dueAt` (an earlier mark stays), its record is deleted, and the count is answered; of
 *    several nodes adopting at once, one gets the users, the others 0.
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
  /** Queues events (duplicate ids ignored); resolves with how many were refused (outbox full). */
  enqueue(events: readonly WebhookEvent[]): Promise<number>;
  take(max: number, leaseMs: number): Promise<TakenEvent[]>;
  done(id: string): Promise<void>;
  retry(id: string, dueAt: number): Promise<void>;
  /** Events held (due, leased or waiting for a retry). */
  pending(): Promise<number>;
  online(userId: string, event: WebhookEvent): Promise<boolean>;
  leaving(userId: string, dueAt: number): Promise<void>;
  dueLeavers(now: number, max: number): Promise<{ userId: string; dueAt: number }[]>;
  offline(userId: string, dueAt: number, event: WebhookEvent): Promise<boolean>;
  stay(userId: string, dueAt: number): Promise<void>;
  hold(nodeId: string, userId: string): Promise<void>;
  release(nodeId: string, userId: string): Promise<void>;
  holders(): Promise<string[]>;
  adopt(nodeId: string, dueAt: number): Promise<number>;
  close(): Promise<void>;
}
