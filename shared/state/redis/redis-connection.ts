/**
 * The one ioredis client the Redis state drivers share, and its lifecycle.
 *
 * Commands are group-committed: what the node issues in one event-loop turn (many publishes, many
 * connects) goes to Redis in one write (the socket is corked for the turn), each still its own
 * command (a script stays atomic); a busy node writes at most once per millisecond. Unlike ioredis'
 * auto-pipelining, which holds new commands back until the previous pipeline's replies are in,
 * nothing waits for a round trip.
 *
 * Failure model (request path): a call never hangs and never runs late.
 *  - ioredis' own offline queue is off (`enableOfflineQueue: false`): a command is only written to a
 *    ready connection. While the client is connecting or reconnecting, calls wait here for `ready`, at
 *    most `commandTimeoutMs`, and at most `maxOfflineQueue` of them at once (more reject at once). A
 *    call that gave up is dropped, never sent later, so a caller told "failed" cannot find its write
 *    applied minutes afterwards (an offset reserved twice would leave a gap).
 *  - Every written command has `commandTimeout`; a connection that dies with commands in flight
 *    rejects them at once (`maxRetriesPerRequest: 0`) and they are not resent on reconnect
 *    (`autoResendUnfulfilledCommands: false`: `next` is not idempotent). A half-open socket that
 *    stops answering is destroyed after `socketTimeout` and reconnected.
 *  - The client reconnects by itself forever (jittered backoff capped at 2 s).
 *  - Every failure surfaces as `StateUnavailableError` (cause: the ioredis error).
 *
 * Lifecycle: each driver takes a lease; closing a driver returns its lease (and only stops that
 * driver). When the last lease is returned, or `close` is called, the client quits once.
 */
import type { Socket } from 'node:net';
import { Cluster, Command, Redis, type ChainableCommander } from 'ioredis';
import type { Logger } from 'pino';
import { InvalidArgumentError } from '../../core/contract-errors.js';
import { StateUnavailableError } from '../state-unavailable-error.js';

/** A standalone (or Sentinel-managed) Redis, or a Redis Cluster: the drivers use what both offer. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** One server; or, with `sentinel` or `cluster`, ignored. */
  url?: string;
  sentinel?: { sentinels: { host: string; port: number }[]; name: string };
  /** Redis Cluster: seed nodes (ioredis learns the rest, and the slots, from them). */
  cluster?: { nodes: { host: string; port: number }[] };
  nodeId: string;
  commandTimeoutMs: number;
  /** Calls allowed to wait for a (re)connection at once; more reject at once. 0: none wait. */
  maxOfflineQueue: number;
  log: Logger;
}

/** A Lua script run with EVALSHA (ioredis loads it on NOSCRIPT); `name` must be unique per client. */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
}

/** Lua prologue: `now` is the Redis server's clock in milliseconds (one clock for every node). */
export const LUA_NOW_MS =
  "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/** A TTL in seconds (fractions allowed, like the memory drivers) as whole milliseconds, at least 1. */
export function ttlMs(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds))
    throw new InvalidArgumentError(`a TTL must be a finite number, got ${ttlSeconds}`);
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

export type Arg = string | number;
type ScriptHost = Record<string, (...args: Arg[]) => unknown>;
type Replies = [error: Error | null, result: unknown][] | null;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const MAX_RECONNECT_DELAY_MS = 2_000;
/** Reconnect delay: doubling from 100 ms to MAX_RECONNECT_DELAY_MS, plus up to 100 ms of jitter. */
const backoff = (attempt: number): number =>
  Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
/** Shortest time between two writes to Redis while commands keep coming (see coalesceWrites). */
const MIN_FLUSH_INTERVAL_MS = 1;
/** Most script calls one batch carries: bounds how long one batch script holds Redis. */
const MAX_BATCH_CALLS = 256;

/** A script call waiting in the batch (see `script`). */
interface BatchedCall {
  what: string;
  script: LuaScript;
  keys: readonly string[];
  args: readonly Arg[];
  resolve(reply: unknown): void;
  reject(err: StateUnavailableError): void;
}

