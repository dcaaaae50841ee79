/**
 * IdempotencyStore on Redis: one hash per idempotency key (see ./keys.ts) holding the first request's
 * fingerprint `f` (and its second one `c`, when given), its state `s` (`pending` while it runs, then `done`) and, once done, its answer `a`.
 * Each call is one Lua script, so a claim and the comparisons that answer it are atomic across every
 * node: of two requests racing on a new key, exactly one is told `new`.
 *
 * Lifetimes: `begin` sets the claim's TTL (PEXPIRE ttlSeconds) only when it creates it; a `begin` that
 * finds the key leaves its TTL alone. `complete` sets the answer's TTL from its own ttlSeconds.
 * A claim that expired before `complete` is not recreated: the key is unknown again, and a retry runs.
 */
import { MalformedReplyError } from '../../core/contract-errors.js';
import type { IdempotencyBegin, IdempotencyStore } from '../idempotency.js';
import type { RedisKeys } from './keys.js';
import { ttlMs, type LuaScript, type RedisConnection, type RedisLease } from './redis-connection.js';
import { asArray, asInteger, asString } from './replies.js';

/**
 * ARGV[1] fingerprint, ARGV[2] TTL in ms, ARGV[3] (optional) the second fingerprint, stored as `c`
 * and compared with the stored `c` (see IdempotencyStore); returns {'new'}, {'pending'},
 * {'conflict'} or {'done', answer}.
 */
const BEGIN: LuaScript = {
  name: 'heraldIdempotencyBegin',
  lua: `local stored = redis.call('HMGET', KEYS[1], 'f', 's', 'a', 'c')
if not stored[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'f', ARGV[1], 's', 'pending')
  if ARGV[3] then redis.call('HSET', KEYS[1], 'c', ARGV[3]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'new'}
end
if stored[1] ~= ARGV[1] and (not ARGV[3] or stored[4] ~= ARGV[3]) then return {'conflict'} end
if stored[2] == 'done' then return {'done', stored[3]} end
return {'pending'}`,
};

/** ARGV[1] fingerprint, ARGV[2] answer, ARGV[3] TTL in ms; returns 1 when it recorded the answer. */
const COMPLETE: LuaScript = {
  name: 'heraldIdempotencyComplete',
  lua: `local stored = redis.call('HMGET', KEYS[1], 'f', 's')
if stored[1] ~= ARGV[1] or stored[2] ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 's', 'done', 'a', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
};

/** ARGV[1] fingerprint; returns 1 when it deleted the pending claim. */
const ABANDON: LuaScript = {
  name: 'heraldIdempotencyAbandon',
  lua: `local stored = redis.call('HMGET', KEYS[1], 'f', 's')
if stored[1] ~= ARGV[1] or stored[2] ~= 'pending' then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
};

export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly lease: RedisLease;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {
    this.lease = connection.lease([BEGIN, COMPLETE, ABANDON]);
  }

  async begin(
    key: string,
    fingerprint: string,
    ttlSeconds: number,
    also?: string,
  ): Promise<IdempotencyBegin> {
    const what = 'idempotency begin';
    const args = [fingerprint, ttlMs(ttlSeconds), ...(also === undefined ? [] : [also])];
    const reply = asArray(await this.lease.script(what, BEGIN, [this.keys.idempotency(key)], args), what);
    const state = asString(reply[0], what);
    switch (state) {
      case 'new':
      case 'pending':
      case 'conflict':
        return { state };
      case 'done':
        return { state, answer: asString(reply[1], `${what} answer`) };
      default:
        throw new MalformedReplyError(`${what}: unexpected state ${JSON.stringify(state)}`);
    }
  }

  async complete(key: string, fingerprint: string, answer: string, ttlSeconds: number): Promise<void> {
    const what = 'idempotency complete';
    asInteger(
      await this.lease.script(
        what,
        COMPLETE,
        [this.keys.idempotency(key)],
        [fingerprint, answer, ttlMs(ttlSeconds)],
      ),
      what,
    );
  }

  async abandon(key: string, fingerprint: string): Promise<void> {
    const what = 'idempotency abandon';
    asInteger(await this.lease.script(what, ABANDON, [this.keys.idempotency(key)], [fingerprint]), what);
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}
