/**
 * Redis history on the machine's Redis, beyond its contract suite (redis-drivers.test.ts): the keys it
 * writes (an offset hash and a stream per channel, dedupe records, their TTLs), two clients appending
 * at once, data loss of either key, idle expiry, and closing it while the shared client stays open.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/state/redis/keys.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { BRIEF_MAX_AGE_MS, message } from '../contracts/history.contract.js';
import { redisStateHarness } from '../helpers/redis-state.js';
import { waitFor } from '../helpers/wait.js';

const { admin, newPrefix, openState, scanKeys } = redisStateHarness('redis-history');

describe('Redis history', () => {
  const maxAgeMs = 300_000; // CONTRACT_RETENTION for user:/order: channels

  it('when history is used, then each channel is an offset hash and a stream with ids {offset}-0, under the prefix, trimmed exactly, and every key has a TTL of maxAgeMs', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    const sent = [message(), message(), message()];
    for (const m of sent) await history.append('user:alice', m);
    for (let i = 0; i < 12; i++) await history.append('small:promo', message());
    await history.position('user:bob');
    await history.read('order:o-1', 0, 10);

    const keys = redisKeys(prefix);
    expect(await scanKeys(prefix)).toEqual(
      [
        keys.offset('user:alice'),
        keys.history('user:alice'),
        keys.offset('small:promo'),
        keys.history('small:promo'),
        keys.offset('user:bob'),
        keys.offset('order:o-1'),
      ].sort(),
    );
    const { epoch } = await history.position('user:alice');
    expect(await admin.hgetall(keys.offset('user:alice'))).toEqual({ e: epoch, o: '3' });
    expect(await admin.xrange(keys.history('user:alice'), '-', '+')).toEqual(
      sent.map((m, i) => [
        `${i + 1}-0`,
        ['id', m.id, 'event', m.event, 'data', m.dataJson, 'ts', String(m.ts)],
      ]),
    );
    expect(await admin.xlen(keys.history('small:promo'))).toBe(5);
    for (const key of await scanKeys(prefix)) {
      const pttl = await admin.pttl(key);
      expect(pttl, key).toBeGreaterThan(maxAgeMs - 10_000);
      expect(pttl, key).toBeLessThanOrEqual(maxAgeMs);
    }
  });

  it('when history appends with a dedupe key, then the record is a hash named by the channel and the SHA-256 of the key, with the TTL of the key', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    const key = 'orders:' + 'K*?[]:{} #'.repeat(25) + '#user:alice#0';
    const sent = message();
    const first = await history.append('user:alice', sent, { key, ttlSeconds: 60 });
    await history.append('user:alice', message(), { key, ttlSeconds: 600 }); // a replay: no new TTL

    const keys = redisKeys(prefix);
    const record = `${prefix}dedupe:user:alice:${createHash('sha256').update(key).digest('hex')}`;
    expect(keys.historyDedupe('user:alice', key)).toBe(record);
    expect(await scanKeys(prefix)).toEqual(
      [keys.offset('user:alice'), keys.history('user:alice'), record].sort(),
    );
    expect(await admin.hgetall(record)).toEqual({
      e: first.epoch,
      o: '1',
      i: sent.id,
      t: String(sent.ts),
    });
    const pttl = await admin.pttl(record);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('when two nodes (two clients) append with the same dedupe keys at once, then each key stores one message', async () => {
    const prefix = newPrefix();
    const a = openState(prefix, { nodeId: 'node-a' }).history;
    const b = openState(prefix, { nodeId: 'node-b' }).history;
    const keys = Array.from({ length: 30 }, (_, i) => `req-${i}#user:alice#0`);

    const answers = await Promise.all(
      keys.map((key) =>
        Promise.all([
          a.append('user:alice', message(), { key, ttlSeconds: 60 }),
          b.append('user:alice', message(), { key, ttlSeconds: 60 }),
        ]),
      ),
    );

    for (const [i, [x, y]] of answers.entries()) {
      expect(x.offset, keys[i]).toBe(y.offset);
      expect(
        [x.replayed, y.replayed].filter((r) => r === undefined),
        keys[i],
      ).toHaveLength(1);
    }
    expect((await a.position('user:alice')).offset).toBe(keys.length);
  });

  it('when the stream is lost but the offset hash is not, then offsets never repeat and the lost range reads as not complete', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    for (let i = 0; i < 3; i++) await history.append('user:alice', message());
    const before = await history.position('user:alice');

    expect(await admin.del(`${prefix}history:user:alice`)).toBe(1);
    expect(await history.position('user:alice')).toEqual(before);
    expect(await history.read('user:alice', 0, 10)).toEqual({ ...before, messages: [], complete: false });

    const sent = message();
    expect(await history.append('user:alice', sent)).toEqual({ offset: 4, epoch: before.epoch });
    expect(await history.read('user:alice', 0, 10)).toEqual({
      offset: 4,
      epoch: before.epoch,
      messages: [{ ...sent, offset: 4 }],
      complete: false,
    });
    expect((await history.read('user:alice', 3, 10)).complete).toBe(true);
    for (const key of await scanKeys(prefix)) expect(await admin.pttl(key), key).toBeGreaterThan(0);
  });

  it('when the offset hash is lost but the stream is not, then the old run is dropped and the next append is offset 1 on a new epoch', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    const old = await history.append('user:alice', message());
    await history.append('user:alice', message());

    await admin.del(`${prefix}offset:user:alice`);

    const position = await history.position('user:alice');
    expect(position.offset).toBe(0);
    expect(position.epoch).not.toBe(old.epoch);
    expect(await admin.exists(`${prefix}history:user:alice`)).toBe(0);
    const sent = message();
    expect(await history.append('user:alice', sent)).toEqual({ offset: 1, epoch: position.epoch });
    expect(await history.read('user:alice', 0, 10)).toEqual({
      offset: 1,
      epoch: position.epoch,
      messages: [{ ...sent, offset: 1 }],
      complete: true,
    });
  });

  it('when two nodes (two clients) append 200 times each at once, then offsets are exactly 1..400 on one epoch and all 400 read back in order', async () => {
    const prefix = newPrefix();
    const a = openState(prefix, { nodeId: 'node-a' }).history;
    const b = openState(prefix, { nodeId: 'node-b' }).history;
    const sent = Array.from({ length: 400 }, () => message());

    const positions = await Promise.all(sent.map((m, i) => (i % 2 ? a : b).append('broadcast', m)));

    expect(positions.map((p) => p.offset).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 400 }, (_, i) => i + 1),
    );
    const epochs = new Set(positions.map((p) => p.epoch));
    expect(epochs.size).toBe(1);
    const [epoch] = [...epochs];
    expect(await a.position('broadcast')).toEqual({ offset: 400, epoch });
    expect(await b.position('broadcast')).toEqual({ offset: 400, epoch });
    const read = await b.read('broadcast', 0, 1_000);
    expect(read.complete).toBe(true);
    expect(read.messages).toEqual(
      sent.map((m, i) => ({ ...m, offset: positions[i]!.offset })).sort((x, y) => x.offset - y.offset),
    );
  });

  it('when position and append race on new channels from two clients, then append carries the epoch position reported', async () => {
    const prefix = newPrefix();
    const a = openState(prefix).history;
    const b = openState(prefix).history;
    const channels = Array.from({ length: 30 }, (_, i) => `order:o-${i}`);

    const pairs = await Promise.all(
      channels.map((channel, i) =>
        i % 2
          ? Promise.all([a.position(channel), b.append(channel, message())])
          : Promise.all([b.append(channel, message()), a.position(channel)]).then(([n, c]) => [c, n]),
      ),
    );

    for (const [position, appended] of pairs) {
      expect(appended!.offset).toBe(1);
      expect([0, 1]).toContain(position!.offset);
      expect(appended!.epoch).toBe(position!.epoch);
    }
  });

  it('when the offset hash is lost (Redis data loss) and append comes first, then it is offset 1 on a new epoch and the old run is gone', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    for (let i = 0; i < 3; i++) await history.append('user:alice', message());
    const before = await history.position('user:alice');
    expect(before.offset).toBe(3);

    expect(await admin.del(`${prefix}offset:user:alice`)).toBe(1);

    const sent = message();
    const after = await history.append('user:alice', sent);
    expect(after.offset).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
    expect(await history.position('user:alice')).toEqual(after);
    expect(await history.read('user:alice', 0, 10)).toEqual({
      ...after,
      messages: [{ ...sent, offset: 1 }],
      complete: true,
    });
    expect(await history.append('user:alice', message())).toEqual({ offset: 2, epoch: after.epoch });
  });

  it('when a channel stays idle for its maxAgeMs, then both its keys expire and the next run has a new epoch', async () => {
    const prefix = newPrefix();
    const history = openState(prefix).history;
    const old = await history.append('brief:alice', message());
    await history.append('brief:alice', message());
    for (const key of [`${prefix}offset:brief:alice`, `${prefix}history:brief:alice`]) {
      const pttl = await admin.pttl(key);
      expect(pttl, key).toBeGreaterThan(0);
      expect(pttl, key).toBeLessThanOrEqual(BRIEF_MAX_AGE_MS);
    }

    await waitFor(
      async () => (await admin.exists(`${prefix}offset:brief:alice`, `${prefix}history:brief:alice`)) === 0,
      'the idle channel to expire',
    );

    const fresh = await history.append('brief:alice', message());
    expect(fresh.offset).toBe(1);
    expect(fresh.epoch).not.toBe(old.epoch);
  });

  it('when history is closed, then it rejects with StateUnavailableError while the other drivers keep working on the open client', async () => {
    const state = openState(newPrefix());
    const history = state.history;
    expect((await history.append('user:alice', message())).offset).toBe(1);
    await history.close();

    await expect(history.append('user:alice', message())).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(history.position('user:alice')).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(history.read('user:alice', 0, 10)).rejects.toBeInstanceOf(StateUnavailableError);
    await expect(history.close()).resolves.toBeUndefined();
    expect(await state.orderOwners.claim('o-1', 'alice', 60)).toBe('alice');
    expect(state.client.status).toBe('ready');
    await state.close();
    await expect(history.close()).resolves.toBeUndefined();
  });
});
