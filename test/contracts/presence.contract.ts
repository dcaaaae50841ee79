/**
 * Contract suite for `Presence` (shared/state/presence.ts): every driver runs it.
 *
 * The factory returns a fresh driver over isolated state (see ContractSubject).
 */
import { describe, expect, it } from 'vitest';
import type { Presence } from '../../shared/state/presence.js';
import { useSubject, type ContractFactory } from './subject.js';

export function presenceContract(name: string, factory: ContractFactory<Presence>): void {
  describe(`Presence contract: ${name}`, () => {
    const subject = useSubject(factory);

    it('when a user is unknown, then they have 0 connections and no nodes', async () => {
      expect(await subject.driver.get('nobody')).toEqual({ connections: 0, nodes: [] });
    });

    it('when connections are added, then add returns the user’s connection count including the new one', async () => {
      const presence = subject.driver;

      expect(await presence.add('alice', 'c-1', 'node-a')).toBe(1);
      expect(await presence.add('alice', 'c-2', 'node-b')).toBe(2);
      expect(await presence.add('alice', 'c-3', 'node-a')).toBe(3);

      expect((await presence.get('alice')).connections).toBe(3);
    });

    it('when one browser has three tabs open, then that is one user with three connections', async () => {
      const presence = subject.driver;
      for (const tab of ['tab-1', 'tab-2', 'tab-3']) await presence.add('alice', tab, 'node-a');

      expect(await presence.get('alice')).toEqual({ connections: 3, nodes: ['node-a'] });
    });

    it('when the same connection id is added twice, then it counts once', async () => {
      const presence = subject.driver;

      expect(await presence.add('alice', 'c-1', 'node-a')).toBe(1);
      expect(await presence.add('alice', 'c-1', 'node-a')).toBe(1);
      expect(await presence.get('alice')).toEqual({ connections: 1, nodes: ['node-a'] });

      expect(await presence.add('alice', 'c-2', 'node-a')).toBe(2);
    });

    it('when connections sit on several nodes, then get lists the distinct nodes, sorted', async () => {
      const presence = subject.driver;
      await presence.add('alice', 'c-1', 'node-c');
      await presence.add('alice', 'c-2', 'node-a');
      await presence.add('alice', 'c-3', 'node-c');
      await presence.add('alice', 'c-4', 'node-b');
      await presence.add('alice', 'c-5', 'node-a');

      expect(await presence.get('alice')).toEqual({ connections: 5, nodes: ['node-a', 'node-b', 'node-c'] });
    });

    it('when a connection is removed, then the count drops and a node without connections leaves the list', async () => {
      const presence = subject.driver;
      await presence.add('alice', 'c-1', 'node-a');
      await presence.add('alice', 'c-2', 'node-b');
      await presence.add('alice', 'c-3', 'node-b');

      expect(await presence.remove('alice', 'c-2')).toBe(2);
      expect(await presence.get('alice')).toEqual({ connections: 2, nodes: ['node-a', 'node-b'] });

      expect(await presence.remove('alice', 'c-1')).toBe(1);
      expect(await presence.get('alice')).toEqual({ connections: 1, nodes: ['node-b'] });
    });

    it('when the last connection is removed, then the user is back to 0 connections and no nodes', async () => {
      const presence = subject.driver;
      await presence.add('alice', 'c-1', 'node-a');
      await presence.add('alice', 'c-2', 'node-b');

      expect(await presence.remove('alice', 'c-1')).toBe(1);
      expect(await presence.remove('alice', 'c-2')).toBe(0);
      expect(await presence.get('alice')).toEqual({ connections: 0, nodes: [] });

      expect(await presence.add('alice', 'c-3', 'node-c')).toBe(1);
      expect(await presence.get('alice')).toEqual({ connections: 1, nodes: ['node-c'] });
    });

    it('when an unknown connection is removed, then nothing changes', async () => {
      const presence = subject.driver;
      await presence.add('alice', 'c-1', 'node-a');

      await expect(presence.remove('alice', 'c-unknown')).resolves.toBe(1);
      await expect(presence.remove('nobody', 'c-1')).resolves.toBe(0);
      await presence.remove('alice', 'c-1');
      await expect(presence.remove('alice', 'c-1')).resolves.toBe(0);

      expect(await presence.get('alice')).toEqual({ connections: 0, nodes: [] });
      expect(await presence.get('nobody')).toEqual({ connections: 0, nodes: [] });
      expect(await presence.add('alice', 'c-2', 'node-a')).toBe(1);
    });

    it('when several users are connected, then each is counted on their own', async () => {
      const presence = subject.driver;
      await presence.add('alice', 'c-1', 'node-a');
      await presence.add('alice', 'c-2', 'node-a');
      expect(await presence.add('bob', 'c-3', 'node-b')).toBe(1);

      await presence.remove('bob', 'c-1'); // alice's connection id under the wrong user: unknown to bob

      expect(await presence.get('alice')).toEqual({ connections: 2, nodes: ['node-a'] });
      expect(await presence.get('bob')).toEqual({ connections: 1, nodes: ['node-b'] });
    });

    it('when 50 connections of one user are added concurrently, then all 50 are counted', async () => {
      const presence = subject.driver;
      const ids = Array.from({ length: 50 }, (_, i) => `c-${i}`);

      const counts = await Promise.all(
        ids.map((id, i) => presence.add('alice', id, i % 2 ? 'node-b' : 'node-a')),
      );

      for (const count of counts) {
        expect(count).toBeGreaterThanOrEqual(1);
        expect(count).toBeLessThanOrEqual(50);
      }
      expect(Math.max(...counts)).toBe(50);
      expect(await presence.get('alice')).toEqual({ connections: 50, nodes: ['node-a', 'node-b'] });

      await Promise.all(ids.map((id) => presence.remove('alice', id)));
      expect(await presence.get('alice')).toEqual({ connections: 0, nodes: [] });
    });

    it('when a user has connections on several nodes, then nodesOf lists each node once, and none for an unknown user', async () => {
      const presence = subject.driver;
      expect(await presence.nodesOf('nobody')).toEqual([]);
      await presence.add('alice', 'c-1', 'node-a');
      await presence.add('alice', 'c-2', 'node-b');
      await presence.add('alice', 'c-3', 'node-a');

      expect([...(await presence.nodesOf('alice'))].sort()).toEqual(['node-a', 'node-b']);
      await presence.remove('alice', 'c-2');
      expect(await presence.nodesOf('alice')).toEqual(['node-a']);
      await presence.remove('alice', 'c-1');
      await presence.remove('alice', 'c-3');
      expect(await presence.nodesOf('alice')).toEqual([]);
    });

    it('when presence is closed, then close resolves', async () => {
      await subject.driver.add('alice', 'c-1', 'node-a');

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
