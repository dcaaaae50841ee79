/**
 * Presence on Redis, per user: a sorted set of connection ids scored by their expiry (milliseconds on
 * the Redis clock, so nodes with skewed clocks agree) and a hash connection id → node id, changed
 * together by Lua scripts. Expired members are dropped by every add and get; both keys expire with
 * their newest member, so a user nobody refreshes leaves no key behind.
 *
 * Liveness: the driver remembers the connections it added and re-adds them (fresh expiry) every
 * presenceTtl/3 (a hundredth of the users per tick). A node that dies stops refreshing, and its
 * connections vanish within presenceTtlSeconds. A refresh also restores connections Redis lost
 * (restart, failover).
 *
 * Presence routes messages (shared/core/router.ts; a user with no entry gets them on no node), so a
 * time this node's entries may have been missing matters: after a failed refresh or a dropped link,
 * the next chance (the link ready again, or the next refresh tick) re-adds every connection at once,
 * then tells the `onRestored` listeners, which catch up from history on what was routed past this
 * node meanwhile. A refresh that finds some of its connections missing (the store lost them while the
 * link stayed up) tells them too, once it has put them back.
 */
import type { Logger } from 'pino';
import { SlicedInterval, sliceOf } from '../../scheduling/sliced-interval.js';
import type { Presence, UserPresence } from '../presence.js';
import type { RedisKeys } from './keys.js';
import {
  LUA_NOW_MS,
  ttlMs,
  type LuaScript,
  type RedisConnection,
  type RedisLease,
} from './redis-connection.js';
import { asArray, asInteger, asStrings } from './replies.js';

/** Ticks per refresh period: a tick re-adds about 1/100 of the users (a few hundred µs of work). */
const REFRESH_SLICES = 100;
/** Shortest time between two attempts to restore presence (see restore). */
const RESTORE_SPACING_MS = 1_000;

