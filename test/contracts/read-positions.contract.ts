/**
 * Contract suite for `ReadPositions` (shared/state/read-positions.ts): every driver runs it.
 *
 * The factory returns a fresh driver over isolated state (see ContractSubject). Expiry is watched with
 * a 1-second TTL and polled for up to a few seconds; "still alive" is checked against a control user
 * advanced with the same short TTL no earlier, so nothing here sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { ReadPositions } from '../../shared/state/read-positions.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractFactory,
} from './subject.js';

export function readPositionsContract(name: string, factory: ContractFactory<ReadPositions>): void {
  describe(`ReadPositions contract: ${name}`, () => {
    const subject = useSubject(factory);
    const at = (offset: number, epoch = 'e1') => ({ offset, epoch });

    async function waitUntilGone(userId: string, channel: string): Promise<void> {
      await waitFor(
        async () => (await subject.driver.get(userId, channel)) === undefined,
        `the read position of ${userId} on ${channel} to expire`,
        EXPIRY_DEADLINE_MS,
      );
    }

    it('when nothing was recorded, then get answers undefined and list nothing', async () => {
      expect(await subject.driver.get('alice', 'user:alice')).toBeUndefined();
      expect(await subject.driver.list('alice')).toEqual(new Map());
    });

    it('when a first position is advanced to, then it is recorded and reported as moved', async () => {
      const reads = subject.driver;

      expect(await reads.advance('alice', 'user:alice', at(3), LONG_TTL_SECONDS)).toEqual({
        position: at(3),
        moved: true,
      });
      expect(await reads.get('alice', 'user:alice')).toEqual(at(3));
    });

    it('when a position of the same epoch is further on, then it moves; when it is not, then the recorded one stays and is answered', async () => {
      const reads = subject.driver;
      await reads.advance('alice', 'user:alice', at(3), LONG_TTL_SECONDS);

      expect(await reads.advance('alice', 'user:alice', at(7), LONG_TTL_SECONDS)).toEqual({
        position: at(7),
        moved: true,
      });
      expect(await reads.advance('alice', 'user:alice', at(5), LONG_TTL_SECONDS)).toEqual({
        position: at(7),
        moved: false,
      });
      expect(await reads.advance('alice', 'user:alice', at(7), LONG_TTL_SECONDS)).toEqual({
        position: at(7),
        moved: false,
      });
      expect(await reads.get('alice', 'user:alice')).toEqual(at(7));
    });

    it('when a position of another epoch comes, then it replaces the recorded one, even with a lower offset', async () => {
      const reads = subject.driver;
      await reads.advance('alice', 'user:alice', at(40, 'old'), LONG_TTL_SECONDS);

      expect(await reads.advance('alice', 'user:alice', at(2, 'new'), LONG_TTL_SECONDS)).toEqual({
        position: at(2, 'new'),
        moved: true,
      });
      expect(await reads.get('alice', 'user:alice')).toEqual(at(2, 'new'));
    });

    it('when offsets go up to 2^53 - 1, then they are kept exactly', async () => {
      const reads = subject.driver;
      const big = Number.MAX_SAFE_INTEGER;
      await reads.advance('alice', 'user:alice', at(big - 1), LONG_TTL_SECONDS);

      expect((await reads.advance('alice', 'user:alice', at(big), LONG_TTL_SECONDS)).moved).toBe(true);
      expect(await reads.get('alice', 'user:alice')).toEqual(at(big));
    });

    it('when many advances of one channel run concurrently, then the highest one is recorded and none answers a position below its own', async () => {
      const reads = subject.driver;
      const offsets = Array.from({ length: 40 }, (_, i) => (i * 17) % 41);

      const results = await Promise.all(
        offsets.map((offset) => reads.advance('alice', 'user:alice', at(offset), LONG_TTL_SECONDS)),
      );

      expect(await reads.get('alice', 'user:alice')).toEqual(at(Math.max(...offsets)));
      // Whatever order they ran in, each answer is the highest position recorded so far: its own when it
      // moved, a higher or equal one when it did not.
      results.forEach((result, i) => {
        if (result.moved) expect(result.position).toEqual(at(offsets[i]!));
        else expect(result.position.offset).toBeGreaterThanOrEqual(offsets[i]!);
      });
      expect(results.filter((r) => r.moved).length).toBeGreaterThanOrEqual(1);
    });

    it('when several users and channels are advanced, then each keeps its own position and list shows the user’s own', async () => {
      const reads = subject.driver;
      await reads.advance('alice', 'user:alice', at(4), LONG_TTL_SECONDS);
      await reads.advance('alice', 'order:o-1', at(2, 'e2'), LONG_TTL_SECONDS);
      await reads.advance('bob', 'user:bob', at(9), LONG_TTL_SECONDS);

      expect(await reads.list('alice')).toEqual(
        new Map([
          ['user:alice', at(4)],
          ['order:o-1', at(2, 'e2')],
        ]),
      );
      expect(await reads.get('bob', 'user:alice')).toBeUndefined();
      expect(await reads.get('bob', 'user:bob')).toEqual(at(9));
    });

    it('when a user is not advanced again, then its positions expire ttlSeconds after the last advance', async () => {
      const reads = subject.driver;
      await reads.advance('alice', 'user:alice', at(1), SHORT_TTL_SECONDS);

      await waitUntilGone('alice', 'user:alice');
      expect(await reads.list('alice')).toEqual(new Map());
    });

    it('when an advance does not move the position, then it still refreshes the lifetime', async () => {
      const reads = subject.driver;
      await reads.advance('alice', 'user:alice', at(5), SHORT_TTL_SECONDS);
      // Advanced after alice's first with the same TTL: once it is gone, that first lifetime is over.
      await reads.advance('control', 'user:control', at(1), SHORT_TTL_SECONDS);
      expect((await reads.advance('alice', 'user:alice', at(2), LONG_TTL_SECONDS)).moved).toBe(false);

      await waitUntilGone('control', 'user:control');
      expect(await reads.get('alice', 'user:alice')).toEqual(at(5));
    });

    it('when the arguments are bad, then advance rejects with a TypeError and records nothing', async () => {
      const reads = subject.driver;

      await expect(reads.advance('alice', 'user:alice', at(1), 0)).rejects.toThrow(TypeError);
      await expect(reads.advance('alice', 'user:alice', at(-1), LONG_TTL_SECONDS)).rejects.toThrow(TypeError);
      await expect(reads.advance('alice', 'user:alice', at(1.5), LONG_TTL_SECONDS)).rejects.toThrow(
        TypeError,
      );
      await expect(reads.advance('alice', 'user:alice', at(1, ''), LONG_TTL_SECONDS)).rejects.toThrow(
        TypeError,
      );
      expect(await reads.get('alice', 'user:alice')).toBeUndefined();
    });

    it('when read positions are closed, then close resolves', async () => {
      await subject.driver.advance('alice', 'user:alice', at(1), LONG_TTL_SECONDS);

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
