/**
 * Group commit on the machine's Redis: commands a node issues in one event-loop turn (concurrent
 * publishes, concurrent connects) leave in one socket write, each still its own atomic script.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/state/redis/keys.js';
import { RedisConnection } from '../../shared/state/redis/redis-connection.js';
import { RedisHistory } from '../../shared/state/redis/redis-history.js';

import { REDIS_URL } from '../helpers/backends.js';
const PREFIX = `herald-test:group-commit:${randomUUID()}:`;
const RETENTION = { maxMessages: 100, maxAgeMs: 60_000 };

let connection: RedisConnection;
let history: RedisHistory;

/** Counts the writes that reach the socket (one syscall each: _write, or _writev for a corked batch). */
function countWrites(socket: Socket): { count: () => number; restore: () => void } {
  let writes = 0;
  const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
  const originals = { _write: target._write, _writev: target._writev };
  for (const name of ['_write', '_writev'] as const) {
    const original = originals[name];
    target[name] = function (this: unknown, ...args: unknown[]) {
      writes++;
      return original.apply(this, args);
    };
  }
  return { count: () => writes, restore: () => Object.assign(target, originals) };
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
  history = new RedisHistory(connection, redisKeys(PREFIX), () => RETENTION);
  await history.append('user:warm-up', message(0)); // connected, scripts loaded
});

afterAll(async () => {
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
      for (let channel = 0; channel < 5; channel++) {
        const offsets = appended.filter((_, i) => i % 5 === channel).map((a) => a.offset);
        expect(offsets).toEqual(Array.from({ length: 10 }, (_, k) => k + 1));
      }
    } finally {
      writes.restore();
    }
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
