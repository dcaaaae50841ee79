/**
 * The webhook outbox on Redis (../webhook-outbox.ts): a sorted set of event ids by due time, a hash of
 * the events' JSON and one of their attempt counts, and a sorted set of leaving users by the time their
 * user.offline is due. Every operation is one Lua script, so queueing, leasing and the online/offline
 * decisions are atomic for the whole cluster. A take leases an event by moving its due time `leaseMs`
 * ahead: a taker that dies leaves it due again then, for any node to take.
 *
 * Times are the callers' clocks (ms since the epoch): a skew between nodes shifts a retry or a lease
 * by that much, nothing more.
 */
import type { TakenEvent, WebhookEvent, WebhookOutbox } from '../webhook-outbox.js';
import type { RedisKeys } from './keys.js';
import type { LuaScript, RedisConnection, RedisLease } from './redis-connection.js';
import { asArray, asInteger, asString, asStrings } from './replies.js';

/** queue(due, events, max, now, id, json): 1 if held now (queued, or held already), 0 if full. */
const QUEUE_LUA = `
local function queue(due, events, max, now, id, json)
  if redis.call('HEXISTS', events, id) == 1 then return 1 end
  if redis.call('HLEN', events) >= max then return 0 end
  redis.call('HSET', events, id, json)
  redis.call('ZADD', due, now, id)
  return 1
end`;

/** KEYS due, events. ARGV max, now, then id, json pairs; returns how many were refused. */
const ENQUEUE: LuaScript = {
  name: 'heraldWebhookEnqueue',
  lua: `${QUEUE_LUA}
local refused = 0
for i = 3, #ARGV, 2 do
  refused = refused + 1 - queue(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[i], ARGV[i + 1])
end
return refused`,
};

/** KEYS due, events, attempts. ARGV now, max, leaseMs; returns json, attempt pairs. */
const TAKE: LuaScript = {
  name: 'heraldWebhookTake',
  lua: `local now = tonumber(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  local json = redis.call('HGET', KEYS[2], id)
  if json then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
    out[#out + 1] = json
    out[#out + 1] = redis.call('HINCRBY', KEYS[3], id, 1)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`,
};

/** KEYS due, events, attempts. ARGV id. */
const DONE: LuaScript = {
  name: 'heraldWebhookDone',
  lua: `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 0`,
};

/** KEYS due, events. ARGV id, dueAt. */
const RETRY: LuaScript = {
  name: 'heraldWebhookRetry',
  lua: `if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 0`,
};

/** KEYS leaving, due, events. ARGV userId, max, now, id, json; returns 1 if queued. */
const ONLINE: LuaScript = {
  name: 'heraldWebhookOnline',
  lua: `${QUEUE_LUA}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then return 0 end
return queue(KEYS[2], KEYS[3], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5])`,
};

/** KEYS leaving, due, events. ARGV userId, dueAt, max, now, id, json; returns 1 if queued. */
const OFFLINE: LuaScript = {
  name: 'heraldWebhookOffline',
  lua: `${QUEUE_LUA}
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or -1) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return queue(KEYS[2], KEYS[3], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])`,
};

/** KEYS leaving. ARGV userId, dueAt: removes the mark if it is still that one. */
const STAY: LuaScript = {
  name: 'heraldWebhookStay',
  lua: `if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or -1) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0`,
};

/** KEYS holders, held. ARGV nodeId, userId. */
const HOLD: LuaScript = {
  name: 'heraldWebhookHold',
  lua: `redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return 0`,
};

/** KEYS holders, held. ARGV nodeId, userId. */
const RELEASE: LuaScript = {
  name: 'heraldWebhookRelease',
  lua: `redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
return 0`,
};

/** KEYS holders, held, leaving. ARGV nodeId, dueAt: marks the node's users leaving; returns how many. */
const ADOPT: LuaScript = {
  name: 'heraldWebhookAdopt',
  lua: `local users = redis.call('SMEMBERS', KEYS[2])
for _, user in ipairs(users) do
  local mark = redis.call('ZSCORE', KEYS[3], user)
  if not mark or tonumber(mark) > tonumber(ARGV[2]) then redis.call('ZADD', KEYS[3], ARGV[2], user) end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return #users`,
};

const SCRIPTS = [ENQUEUE, TAKE, DONE, RETRY, ONLINE, OFFLINE, STAY, HOLD, RELEASE, ADOPT];

