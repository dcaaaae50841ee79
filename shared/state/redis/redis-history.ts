/**
 * History on Redis, per channel: an offset hash (`o` newest offset, `e` epoch) and a stream whose entry ids are the offsets (`{offset}-0`, fields `id`, `event`, `data`, `ts`).
 * Every call is one Lua script, so offset assignment and storage are one atomic step under any
 * number of publishers on any nodes, and a read sees one consistent snapshot of position and stream.
 *
 * - `append` computes the next offset, XADDs the entry under it with exact `MAXLEN maxMessages` (so a
 *   trimmed offset is always missing from reads, never half-there), then stores the offset, and sets
 *   both keys' PEXPIRE to `maxAgeMs`: a channel idle longer than its retention has no message left to
 *   read, and loses its state (the next call starts a new run: offset 1 on a new epoch). Every key
 *   this driver writes has that TTL.
 * - The epoch is created with the hash by whichever call finds none (`append`, `position` or `read`),
 *   which also drops a stream left from the old run, so the epoch `position`
 *   reports is the one the next `append` carries, also when they race on a new channel. `position`
 *   and `read` never extend a channel's lifetime.
 * - Partial loss: a hash without its stream keeps counting (offsets never repeat); the missing range
 *   reads as `complete: false`. A stream without its hash is the old run's and is dropped.
 * - Age is measured on the Redis clock (`TIME`, one clock for every node, the one key expiry uses)
 *   against each message's `ts` (the publisher's clock): a message is returned while
 *   `redisNow - ts <= maxAgeMs`. Skew between a publisher and Redis shifts that edge by the skew.
 * - `append` with `dedupe` looks up the channel's dedupe record (a hash `o`, `e`, `i`, `t` named by
 *   the SHA-256 of the key, keys.ts) in the same script: a record carrying the channel's epoch is
 *   answered without storing; otherwise the message is stored and the record written with the
 *   dedupe TTL (a record of a lost run names another epoch, so it counts as absent and is replaced).
 */
import { randomBytes } from 'node:crypto';
import type {
  AppendDedupe,
  AppendResult,
  ChannelPosition,
  History,
  HistoryRange,
  NewMessage,
  Retention,
  RetentionResolver,
  StoredMessage,
} from '../history.js';
import { checkDedupe, checkMessage, checkRange, checkRetention, isComplete } from '../history-rules.js';
import { MalformedReplyError } from '../../core/contract-errors.js';
import { StateUnavailableError } from '../state-unavailable-error.js';
import type { RedisKeys } from './keys.js';
import {
  LUA_NOW_MS,
  ttlMs,
  type LuaScript,
  type RedisConnection,
  type RedisLease,
} from './redis-connection.js';
import { asArray, asInteger, asString } from './replies.js';

/**
 * KEYS[1] offset hash, KEYS[2] stream; ARGV[1] the epoch to use if the run must be (re)started,
 * ARGV[2] maxAgeMs. Sets `epoch` and `offset`; a new run gets a TTL at once (nothing may lack one).
 */
const ENSURE_RUN = `
local state = redis.call('HMGET', KEYS[1], 'e', 'o')
local epoch, offset = state[1], tonumber(state[2]) or 0
if not epoch then
  epoch, offset = ARGV[1], 0
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end`;

/** ARGV[3] maxMessages, ARGV[4..7] id, event, data, ts: stores the message under the next offset. */
const STORE = `
offset = offset + 1
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], string.format('%d-0', offset),
  'id', ARGV[4], 'event', ARGV[5], 'data', ARGV[6], 'ts', ARGV[7])
redis.call('HSET', KEYS[1], 'o', offset)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])`;

/** ARGV as STORE; returns { offset, epoch }. */
const APPEND: LuaScript = {
  name: 'heraldHistoryAppend',
  lua: `${ENSURE_RUN}
${STORE}
return {offset, epoch}`,
};

/**
 * KEYS[3] the dedupe record, ARGV[3..7] as STORE, ARGV[8] the record's TTL (ms). A record of this run
 * (its epoch is the channel's) is answered, nothing stored: { offset, epoch, id, ts, 1, retained },
 * `retained` being { event, data } of the stored entry while a read would return it (not trimmed,
 * within maxAgeMs of the Redis clock), else empty. Otherwise the message is stored and the record
 * (re)written: { offset, epoch, id, ts, 0, {} }. A record of a lost run is simply overwritten.
 */
const APPEND_ONCE: LuaScript = {
  name: 'heraldHistoryAppendOnce',
  lua: `${LUA_NOW_MS}
${ENSURE_RUN}
local seen = redis.call('HMGET', KEYS[3], 'e', 'o', 'i', 't')
if seen[1] == epoch then
  local at = tonumber(seen[2])
  local id = string.format('%d-0', at)
  local retained = {}
  local entry = redis.call('XRANGE', KEYS[2], id, id)[1]
  if entry then
    local fields = {}
    for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
    local ts = tonumber(fields['ts'])
    if ts and ts >= now - tonumber(ARGV[2]) then retained = {fields['event'], fields['data']} end
  end
  return {at, epoch, seen[3], seen[4], 1, retained}
end
${STORE}
redis.call('HSET', KEYS[3], 'e', epoch, 'o', offset, 'i', ARGV[4], 't', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return {offset, epoch, ARGV[4], ARGV[7], 0, {}}`,
};

