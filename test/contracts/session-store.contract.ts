/**
 * Contract suite for `SessionStore` (shared/state/session-store.ts): every driver runs it.
 *
 * The factory returns a fresh store over isolated state (see ContractSubject). Expiry is watched with
 * a 1-second TTL and polled for up to a few seconds; "still alive" is checked against a control
 * session created with the same short TTL no earlier, so nothing here sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { SessionStore } from '../../shared/state/session-store.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractFactory,
} from './subject.js';

export function sessionStoreContract(name: string, factory: ContractFactory<SessionStore>): void {
  describe(`SessionStore contract: ${name}`, () => {
    const subject = useSubject(factory);

    function session(id: string, userId = 'alice', nodeId = 'node-a') {
      return { id, userId, nodeId };
    }

    async function channelsOf(id: string): Promise<string[] | undefined> {
      const record = await subject.driver.get(id);
      return record && [...record.channels].sort();
    }

    async function waitUntilGone(id: string): Promise<void> {
      await waitFor(
        async () => (await subject.driver.get(id)) === undefined,
        `session ${id} to expire`,
        EXPIRY_DEADLINE_MS,
      );
    }

    it('when a session is created, then get returns it with no channels', async () => {
      const store = subject.driver;
      await store.create(session('s-1', 'alice', 'node-a'), LONG_TTL_SECONDS);

      expect(await store.get('s-1')).toEqual({ id: 's-1', userId: 'alice', nodeId: 'node-a', channels: [] });
    });

    it('when a session is created with channels, then get returns each of them once, and they come and go like added ones', async () => {
      const store = subject.driver;
      await store.create(
        {
          id: 's-ch',
          userId: 'alice',
          nodeId: 'node-a',
          channels: ['user:alice', 'promotions', 'user:alice'],
        },
        LONG_TTL_SECONDS,
      );
      expect([...(await store.get('s-ch'))!.channels].sort()).toEqual(['promotions', 'user:alice']);

      await store.removeChannel('s-ch', 'promotions');
      await store.addChannel('s-ch', 'order:o-1');
      expect([...(await store.get('s-ch'))!.channels].sort()).toEqual(['order:o-1', 'user:alice']);
    });

    it('when a session is created with as many channels as a connection may name (1000), then it holds them all', async () => {
      const store = subject.driver;
      const channels = Array.from({ length: 1000 }, (_, i) => `order:o-${i}`);
      await store.create({ id: 's-many', userId: 'alice', nodeId: 'node-a', channels }, LONG_TTL_SECONDS);
      expect((await store.get('s-many'))!.channels).toHaveLength(1000);
    });

    it('when an unknown session is read, then get returns undefined', async () => {
      expect(await subject.driver.get('never-created')).toBeUndefined();
    });

    it('when a session is created again with the same id, then the new one replaces it, with no channels', async () => {
      const store = subject.driver;
      await store.create(
        { ...session('s-1', 'alice', 'node-a'), channels: ['promotions'] },
        LONG_TTL_SECONDS,
      );
      await store.addChannel('s-1', 'user:alice');

      await store.create(session('s-1', 'alice', 'node-b'), LONG_TTL_SECONDS);

      expect(await store.get('s-1')).toEqual({ id: 's-1', userId: 'alice', nodeId: 'node-b', channels: [] });
    });

    it('when a live session is claimed by another node, then it moves there and keeps its user and channels', async () => {
      const store = subject.driver;
      await store.create(session('s-c', 'alice', 'node-a'), LONG_TTL_SECONDS);
      await store.addChannel('s-c', 'user:alice');

      expect(await store.claim('s-c', 'node-b', LONG_TTL_SECONDS)).toBe(true);

      expect(await store.get('s-c')).toEqual({
        id: 's-c',
        userId: 'alice',
        nodeId: 'node-b',
        channels: ['user:alice'],
      });
    });

    it('when an unknown or expired session is claimed, then claim answers false and creates nothing', async () => {
      const store = subject.driver;
      expect(await store.claim('never-created', 'node-b', LONG_TTL_SECONDS)).toBe(false);
      expect(await store.get('never-created')).toBeUndefined();
      await store.create(session('s-e'), SHORT_TTL_SECONDS);
      await waitUntilGone('s-e');
      expect(await store.claim('s-e', 'node-b', LONG_TTL_SECONDS)).toBe(false);
      expect(await store.get('s-e')).toBeUndefined();
    });

    it('when a session is claimed with a short TTL, then it expires ttlSeconds after the claim', async () => {
      const store = subject.driver;
      await store.create(session('s-s'), LONG_TTL_SECONDS);
      expect(await store.claim('s-s', 'node-b', SHORT_TTL_SECONDS)).toBe(true);
      await waitUntilGone('s-s');
    });

    it('when a session is not touched, then it expires ttlSeconds after create', async () => {
      const store = subject.driver;
      await store.create(session('s-short'), SHORT_TTL_SECONDS);
      expect(await store.get('s-short')).toBeDefined();

      await waitUntilGone('s-short');
    });

    it('when a session with channels expires, then its channels go with it', async () => {
      const store = subject.driver;
      await store.create(session('s-short'), SHORT_TTL_SECONDS);
      await store.addChannel('s-short', 'user:alice');
      await store.addChannel('s-short', 'order:o-1');
      expect(await channelsOf('s-short')).toEqual(['order:o-1', 'user:alice']);

      await waitUntilGone('s-short');
      await store.create(session('s-short'), LONG_TTL_SECONDS);
      expect(await channelsOf('s-short')).toEqual([]);
    });

    it('when sessions are touched, then each lives ttlSeconds from the touch', async () => {
      const store = subject.driver;
      await store.create(session('s-a'), SHORT_TTL_SECONDS);
      await store.create(session('s-b'), SHORT_TTL_SECONDS);
      await store.addChannel('s-b', 'user:alice');
      // Created after the others with the same TTL: once it is gone, their original lifetime is over.
      await store.create(session('s-control'), SHORT_TTL_SECONDS);
      await store.touch(['s-a', 's-b'], LONG_TTL_SECONDS);

      await waitUntilGone('s-control');
      expect(await store.get('s-a')).toEqual({ id: 's-a', userId: 'alice', nodeId: 'node-a', channels: [] });
      expect(await channelsOf('s-b')).toEqual(['user:alice']);
    });

    it('when a session is touched with a short TTL, then it expires ttlSeconds after the touch', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);
      await store.touch(['s-1'], SHORT_TTL_SECONDS);

      await waitUntilGone('s-1');
    });

    it('when touch names unknown ids, then they are ignored and the known ones are still extended', async () => {
      const store = subject.driver;
      await store.create(session('s-known'), SHORT_TTL_SECONDS);
      await store.create(session('s-control'), SHORT_TTL_SECONDS);

      await expect(
        store.touch(['s-unknown-1', 's-known', 's-unknown-2'], LONG_TTL_SECONDS),
      ).resolves.toBeUndefined();
      await expect(store.touch([], LONG_TTL_SECONDS)).resolves.toBeUndefined();

      expect(await store.get('s-unknown-1')).toBeUndefined();
      expect(await store.get('s-unknown-2')).toBeUndefined();
      await waitUntilGone('s-control');
      expect(await store.get('s-known')).toBeDefined();
    });

    it('when an expired session is touched, then it stays gone', async () => {
      const store = subject.driver;
      await store.create(session('s-short'), SHORT_TTL_SECONDS);
      await waitUntilGone('s-short');

      await store.touch(['s-short'], LONG_TTL_SECONDS);

      expect(await store.get('s-short')).toBeUndefined();
    });

    it('when the same channel is added twice, then the session holds it once', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);

      await store.addChannel('s-1', 'user:alice');
      await store.addChannel('s-1', 'user:alice');

      expect(await channelsOf('s-1')).toEqual(['user:alice']);
    });

    it('when several channels are added, then channels is the set of them', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);

      for (const channel of ['user:alice', 'order:o-2', 'broadcast', 'order:o-2', 'user:alice']) {
        await store.addChannel('s-1', channel);
      }
      await Promise.all(['order:o-3', 'order:o-3', 'broadcast'].map((c) => store.addChannel('s-1', c)));

      expect(await channelsOf('s-1')).toEqual(['broadcast', 'order:o-2', 'order:o-3', 'user:alice']);
    });

    it('when a channel is removed, twice, or was never added, then removal is idempotent and leaves the rest', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);
      await store.addChannel('s-1', 'user:alice');
      await store.addChannel('s-1', 'order:o-1');

      await store.removeChannel('s-1', 'order:o-1');
      expect(await channelsOf('s-1')).toEqual(['user:alice']);
      await store.removeChannel('s-1', 'order:o-1');
      await store.removeChannel('s-1', 'never-added');
      expect(await channelsOf('s-1')).toEqual(['user:alice']);

      await store.removeChannel('s-1', 'user:alice');
      expect(await store.get('s-1')).toEqual({ id: 's-1', userId: 'alice', nodeId: 'node-a', channels: [] });
    });

    it('when channels are added to or removed from an unknown session, then nothing happens', async () => {
      const store = subject.driver;

      await expect(store.addChannel('s-unknown', 'user:alice')).resolves.toBeUndefined();
      await expect(store.removeChannel('s-unknown', 'user:alice')).resolves.toBeUndefined();

      expect(await store.get('s-unknown')).toBeUndefined();
      await store.create(session('s-unknown'), LONG_TTL_SECONDS);
      expect(await channelsOf('s-unknown')).toEqual([]);
    });

    it('when a channel is added to an expired session, then nothing happens', async () => {
      const store = subject.driver;
      await store.create(session('s-short'), SHORT_TTL_SECONDS);
      await waitUntilGone('s-short');

      await store.addChannel('s-short', 'user:alice');
      await store.removeChannel('s-short', 'user:bob');

      expect(await store.get('s-short')).toBeUndefined();
      await store.create(session('s-short'), LONG_TTL_SECONDS);
      expect(await channelsOf('s-short')).toEqual([]);
    });

    it('when a session is deleted, then it is gone at once and later channel changes do nothing', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);
      await store.addChannel('s-1', 'user:alice');

      await store.delete('s-1');
      expect(await store.get('s-1')).toBeUndefined();

      await store.addChannel('s-1', 'order:o-1');
      expect(await store.get('s-1')).toBeUndefined();
      await store.create(session('s-1'), LONG_TTL_SECONDS);
      expect(await channelsOf('s-1')).toEqual([]);
    });

    it('when there are several sessions, then each keeps its own user, node and channels', async () => {
      const store = subject.driver;
      await store.create(session('s-alice', 'alice', 'node-a'), LONG_TTL_SECONDS);
      await store.create(session('s-bob', 'bob', 'node-b'), LONG_TTL_SECONDS);
      await store.addChannel('s-alice', 'user:alice');
      await store.addChannel('s-bob', 'user:bob');
      await store.addChannel('s-bob', 'broadcast');

      await store.delete('s-alice');

      expect(await store.get('s-alice')).toBeUndefined();
      const bob = await store.get('s-bob');
      expect(bob && { ...bob, channels: [...bob.channels].sort() }).toEqual({
        id: 's-bob',
        userId: 'bob',
        nodeId: 'node-b',
        channels: ['broadcast', 'user:bob'],
      });
    });

    it('when the store is closed, then close resolves', async () => {
      const store = subject.driver;
      await store.create(session('s-1'), LONG_TTL_SECONDS);

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
