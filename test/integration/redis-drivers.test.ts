/**
 * The state contract suites against the Redis drivers on the machine's Redis (127.0.0.1:6379), plus
 * what only a real Redis shows of presence, the node registry and the shared client: a crashed node's
 * presence expiring, key TTLs, and failing fast while Redis is unreachable. The Redis idempotency store
 * and history have files of their own (redis-idempotency.test.ts, redis-history.test.ts).
 *
 * The Redis is shared: every factory call gets its own key prefix under one per-run root, its keys are
 * deleted (SCAN + DEL) after the test, and nothing here flushes or stops Redis (test/helpers/redis-state.ts).
 * Unreachable Redis is a closed port or a TCP proxy this file starts and stops.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { NodeAnnouncement } from '../../shared/state/node-registry.js';
import type { RedisState } from '../../shared/state/redis/redis-state.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { historyContract, message } from '../contracts/history.contract.js';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { nodeRegistryContract } from '../contracts/node-registry.contract.js';
import { orderOwnersContract } from '../contracts/order-owners.contract.js';
import { presenceContract } from '../contracts/presence.contract.js';
import { readPositionsContract } from '../contracts/read-positions.contract.js';
import { sessionStoreContract } from '../contracts/session-store.contract.js';
import { WEBHOOK_CONTRACT_MAX_PENDING, webhookOutboxContract } from '../contracts/webhook-outbox.contract.js';
import { REDIS_ADDRESS } from '../helpers/backends.js';
import { redisStateHarness } from '../helpers/redis-state.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const { host: REDIS_HOST, port: REDIS_PORT } = REDIS_ADDRESS;
const { admin, contractFactory, newPrefix, openState, scanKeys } = redisStateHarness('redis-drivers');

sessionStoreContract('redis', contractFactory('sessions'));
presenceContract('redis', contractFactory('presence'));
orderOwnersContract('redis', contractFactory('orderOwners'));
nodeRegistryContract('redis', contractFactory('registry'));
historyContract('redis', (retention) => contractFactory('history', { retention })());
idempotencyContract('redis', contractFactory('idempotency'));
readPositionsContract('redis', contractFactory('reads'));
webhookOutboxContract(
  'redis',
  contractFactory('webhooks', { webhookMaxPending: WEBHOOK_CONTRACT_MAX_PENDING }),
);

function announcement(id: string): NodeAnnouncement {
  return { id, url: 'http://10.0.0.1:8080', connections: 0, capacity: 1, draining: false, startedAt: 1 };
}

/** Every driver call once, each expected to reject. */
function everyDriverCall(state: RedisState): [string, () => Promise<unknown>][] {
  return [
    ['sessions.create', () => state.sessions.create({ id: 's', userId: 'u', nodeId: 'n' }, 60)],
    ['sessions.get', () => state.sessions.get('s')],
    ['sessions.addChannel', () => state.sessions.addChannel('s', 'user:u')],
    ['sessions.touch', () => state.sessions.touch(['s'], 60)],
    ['presence.add', () => state.presence.add('u', 'c', 'n')],
    ['presence.get', () => state.presence.get('u')],
    ['presence.remove', () => state.presence.remove('u', 'c')],
    ['orderOwners.claim', () => state.orderOwners.claim('o', 'u', 60)],
    ['orderOwners.get', () => state.orderOwners.get('o')],
    ['history.append', () => state.history.append('user:u', message())],
    ['history.position', () => state.history.position('user:u')],
    ['history.read', () => state.history.read('user:u', 0, 10)],
    ['idempotency.begin', () => state.idempotency.begin('k', 'fp', 60)],
    ['idempotency.complete', () => state.idempotency.complete('k', 'fp', '{}', 60)],
    ['idempotency.abandon', () => state.idempotency.abandon('k', 'fp')],
    ['registry.heartbeat', () => state.registry.heartbeat(announcement('n'), 60)],
    ['registry.list', () => state.registry.list()],
    ['registry.remove', () => state.registry.remove('n')],
  ];
}

