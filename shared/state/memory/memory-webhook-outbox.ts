/**
 * The webhook outbox in memory (single node): the same semantics as the Redis driver
 * (../webhook-outbox.ts), checked by the same contract suite. Due times are a linear scan of a Map in
 * insertion order: the outbox holds at most `maxPending` events, and `take` runs a few times a second.
 */
import type { TakenEvent, WebhookEvent, WebhookOutbox } from '../webhook-outbox.js';

interface Held {
  event: WebhookEvent;
  dueAt: number;
  attempts: number;
}

const done = Promise.resolve();

export class MemoryWebhookOutbox implements WebhookOutbox {
  private readonly events = new Map<string, Held>();
  private readonly leavers = new Map<string, number>();
  /** nodeId → the users it holds connections of. */
  private readonly held = new Map<string, Set<string>>();

  constructor(
    private readonly maxPending: number,
    private readonly now: () => number = Date.now,
  ) {}

  enqueue(events: readonly WebhookEvent[]): Promise<number> {
    let refused = 0;
    for (const event of events) if (!this.add(event)) refused++;
    return Promise.resolve(refused);
  }

  /** False when the outbox is full (an id it holds already counts as added). */
  private add(event: WebhookEvent): boolean {
    if (this.events.has(event.id)) return true;
    if (this.events.size >= this.maxPending) return false;
    this.events.set(event.id, { event, dueAt: this.now(), attempts: 0 });
    return true;
  }

  take(max: number, leaseMs: number): Promise<TakenEvent[]> {
    const now = this.now();
    const due = [...this.events.values()]
      .filter((held) => held.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, Math.max(0, max));
    for (const held of due) {
      held.attempts += 1;
      held.dueAt = now + leaseMs;
    }
    return Promise.resolve(due.map((held) => ({ event: held.event, attempt: held.attempts })));
  }

  done(id: string): Promise<void> {
    this.events.delete(id);
    return done;
  }

  retry(id: string, dueAt: number): Promise<void> {
    const held = this.events.get(id);
    if (held !== undefined) held.dueAt = dueAt;
    return done;
  }

  pending(): Promise<number> {
    return Promise.resolve(this.events.size);
  }

  online(userId: string, event: WebhookEvent): Promise<boolean> {
    if (this.leavers.delete(userId)) return Promise.resolve(false);
    return Promise.resolve(this.add(event));
  }

  leaving(userId: string, dueAt: number): Promise<void> {
    this.leavers.set(userId, dueAt);
    return done;
  }

  dueLeavers(now: number, max: number): Promise<{ userId: string; dueAt: number }[]> {
    const due: { userId: string; dueAt: number }[] = [];
    for (const [userId, dueAt] of this.leavers) {
      if (due.length >= max) break;
      if (dueAt <= now) due.push({ userId, dueAt });
    }
    return Promise.resolve(due);
  }

  offline(userId: string, dueAt: number, event: WebhookEvent): Promise<boolean> {
    if (this.leavers.get(userId) !== dueAt) return Promise.resolve(false);
    this.leavers.delete(userId);
    return Promise.resolve(this.add(event));
  }

  stay(userId: string, dueAt: number): Promise<void> {
    if (this.leavers.get(userId) === dueAt) this.leavers.delete(userId);
    return done;
  }

  hold(nodeId: string, userId: string): Promise<void> {
    let users = this.held.get(nodeId);
    if (users === undefined) this.held.set(nodeId, (users = new Set()));
    users.add(userId);
    return done;
  }

  release(nodeId: string, userId: string): Promise<void> {
    const users = this.held.get(nodeId);
    if (users?.delete(userId) && users.size === 0) this.held.delete(nodeId);
    return done;
  }

  holders(): Promise<string[]> {
    return Promise.resolve([...this.held.keys()]);
  }

  adopt(nodeId: string, dueAt: number): Promise<number> {
    const users = this.held.get(nodeId);
    this.held.delete(nodeId);
    for (const userId of users ?? []) {
      const mark = this.leavers.get(userId);
      if (mark === undefined || mark > dueAt) this.leavers.set(userId, dueAt);
    }
    return Promise.resolve(users?.size ?? 0);
  }

  close(): Promise<void> {
    return done;
  }
}
