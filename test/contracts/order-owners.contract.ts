/**
 * Contract suite for `OrderOwners` (shared/state/order-owners.ts): every driver runs it.
 *
 * The factory returns a fresh driver over isolated state (see ContractSubject). Expiry is watched with
 * a 1-second TTL and polled for up to a few seconds; "still alive" is checked against a control order
 * claimed with the same short TTL no earlier, so nothing here sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { OrderOwners } from '../../shared/state/order-owners.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractFactory,
} from './subject.js';

export function orderOwnersContract(name: string, factory: ContractFactory<OrderOwners>): void {
  describe(`OrderOwners contract: ${name}`, () => {
    const subject = useSubject(factory);

    async function waitUntilGone(orderId: string): Promise<void> {
      await waitFor(
        async () => (await subject.driver.get(orderId)) === undefined,
        `order ${orderId} to expire`,
        EXPIRY_DEADLINE_MS,
      );
    }

    it('when an order is unknown, then get returns undefined', async () => {
      expect(await subject.driver.get('o-unknown')).toBeUndefined();
    });

    it('when the first claim for an order arrives, then the claimant becomes the owner', async () => {
      const owners = subject.driver;

      expect(await owners.claim('o-1', 'alice', LONG_TTL_SECONDS)).toBe('alice');
      expect(await owners.get('o-1')).toBe('alice');
    });

    it('when another user claims an owned order, then the owner is returned and stays the owner', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', LONG_TTL_SECONDS);

      expect(await owners.claim('o-1', 'bob', LONG_TTL_SECONDS)).toBe('alice');
      expect(await owners.get('o-1')).toBe('alice');
    });

    it('when the owner claims again, then the owner is returned', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', LONG_TTL_SECONDS);

      expect(await owners.claim('o-1', 'alice', LONG_TTL_SECONDS)).toBe('alice');
      expect(await owners.get('o-1')).toBe('alice');
    });

    it('when two users claim a new order concurrently, then exactly one wins and both are told the winner', async () => {
      const owners = subject.driver;
      const orders = Array.from({ length: 25 }, (_, i) => `o-race-${i}`);

      const results = await Promise.all(
        orders.map((orderId, i) =>
          // Alternate who goes first so neither user is favoured by call order.
          i % 2
            ? Promise.all([
                owners.claim(orderId, 'alice', LONG_TTL_SECONDS),
                owners.claim(orderId, 'bob', LONG_TTL_SECONDS),
              ])
            : Promise.all([
                owners.claim(orderId, 'bob', LONG_TTL_SECONDS),
                owners.claim(orderId, 'alice', LONG_TTL_SECONDS),
              ]),
        ),
      );

      for (const [i, [first, second]] of results.entries()) {
        expect(['alice', 'bob']).toContain(first);
        expect(second).toBe(first);
        expect(await owners.get(orders[i]!)).toBe(first);
      }
    });

    it('when ten users claim a new order concurrently, then all are told the same single owner', async () => {
      const owners = subject.driver;
      const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);

      const results = await Promise.all(
        users.map((userId) => owners.claim('o-crowd', userId, LONG_TTL_SECONDS)),
      );

      const winner = results[0]!;
      expect(users).toContain(winner);
      expect(new Set(results)).toEqual(new Set([winner]));
      expect(await owners.get('o-crowd')).toBe(winner);
    });

    it('when an order is not claimed again, then it expires ttlSeconds after the claim', async () => {
      const owners = subject.driver;
      await owners.claim('o-short', 'alice', SHORT_TTL_SECONDS);
      expect(await owners.get('o-short')).toBe('alice');

      await waitUntilGone('o-short');
    });

    it('when the owner claims again, then the record lives ttlSeconds from that claim', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', SHORT_TTL_SECONDS);
      // Claimed after o-1 with the same TTL: once it is gone, o-1's first lifetime is over.
      await owners.claim('o-control', 'alice', SHORT_TTL_SECONDS);
      expect(await owners.claim('o-1', 'alice', LONG_TTL_SECONDS)).toBe('alice');

      await waitUntilGone('o-control');
      expect(await owners.get('o-1')).toBe('alice');
    });

    it('when the owner claims again with a short TTL, then the record expires ttlSeconds after that claim', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', LONG_TTL_SECONDS);
      expect(await owners.claim('o-1', 'alice', SHORT_TTL_SECONDS)).toBe('alice');

      await waitUntilGone('o-1');
    });

    it('when another user claims an owned order, then the record’s lifetime is not refreshed', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', SHORT_TTL_SECONDS);

      expect(await owners.claim('o-1', 'bob', LONG_TTL_SECONDS)).toBe('alice');

      await waitUntilGone('o-1');
    });

    it('when an order has expired, then it has no owner and the next claimant wins', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', SHORT_TTL_SECONDS);
      await waitUntilGone('o-1');

      expect(await owners.claim('o-1', 'bob', LONG_TTL_SECONDS)).toBe('bob');
      expect(await owners.get('o-1')).toBe('bob');
    });

    it('when several orders are claimed, then each keeps its own owner', async () => {
      const owners = subject.driver;
      await owners.claim('o-1', 'alice', LONG_TTL_SECONDS);
      await owners.claim('o-2', 'bob', LONG_TTL_SECONDS);

      expect(await owners.claim('o-2', 'alice', LONG_TTL_SECONDS)).toBe('bob');
      expect(await owners.get('o-1')).toBe('alice');
      expect(await owners.get('o-2')).toBe('bob');
      expect(await owners.get('o-3')).toBeUndefined();
    });

    it('when order owners is closed, then close resolves', async () => {
      await subject.driver.claim('o-1', 'alice', LONG_TTL_SECONDS);

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