/** Runs every call concurrently; each must reject with StateUnavailableError within `withinMs`. */
async function expectAllFailFast(state: RedisState, withinMs: number): Promise<void> {
  const outcomes = await Promise.all(
    everyDriverCall(state).map(async ([name, call]) => {
      const started = Date.now();
      const error = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      return { name, error, elapsed: Date.now() - started };
    }),
  );
  for (const { name, error, elapsed } of outcomes) {
    expect(error, name).toBeInstanceOf(StateUnavailableError);
    expect(elapsed, `${name} rejected after ${elapsed} ms`).toBeLessThan(withinMs);
  }
}
describe('Redis state drivers', () => {
  it('when a presence driver goes away without removing its connections, then another node sees them vanish within presenceTtlSeconds while a live driver keeps its own', async () => {
    const prefix = newPrefix();
    const ttl = 1;
    const crashing = openState(prefix, { presenceTtlSeconds: ttl, nodeId: 'node-crashing' });
    const live = openState(prefix, { presenceTtlSeconds: ttl, nodeId: 'node-live' });
    const observer = openState(prefix, { presenceTtlSeconds: ttl, nodeId: 'node-observer' });
    await crashing.presence.add('alice', 'c-crashing-1', 'node-crashing');
    await crashing.presence.add('alice', 'c-crashing-2', 'node-crashing');
    await live.presence.add('alice', 'c-live', 'node-live');
    // Added after alice's connections with the same TTL by a driver that never refreshes: once it is
    // gone, alice's connections have outlived their first TTL and are only there because of refreshes.
    const control = openState(prefix, { presenceTtlSeconds: ttl, nodeId: 'node-control' });
    await control.presence.add('bob', 'c-control', 'node-control');
    await control.close();

    await waitFor(
      async () => (await observer.presence.get('bob')).connections === 0,
      'the unrefreshed control connection to expire',
    );
    expect(await observer.presence.get('alice')).toEqual({
      connections: 3,
      nodes: ['node-crashing', 'node-live'],
    });

    await crashing.close(); // stops refreshing, removes nothing: what a crash leaves behind
    const crashedAt = Date.now();
    expect((await observer.presence.get('alice')).connections).toBe(3);
    await waitFor(
      async () => (await observer.presence.get('alice')).connections === 1,
      "the crashed node's connections to vanish",
    );
    const vanishedAfter = Date.now() - crashedAt;

    expect(vanishedAfter).toBeLessThanOrEqual(ttl * 1000 + 500);
    expect(await observer.presence.get('alice')).toEqual({ connections: 1, nodes: ['node-live'] });
  });

  it('when Redis loses the presence keys of a live driver, then its refresh restores them and tells the onRestored listeners (a catch-up), which a refresh that lost nothing does not', async () => {
    const prefix = newPrefix();
    const node = openState(prefix, { presenceTtlSeconds: 1 });
    let restored = 0;
    node.presence.onRestored?.(() => restored++);
    await node.presence.add('alice', 'c-1', 'node-a');
    await node.presence.add('alice', 'c-2', 'node-b');
    // A refresh that finds everything in place (the expiry moves on) tells no one.
    const expiry = await admin.pexpiretime(`${prefix}presence:conns:alice`);
    await waitFor(
      async () => (await admin.pexpiretime(`${prefix}presence:conns:alice`)) > expiry,
      'a refresh of alice',
    );
    expect(restored).toBe(0);

    await admin.del(`${prefix}presence:conns:alice`, `${prefix}presence:nodes:alice`);
    expect(await node.presence.get('alice')).toEqual({ connections: 0, nodes: [] });

    await waitFor(
      async () => (await node.presence.get('alice')).connections === 2,
      'the refresh to restore the lost connections',
    );
    expect(await node.presence.get('alice')).toEqual({ connections: 2, nodes: ['node-a', 'node-b'] });
    await waitFor(() => restored === 1, 'the onRestored listener');
  });

  it('when presence refresh ticks come while a refresh is still out, then their users are refreshed with the next one, not skipped', async () => {
    const prefix = newPrefix();
    const node = openState(prefix, { presenceTtlSeconds: 3 }); // a tick every 10 ms
    const users = Array.from({ length: 300 }, (_, i) => `u-${i}`);
    for (const user of users) await node.presence.add(user, `c-${user}`, 'node-a');
    // The next refresh waits until released, while further ticks come.
    const lease = (
      node.presence as unknown as { lease: { scripts: (...args: unknown[]) => Promise<unknown[]> } }
    ).lease;
    const scripts = lease.scripts.bind(lease);
    const refreshed: number[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    lease.scripts = async (what, script, calls) => {
      if (what !== 'presence refresh') return scripts(what, script, calls);
      refreshed.push((calls as unknown[]).length);
      if (!held) {
        held = true;
        await released;
      }
      return scripts(what, script, calls);
    };
    const behind = (): number => (node.presence as unknown as { behind: Set<number> }).behind.size;
    await waitFor(() => held && behind() >= 20, 'ticks queued behind the held refresh');
    const queued = behind();
    release();
    await waitFor(() => refreshed.length >= 2, 'the next refresh');
    // It carried the users of every slice queued meanwhile (3 users per slice on average).
    expect(refreshed[1]).toBeGreaterThanOrEqual(queued);
    expect(behind()).toBeLessThan(queued);
  });

  it('when every driver has been used, then every key it created is under the prefix and has a TTL', async () => {
    const prefix = newPrefix();
    const state = openState(prefix);
    await state.sessions.create({ id: 's-1', userId: 'alice', nodeId: 'node-a' }, 300);
    await state.sessions.addChannel('s-1', 'user:alice');
    await state.sessions.touch(['s-1'], 300);
    await state.presence.add('alice', 'c-1', 'node-a');
    await state.presence.add('alice', 'c-2', 'node-a');
    await state.presence.remove('alice', 'c-2');
    await state.presence.get('alice');
    await state.orderOwners.claim('o-1', 'alice', 300);
    await state.orderOwners.claim('o-1', 'bob', 300);
    await state.history.append('user:alice', message());
    await state.history.position('user:bob');
    await state.idempotency.begin('k-1', 'fp-a', 300);
    await state.registry.heartbeat(announcement('node-a'), 300);
    await state.registry.list();

    const keys = await scanKeys(prefix);
    expect(keys.map((key) => key.slice(prefix.length))).toEqual(
      [
        'session:s-1',
        'presence:conns:alice',
        'presence:nodes:alice',
        'owner:o-1',
        'offset:user:alice',
        'history:user:alice',
        'offset:user:bob',
        `idem:${createHash('sha256').update('k-1').digest('hex')}`,
        'node:node-a',
        'nodes',
      ].sort(),
    );
    for (const key of keys) expect(await admin.pttl(key), key).toBeGreaterThan(0);
  });

  it('when a node entry expires, then list also drops it from the index', async () => {
    const prefix = newPrefix();
    const state = openState(prefix);
    await state.registry.heartbeat(announcement('node-long'), 300);
    await state.registry.heartbeat(announcement('node-short'), 1);

    await waitFor(
      async () => (await state.registry.list()).length === 1,
      'the short-lived node to leave the list',
    );

    expect(await admin.zrange(`${prefix}nodes`, '0', '-1')).toEqual(['node-long']);
  });

  it('when two nodes share the registry, then each sees both, and a removal is seen by the other', async () => {
    const prefix = newPrefix();
    const a = openState(prefix, { nodeId: 'node-a' });
    const b = openState(prefix, { nodeId: 'node-b' });
    await a.registry.heartbeat(announcement('node-a'), 300);
    await b.registry.heartbeat(announcement('node-b'), 300);

    expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a', 'node-b']);
    await b.registry.remove('node-b');
    expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a']);
  });

  it('when one driver is closed, then the others keep working, and the client quits once all are closed', async () => {
    const state = openState(newPrefix());
    await state.sessions.close();
    await expect(state.sessions.get('s-1')).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(state.sessions.close()).resolves.toBeUndefined();

    expect(await state.orderOwners.claim('o-1', 'alice', 60)).toBe('alice');
    // Every driver but presence (whatever drivers the state has).
    for (const [name, driver] of Object.entries(state)) {
      if (name === 'presence' || name === 'sessions' || name === 'client') continue;
      const closable = driver as { close?: () => Promise<void> };
      if (typeof closable.close === 'function') await closable.close();
    }
    expect(await state.presence.add('alice', 'c-1', 'node-a')).toBe(1);
    expect(state.client.status).toBe('ready');

    await state.presence.close();
    await waitFor(() => state.client.status === 'end', 'the shared client to quit');
    await expect(state.close()).resolves.toBeUndefined();
    await expect(state.history.append('user:alice', message())).rejects.toBeInstanceOf(StateUnavailableError);
  });

  it('when the state is closed, then every driver rejects with StateUnavailableError at once', async () => {
    const state = openState(newPrefix());
    await state.presence.add('alice', 'c-1', 'node-a');

    await state.close();
    await waitFor(() => state.client.status === 'end', 'the shared client to quit');

    await expectAllFailFast(state, 100);
  });

  it('when Redis is unreachable, then every call rejects with StateUnavailableError within about commandTimeoutMs', async () => {
    const commandTimeoutMs = 300;
    const state = openState(newPrefix(), { url: 'redis://127.0.0.1:1', commandTimeoutMs });

    await expectAllFailFast(state, commandTimeoutMs + 500);
    expect(state.ready).toBe(false);
  });

  it('when more calls wait for an unreachable Redis than maxOfflineQueue allows, then the extra ones reject at once', async () => {
    const commandTimeoutMs = 1_000;
    const state = openState(newPrefix(), {
      url: 'redis://127.0.0.1:1',
      commandTimeoutMs,
      maxOfflineQueue: 2,
    });

    const started = Date.now();
    const settled = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        state.orderOwners.get(`o-${i}`).then(
          () => ({ error: undefined, elapsed: Date.now() - started }),
          (error: unknown) => ({ error, elapsed: Date.now() - started }),
        ),
      ),
    );

    for (const { error } of settled) expect(error).toBeInstanceOf(StateUnavailableError);
    const elapsed = settled.map((s) => s.elapsed);
    expect(elapsed.filter((ms) => ms < commandTimeoutMs / 2)).toHaveLength(3);
    expect(elapsed.filter((ms) => ms >= commandTimeoutMs - 50)).toHaveLength(2);
  });

  it('when Redis goes away and comes back, then calls fail fast meanwhile and work again without intervention', async () => {
    // Between the state and the shared Redis: cutting it makes Redis unreachable for this client only.
    const proxy = await TcpProxy.start({ host: REDIS_HOST, port: REDIS_PORT });
    try {
      const commandTimeoutMs = 500;
      const state = openState(newPrefix(), { url: `redis://${proxy.host}:${proxy.port}`, commandTimeoutMs });
      expect(await state.orderOwners.claim('o-1', 'alice', 60)).toBe('alice');

      proxy.refuse();
      proxy.cut();
      await expectAllFailFast(state, commandTimeoutMs + 500);

      proxy.accept();
      await waitFor(
        () =>
          state.orderOwners.get('o-1').then(
            (owner) => owner === 'alice',
            () => false,
          ),
        'the client to reconnect by itself',
        10_000,
        50,
      );
      expect(state.ready).toBe(true);
      expect(await state.history.append('user:alice', message())).toMatchObject({ offset: 1 });
    } finally {
      await proxy.close();
    }
  });
});