/**
 * The batch script: every declared script's body as a function of its own KEYS and ARGV, and a loop
 * that runs the calls in order. ARGV[1] is the number of calls; each call then takes ARGV entries
 * body index, key count, argument count and its arguments, and the next key count of KEYS. A call
 * answers {1, reply} or, when it raised or returned an error, {0, message}: one call's error does not
 * stop the others (its writes before the error stay, as they would for the script alone).
 */
function batchLua(scripts: readonly LuaScript[]): string {
  const bodies = scripts.map((script) => `function(KEYS, ARGV)\n${script.lua}\nend`).join(',\n');
  return `local bodies = {
${bodies}
}
local out, k, a = {}, 0, 1
for i = 1, tonumber(ARGV[1]) do
  local body, nk, na = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 3
  local keys, argv = {}, {}
  for j = 1, nk do keys[j] = KEYS[k + j] end
  for j = 1, na do argv[j] = ARGV[a + j] end
  k, a = k + nk, a + na
  local ok, reply = pcall(bodies[body], keys, argv)
  if type(reply) == 'table' and reply.err then out[i] = {0, reply.err}
  elseif ok then out[i] = {1, reply}
  else out[i] = {0, tostring(reply)} end
end
return out`;
}

export class RedisConnection {
  readonly client: RedisClient;
  /** True on Redis Cluster: keys carry hash tags, and commands to different slots are not ordered. */
  readonly clustered: boolean;
  /** The options' logger bound to `{ component: 'redis-state' }`, for the drivers too. */
  readonly log: Logger;
  private readonly waiters = new Set<Waiter>();
  private readonly defined = new Set<string>();
  /** The declared scripts, in declaration order, and each one's body index in the batch script. */
  private readonly declared: LuaScript[] = [];
  private readonly bodyIndex = new Map<LuaScript, number>();
  /** The batch script of the scripts declared so far (rebuilt when one is added). */
  private batchScript: LuaScript | undefined;
  /** Script calls made since the last write, sent together before the next one (see `script`). */
  private batch: BatchedCall[] = [];
  /** Reads issued with `readAfterBatch` since the last write, sent right after the batch. */
  private afterBatch: (() => void)[] = [];
  private leases = 0;
  private closing: Promise<void> | undefined;
  private down = false;
  /** Redis Cluster: every primary's connection has been ready (see writable). */
  private warm = false;
  /** Redis Cluster: connected replicas per primary (`host:port`), from readReplicas. */
  private readonly connectedReplicas = new Map<string, number>();
  /** The socket corked until its next flush, and when the last flush was (see coalesceWrites). */
  private corked: Socket | undefined;
  private lastFlushAt = -Infinity;

  constructor(private readonly options: RedisConnectionOptions) {
    if (!Number.isInteger(options.commandTimeoutMs) || options.commandTimeoutMs <= 0)
      throw new TypeError('commandTimeoutMs must be a positive integer');
    if (!Number.isInteger(options.maxOfflineQueue) || options.maxOfflineQueue < 0)
      throw new TypeError('maxOfflineQueue must be a non-negative integer');
    this.log = options.log.child({ component: 'redis-state' });
    const perConnection = {
      connectionName: `herald:${options.nodeId}`,
      commandTimeout: options.commandTimeoutMs,
      socketTimeout: Math.max(3 * options.commandTimeoutMs, 3_000),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    };
    const common = { ...perConnection, enableOfflineQueue: false, retryStrategy: backoff };
    const { sentinel, url, cluster } = options;
    this.clustered = cluster !== undefined;
    if (cluster !== undefined) {
      // The cluster reconnects its node connections itself (clusterRetryStrategy).
      this.client = new Cluster(cluster.nodes, {
        redisOptions: perConnection,
        clusterRetryStrategy: backoff,
        enableOfflineQueue: false,
        // A command whose connection closed may have run: it fails (503) instead of being sent again
        // (see the failure model). A MOVED or ASK reply means it did not run: ioredis follows it (and
        // scriptThenWait, for its pipelines, a MOVED).
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        slotsRefreshTimeout: options.commandTimeoutMs,
        // After a failover the slot map is read again within a second, not ioredis' default 5 s.
        slotsRefreshInterval: 1_000,
      });
    } else if (sentinel !== undefined) {
      // ioredis asks the sentinels for the primary on every (re)connect, and checks its role, so after
      // a failover the reconnect lands on the promoted replica.
      this.client = new Redis({
        ...common,
        sentinels: sentinel.sentinels,
        name: sentinel.name,
        sentinelRetryStrategy: backoff,
        // A sentinel that accepts but never answers must not hold the lookup: try the next one.
        sentinelCommandTimeout: options.commandTimeoutMs,
      });
    } else if (url !== undefined) this.client = new Redis(url, common);
    else throw new TypeError('RedisConnection needs a url, sentinels or cluster nodes');
    // The URL may carry a password: it is never logged.
    this.client.on('error', (err: Error) => {
      if (this.down) this.log.debug({ err }, 'redis still unreachable');
      else this.log.warn({ err }, 'redis error; state calls fail fast until it answers again');
    });
    this.client.on('close', () => {
      if (!this.down && this.closing === undefined) this.log.warn('redis connection closed; reconnecting');
      this.down = true;
    });
    this.client.on('ready', () => {
      if (this.down) this.log.info('redis connection ready again');
      this.down = false;
      if (this.writable) this.releaseWaiters();
    });
    if (this.client instanceof Cluster) {
      // ioredis opens a shard's connection on its first command and refuses the next ones until it is
      // up: open each at once instead, and hold the first calls until every primary's is ready.
      const recheck = (): void => {
        if (this.writable && this.waiters.size > 0) this.releaseWaiters();
      };
      this.client.on('+node', (node: Redis) => {
        node.on('ready', recheck);
        // Primaries only: replicas (read-only connections) are never used with reads on primaries.
        if (node.status === 'wait' && node.options.readOnly !== true) node.connect().catch(() => undefined);
      });
      // A dead primary leaving the pool, or a new slot map, can make the client writable too.
      this.client.on('-node', recheck);
      this.client.on('refresh', recheck);
    }
  }

