/**
 * SessionStore on Redis: one hash per session holding the user, the node and the channels (`c:{name}`
 * fields), so the channels are a set that expires with the session by construction: one key, one TTL.
 */
import type { NewSession, SessionRecord, SessionStore } from '../session-store.js';
import type { RedisKeys } from './keys.js';
import {
  ttlMs,
  type Arg,
  type LuaScript,
  type RedisConnection,
  type RedisLease,
} from './redis-connection.js';

const USER = 'u';
const NODE = 'n';
const CHANNEL = 'c:';

/**
 * Creates (or replaces) a session: one script, not a MULTI, so that the creates of many concurrent
 * connects share one round trip (the connection group-commits commands of one event-loop turn).
 * ARGV: userId, nodeId, TTL (ms), then the channel fields the session starts with.
 */
const CREATE: LuaScript = {
  name: 'heraldSessionCreate',
  lua: `redis.call('DEL', KEYS[1])
local fields = {'${USER}', ARGV[1], '${NODE}', ARGV[2]}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = '1'
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0`,
};

/** HSET on a live session only: an unknown or expired session stays unknown (no TTL-less key). */
const ADD_CHANNEL: LuaScript = {
  name: 'heraldSessionAddChannel',
  lua: `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], '1') end return 0`,
};

/** Moves a live session to another node and extends it; 0 for an unknown (or expired) session. */
const CLAIM: LuaScript = {
  name: 'heraldSessionClaim',
  lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
};

export class RedisSessionStore implements SessionStore {
  private readonly lease: RedisLease;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {
    this.lease = connection.lease([CREATE, ADD_CHANNEL, CLAIM]);
  }

  async create(session: NewSession, ttlSeconds: number): Promise<void> {
    const args: Arg[] = [session.userId, session.nodeId, ttlMs(ttlSeconds)];
    for (const channel of session.channels ?? []) args.push(CHANNEL + channel);
    await this.lease.script('session create', CREATE, [this.keys.session(session.id)], args);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const fields = await this.lease.run('session get', (client) => client.hgetall(this.keys.session(id)));
    const userId = fields[USER];
    const nodeId = fields[NODE];
    if (userId === undefined || nodeId === undefined) return undefined;
    const channels: string[] = [];
    for (const field of Object.keys(fields))
      if (field.startsWith(CHANNEL)) channels.push(field.slice(CHANNEL.length));
    return { id, userId, nodeId, channels };
  }

  async addChannel(id: string, channel: string): Promise<void> {
    await this.lease.script('session addChannel', ADD_CHANNEL, [this.keys.session(id)], [CHANNEL + channel]);
  }

  async removeChannel(id: string, channel: string): Promise<void> {
    // HDEL on a missing key is a no-op, and the user/node fields keep a live key from emptying.
    await this.lease.run('session removeChannel', (client) =>
      client.hdel(this.keys.session(id), CHANNEL + channel),
    );
  }

  async touch(ids: readonly string[], ttlSeconds: number): Promise<void> {
    if (ids.length === 0) return;
    const ms = ttlMs(ttlSeconds);
    // EXPIRE on a missing (unknown or expired) key does nothing: unknown ids are ignored for free.
    // Issued together: one write on a standalone Redis, one per shard on Redis Cluster.
    await this.lease.run('session touch', (client) =>
      Promise.all(ids.map((id) => client.pexpire(this.keys.session(id), ms))),
    );
  }

  async claim(id: string, nodeId: string, ttlSeconds: number): Promise<boolean> {
    const claimed = await this.lease.script(
      'session claim',
      CLAIM,
      [this.keys.session(id)],
      [NODE, nodeId, ttlMs(ttlSeconds)],
    );
    return claimed === 1;
  }

  async delete(id: string): Promise<void> {
    await this.lease.run('session delete', (client) => client.del(this.keys.session(id)));
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}
