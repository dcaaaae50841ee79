/**
 * ReadPositions on Redis: one hash per user (keys.ts `read:{userId}`), field = channel, value =
 * `{offset} {epoch}` (epochs hold no space). One script advances atomically: it keeps the recorded
 * position unless the new one is of another epoch or further on, and refreshes the hash's TTL.
 */
import { MalformedReplyError } from '../../core/contract-errors.js';
import {
  checkAdvance,
  type AdvanceResult,
  type ReadPosition,
  type ReadPositions,
} from '../read-positions.js';
import type { RedisKeys } from './keys.js';
import { ttlMs, type LuaScript, type RedisConnection, type RedisLease } from './redis-connection.js';
import { asArray, asInteger, asString } from './replies.js';

/** KEYS[1] the user's hash; ARGV channel, offset, epoch, TTL (ms). Returns {moved, recorded value}. */
const ADVANCE: LuaScript = {
  name: 'heraldReadAdvance',
  lua: `local value = ARGV[2] .. ' ' .. ARGV[3]
local recorded = redis.call('HGET', KEYS[1], ARGV[1])
local moved = 1
if recorded then
  local space = string.find(recorded, ' ', 1, true)
  if string.sub(recorded, space + 1) == ARGV[3] and tonumber(string.sub(recorded, 1, space - 1)) >= tonumber(ARGV[2]) then
    moved = 0
    value = recorded
  end
end
if moved == 1 then redis.call('HSET', KEYS[1], ARGV[1], value) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {moved, value}`,
};

/** KEYS[1] the user's hash; ARGV[1] the channel. Returns the recorded value, or nil. */
const GET: LuaScript = {
  name: 'heraldReadGet',
  lua: `return redis.call('HGET', KEYS[1], ARGV[1])`,
};

export class RedisReadPositions implements ReadPositions {
  private readonly lease: RedisLease;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {
    this.lease = connection.lease([ADVANCE, GET]);
  }

  async advance(
    userId: string,
    channel: string,
    position: ReadPosition,
    ttlSeconds: number,
  ): Promise<AdvanceResult> {
    checkAdvance(position, ttlSeconds);
    const reply = asArray(
      await this.lease.script(
        'read advance',
        ADVANCE,
        [this.keys.readPositions(userId)],
        [channel, position.offset, position.epoch, ttlMs(ttlSeconds)],
      ),
      'read advance',
    );
    return {
      moved: asInteger(reply[0], 'read advance') === 1,
      position: parsePosition(asString(reply[1], 'read advance')),
    };
  }

  async get(userId: string, channel: string): Promise<ReadPosition | undefined> {
    // A script, not HGET: it joins the batch of the connects around it (redis-connection.ts, script).
    const value = await this.lease.script('read get', GET, [this.keys.readPositions(userId)], [channel]);
    return value === null ? undefined : parsePosition(asString(value, 'read get'));
  }

  async list(userId: string): Promise<Map<string, ReadPosition>> {
    const all = await this.lease.run('read list', (client) =>
      client.hgetall(this.keys.readPositions(userId)),
    );
    return new Map(Object.entries(all).map(([channel, value]) => [channel, parsePosition(value)]));
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}

function parsePosition(value: string): ReadPosition {
  const space = value.indexOf(' ');
  const offset = Number(value.slice(0, space));
  if (space < 1 || !Number.isSafeInteger(offset))
    throw new MalformedReplyError(`read position: bad value ${value}`);
  return { offset, epoch: value.slice(space + 1) };
}