  /**
   * Whether a command can be written now. On Redis Cluster, until every primary's connection has been
   * ready once (startup) the client counts as connecting; after that a shard whose connection drops
   * fails its own commands at once (503) and the others go on.
   */
  private get writable(): boolean {
    if (this.client.status !== 'ready') return false;
    if (this.warm || !(this.client instanceof Cluster)) return true;
    const primaries = this.client.nodes('master');
    this.warm = primaries.length > 0 && primaries.every((node) => node.status === 'ready');
    return this.warm;
  }

  /** True while commands can be written (the client is connected and ready). */
  get ready(): boolean {
    return this.closing === undefined && this.writable;
  }

  /**
   * A driver's share of the client: its own closed flag; the last lease returned quits the client.
   * `scripts` are the Lua scripts the driver runs (defined now, so pipelines made later know them).
   */
  lease(scripts: readonly LuaScript[] = []): RedisLease {
    if (this.closing !== undefined) throw new StateUnavailableError('redis state drivers are closed');
    for (const script of scripts) this.define(script);
    this.leases += 1;
    return new RedisLease(this, () => {
      this.leases -= 1;
      return this.leases === 0 ? this.close() : Promise.resolve();
    });
  }

  /** Runs `op` once the client is ready (waiting at most commandTimeoutMs); failures become StateUnavailableError. */
  async run<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.closing !== undefined)
      throw new StateUnavailableError(`redis ${what}: state drivers are closed`);
    if (!this.writable) await this.waitUntilReady(what);
    this.coalesceWrites();
    // Batched script calls made before this command are written before it: the order holds.
    this.sendBatch();
    try {
      return await op(this.client);
    } catch (err) {
      throw unavailable(what, err);
    }
  }

  /**
   * Runs `op`, a read that must see every call issued before it but may also see calls issued after
   * it in the same turn (a presence lookup: a superset of nodes is still a correct route). On a
   * standalone Redis it is written at the next flush, right after the batched script calls made
   * until then, instead of sending the batch ahead of it at once as `run` must (to keep call order):
   * a publish's lookup, issued right after its append, no longer splits the appends of concurrent
   * publishes into one script call each. Elsewhere it runs as `run` does.
   */
  readAfterBatch<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.clustered || this.closing !== undefined || !this.writable || !this.coalesceWrites())
      return this.run(what, op);
    return new Promise<T>((resolve, reject) => {
      this.afterBatch.push(() => {
        try {
          op(this.client).then(resolve, (err: unknown) => reject(unavailable(what, err)));
        } catch (err) {
          reject(unavailable(what, err));
        }
      });
    });
  }

  /** Writes the batched script calls, then the reads `readAfterBatch` deferred behind them. */
  private sendQueued(): void {
    this.sendBatch();
    const reads = this.afterBatch;
    if (reads.length === 0) return;
    this.afterBatch = [];
    for (const read of reads) read();
  }

  /**
   * Runs a Lua script with explicit keys. On a standalone Redis the calls made one after another (no
   * other command in between), however many drivers and connections they come from, are group
   * committed: written together just before the next write as ONE call of the batch script
   * (batchLua), which runs each in order and answers each on its own. Redis parses and dispatches one
   * command instead of dozens, and the node builds one command object and decodes one reply: for
   * small scripts (a presence add, a session create) that overhead is most of what a call costs on
   * both sides. A lone call is sent as itself. On Redis Cluster, where one script's keys must share
   * a slot, and while the client is not ready, each call runs alone.
   */
  script(what: string, script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    if (this.clustered || this.closing !== undefined || !this.writable)
      return this.run(what, (client) => this.callScript(client, script, keys, args));
    return new Promise<unknown>((resolve, reject) => {
      this.batch.push({ what, script, keys, args, resolve, reject });
      // The flush sends the batch first; with no flush to come (no socket to cork), it goes now.
      if (this.batch.length >= MAX_BATCH_CALLS || !this.coalesceWrites()) this.sendBatch();
    });
  }

  /** Writes the batched script calls (one command, or the call itself when it is alone). */
  private sendBatch(): void {
    const calls = this.batch;
    if (calls.length === 0) return;
    this.batch = [];
    try {
      if (calls.length === 1) {
        const call = calls[0]!;
        this.callScript(this.client, call.script, call.keys, call.args).then(
          (reply) => call.resolve(reply),
          (err: unknown) => call.reject(unavailable(call.what, err)),
        );
        return;
      }
      const batch = this.currentBatchScript();
      const keys: string[] = [];
      const argv: Arg[] = [calls.length];
      for (const call of calls) {
        const body = this.bodyIndex.get(call.script);
        if (body === undefined)
          throw new Error(`lua script ${call.script.name} was not declared when the driver took its lease`);
        keys.push(...call.keys);
        argv.push(body, call.keys.length, call.args.length, ...call.args);
      }
      this.callScript(this.client, batch, keys, argv).then(
        (replies) => settleBatch(calls, replies),
        (err: unknown) => {
          for (const call of calls) call.reject(unavailable(call.what, err));
        },
      );
    } catch (err) {
      for (const call of calls) call.reject(unavailable(call.what, err));
    }
  }

  private currentBatchScript(): LuaScript {
    if (this.batchScript === undefined) {
      const script = { name: `heraldBatch${this.declared.length}`, lua: batchLua(this.declared) };
      this.client.defineCommand(script.name, { lua: script.lua });
      this.defined.add(script.name);
      this.batchScript = script;
    }
    return this.batchScript;
  }

  /**
   * Runs `script` once per call, all issued at once (batched on a standalone Redis, see `script`; on
   * Redis Cluster each goes to its own slot's shard); resolves with their replies in order, or
   * rejects with the first failure.
   */
  scripts(
    what: string,
    script: LuaScript,
    calls: readonly { keys: readonly string[]; args: readonly Arg[] }[],
  ): Promise<unknown[]> {
    // Batched only while writable: waiting for Redis, the calls share one place in the offline queue.
    if (!this.clustered && this.writable)
      return Promise.all(calls.map(({ keys, args }) => this.script(what, script, keys, args)));
    return this.run(what, (client) =>
      Promise.all(calls.map(({ keys, args }) => this.callScript(client, script, keys, args))),
    );
  }

  /**
   * Redis Cluster: runs `script`, then WAIT for `minReplicas` within `timeoutMs`, in one pipeline to
   * the shard of the script's keys (WAIT covers the writes sent before it on that connection); resolves
   * with the script's reply and the replicas that acknowledged.
   */
  scriptThenWait(
    what: string,
    script: LuaScript,
    keys: readonly string[],
    args: readonly Arg[],
    minReplicas: number,
    timeoutMs: number,
  ): Promise<[reply: unknown, acks: number]> {
    return this.run(what, async (client) => {
      // ioredis follows a redirection of a pipeline only when nothing in it ran, and WAIT always
      // runs: a script refused with MOVED, TRYAGAIN or CLUSTERDOWN (it did not run) is sent again
      // here, once the slot map has been read again, at most twice.
      for (let attempt = 1; ; attempt++) {
        const pipeline = client.pipeline();
        this.scriptOn(pipeline, script)(keys.length, ...keys, ...args);
        pipeline.wait(minReplicas, timeoutMs);
        const replies = await pipeline.exec();
        const refused = replies?.[0]?.[0];
        if (
          refused &&
          attempt < 3 &&
          client instanceof Cluster &&
          /^(MOVED|TRYAGAIN|CLUSTERDOWN)\b/.test(refused.message)
        ) {
          await refreshSlots(client);
          continue;
        }
        const [reply, acks] = results(replies);
        return [reply, Number(acks)];
      }
    });
  }

  /**
   * Redis Cluster: the replicas of the shard that holds `key` that count for WAIT: listed in the
   * client's slot map (read every second; a replica the cluster marked failed is left out) and, once
   * `readReplicas` ran, connected to their primary (ROLE). Undefined before the map is known, or on
   * a standalone Redis.
   */
  replicasOf(key: string): number | undefined {
    if (!(this.client instanceof Cluster)) return undefined;
    const nodes = this.client.slots[new Command('exists', [key]).getSlot()];
    if (nodes === undefined) return undefined;
    const connected = this.connectedReplicas.get(nodes[0]!);
    return Math.min(nodes.length - 1, connected ?? Infinity);
  }

  /** Redis Cluster: reads each primary's connected replicas (ROLE); see replicasOf. */
  async readReplicas(): Promise<void> {
    if (!(this.client instanceof Cluster)) return;
    await Promise.all(
      this.client.nodes('master').map(async (node) => {
        const key = `${node.options.host}:${node.options.port}`;
        try {
          const role = (await node.call('ROLE')) as unknown[];
          if (role[0] === 'master' && Array.isArray(role[2])) this.connectedReplicas.set(key, role[2].length);
          else this.connectedReplicas.delete(key);
        } catch {
          this.connectedReplicas.delete(key); // unreachable: its appends fail anyway
        }
      }),
    );
  }

  /**
   * Sends the commands `build` queues as one MULTI transaction; resolves with their results, or
   * rejects with the first command error. On Redis Cluster their keys must share one slot (a hash
   * tag, keys.ts).
   */
  transaction(what: string, build: (tx: ChainableCommander) => void): Promise<unknown[]> {
    return this.run(what, async (client) => {
      const pipeline = client.multi();
      build(pipeline);
      return results(await pipeline.exec());
    });
  }

  /**
   * Corks the socket until the end of this event-loop turn (once per turn): every command written
   * meanwhile leaves in one syscall when it is uncorked in the check phase. When the previous flush
   * was less than MIN_FLUSH_INTERVAL_MS ago (a busy node: a connect storm, a publish burst), the
   * flush waits for that interval to pass, so one write carries more commands; a node that writes
   * less often than that flushes in the same turn. Each write wakes Redis, which on a busy machine
   * costs more than the bytes. The batched script calls go out first at the flush. False when there
   * is no socket to cork (nothing will flush).
   */
  private coalesceWrites(): boolean {
    // One socket to cork on a standalone Redis; a cluster client writes to many (not coalesced).
    const stream = this.client instanceof Redis ? (this.client.stream as Socket | undefined) : undefined;
    if (stream === undefined) return false;
    if (this.corked === stream) return true;
    this.corked = stream;
    stream.cork();
    const flush = (): void => {
      if (this.corked === stream) this.corked = undefined;
      this.lastFlushAt = performance.now();
      this.sendQueued();
      stream.uncork();
    };
    const wait = this.lastFlushAt + MIN_FLUSH_INTERVAL_MS - performance.now();
    if (wait <= 0) setImmediate(flush);
    else setTimeout(flush, wait);
    return true;
  }

  /** Quits the client once (pending waiters reject); later calls reject with StateUnavailableError. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new StateUnavailableError('redis state drivers closed while waiting for redis'));
    }
    this.waiters.clear();
    this.sendQueued();
    if (this.client.status === 'ready') {
      // QUIT lets replies to commands already sent arrive first; bounded by commandTimeout.
      await this.client.quit().catch(() => undefined);
    }
    // Stops reconnecting too, when the client was not connected.
    this.client.disconnect();
  }

  private define(script: LuaScript): void {
    if (this.defined.has(script.name)) return;
    this.client.defineCommand(script.name, { lua: script.lua });
    this.defined.add(script.name);
    this.declared.push(script);
    this.bodyIndex.set(script, this.declared.length);
    this.batchScript = undefined; // the next batch gets a script that knows this one
  }

  /** Calls `script` with `keys` and `args` on the client (a command of its own). */
  private callScript(
    client: RedisClient,
    script: LuaScript,
    keys: readonly string[],
    args: readonly Arg[],
  ): Promise<unknown> {
    return this.scriptOn(client, script)(keys.length, ...keys, ...args) as Promise<unknown>;
  }

  /** The method defineCommand added for `script` (pipelines copy it from the client when made). */
  private scriptOn(target: RedisClient | ChainableCommander, script: LuaScript): (...args: Arg[]) => unknown {
    const method = (target as unknown as ScriptHost)[script.name];
    if (method === undefined || !this.defined.has(script.name))
      throw new Error(`lua script ${script.name} was not declared when the driver took its lease`);
    return method.bind(target);
  }

  private waitUntilReady(what: string): Promise<void> {
    const { commandTimeoutMs, maxOfflineQueue } = this.options;
    if (this.waiters.size >= maxOfflineQueue)
      return Promise.reject(
        new StateUnavailableError(
          `redis ${what}: redis is ${this.client.status} and ${this.waiters.size} calls already wait for it`,
        ),
      );
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new StateUnavailableError(
              `redis ${what}: redis not ready within ${commandTimeoutMs} ms (${this.client.status})`,
            ),
          );
        }, commandTimeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
  }
}