/**
 * ARGV[3] after, ARGV[4] limit (0: position only); returns { offset, epoch, entries }: up to `limit`
 * stream entries with offset > after whose `ts` is within maxAgeMs of the Redis clock, oldest first.
 * Aged-out entries are skipped, and the range is read on until `limit` entries are kept or the stream
 * ends (at most maxMessages entries in all).
 */
const READ: LuaScript = {
  name: 'heraldHistoryRead',
  lua: `${LUA_NOW_MS}
${ENSURE_RUN}
local after, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local oldest = now - tonumber(ARGV[2])
local kept = {}
if limit > 0 and offset > after then
  local start = string.format('%d-0', after + 1)
  while #kept < limit do
    local want = limit - #kept
    local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', want)
    for _, entry in ipairs(batch) do
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'ts' then
          local ts = tonumber(fields[i + 1])
          if ts and ts >= oldest then kept[#kept + 1] = entry end
        end
      end
    end
    if #batch < want then break end
    start = '(' .. batch[#batch][1]
  end
end
return {offset, epoch, kept}`,
};

/** Random bytes for epoch candidates, drawn 6 at a time (one getrandom per 1,024 calls, not per call). */
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * A fresh epoch candidate: 48 random bits. Every call sends one (the script uses it only when it
 * (re)starts the run), so it comes from a pool rather than a system call per publish.
 */
function mintEpoch(): string {
  if (poolAt + 6 > pool.length) {
    pool = randomBytes(6 * 1024);
    poolAt = 0;
  }
  poolAt += 6;
  return pool.toString('hex', poolAt - 6, poolAt);
}

/**
 * Durable across a failover: an append counts only once `minReplicas` replicas hold it (Redis WAIT,
 * sent in the same write right after the append, so it covers it), or as many as the primary has when
 * it has fewer ("where replicas exist": the primary a failover promoted takes writes before a new
 * replica joins). The primary's replica count is read every second (ROLE). Fewer acknowledgements
 * within `timeoutMs` reject the append with StateUnavailableError (the REST call answers 503,
 * retryable); the message may then exist on the primary alone, and a retry with the same
 * Idempotency-Key stores it once.
 */
export interface Replication {
  minReplicas: number;
  timeoutMs: number;
}

/** The append's reply once the replication check (if any) passed; either failure rejects. */
async function settled(appending: Promise<unknown>, replicated: Promise<void> | undefined): Promise<unknown> {
  if (replicated === undefined) return appending;
  const [reply] = await Promise.all([appending, replicated]);
  return reply;
}

const WAIT_WHAT = 'history replication (WAIT)';

function checkAcks(acks: number, minReplicas: number, timeoutMs: number): void {
  if (acks < minReplicas)
    throw new StateUnavailableError(
      `redis ${WAIT_WHAT}: ${acks} of ${minReplicas} replicas acknowledged the append within ${timeoutMs} ms`,
    );
}

/** How often the primary's replica count is read when appends wait for replicas. */
const ROLE_POLL_MS = 1_000;

