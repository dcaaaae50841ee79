/**
 * OrderOwners on Redis: one string key per order holding the owner's user id. A script claims and
 * refreshes atomically: the first claimant becomes the owner; only the owner's claims extend the TTL.
 */
import type { OrderOwners } from '../order-owners.js';
import type { RedisKeys } from './keys.js';
import { ttlMs, type LuaScript, type RedisConnection, type RedisLease } from './redis-connection.js';
import { asOptionalString, asString } from './replies.js';

/** ARGV[1] claimant, ARGV[2] TTL in ms; returns the owner now recorded. */
const CLAIM: LuaScript = {
  name: 'heraldOrderOwnerClaim',
  lua: `local owner = redis.call('GET', KEYS[1])
if not owner or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return owner`,
};

export class RedisOrderOwners implements OrderOwners {
  private readonly lease: RedisLease;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {
    this.lease = connection.lease([CLAIM]);
  }

  async claim(orderId: string, userId: string, ttlSeconds: number): Promise<string> {
    const owner = await this.lease.script(
      'order owner claim',
      CLAIM,
      [this.keys.orderOwner(orderId)],
      [userId, ttlMs(ttlSeconds)],
    );
    return asString(owner, 'order owner claim');
  }

  async get(orderId: string): Promise<string | undefined> {
    const owner = await this.lease.run('order owner get', (client) =>
      client.get(this.keys.orderOwner(orderId)),
    );
    return asOptionalString(owner, 'order owner get');
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}