/** One driver's handle on the shared connection. */
export class RedisLease {
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly release: () => Promise<void>,
  ) {}

  run<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.closed ? closedDriver(what) : this.connection.run(what, op);
  }

  readAfterBatch<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.closed ? closedDriver(what) : this.connection.readAfterBatch(what, op);
  }

  script(what: string, script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    return this.closed ? closedDriver(what) : this.connection.script(what, script, keys, args);
  }

  scripts(
    what: string,
    script: LuaScript,
    calls: readonly { keys: readonly string[]; args: readonly Arg[] }[],
  ): Promise<unknown[]> {
    return this.closed ? closedDriver(what) : this.connection.scripts(what, script, calls);
  }

  scriptThenWait(
    what: string,
    script: LuaScript,
    keys: readonly string[],
    args: readonly Arg[],
    minReplicas: number,
    timeoutMs: number,
  ): Promise<[reply: unknown, acks: number]> {
    return this.closed
      ? closedDriver(what)
      : this.connection.scriptThenWait(what, script, keys, args, minReplicas, timeoutMs);
  }

  transaction(what: string, build: (tx: ChainableCommander) => void): Promise<unknown[]> {
    return this.closed ? closedDriver(what) : this.connection.transaction(what, build);
  }

  /** Idempotent: stops this driver; the client quits when every driver has closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.release();
  }
}

function closedDriver(what: string): Promise<never> {
  return Promise.reject(new StateUnavailableError(`redis ${what}: the driver is closed`));
}

/** Hands each batched call its own answer from the batch script's reply (see batchLua). */
function settleBatch(calls: readonly BatchedCall[], replies: unknown): void {
  const list = Array.isArray(replies) ? (replies as unknown[]) : [];
  for (const [i, call] of calls.entries()) {
    const entry = list[i];
    if (Array.isArray(entry) && entry[0] === 1) call.resolve(entry.length > 1 ? entry[1] : null);
    else {
      const message = Array.isArray(entry) ? String(entry[1]) : 'no answer in the batch reply';
      call.reject(unavailable(call.what, new Error(message)));
    }
  }
}

function unavailable(what: string, err: unknown): StateUnavailableError {
  if (err instanceof StateUnavailableError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new StateUnavailableError(`redis ${what} failed: ${reason}`, { cause: err });
}

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}

function results(replies: Replies): unknown[] {
  if (replies === null) throw new Error('transaction aborted');
  return replies.map(([error, result]) => {
    if (error !== null) throw error;
    return result;
  });
}