export class RedisHistory implements History {
  private readonly lease: RedisLease;
  /** Replicas the primary had at the last ROLE read (undefined before the first: wait for all). */
  private replicas: number | undefined;
  private readonly rolePoll: NodeJS.Timeout | undefined;
  /** A WAIT scheduled but not sent yet, shared by the appends issued before it goes (see replicated). */
  private pendingWait: Promise<void> | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly retention: RetentionResolver,
    private readonly replication: Replication = { minReplicas: 0, timeoutMs: 0 },
  ) {
    this.lease = connection.lease([APPEND, APPEND_ONCE, READ]);
    // On Redis Cluster each shard has its own replicas: the connection tracks each primary's.
    if (replication.minReplicas > 0) {
      const read = (): void => void this.readReplicas();
      connection.client.on('ready', read);
      this.rolePoll = setInterval(read, ROLE_POLL_MS);
      this.rolePoll.unref();
    }
  }

  private async readReplicas(): Promise<void> {
    if (this.connection.clustered) return this.connection.readReplicas();
    try {
      const role = (await this.lease.run('history role', (client) => client.call('ROLE'))) as unknown[];
      this.replicas = role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : undefined;
    } catch {
      // Unreachable: appends fail anyway; the count is read again next time.
    }
  }

  /**
   * Issues WAIT now (right after the append just issued); rejects when too few replicas acknowledged.
   * Appends issued in one synchronous run (a batch) share one WAIT, sent in a microtask after the last
   * of them: WAIT covers every write issued before it on the connection, so the batch blocks the
   * connection once instead of once per message. An append issued after that WAIT was sent gets its own.
   */
  private replicated(): Promise<void> | undefined {
    const { timeoutMs } = this.replication;
    const minReplicas = Math.min(this.replication.minReplicas, this.replicas ?? Infinity);
    if (minReplicas === 0) return undefined;
    this.pendingWait ??= new Promise<void>((resolve, reject) =>
      queueMicrotask(() => {
        this.pendingWait = undefined;
        this.waitFor(minReplicas, timeoutMs).then(resolve, reject);
      }),
    );
    return this.pendingWait;
  }

  private waitFor(minReplicas: number, timeoutMs: number): Promise<void> {
    return this.lease
      .run(WAIT_WHAT, (client) => client.wait(minReplicas, timeoutMs))
      .then((acks) => checkAcks(acks, minReplicas, timeoutMs));
  }

  /**
   * Runs an append script and answers its reply once it is replicated as `replication` asks. On Redis
   * Cluster the WAIT follows the script in one pipeline to the channel's shard, one per append, and
   * asks for as many replicas as that shard has, up to minReplicas.
   */
  private stored(
    what: string,
    script: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    if (!this.connection.clustered)
      return settled(this.lease.script(what, script, keys, args), this.replicated());
    const { timeoutMs } = this.replication;
    const minReplicas = Math.min(
      this.replication.minReplicas,
      this.connection.replicasOf(keys[0]!) ?? Infinity,
    );
    if (minReplicas === 0) return this.lease.script(what, script, keys, args);
    return this.lease
      .scriptThenWait(what, script, keys, args, minReplicas, timeoutMs)
      .then(([reply, acks]) => {
        checkAcks(acks, minReplicas, timeoutMs);
        return reply;
      });
  }

  async append(channel: string, message: NewMessage, dedupe?: AppendDedupe): Promise<AppendResult> {
    checkMessage(message);
    if (dedupe !== undefined) checkDedupe(dedupe);
    const { maxMessages, maxAgeMs } = this.retentionOf(channel);
    const args = [
      mintEpoch(),
      maxAgeMs,
      maxMessages,
      message.id,
      message.event,
      message.dataJson,
      message.ts,
    ];
    if (dedupe === undefined) {
      const what = 'history append';
      const reply = asArray(await this.stored(what, APPEND, this.channelKeys(channel), args), what);
      return { offset: asInteger(reply[0], what), epoch: asString(reply[1], what) };
    }
    const what = 'history append (dedupe)';
    const keys = [...this.channelKeys(channel), this.keys.historyDedupe(channel, dedupe.key)];
    const reply = asArray(
      await this.stored(what, APPEND_ONCE, keys, [...args, ttlMs(dedupe.ttlSeconds)]),
      what,
    );
    const position = { offset: asInteger(reply[0], what), epoch: asString(reply[1], what) };
    if (asInteger(reply[4], what) !== 1) return position;
    const retained = asArray(reply[5], what);
    return {
      ...position,
      replayed: {
        id: asString(reply[2], what),
        ts: asInteger(reply[3], what),
        ...(retained.length === 2
          ? { retained: { event: asString(retained[0], what), dataJson: asString(retained[1], what) } }
          : {}),
      },
    };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const { offset, epoch } = await this.query('history position', channel, 0, 0);
    return { offset, epoch };
  }

  async read(channel: string, after: number, limit: number): Promise<HistoryRange> {
    checkRange(after, limit);
    const range = await this.query('history read', channel, after, limit);
    return { ...range, complete: isComplete(after, range.offset, range.messages) };
  }

  close(): Promise<void> {
    clearInterval(this.rolePoll);
    return this.lease.close();
  }

  private async query(
    what: string,
    channel: string,
    after: number,
    limit: number,
  ): Promise<Omit<HistoryRange, 'complete'>> {
    const { maxAgeMs } = this.retentionOf(channel);
    const reply = asArray(
      await this.lease.script(what, READ, this.channelKeys(channel), [mintEpoch(), maxAgeMs, after, limit]),
      what,
    );
    return {
      offset: asInteger(reply[0], what),
      epoch: asString(reply[1], what),
      messages: asArray(reply[2], what).map((entry) => decodeEntry(entry, what)),
    };
  }

  private channelKeys(channel: string): string[] {
    return [this.keys.offset(channel), this.keys.history(channel)];
  }

  private retentionOf(channel: string): Retention {
    const retention = this.retention(channel);
    checkRetention(retention, channel);
    return retention;
  }
}

/** One XRANGE entry `[id, [field, value, …]]` as a message; a malformed entry fails loudly. */
function decodeEntry(entry: unknown, what: string): StoredMessage {
  const [id, fieldList] = asArray(entry, what);
  const streamId = asString(id, what);
  const match = /^(\d+)-0$/.exec(streamId);
  if (match === null) throw new MalformedReplyError(`${what}: unexpected stream entry id ${streamId}`);
  const fields = new Map<string, string>();
  const flat = asArray(fieldList, what);
  for (let i = 0; i + 1 < flat.length; i += 2)
    fields.set(asString(flat[i], what), asString(flat[i + 1], what));
  const field = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined)
      throw new MalformedReplyError(`${what}: stream entry ${streamId} has no ${name}`);
    return value;
  };
  return {
    offset: asInteger(match[1], what),
    id: field('id'),
    event: field('event'),
    dataJson: field('data'),
    ts: asInteger(field('ts'), what),
  };
}
