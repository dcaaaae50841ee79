/**
 * NodeRegistry on Redis: one JSON string per node whose PX TTL is the entry's lifetime, plus an index
 * (sorted set: node id → entry expiry on the Redis clock) to list them without SCAN. The index expires
 * with its newest entry; `list` drops index entries whose node key is gone, atomically per entry, so
 * a node heartbeating at that moment is never dropped. Entries are decoded at the edge: a malformed
 * one is logged and skipped.
 */
import type { Logger } from 'pino';
import type { NodeAnnouncement, NodeRecord, NodeRegistry } from '../node-registry.js';
import type { RedisKeys } from './keys.js';
import {
  LUA_NOW_MS,
  ttlMs,
  type LuaScript,
  type RedisConnection,
  type RedisLease,
} from './redis-connection.js';
import { asArray, asOptionalString, asStrings } from './replies.js';

/** KEYS[1] node key, KEYS[2] index; ARGV[1] JSON, ARGV[2] TTL in ms, ARGV[3] node id. */
const HEARTBEAT: LuaScript = {
  name: 'heraldNodeHeartbeat',
  lua: `${LUA_NOW_MS}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], newest[2])
return 0`,
};

/**
 * KEYS[1] index, KEYS[2..] node keys; ARGV the node ids in the same order. Returns each entry's JSON
 * ('' where it is gone, keeping positions) after removing gone and expired ids from the index.
 */
const COLLECT: LuaScript = {
  name: 'heraldNodeCollect',
  lua: `${LUA_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local entries = {}
for i = 1, #ARGV do
  local entry = redis.call('GET', KEYS[i + 1])
  if entry then
    entries[i] = entry
  else
    entries[i] = ''
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return entries`,
};

export class RedisNodeRegistry implements NodeRegistry {
  private readonly lease: RedisLease;

  constructor(
    connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
  ) {
    this.lease = connection.lease([HEARTBEAT, COLLECT]);
  }

  async heartbeat(node: NodeAnnouncement, ttlSeconds: number): Promise<void> {
    const record: NodeRecord = {
      id: node.id,
      url: node.url,
      connections: node.connections,
      capacity: node.capacity,
      draining: node.draining,
      startedAt: node.startedAt,
      lastHeartbeat: Date.now(),
    };
    await this.lease.script(
      'node heartbeat',
      HEARTBEAT,
      [this.keys.node(node.id), this.keys.nodeIndex()],
      [JSON.stringify(record), ttlMs(ttlSeconds), node.id],
    );
  }

  async list(): Promise<NodeRecord[]> {
    const index = this.keys.nodeIndex();
    const ids = asStrings(
      await this.lease.run('node list', (client) => client.zrange(index, '0', '-1')),
      'node list index',
    );
    if (ids.length === 0) return [];
    const entries = asArray(
      await this.lease.script('node list', COLLECT, [index, ...ids.map((id) => this.keys.node(id))], ids),
      'node list entries',
    );
    const records: NodeRecord[] = [];
    for (const [i, entry] of entries.entries()) {
      const json = asOptionalString(entry, 'node list entry');
      if (json === undefined || json === '') continue;
      const record = decodeNodeRecord(json);
      if (record === undefined || record.id !== ids[i])
        this.log.warn({ nodeId: ids[i] }, 'skipping a malformed node registry entry');
      else records.push(record);
    }
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async remove(nodeId: string): Promise<void> {
    await this.lease.transaction('node remove', (tx) => {
      tx.del(this.keys.node(nodeId));
      tx.zrem(this.keys.nodeIndex(), nodeId);
    });
  }

  close(): Promise<void> {
    return this.lease.close();
  }
}

function decodeNodeRecord(json: string): NodeRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    typeof v.id !== 'string' ||
    typeof v.url !== 'string' ||
    typeof v.connections !== 'number' ||
    typeof v.capacity !== 'number' ||
    typeof v.draining !== 'boolean' ||
    typeof v.startedAt !== 'number' ||
    typeof v.lastHeartbeat !== 'number'
  )
    return undefined;
  return {
    id: v.id,
    url: v.url,
    connections: v.connections,
    capacity: v.capacity,
    draining: v.draining,
    startedAt: v.startedAt,
    lastHeartbeat: v.lastHeartbeat,
  };
}