/** KEYS[1] zset, KEYS[2] hash: drops members whose expiry is not after `now`, from both. */
const PURGE_EXPIRED = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #expired, 1000 do
  redis.call('HDEL', KEYS[2], unpack(expired, i, math.min(i + 999, #expired)))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end`;

/**
 * ARGV[1] TTL in ms, then connectionId, nodeId pairs: adds or refreshes them; returns { the user's
 * count, how many of these connections were not there (new, or lost by the store) }.
 */
const UPSERT: LuaScript = {
  name: 'heraldPresenceUpsert',
  lua: `${LUA_NOW_MS}
${PURGE_EXPIRED}
local expiry = now + tonumber(ARGV[1])
local missing = 0
for i = 2, #ARGV, 2 do
  missing = missing + redis.call('ZADD', KEYS[1], expiry, ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then
  redis.call('PEXPIREAT', KEYS[1], newest[2])
  redis.call('PEXPIREAT', KEYS[2], newest[2])
end
return {redis.call('ZCARD', KEYS[1]), missing}`,
};

/**
 * ARGV[1] connectionId: removes it from both keys (a script, so concurrent removes share a round
 * trip); returns the live connections left (expired ones not counted).
 */
const REMOVE: LuaScript = {
  name: 'heraldPresenceRemove',
  lua: `${LUA_NOW_MS}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`,
};

/** Returns { live connection count, distinct nodes (unsorted) }. */
const GET: LuaScript = {
  name: 'heraldPresenceGet',
  lua: `${LUA_NOW_MS}
${PURGE_EXPIRED}
local count = redis.call('ZCARD', KEYS[1])
local seen, nodes = {}, {}
if count > 0 then
  for _, node in ipairs(redis.call('HVALS', KEYS[2])) do
    if not seen[node] then
      seen[node] = true
      nodes[#nodes + 1] = node
    end
  end
end
return {count, nodes}`,
};

/**
 * What the driver added, by refresh slice: userId → [connectionId, nodeId, connectionId, nodeId, …],
 * the very pairs a refresh passes to UPSERT (a flat array per user: a few dozen bytes per
 * connection). A tick visits its own slice only.
 */
type Added = Map<string, string[]>[];

export class RedisPresence implements Presence {
  private readonly lease: RedisLease;
  private readonly added: Added = Array.from({ length: REFRESH_SLICES }, () => new Map<string, string[]>());
  private readonly ttlMs: number;
  private readonly refresher: SlicedInterval;
  private refreshing = false;
  /** Slices whose tick came while a refresh was out: refreshed with the next one. */
  private readonly behind = new Set<number>();
  /** This node's entries may be missing from Redis (a refresh failed, the link dropped). */
  private stale = false;
  private restoring = false;
  private nextRestoreAt = 0;
  private readonly restoredListeners = new Set<() => void>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    presenceTtlSeconds: number,
    private readonly log: Logger,
  ) {
    if (!(presenceTtlSeconds > 0)) throw new TypeError('presenceTtlSeconds must be positive');
    this.lease = connection.lease([UPSERT, REMOVE, GET]);
    this.ttlMs = ttlMs(presenceTtlSeconds);
    // Each user is refreshed once per TTL/3, spread over REFRESH_SLICES ticks, so thousands of users
    // never become one burst of scripts on this node or on Redis.
    this.refresher = new SlicedInterval(Math.max(Math.floor(this.ttlMs / 3), 50), REFRESH_SLICES, (slice) => {
      void this.refresh(slice);
    });
    connection.client.on('close', () => {
      this.stale = true;
    });
    connection.client.on('ready', () => {
      if (this.stale) void this.restore();
    });
  }

  onRestored(listener: () => void): void {
    this.restoredListeners.add(listener);
  }

  async add(userId: string, connectionId: string, nodeId: string): Promise<number> {
    // Remembered before the command is sent, so a remove issued meanwhile forgets it in the same order
    // the two commands reach Redis.
    const users = this.usersLike(userId);
    const pairs = users.get(userId);
    if (pairs === undefined) users.set(userId, [connectionId, nodeId]);
    else pairs.push(connectionId, nodeId);
    try {
      const reply = await this.lease.script('presence add', UPSERT, this.userKeys(userId), [
        this.ttlMs,
        connectionId,
        nodeId,
      ]);
      return asInteger(asArray(reply, 'presence add')[0], 'presence add');
    } catch (err) {
      // The caller sees a failure and will not remove it: stop refreshing it (if it did reach Redis,
      // it expires within the presence TTL). Connection ids are unique, so this is that very add.
      this.forget(userId, connectionId);
      throw err;
    }
  }

  async remove(userId: string, connectionId: string): Promise<number> {
    this.forget(userId, connectionId);
    const left = await this.lease.script('presence remove', REMOVE, this.userKeys(userId), [connectionId]);
    return asInteger(left, 'presence remove');
  }

  async get(userId: string): Promise<UserPresence> {
    const reply = asArray(
      await this.lease.script('presence get', GET, this.userKeys(userId), []),
      'presence get',
    );
    return {
      connections: asInteger(reply[0], 'presence get count'),
      nodes: asStrings(reply[1], 'presence get nodes').sort(),
    };
  }

  /** One connection runs commands in call order; a cluster's shards do not (presence.ts). */
  get inCallOrder(): boolean {
    return !this.connection.clustered;
  }

  /**
   * HVALS without a purge: connections that just expired still count (a superset, see presence.ts).
   * Written after the batched script calls (`readAfterBatch`), so the appends of concurrent publishes
   * stay one batch script call. It may then also see adds and removes issued after it in the same
   * turn: more nodes, or fewer by connections that have closed, never a live connection's node less.
   */
  async nodesOf(userId: string): Promise<string[]> {
    const what = 'presence nodes';
    const nodes = asStrings(
      await this.lease.readAfterBatch(what, (client) => client.hvals(this.keys.presenceNodes(userId))),
      what,
    );
    return nodes.length < 2 ? nodes : [...new Set(nodes)];
  }

  /** Stops refreshing; the connections stay in Redis until removed or expired. */
  close(): Promise<void> {
    this.refresher.stop();
    this.restoredListeners.clear();
    for (const users of this.added) users.clear();
    return this.lease.close();
  }

  /**
   * Re-adds the connections of this slice's users, one script call per user, in one pipeline. A tick
   * that comes while the previous refresh is still out is not skipped (its users would expire
   * unnoticed): its slice goes with the next refresh.
   */
  private async refresh(slice: number): Promise<void> {
    if (this.stale) return this.restore();
    this.behind.add(slice);
    if (this.refreshing) return;
    const slices = [...this.behind].map((s) => this.added[s]!).filter((users) => users.size > 0);
    this.behind.clear();
    if (slices.length === 0) return;
    this.refreshing = true;
    let lost = false;
    try {
      const missing = await this.upsert('presence refresh', slices);
      // Connections this driver added and never removed were not in the store: it lost them (a
      // restart without the link dropping, a failover that lost the last writes, a flush), and
      // messages routed by presence meanwhile went past this node. Likely the other slices' too: every
      // connection is re-added at once, then the listeners catch up (restore).
      if (missing > 0) {
        this.log.warn({ missing }, 'presence refresh found connections the state store had lost');
        this.stale = lost = true;
      }
    } catch (err) {
      this.stale = true;
      this.log.warn(
        { err, users: slices.reduce((n, users) => n + users.size, 0) },
        'presence refresh failed; re-adding every connection next tick',
      );
    } finally {
      this.refreshing = false;
    }
    if (lost) await this.restore();
  }

  /**
   * Re-adds every connection this driver added, then tells the listeners. At most once per
   * RESTORE_SPACING_MS: while part of the state store is down (one shard of a Redis Cluster failing
   * over), every attempt re-sends what the live part took already.
   */
  private async restore(): Promise<void> {
    if (this.restoring || performance.now() < this.nextRestoreAt) return;
    this.nextRestoreAt = performance.now() + RESTORE_SPACING_MS;
    this.restoring = true;
    // Cleared first: a failure while this runs marks it stale again for the next chance.
    this.stale = false;
    // No connection here: nothing to re-add, and no subscriber that could have missed anything.
    if (this.added.every((users) => users.size === 0)) {
      this.restoring = false;
      return;
    }
    try {
      await this.upsert('presence restore', this.added);
      this.log.info('presence restored; catching up what was routed past this node meanwhile');
      for (const listener of this.restoredListeners) {
        try {
          listener();
        } catch (err) {
          this.log.error({ err }, 'presence restored listener threw');
        }
      }
    } catch (err) {
      this.stale = true;
      // While Redis is known down the connection says so already; a failure on a live link is news.
      if (this.connection.ready) this.log.warn({ err }, 'presence restore failed; retrying next tick');
      else this.log.debug({ err }, 'presence restore waits for redis');
    } finally {
      this.restoring = false;
    }
  }

  /** Re-adds the connections of `slices`; answers how many of them the store did not hold. */
  private async upsert(what: string, slices: readonly Map<string, string[]>[]): Promise<number> {
    const calls: { keys: string[]; args: (string | number)[] }[] = [];
    for (const users of slices)
      for (const [userId, pairs] of users)
        calls.push({ keys: this.userKeys(userId), args: [this.ttlMs, ...pairs] });
    const replies = await this.lease.scripts(what, UPSERT, calls);
    let missing = 0;
    for (const reply of replies) missing += asInteger(asArray(reply, what)[1], what);
    return missing;
  }

  /** The slice of `added` that holds `userId`. */
  private usersLike(userId: string): Map<string, string[]> {
    return this.added[sliceOf(userId, REFRESH_SLICES)]!;
  }

  private forget(userId: string, connectionId: string): void {
    const users = this.usersLike(userId);
    const pairs = users.get(userId);
    if (pairs === undefined) return;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] !== connectionId) continue;
      if (pairs.length === 2) users.delete(userId);
      else pairs.splice(i, 2);
      return;
    }
  }

  private userKeys(userId: string): [string, string] {
    return [this.keys.presenceConnections(userId), this.keys.presenceNodes(userId)];
  }
}
