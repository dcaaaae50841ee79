/**
 * Contract suite for `NodeRegistry` (shared/state/node-registry.ts): every driver runs it.
 *
 * The factory returns a fresh registry over isolated state (see ContractSubject). Expiry is watched
 * with a 1-second TTL and polled for up to a few seconds; "still alive" is checked against a control
 * node heartbeating with the same short TTL no earlier, so nothing here sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { NodeAnnouncement, NodeRecord, NodeRegistry } from '../../shared/state/node-registry.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractFactory,
} from './subject.js';

/** `lastHeartbeat` may come from the store's clock: allow this much skew against the test's clock. */
const CLOCK_SKEW_MS = 2_000;

function announcement(id: string, overrides: Partial<NodeAnnouncement> = {}): NodeAnnouncement {
  return {
    id,
    url: `http://10.0.0.${id.length}:8080`,
    connections: 0,
    capacity: 1,
    draining: false,
    startedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** The record without `lastHeartbeat`, which tests check against the clock separately. */
function announced(record: NodeRecord | undefined): NodeAnnouncement | undefined {
  if (record === undefined) return undefined;
  const { lastHeartbeat: _lastHeartbeat, ...rest } = record;
  return rest;
}

export function nodeRegistryContract(name: string, factory: ContractFactory<NodeRegistry>): void {
  describe(`NodeRegistry contract: ${name}`, () => {
    const subject = useSubject(factory);

    async function ids(): Promise<string[]> {
      return (await subject.driver.list()).map((record) => record.id);
    }

    async function find(id: string): Promise<NodeRecord | undefined> {
      return (await subject.driver.list()).find((record) => record.id === id);
    }

    async function waitUntilGone(id: string): Promise<void> {
      await waitFor(async () => (await find(id)) === undefined, `node ${id} to expire`, EXPIRY_DEADLINE_MS);
    }

    it('when no node has heartbeated, then list is empty', async () => {
      expect(await subject.driver.list()).toEqual([]);
    });

    it('when a node heartbeats, then list returns its announcement with lastHeartbeat set to the time of the call', async () => {
      const registry = subject.driver;
      const node = announcement('node-a', {
        url: 'http://10.0.0.5:8080',
        connections: 42,
        capacity: 2,
        draining: false,
        startedAt: 1_700_000_123_456,
      });

      const before = Date.now();
      await registry.heartbeat(node, LONG_TTL_SECONDS);
      const after = Date.now();

      const records = await registry.list();
      expect(records).toHaveLength(1);
      expect(announced(records[0])).toEqual(node);
      expect(records[0]!.lastHeartbeat).toBeGreaterThanOrEqual(before - CLOCK_SKEW_MS);
      expect(records[0]!.lastHeartbeat).toBeLessThanOrEqual(after + CLOCK_SKEW_MS);
    });

    it('when a node heartbeats again, then its entry is replaced and lastHeartbeat moves on', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a', { connections: 1 }), LONG_TTL_SECONDS);
      const firstDone = Date.now();
      const first = (await find('node-a'))!;
      await waitFor(() => Date.now() > firstDone + 2, 'the clock to move on');

      const node = announcement('node-a', { connections: 7, draining: true, url: 'http://10.0.0.9:9090' });
      await registry.heartbeat(node, LONG_TTL_SECONDS);

      const records = await registry.list();
      expect(records).toHaveLength(1);
      expect(announced(records[0])).toEqual(node);
      expect(records[0]!.lastHeartbeat).toBeGreaterThan(first.lastHeartbeat);
    });

    it('when several nodes heartbeat, then list returns each once, sorted by node id', async () => {
      const registry = subject.driver;
      for (const id of ['node-c', 'node-a', 'node-b'])
        await registry.heartbeat(announcement(id), LONG_TTL_SECONDS);
      await registry.heartbeat(announcement('node-a', { connections: 3 }), LONG_TTL_SECONDS);

      const records = await registry.list();
      expect(records.map((record) => record.id)).toEqual(['node-a', 'node-b', 'node-c']);
      expect(records[0]!.connections).toBe(3);
    });

    it('when 20 nodes heartbeat concurrently, then all 20 are listed', async () => {
      const registry = subject.driver;
      const all = Array.from({ length: 20 }, (_, i) => `node-${String(i).padStart(2, '0')}`);

      await Promise.all(all.map((id) => registry.heartbeat(announcement(id), LONG_TTL_SECONDS)));

      expect(await ids()).toEqual(all);
    });

    it('when a node is removed, then it is gone at once and the others stay', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);
      await registry.heartbeat(announcement('node-b'), LONG_TTL_SECONDS);

      await registry.remove('node-a');

      expect(await ids()).toEqual(['node-b']);
    });

    it('when an unknown node is removed, or one twice, then nothing changes', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);

      await expect(registry.remove('node-unknown')).resolves.toBeUndefined();
      await registry.remove('node-a');
      await expect(registry.remove('node-a')).resolves.toBeUndefined();

      expect(await registry.list()).toEqual([]);
    });

    it('when a removed node heartbeats again, then it is listed again', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);
      await registry.remove('node-a');

      await registry.heartbeat(announcement('node-a', { connections: 5 }), LONG_TTL_SECONDS);

      expect(announced(await find('node-a'))).toEqual(announcement('node-a', { connections: 5 }));
    });

    it('when a node stops heartbeating, then it leaves the list ttlSeconds after its last heartbeat', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-short'), SHORT_TTL_SECONDS);
      await registry.heartbeat(announcement('node-long'), LONG_TTL_SECONDS);
      expect(await ids()).toEqual(['node-long', 'node-short']);

      await waitUntilGone('node-short');
      expect(await ids()).toEqual(['node-long']);
    });

    it('when a node heartbeats again, then its entry lives ttlSeconds from that heartbeat', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), SHORT_TTL_SECONDS);
      // Announced after node-a with the same TTL: once it is gone, node-a's first lifetime is over.
      await registry.heartbeat(announcement('node-control'), SHORT_TTL_SECONDS);
      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);

      await waitUntilGone('node-control');
      expect(await ids()).toEqual(['node-a']);
    });

    it('when a node heartbeats again with a short TTL, then it expires ttlSeconds after that heartbeat', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);
      await registry.heartbeat(announcement('node-a'), SHORT_TTL_SECONDS);

      await waitUntilGone('node-a');
      expect(await registry.list()).toEqual([]);
    });

    it('when an expired node heartbeats again, then it is listed again', async () => {
      const registry = subject.driver;
      await registry.heartbeat(announcement('node-a'), SHORT_TTL_SECONDS);
      await waitUntilGone('node-a');

      await registry.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);

      expect(await ids()).toEqual(['node-a']);
    });

    it('when the registry is closed, then close resolves', async () => {
      await subject.driver.heartbeat(announcement('node-a'), LONG_TTL_SECONDS);

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