export class RedisWebhookOutbox implements WebhookOutbox {
  private readonly lease: RedisLease;
  private readonly due: string;
  private readonly events: string;
  private readonly attempts: string;
  private readonly leavers: string;
  private readonly holderIndex: string;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly maxPending: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lease = connection.lease(SCRIPTS);
    this.due = keys.webhooks('due');
    this.events = keys.webhooks('events');
    this.attempts = keys.webhooks('attempts');
    this.leavers = keys.webhooks('leaving');
    this.holderIndex = keys.webhooks('holders');
  }

  async enqueue(events: readonly WebhookEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const args: (string | number)[] = [this.maxPending, this.now()];
    for (const event of events) args.push(event.id, JSON.stringify(event));
    const refused = await this.lease.script('webhook enqueue', ENQUEUE, [this.due, this.events], args);
    return asInteger(refused, 'webhook enqueue');
  }

  async take(max: number, leaseMs: number): Promise<TakenEvent[]> {
    if (max <= 0) return [];
    const reply = asArray(
      await this.lease.script(
        'webhook take',
        TAKE,
        [this.due, this.events, this.attempts],
        [this.now(), max, leaseMs],
      ),
      'webhook take',
    );
    const taken: TakenEvent[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      taken.push({
        event: JSON.parse(asString(reply[i], 'webhook take')) as WebhookEvent,
        attempt: asInteger(reply[i + 1], 'webhook take'),
      });
    }
    return taken;
  }

  async done(id: string): Promise<void> {
    await this.lease.script('webhook done', DONE, [this.due, this.events, this.attempts], [id]);
  }

  async retry(id: string, dueAt: number): Promise<void> {
    await this.lease.script('webhook retry', RETRY, [this.due, this.events], [id, dueAt]);
  }

  async pending(): Promise<number> {
    const events = this.events;
    return asInteger(await this.lease.run('webhook pending', (c) => c.hlen(events)), 'webhook pending');
  }

  async online(userId: string, event: WebhookEvent): Promise<boolean> {
    const queued = await this.lease.script(
      'webhook online',
      ONLINE,
      [this.leavers, this.due, this.events],
      [userId, this.maxPending, this.now(), event.id, JSON.stringify(event)],
    );
    return asInteger(queued, 'webhook online') === 1;
  }

  async leaving(userId: string, dueAt: number): Promise<void> {
    const leavers = this.leavers;
    await this.lease.run('webhook leaving', (c) => c.zadd(leavers, dueAt, userId));
  }

  async dueLeavers(now: number, max: number): Promise<{ userId: string; dueAt: number }[]> {
    const leavers = this.leavers;
    const reply = asArray(
      await this.lease.run('webhook leavers', (c) =>
        c.zrangebyscore(leavers, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max),
      ),
      'webhook leavers',
    );
    const due: { userId: string; dueAt: number }[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2)
      due.push({ userId: asString(reply[i], 'webhook leavers'), dueAt: Number(reply[i + 1]) });
    return due;
  }

  async offline(userId: string, dueAt: number, event: WebhookEvent): Promise<boolean> {
    const queued = await this.lease.script(
      'webhook offline',
      OFFLINE,
      [this.leavers, this.due, this.events],
      [userId, dueAt, this.maxPending, this.now(), event.id, JSON.stringify(event)],
    );
    return asInteger(queued, 'webhook offline') === 1;
  }

  async stay(userId: string, dueAt: number): Promise<void> {
    await this.lease.script('webhook stay', STAY, [this.leavers], [userId, dueAt]);
  }

  async hold(nodeId: string, userId: string): Promise<void> {
    await this.lease.script('webhook hold', HOLD, this.heldKeys(nodeId), [nodeId, userId]);
  }

  async release(nodeId: string, userId: string): Promise<void> {
    await this.lease.script('webhook release', RELEASE, this.heldKeys(nodeId), [nodeId, userId]);
  }

  async holders(): Promise<string[]> {
    const holders = this.holderIndex;
    return asStrings(await this.lease.run('webhook holders', (c) => c.smembers(holders)), 'webhook holders');
  }

  async adopt(nodeId: string, dueAt: number): Promise<number> {
    const keys = [...this.heldKeys(nodeId), this.leavers];
    return asInteger(await this.lease.script('webhook adopt', ADOPT, keys, [nodeId, dueAt]), 'webhook adopt');
  }

  private heldKeys(nodeId: string): [string, string] {
    return [this.holderIndex, this.keys.webhooks(`held:${nodeId}`)];
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}
