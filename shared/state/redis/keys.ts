/**
 * Every Redis key the state drivers write, in one place. `prefix` is used verbatim (e.g. `herald:`);
 * the kind segment comes before the caller's id, so no id can make two kinds collide.
 *
 * | key                              | type | content                                   | lifetime                          |
 * |----------------------------------|------|-------------------------------------------|-----------------------------------|
 * | `{prefix}session:{id}`           | hash | `u` userId, `n` nodeId, `c:{channel}` = 1 | ttlSeconds of the last create/touch |
 * | `{prefix}presence:conns:{user}`  | zset | connectionId → expiry (ms, Redis clock)   | PEXPIREAT = newest member expiry  |
 * | `{prefix}presence:nodes:{user}`  | hash | connectionId → nodeId                     | same as the zset, kept in step    |
 * | `{prefix}owner:{orderId}`        | str  | owner userId                              | ttlSeconds of the owner's claim   |
 * | `{prefix}offset:{channel}`       | hash | `o` newest offset, `e` epoch              | channelStateTtlSeconds, per call  |
 * | `{prefix}node:{nodeId}`          | str  | NodeRecord as JSON                        | ttlSeconds of the last heartbeat  |
 * | `{prefix}nodes`                  | zset | nodeId → entry expiry (ms, Redis clock)   | PEXPIREAT = newest entry expiry   |
 *
 * Multi-key scripts touch keys of different ids, so these drivers target a standalone Redis (or a
 * Sentinel-managed primary), not Redis Cluster.
 */
export interface RedisKeys {
  session(id: string): string;
  presenceConnections(userId: string): string;
  presenceNodes(userId: string): string;
  orderOwner(orderId: string): string;
  offset(channel: string): string;
  node(nodeId: string): string;
  nodeIndex(): string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    session: (id) => `${prefix}session:${id}`,
    presenceConnections: (userId) => `${prefix}presence:conns:${userId}`,
    presenceNodes: (userId) => `${prefix}presence:nodes:${userId}`,
    orderOwner: (orderId) => `${prefix}owner:${orderId}`,
    offset: (channel) => `${prefix}offset:${channel}`,
    node: (nodeId) => `${prefix}node:${nodeId}`,
    nodeIndex: () => `${prefix}nodes`,
  };
}
