/**
 * ChannelOffsets on Redis: one hash per channel, `o` the newest reserved offset and `e` the epoch of
 * the run, changed only by one Lua script (atomic under any number of publishers on any nodes).
 *
 * The epoch is created with the counter, by whichever call finds no counter: `next` (offset 1) or
 * `current` (offset 0, nothing reserved). So the epoch `current` reports is the one the next `next`
 * carries, also when both race on a new channel. A lost counter (expired, flushed, failover without
 * the write) is found missing by the next call, which starts a new run: offset 1 on a new epoch.
 * Both calls extend the channel's lifetime to channelStateTtlSeconds: a channel in use keeps its run.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelOffsets, ChannelPosition } from '../channel-offsets.js';
import type { RedisKeys } from './keys.js';
import { ttlMs, type LuaScript, type RedisConnection, type RedisLease } from './redis-connection.js';
import { asArray, asInteger, asString } from './replies.js';

/**
 * ARGV[1] increment (1 = next, 0 = current), ARGV[2] the epoch to use if the counter must be
 * (re)created, ARGV[3] TTL in ms; returns { offset, epoch }.
 */
const ADVANCE: LuaScript = {
  name: 'heraldChannelOffsetAdvance',
  lua: `local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {offset, epoch}`,
};

/** A fresh epoch candidate: 48 random bits, used only when the call (re)creates the counter. */
function mintEpoch(): string {
  return randomBytes(6).toString('hex');
}

export class RedisChannelOffsets implements ChannelOffsets {
  private readonly lease: RedisLease;
  private readonly ttlMs: number;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
    channelStateTtlSeconds: number,
  ) {
    if (!(channelStateTtlSeconds > 0)) throw new TypeError('channelStateTtlSeconds must be positive');
    this.lease = connection.lease([ADVANCE]);
    this.ttlMs = ttlMs(channelStateTtlSeconds);
  }

  next(channel: string): Promise<ChannelPosition> {
    return this.advance('offset next', channel, 1);
  }

  current(channel: string): Promise<ChannelPosition> {
    return this.advance('offset current', channel, 0);
  }

  close(): Promise<void> {
    return this.lease.close();
  }

  private async advance(what: string, channel: string, increment: 0 | 1): Promise<ChannelPosition> {
    const reply = asArray(
      await this.lease.script(
        what,
        ADVANCE,
        [this.keys.offset(channel)],
        [increment, mintEpoch(), this.ttlMs],
      ),
      what,
    );
    return { offset: asInteger(reply[0], what), epoch: asString(reply[1], what) };
  }
}
