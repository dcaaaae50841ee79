/**
 * The state contract suites against the Redis drivers on the machine's Redis (127.0.0.1:6379), plus
 * what only a real Redis shows: a crashed node's presence expiring, offsets across two clients, data
 * loss, key TTLs, and failing fast while Redis is unreachable.
 *
 * The Redis is shared: every factory call gets its own key prefix under one per-run root, its keys are
 * deleted (SCAN + DEL) after the test, and nothing here flushes or stops Redis. Unreachable Redis is a
 * closed port or a TCP proxy this file starts and stops.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NodeAnnouncement } from '../../shared/state/node-registry.js';
import { redisKeys } from '../../shared/state/redis/keys.js';
import {
  createRedisState,
  type RedisState,
  type RedisStateOptions,
} from '../../shared/state/redis/redis-state.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import type { StateDrivers } from '../../shared/state/state.js';
import {
  BRIEF_MAX_AGE_MS,
  CONTRACT_RETENTION,
  historyContract,
  message,
} from '../contracts/history.contract.js';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { nodeRegistryContract } from '../contracts/node-registry.contract.js';
import { orderOwnersContract } from '../contracts/order-owners.contract.js';
import { presenceContract } from '../contracts/presence.contract.js';
import { readPositionsContract } from '../contracts/read-positions.contract.js';
import { sessionStoreContract } from '../contracts/session-store.contract.js';
import { WEBHOOK_CONTRACT_MAX_PENDING, webhookOutboxContract } from '../contracts/webhook-outbox.contract.js';
import type { ContractFactory } from '../contracts/subject.js';
import { waitFor } from '../helpers/wait.js';

import { REDIS_ADDRESS, REDIS_URL } from '../helpers/backends.js';

const { host: REDIS_HOST, port: REDIS_PORT } = REDIS_ADDRESS;
/** Every key this file writes lives under this root; afterAll checks none is left. */
const ROOT = `herald-test:redis-drivers:${randomUUID()}:`;

let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { lazyConnect: true });
  admin.on('error', () => undefined);
  await admin.connect();
});

afterAll(async () => {
  const left = await scanKeys(ROOT);
  await deleteKeys(ROOT);
  await admin.quit();
  expect(left, 'keys left behind by the Redis driver tests').toEqual([]);
});

function newPrefix(): string {
  prefixes += 1;
  return `${ROOT}${prefixes}:`;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

async function scanKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return [...new Set(keys)].sort();
}

async function deleteKeys(prefix: string): Promise<void> {
  const keys = await scanKeys(prefix);
  if (keys.length > 0) await admin.del(...keys);
}

function stateOptions(prefix: string, overrides: Partial<RedisStateOptions> = {}): RedisStateOptions {
  return {
    url: REDIS_URL,
    prefix,
    nodeId: 'node-test',
    commandTimeoutMs: 2_000,
    presenceTtlSeconds: 30,
    retention: CONTRACT_RETENTION,
    log: pino({ level: 'silent' }),
    ...overrides,
  };
}

/** A contract factory: a whole Redis state per test (own prefix); cleanup closes it and deletes its keys. */
function contractFactory<K extends keyof StateDrivers>(
  kind: K,
  overrides: Partial<RedisStateOptions> = {},
): ContractFactory<StateDrivers[K]> {
  return () => {
    const prefix = newPrefix();
    const state = createRedisState(stateOptions(prefix, overrides));
    const driver: StateDrivers[K] = state[kind];
    return Promise.resolve(
      Object.assign(driver, {
        cleanup: async () => {
          await state.close();
          await deleteKeys(prefix);
        },
      }),
    );
  };
}

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

/** States a test opens, closed and their keys deleted after it. */
const opened: { state: RedisState; prefix: string }[] = [];

function openState(prefix: string, overrides: Partial<RedisStateOptions> = {}): RedisState {
  const state = createRedisState(stateOptions(prefix, overrides));
  opened.push({ state, prefix });
  return state;
}

afterEach(async () => {
  const states = opened.splice(0);
  await Promise.all(states.map(({ state }) => state.close()));
  for (const prefix of new Set(states.map((s) => s.prefix))) await deleteKeys(prefix);
});

function announcement(id: string): NodeAnnouncement {
  return { id, url: 'http://10.0.0.1:8080', connections: 0, capacity: 1, draining: false, startedAt: 1 };
}

/** Forwards TCP to the shared Redis; stopping it makes Redis unreachable for its clients only. */
class TcpProxy {
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((downstream) => {
      const upstream = connect(REDIS_PORT, REDIS_HOST);
      for (const socket of [downstream, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          downstream.destroy();
          upstream.destroy();
        });
      }
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
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

  it('when Redis loses the presence keys of a live driver, then its refresh restores them', async () => {
    const prefix = newPrefix();
    const node = openState(prefix, { presenceTtlSeconds: 1 });
    await node.presence.add('alice', 'c-1', 'node-a');
    await node.presence.add('alice', 'c-2', 'node-b');

    await admin.del(`${prefix}presence:conns:alice`, `${prefix}presence:nodes:alice`);
    expect(await node.presence.get('alice')).toEqual({ connections: 0, nodes: [] });

    await waitFor(
      async () => (await node.presence.get('alice')).connections === 2,
      'the refresh to restore the lost connections',
    );
    expect(await node.presence.get('alice')).toEqual({ connections: 2, nodes: ['node-a', 'node-b'] });
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
    const proxy = new TcpProxy();
    await proxy.start();
    try {
      const commandTimeoutMs = 500;
      const state = openState(newPrefix(), { url: proxy.url, commandTimeoutMs });
      expect(await state.orderOwners.claim('o-1', 'alice', 60)).toBe('alice');

      await proxy.stop();
      await expectAllFailFast(state, commandTimeoutMs + 500);

      await proxy.start();
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
      await proxy.stop();
    }
  });
});

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
