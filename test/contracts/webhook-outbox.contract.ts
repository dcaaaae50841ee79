/**
 * Contract suite for `WebhookOutbox` (shared/state/webhook-outbox.ts): every driver runs it. The
 * factory's driver holds at most MAX_PENDING events. Leases and retries are judged by due times the
 * test chooses (a lease of 1 ms, a retry in the past), so nothing here sleeps except to the next
 * millisecond.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { WebhookEvent, WebhookOutbox } from '../../shared/state/webhook-outbox.js';
import { waitFor } from '../helpers/wait.js';
import { useSubject, type ContractFactory } from './subject.js';

/** What the factories give the driver as its limit. */
export const WEBHOOK_CONTRACT_MAX_PENDING = 5;

const event = (type: WebhookEvent['type'] = 'message.undelivered', data = {}): WebhookEvent => ({
  id: randomUUID(),
  type,
  ts: Date.now(),
  data,
});

/** Resolves once Date.now() has moved past `t` (a lease of 1 ms has run out). */
const after = (t: number): Promise<boolean> => waitFor(() => Date.now() > t, 'the clock to move', 1_000, 1);

export function webhookOutboxContract(name: string, factory: ContractFactory<WebhookOutbox>): void {
  describe(`WebhookOutbox contract: ${name}`, () => {
    const subject = useSubject(factory);

    it('hands out queued events oldest first, each once while leased, with its attempt number', async () => {
      const outbox = subject.driver;
      const [a, b, c] = [event(), event(), event()];
      // Queued a millisecond apart: events due at the same millisecond come in any order.
      let queuedAt = Date.now();
      expect(await outbox.enqueue([a])).toBe(0);
      await after(queuedAt);
      queuedAt = Date.now();
      expect(await outbox.enqueue([b])).toBe(0);
      await after(queuedAt);
      expect(await outbox.enqueue([c, a])).toBe(0); // a again: held once
      expect(await outbox.pending()).toBe(3);
      const first = await outbox.take(2, 60_000);
      expect(first.map((t) => [t.event.id, t.attempt])).toEqual([
        [a.id, 1],
        [b.id, 1],
      ]);
      expect(first[0]!.event).toEqual(a);
      const second = await outbox.take(10, 60_000);
      expect(second.map((t) => t.event.id)).toEqual([c.id]);
      expect(await outbox.take(10, 60_000)).toEqual([]);
    });

    it('forgets what is done, and hands a retry out again once due, as its next attempt', async () => {
      const outbox = subject.driver;
      const [a, b] = [event(), event()];
      await outbox.enqueue([a, b]);
      await outbox.take(2, 60_000);
      await outbox.done(a.id);
      await outbox.retry(b.id, Date.now() + 60_000);
      expect(await outbox.take(10, 60_000)).toEqual([]);
      await outbox.retry(b.id, Date.now() - 1);
      expect((await outbox.take(10, 60_000)).map((t) => [t.event.id, t.attempt])).toEqual([[b.id, 2]]);
      expect(await outbox.pending()).toBe(1);
      await outbox.done(b.id);
      await outbox.retry(b.id, 0); // no longer held: nothing comes back
      await outbox.done('unknown');
      expect(await outbox.take(10, 60_000)).toEqual([]);
      expect(await outbox.pending()).toBe(0);
    });

    it('hands an event out again when its lease runs out (its taker died)', async () => {
      const outbox = subject.driver;
      const a = event();
      await outbox.enqueue([a]);
      const taken = Date.now();
      expect(await outbox.take(1, 1)).toHaveLength(1);
      await after(taken + 1);
      expect((await outbox.take(1, 60_000)).map((t) => t.attempt)).toEqual([2]);
    });

    it('refuses events beyond its limit, and takes them again once there is room', async () => {
      const outbox = subject.driver;
      const held = Array.from({ length: WEBHOOK_CONTRACT_MAX_PENDING }, () => event());
      expect(await outbox.enqueue(held)).toBe(0);
      expect(await outbox.enqueue([event(), event()])).toBe(2);
      expect(await outbox.enqueue([held[0]!])).toBe(0); // held already: not a refusal
      await outbox.done(held[0]!.id);
      expect(await outbox.enqueue([event()])).toBe(0);
      expect(await outbox.pending()).toBe(WEBHOOK_CONTRACT_MAX_PENDING);
    });

    it('queues user.online for a user not leaving, and nothing for one back within the grace', async () => {
      const outbox = subject.driver;
      const online = event('user.online', { userId: 'u1' });
      expect(await outbox.online('u1', online)).toBe(true);
      await outbox.leaving('u1', Date.now() + 60_000);
      expect(await outbox.online('u1', event('user.online', { userId: 'u1' }))).toBe(false);
      expect(await outbox.dueLeavers(Date.now() + 120_000, 10)).toEqual([]); // the mark is gone
      expect((await outbox.take(10, 60_000)).map((t) => t.event.id)).toEqual([online.id]);
    });

    it('decides user.offline once per mark: a later mark or a second decider queues nothing', async () => {
      const outbox = subject.driver;
      const due = Date.now() - 10;
      await outbox.leaving('u2', due);
      await outbox.leaving('u3', Date.now() + 60_000);
      expect(await outbox.dueLeavers(Date.now(), 10)).toEqual([{ userId: 'u2', dueAt: due }]);
      const offline = event('user.offline', { userId: 'u2' });
      const decisions = await Promise.all([
        outbox.offline('u2', due, offline),
        outbox.offline('u2', due, event('user.offline', { userId: 'u2' })),
      ]);
      expect(decisions.filter(Boolean)).toHaveLength(1);
      expect(await outbox.dueLeavers(Date.now(), 10)).toEqual([]);
      // A mark replaced by a newer one is not the one decided on.
      await outbox.leaving('u4', due);
      await outbox.leaving('u4', due + 5);
      expect(await outbox.offline('u4', due, event('user.offline'))).toBe(false);
      await outbox.stay('u4', due); // not the current mark either
      expect(await outbox.dueLeavers(Date.now(), 10)).toEqual([{ userId: 'u4', dueAt: due + 5 }]);
      await outbox.stay('u4', due + 5);
      expect(await outbox.dueLeavers(Date.now(), 10)).toEqual([]);
      expect((await outbox.take(10, 60_000)).map((t) => t.event.id)).toEqual([offline.id]);
    });

    it('records the users each node holds; adopting a node marks its users leaving once and forgets it', async () => {
      const outbox = subject.driver;
      await outbox.hold('node-a', 'u5');
      await outbox.hold('node-a', 'u6');
      await outbox.hold('node-b', 'u6');
      await outbox.hold('node-c', 'u7');
      await outbox.release('node-c', 'u7');
      expect((await outbox.holders()).sort()).toEqual(['node-a', 'node-b']);
      const due = Date.now() - 10;
      await outbox.leaving('u6', due - 5); // an earlier mark stays
      const adopted = await Promise.all([outbox.adopt('node-a', due), outbox.adopt('node-a', due)]);
      expect(adopted.sort()).toEqual([0, 2]);
      expect(await outbox.holders()).toEqual(['node-b']);
      const leavers = await outbox.dueLeavers(Date.now(), 10);
      expect(leavers.sort((x, y) => x.userId.localeCompare(y.userId))).toEqual([
        { userId: 'u5', dueAt: due },
        { userId: 'u6', dueAt: due - 5 },
      ]);
      expect(await outbox.adopt('node-unknown', due)).toBe(0);
    });
  });
}
