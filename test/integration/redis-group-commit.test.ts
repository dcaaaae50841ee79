/**
 * Group commit on the machine's Redis: commands a node issues in one event-loop turn (concurrent
 * publishes, concurrent connects) leave in one socket write, and script calls made one after another
 * in one batch script call, each still its own atomic script with its own answer.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/state/redis/keys.js';
import { RedisConnection } from '../../shared/state/redis/redis-connection.js';
import { RedisHistory } from '../../shared/state/redis/redis-history.js';
import { RedisPresence } from '../../shared/state/redis/redis-presence.js';
import { RedisReadPositions } from '../../shared/state/redis/redis-read-positions.js';
import { RedisSessionStore } from '../../shared/state/redis/redis-session-store.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';

import { REDIS_URL } from '../helpers/backends.js';
import { countSocketWrites, type SocketWrites } from '../helpers/socket-writes.js';
const PREFIX = `herald-test:group-commit:${randomUUID()}:`;
const RETENTION = { maxMessages: 100, maxAgeMs: 60_000 };

let connection: RedisConnection;
let history: RedisHistory;
let presence: RedisPresence;
let sessions: RedisSessionStore;
let reads: RedisReadPositions;
const keys = redisKeys(PREFIX);
const RETURNS_ERROR = { name: 'heraldTestReturnsError', lua: `return redis.error_reply('boom')` };
const ECHO = { name: 'heraldTestEcho', lua: `return ARGV[1]` };

/** The writes that reach the socket, and the script calls they carry (EVALSHA, or EVAL the first time). */
function countWrites(socket: Socket): SocketWrites & { scriptCalls: () => number } {
  const writes = countSocketWrites(socket);
  return {
    ...writes,
    scriptCalls: () =>
      writes
        .text()
        .toLowerCase()
        .split(/\r\neval(?:sha)?\r\n/).length - 1,
  };
}

const message = (i: number) => ({ id: randomUUID(), event: 'e', dataJson: `{"i":${i}}`, ts: Date.now() });

beforeAll(async () => {
  connection = new RedisConnection({
    url: REDIS_URL,
    nodeId: 'group-commit',
    commandTimeoutMs: 2_000,
    maxOfflineQueue: 100,
    log: pino({ level: 'silent' }),
  });
  history = new RedisHistory(connection, keys, () => RETENTION);
  presence = new RedisPresence(connection, keys, 60, pino({ level: 'silent' }));
  sessions = new RedisSessionStore(connection, keys);
  reads = new RedisReadPositions(connection, keys);
  await history.append('user:warm-up', message(0)); // connected, scripts loaded
});

