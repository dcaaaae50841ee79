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
 * | `{prefix}offset:{channel}`       | hash | History: `o` newest offset, `e` epoch     | retention maxAgeMs, per append (as the stream) |
 * | `{prefix}history:{channel}`      | stream | entry `{offset}-0`: `id`, `event`, `data`, `ts` | retention maxAgeMs, per append |
 * | `{prefix}dedupe:{channel}:{sha256(key)}` | hash | History dedupe record: `o` offset, `e` epoch, `i` id, `t` ts | the append's dedupe ttlSeconds |
 * | `{prefix}read:{userId}`          | hash | ReadPositions: channel → `{offset} {epoch}` | READ_POSITION_TTL_SECONDS after the user's last ack |
 * | `{prefix}node:{nodeId}`          | str  | NodeRecord as JSON                        | ttlSeconds of the last heartbeat  |
 * | `{prefix}nodes`                  | zset | nodeId → entry expiry (ms, Redis clock)   | PEXPIREAT = newest entry expiry   |
 * | `{prefix}idem:{sha256(key)}`     | hash | `f` fingerprint, `s` state, `a` answer    | ttlSeconds of begin, then complete |
 * | `{prefix}webhooks:due`           | zset | webhook event id → due time (ms)          | until sent or given up            |
 * | `{prefix}webhooks:events`        | hash | webhook event id → event JSON             | same                              |
 * | `{prefix}webhooks:attempts`      | hash | webhook event id → attempts so far        | same                              |
 * | `{prefix}webhooks:leaving`       | zset | userId → when its user.offline is due (ms) | until decided                    |
 * | `{prefix}webhooks:holders`       | set  | node ids that hold connections of users   | until the node has none, or is adopted |
 * | `{prefix}webhooks:held:{nodeId}` | set  | the users that node holds connections of  | same                              |
 *
 * Idempotency keys come from an HTTP header (up to 255 characters, any visible ASCII): they name
 * the Redis key by their SHA-256 (hex), so its length is fixed and no character of theirs reaches it.
 * History dedupe keys carry them too (`{key}#{fingerprint}#{channel}#{n}`, shared/core/publisher.ts),
 * so they are hashed the same way; the channel comes first, and the hash has a fixed length.
 *
 * Redis Cluster (`redisKeys(prefix, { cluster: true })`): the keys one script or transaction
 * touches share a hash tag, so they sit in one slot, and the tags spread the load over the shards:
 *
 * | keys                                   | hash tag (slot)        | why together                         |
 * |----------------------------------------|------------------------|--------------------------------------|
 * | `offset:{ch}`, `history:{ch}`, `dedupe:{ch}:…` | `{channel}`    | one append/read script               |
 * | `presence:conns:{user:id}`, `presence:nodes:{user:id}` | `{user:id}` | one presence script; the same slot as the channel `user:id`, so a user's messages and presence sit on one shard |
 * | `read:{user:id}`                       | `{user:id}`            | one key; beside the user's channel and presence |
 * | `session:id`, `owner:orderId`, `idem:sha` | none: the whole name | one key each                      |
 * | `{nodes}:node:id`, `{nodes}:index`     | `{nodes}` (one slot)   | the registry's list script reads all; a few keys per node |
 * | `{webhooks}:due`, `:events`, `:attempts`, `:leaving` | `{webhooks}` (one slot) | the outbox's scripts queue and take atomically |
 *
 * Ids, channels and the prefix never hold `{` or `}` (their grammars, and the config's REDIS_PREFIX
 * check), so the tag is always the part written here. A standalone Redis (or a Sentinel-managed
 * primary) keeps the untagged names of the table above, so an upgrade finds its data where it was.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../core/contract-errors.js';

export interface RedisKeys {
  session(id: string): string;
  presenceConnections(userId: string): string;
  presenceNodes(userId: string): string;
  orderOwner(orderId: string): string;
  offset(channel: string): string;
  history(channel: string): string;
  historyDedupe(channel: string, key: string): string;
  /** A user's read positions (shared/state/read-positions.ts). */
  readPositions(userId: string): string;
  node(nodeId: string): string;
  nodeIndex(): string;
  idempotency(key: string): string;
  /** The webhook outbox's keys (shared/state/webhook-outbox.ts). */
  webhooks(part: WebhookKeyPart): string;
}

export type WebhookKeyPart = 'due' | 'events' | 'attempts' | 'leaving' | 'holders' | `held:${string}`;

export interface RedisKeyOptions {
  /** Redis Cluster: hash tags keep each script's keys in one slot (see the table above). */
  cluster?: boolean;
}

export function redisKeys(prefix: string, options: RedisKeyOptions = {}): RedisKeys {
  if (options.cluster === true) return clusterKeys(prefix);
  return {
    session: (id) => `${prefix}session:${id}`,
    presenceConnections: (userId) => `${prefix}presence:conns:${userId}`,
    presenceNodes: (userId) => `${prefix}presence:nodes:${userId}`,
    orderOwner: (orderId) => `${prefix}owner:${orderId}`,
    offset: (channel) => `${prefix}offset:${channel}`,
    history: (channel) => `${prefix}history:${channel}`,
    historyDedupe: (channel, key) => `${prefix}dedupe:${channel}:${sha256(key)}`,
    readPositions: (userId) => `${prefix}read:${userId}`,
    node: (nodeId) => `${prefix}node:${nodeId}`,
    nodeIndex: () => `${prefix}nodes`,
    idempotency: (key) => `${prefix}idem:${sha256(key)}`,
    webhooks: (part) => `${prefix}webhooks:${part}`,
  };
}

function clusterKeys(prefix: string): RedisKeys {
  if (/[{}]/.test(prefix)) throw new TypeError('a Redis Cluster key prefix must not contain { or }');
  return {
    session: (id) => `${prefix}session:${id}`,
    presenceConnections: (userId) => `${prefix}presence:conns:${tag(`user:${userId}`)}`,
    presenceNodes: (userId) => `${prefix}presence:nodes:${tag(`user:${userId}`)}`,
    orderOwner: (orderId) => `${prefix}owner:${orderId}`,
    offset: (channel) => `${prefix}offset:${tag(channel)}`,
    history: (channel) => `${prefix}history:${tag(channel)}`,
    historyDedupe: (channel, key) => `${prefix}dedupe:${tag(channel)}:${sha256(key)}`,
    readPositions: (userId) => `${prefix}read:${tag(`user:${userId}`)}`,
    node: (nodeId) => `${prefix}{nodes}:node:${nodeId}`,
    nodeIndex: () => `${prefix}{nodes}:index`,
    idempotency: (key) => `${prefix}idem:${sha256(key)}`,
    webhooks: (part) => `${prefix}{webhooks}:${part}`,
  };
}

/** `{id}`: the hash tag that places a key by `id`; an id holding a brace would move it, so none may. */
function tag(id: string): string {
  if (id === '' || /[{}]/.test(id))
    throw new InvalidArgumentError(
      `a Redis Cluster key id must be non-empty, without { or }: ${JSON.stringify(id)}`,
    );
  return `{${id}}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
