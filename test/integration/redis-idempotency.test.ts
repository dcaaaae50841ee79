/**
 * The Redis idempotency store on the machine's Redis, beyond its contract suite (redis-drivers.test.ts):
 * the keys it writes (a hash named by the key's SHA-256, with the TTL of its begin or complete), two
 * clients claiming the same keys at once, and closing it while the shared client stays open.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/state/redis/keys.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { redisStateHarness } from '../helpers/redis-state.js';

const { admin, newPrefix, openState, scanKeys } = redisStateHarness('redis-idempotency');

describe('Redis idempotency store', () => {
  it('when keys are claimed, answered and abandoned, then each live one is a hash named by the SHA-256 of the key, under the prefix, with the TTL of its begin or complete', async () => {
    const prefix = newPrefix();
    const store = openState(prefix).idempotency;
    const longKey = 'K'.repeat(200) + '*?[]:{} ~!'.repeat(5) + 'x'.repeat(5);
    await store.begin('k-pending', 'fp-a', 300);
    // Neither a pending nor a conflicting begin may extend the claim.
    await store.begin('k-pending', 'fp-a', 600);
    await store.begin('k-pending', 'fp-b', 600);
    await store.begin('k-done', 'fp-a', 300);
    await store.complete('k-done', 'fp-a', '{"ok":true}', 60);
    await store.begin(longKey, 'fp-a', 300);
    await store.begin('k-abandoned', 'fp-a', 300);
    await store.abandon('k-abandoned', 'fp-a');

    const keys = redisKeys(prefix);
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(longKey).toHaveLength(255);
    expect(keys.idempotency(longKey)).toBe(`${prefix}idem:${sha256(longKey)}`);
    expect(await scanKeys(prefix)).toEqual(
      ['k-pending', 'k-done', longKey].map((key) => `${prefix}idem:${sha256(key)}`).sort(),
    );
    expect(await admin.hgetall(keys.idempotency('k-pending'))).toEqual({ f: 'fp-a', s: 'pending' });
    expect(await admin.hgetall(keys.idempotency('k-done'))).toEqual({
      f: 'fp-a',
      s: 'done',
      a: '{"ok":true}',
    });
    for (const [key, ttlMs] of [
      ['k-pending', 300_000],
      ['k-done', 60_000],
      [longKey, 300_000],
    ] as const) {
      const pttl = await admin.pttl(keys.idempotency(key));
      expect(pttl, key).toBeGreaterThan(ttlMs - 10_000);
      expect(pttl, key).toBeLessThanOrEqual(ttlMs);
    }
  });

  it('when two nodes (two clients) begin the same new keys at once, then exactly one request per key is new', async () => {
    const prefix = newPrefix();
    const a = openState(prefix, { nodeId: 'node-a' }).idempotency;
    const b = openState(prefix, { nodeId: 'node-b' }).idempotency;
    const keys = Array.from({ length: 50 }, (_, i) => `k-${i}`);

    // Even keys: the same request twice; odd keys: two different requests.
    const results = await Promise.all(
      keys.map((key, i) =>
        Promise.all([a.begin(key, 'fp-a', 300), b.begin(key, i % 2 ? 'fp-b' : 'fp-a', 300)]),
      ),
    );

    for (const [i, pair] of results.entries()) {
      expect(pair.map((r) => r.state).sort(), keys[i]).toEqual(
        i % 2 ? ['conflict', 'new'] : ['new', 'pending'],
      );
    }
  });

  it('when the idempotency store is closed, then it rejects with StateUnavailableError while the other drivers keep working on the open client', async () => {
    const state = openState(newPrefix());
    const store = state.idempotency;
    expect(await store.begin('k-1', 'fp-a', 60)).toEqual({ state: 'new' });
    await store.close();

    await expect(store.begin('k-1', 'fp-a', 60)).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(store.complete('k-1', 'fp-a', '{}', 60)).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(store.abandon('k-1', 'fp-a')).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(store.close()).resolves.toBeUndefined();
    expect(await state.orderOwners.claim('o-1', 'alice', 60)).toBe('alice');
    expect(state.client.status).toBe('ready');
    await state.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