afterAll(async () => {
  await Promise.all([presence.close(), sessions.close(), reads.close()]);
  await history.close();
  const admin = new Redis(REDIS_URL);
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe('Redis group commit', () => {
  it('when 50 publishes append in one event-loop turn, then one socket write carries them and each channel gets consecutive offsets', async () => {
    const writes = countWrites((connection.client as Redis).stream);
    try {
      const appended = await Promise.all(
        Array.from({ length: 50 }, (_, i) => history.append(`user:g${i % 5}`, message(i))),
      );
      expect(writes.count()).toBe(1);
      expect(writes.scriptCalls()).toBe(1); // one batch script call carries the 50 appends
      for (let channel = 0; channel < 5; channel++) {
        const offsets = appended.filter((_, i) => i % 5 === channel).map((a) => a.offset);
        expect(offsets).toEqual(Array.from({ length: 10 }, (_, k) => k + 1));
      }
    } finally {
      writes.restore();
    }
  });

  it('when 20 routed publishes append and look up their users in one turn, then one batch script call carries the appends, the lookups follow it, and each lookup sees what was issued before it', async () => {
    // A batch before counting: the batch script is loaded (no NOSCRIPT resend in what is counted).
    await Promise.all([
      presence.add('routed-a', 'conn-a1', 'node-a'),
      history.append('user:routed-a', message(0)),
    ]);
    const writes = countWrites((connection.client as Redis).stream);
    try {
      // Issued in this turn before the lookups: a plain command (written at once), a batched add.
      const plainAdd = connection.run('test hset', (client) =>
        client.hset(keys.presenceNodes('routed-c'), 'conn-c1', 'node-c'),
      );
      const adding = presence.add('routed-a', 'conn-a2', 'node-b');
      // As the router issues them (router.ts): each message's lookup right after its append.
      const routed = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const user = ['routed-a', 'routed-c', `routed-nobody-${i}`][i % 3]!;
          const appending = history.append(`user:${user}`, message(i));
          return Promise.all([appending, presence.nodesOf(user)]);
        }),
      );
      await Promise.all([adding, plainAdd]);
      // The plain command, then one batch script call (the add and the 20 appends), then the lookups.
      expect(writes.scriptCalls()).toBe(1);
      const text = writes.text().toLowerCase();
      expect(text.split('\r\nhvals\r\n')).toHaveLength(21);
      expect(text.indexOf('\r\nhset\r\n')).toBeLessThan(text.indexOf('\r\nevalsha\r\n'));
      expect(text.indexOf('\r\nevalsha\r\n')).toBeLessThan(text.indexOf('\r\nhvals\r\n'));
      expect(routed.map(([appended]) => appended.offset)).toEqual(
        Array.from({ length: 20 }, (_, i) => [Math.floor(i / 3) + 2, Math.floor(i / 3) + 1, 1][i % 3]),
      );
      expect(routed.map(([, nodes]) => [...nodes].sort())).toEqual(
        Array.from({ length: 20 }, (_, i) => [['node-a', 'node-b'], ['node-c'], []][i % 3]),
      );
    } finally {
      writes.restore();
    }
  });

  it('when the drivers close right after a lookup is issued, then the lookup is still answered', async () => {
    const own = new RedisConnection({
      url: REDIS_URL,
      nodeId: 'group-commit-close',
      commandTimeoutMs: 2_000,
      maxOfflineQueue: 100,
      log: pino({ level: 'silent' }),
    });
    const ownPresence = new RedisPresence(own, keys, 60, pino({ level: 'silent' }));
    await ownPresence.add('closing-user', 'conn-x', 'node-x');
    const lookup = ownPresence.nodesOf('closing-user');
    await ownPresence.close();
    expect(await lookup).toEqual(['node-x']);
  });

  it('when connects of many users register in one turn, then one batch script carries every driver’s calls and each gets its own answer', async () => {
    const writes = countWrites((connection.client as Redis).stream);
    try {
      const users = Array.from({ length: 20 }, (_, i) => `batch-user-${i}`);
      const [counts, created, readPositions] = await Promise.all([
        Promise.all(users.map((u) => presence.add(u, `conn-${u}`, 'node-g'))),
        Promise.all(
          users.map((u) =>
            sessions.create({ id: `s-${u}`, userId: u, nodeId: 'node-g', channels: [`user:${u}`] }, 60),
          ),
        ),
        Promise.all(users.map((u) => reads.get(u, `user:${u}`))),
      ]);
      expect(writes.scriptCalls()).toBe(1);
      expect(counts).toEqual(users.map(() => 1));
      expect(created).toHaveLength(20);
      expect(readPositions).toEqual(users.map(() => undefined));
      expect(await sessions.get('s-batch-user-7')).toEqual({
        id: 's-batch-user-7',
        userId: 'batch-user-7',
        nodeId: 'node-g',
        channels: ['user:batch-user-7'],
      });
    } finally {
      writes.restore();
    }
  });

  it('when one call of a batch fails, then only that call rejects (StateUnavailableError) and the others are answered', async () => {
    const admin = new Redis(REDIS_URL);
    await admin.set(keys.readPositions('not-a-hash'), 'a string'); // HGET on it: WRONGTYPE
    await admin.quit();
    const writes = countWrites((connection.client as Redis).stream);
    try {
      const results = await Promise.allSettled([
        presence.add('fail-a', 'conn-a', 'node-g'),
        reads.get('not-a-hash', 'user:not-a-hash'),
        presence.add('fail-b', 'conn-b', 'node-g'),
      ]);
      expect(writes.scriptCalls()).toBe(1);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const failed = results[1] as PromiseRejectedResult;
      expect(failed.reason).toBeInstanceOf(StateUnavailableError);
      expect(String((failed.reason as Error).message)).toMatch(/read get.*WRONGTYPE/);
    } finally {
      writes.restore();
    }
  });

  it('when a batched script returns an error reply (not raised), then that call rejects as it would alone', async () => {
    const lease = connection.lease([RETURNS_ERROR, ECHO]);
    try {
      const [failed, echoed] = await Promise.allSettled([
        lease.script('test error reply', RETURNS_ERROR, [keys.session('x')], []),
        lease.script('test echo', ECHO, [keys.session('y')], ['hello']),
      ]);
      expect(failed.status).toBe('rejected');
      expect(String((failed as PromiseRejectedResult).reason)).toMatch(/boom/);
      expect(echoed).toEqual({ status: 'fulfilled', value: 'hello' });
      // Alone, the same script rejects the same way.
      await expect(lease.script('test error reply', RETURNS_ERROR, [keys.session('x')], [])).rejects.toThrow(
        /boom/,
      );
    } finally {
      await lease.close();
    }
  });

  it('when a plain command follows batched script calls in the same turn, then it is written after them and sees their writes', async () => {
    const key = keys.session('s-ordered');
    const create = sessions.create({ id: 's-ordered', userId: 'u-o', nodeId: 'node-g' }, 60);
    const read = connection.run('test hgetall', (client) => client.hgetall(key));
    await create;
    expect(await read).toMatchObject({ u: 'u-o', n: 'node-g' });
  });

  it('when appends come one per turn, each awaited, then each is written on its own (nothing waits for company)', async () => {
    const writes = countWrites((connection.client as Redis).stream);
    try {
      for (let i = 0; i < 5; i++) await history.append('user:sequential', message(i));
      expect(writes.count()).toBe(5);
    } finally {
      writes.restore();
    }
  });
});
