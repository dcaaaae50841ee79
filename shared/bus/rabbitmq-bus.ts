/**
 * RabbitMQ driver of the cluster bus (semantics in bus.ts). Reconnection is amqplib's own opt-in
 * recovery; its `setup` hook runs after every (re)connect and declares the whole topology again:
 *
 *  - exchange `<exchange>`: fanout, durable (it outlives broker restarts; nodes come and go).
 *  - exchange `<exchange>.direct`: direct, durable, for targeted publishes: routing key the first
 *    node id, `BCC` the others (RabbitMQ's sender-selected distribution: one publish, one copy per
 *    named queue, the header stripped before delivery). A name with no queue bound is dropped there.
 *  - queue `<exchange>.<nodeId>`: this node's inbox; durable, not exclusive, `x-expires` =
 *    queueExpiresMs, `x-max-length` = queueMaxLength, `x-overflow` = drop-head; bound with key '' to
 *    the fanout exchange and with key `<nodeId>` to the direct one.
 *    Not exclusive so it outlives a short link outage (what others published meanwhile is still
 *    delivered after recovery) and a reconnect never races the broker's cleanup of the old
 *    connection (RESOURCE_LOCKED); `x-expires` deletes it once a dead node has had no consumer that
 *    long. drop-head, not reject-publish: with a fanout, one full queue (a slow or dead node) would
 *    nack every publish of the whole cluster; dropping that node's oldest payloads hurts only it.
 *    `close()` deletes the queue: a node that leaves on purpose leaves nothing behind.
 *    Durable only because RabbitMQ 4.3+ refuses transient non-exclusive queues; messages are published
 *    non-persistent, so a broker restart empties it (history covers that, as after any bus outage).
 *  - consumer: exclusive (two processes sharing a NODE_ID fail loudly instead of splitting the
 *    payloads), manual acks with `prefetch` unacknowledged at once. Acks over noAck: payloads in flight
 *    when the link drops are requeued instead of lost, and prefetch only bounds anything with acks
 *    (under noAck the broker pushes without limit into this process's memory). The cost is paid
 *    once per batch: acks are coalesced with `multiple` (see `acknowledge`).
 *  - a confirm channel for publishing.
 *
 * A RabbitMQ cluster: `url` may list several brokers, comma-separated. A node starts on the broker its
 * id hashes to (so nodes spread over them); a link that drops is tried again on the same broker, and
 * each failed attempt moves to the next one in the list, with the same backoff. Its queue is then
 * `<exchange>.<nodeId>.<i>`, i the broker's place in the list, declared on that broker (classic queues
 * live on the broker that declares them, RabbitMQ's default `client-local` leader locator; no queue
 * argument names it, so queues declared by earlier versions keep matching): a classic queue whose
 * broker is down cannot be declared again elsewhere, and a replicated (quorum) queue would write every
 * payload to disk on several brokers for data that history already keeps. What the dead broker held
 * is caught up from history (`resumed`, as after any outage); a queue left on a broker that comes back
 * expires after queueExpiresMs without a consumer, and one the node comes back to before that is
 * purged first (what it collected is stale). List the brokers themselves, not a balancer in
 * front of them: the queue's name must say where it lives.
 *
 * `publish` resolves on the broker's confirm. While the link is down, blocked by the broker, or the
 * channel is saturated, payloads wait in an in-order outbox; each publish has one deadline
 * (publishTimeoutMs) covering the wait for recovery, channel drain and the confirm, after which it
 * rejects with `BusUnavailableError`. A payload that was written but not confirmed when the link died
 * is rejected too, not resent: its fate is unknown, and resending could deliver it twice.
 */
import amqplib, {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
  type RecoveringChannelModel,
} from 'amqplib';
import type { Logger } from '../logger/logger.js';
import { InvalidArgumentError } from '../core/contract-errors.js';
import { BusUnavailableError, type Bus, type BusHandler, type BusHooks } from './bus.js';

export interface RabbitMqBusOptions {
  /**
   * amqp:// or amqps:// URL (`?heartbeat=` is honoured), or several comma-separated (the brokers of a
   * RabbitMQ cluster, see above); credentials never reach the log.
   */
  url: string;
  /** Name of the durable fanout exchange every node of the cluster binds to. */
  exchange: string;
  /** This node's id; its queue is `<exchange>.<nodeId>`, so it must be unique in the cluster. */
  nodeId: string;
  /** Unacknowledged payloads the broker sends this node at once (consumer prefetch). */
  prefetch: number;
  /** `x-max-length` of this node's queue; beyond it the oldest payloads are dropped. */
  queueMaxLength: number;
  /** `x-expires` of this node's queue: deleted after having no consumer this long. */
  queueExpiresMs: number;
  /** Longest a publish waits (recovery, drain, confirm) before rejecting with BusUnavailableError. */
  publishTimeoutMs: number;
  log: Logger;
  /** Longest `start` waits for the first connection with its topology. Default 10 000 ms. */
  startTimeoutMs?: number;
}

/** Reconnect backoff: 200 ms doubling to 5 s, ±50 % jitter so nodes do not reconnect in step. */
const RECOVERY = {
  initialDelay: 200,
  maxDelay: 5_000,
  factor: 2,
  jitter: 0.5,
  maxRetries: Infinity,
} as const;
/** Socket connect plus AMQP handshake of one attempt; a black-holed host fails this attempt, not forever. */
const CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_START_TIMEOUT_MS = 10_000;
/** Longest an acknowledgement waits to be coalesced with the next ones (see `acknowledge`). */
const ACK_DELAY_MS = 25;

/**
 * What amqplib connects to, in the object form of its URL argument (`Options.Connect`): its recovery
 * connects to the same object on every attempt, so filling it with another broker's fields moves the
 * next attempt there. Every field is always present (undefined when the URL leaves it out).
 */
type BrokerTarget = Required<Pick<Options.Connect, 'protocol' | 'hostname'>> &
  Pick<
    Options.Connect,
    | 'port'
    | 'username'
    | 'password'
    | 'vhost'
    | 'heartbeat'
    | 'frameMax'
    | 'channelMax'
    | 'maxFrameSize'
    | 'locale'
  >;

/** The object form of an amqp(s):// URL, read as amqplib reads the string form. */
export function brokerTarget(url: string): BrokerTarget {
  const parts = new URL(url);
  const int = (name: string): number | undefined => {
    const value = parts.searchParams.get(name);
    return value === null ? undefined : parseInt(value, 10);
  };
  const credentials = parts.username !== '' || parts.password !== '';
  return {
    protocol: parts.protocol.replace(/:$/, ''),
    hostname: parts.hostname.replace(/^\[|\]$/g, ''),
    port: parts.port === '' ? undefined : Number(parts.port),
    // Both unset: amqplib's default guest/guest, as with the string form.
    username: credentials ? decoded(parts.username) : undefined,
    password: credentials ? decoded(parts.password) : undefined,
    // Still escaped: amqplib unescapes the vhost of the object form itself.
    vhost: parts.pathname === '' ? undefined : parts.pathname.slice(1),
    heartbeat: int('heartbeat'),
    frameMax: int('frameMax'),
    channelMax: int('channelMax'),
    maxFrameSize: int('maxFrameSize'),
    locale: parts.searchParams.get('locale') ?? undefined,
  };
}

/** Percent-decoded; a malformed escape (a raw `%` in a password) is kept as written. */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The broker list of `url` (comma-separated). */
export function brokerUrls(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

/** One broker connection and what `setup` built on it; replaced wholesale by every reconnect. */
interface Link {
  readonly model: ChannelModel;
  /** This node's queue on the link's broker. */
  readonly queue: string;
  open: boolean;
  /** Setup finished: topology declared, consumer attached, publisher open. */
  established: boolean;
  /** We asked the connection to close (to rebuild the topology); do not ask twice. */
  closing: boolean;
  /** The broker stopped reading from us (resource alarm); publishes would only sit in buffers. */
  blocked: boolean;
  consumer: Channel | undefined;
  /** The consumer is attached (false once cancelled by the broker or its channel closed). */
  consuming: boolean;
  publisher: ConfirmChannel | undefined;
  /** False after the publisher's buffer filled up (publish returned false), until its 'drain'. */
  writable: boolean;
  /** Latest delivery not yet acknowledged, and how many deliveries that ack will cover. */
  lastDelivery: ConsumeMessage | undefined;
  unacked: number;
  ackScheduled: boolean;
}

interface PendingPublish {
  readonly payload: Buffer;
  /** Targeted: the node ids it goes to (at least one); undefined: every node. */
  readonly nodes: readonly string[] | undefined;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  sent: boolean;
  settled: boolean;
}

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new TypeError(`RabbitMqBus: ${name} must be an integer from 1 to ${max}, got ${value}`);
}

/** The URL with its password replaced, for log lines and error messages. */
function redactUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable AMQP URL)';
  }
}

/** The broker a node starts on: its id hashed over the list (FNV-1a), so nodes spread over them. */
export function spreadIndex(nodeId: string, brokers: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i++) hash = Math.imul(hash ^ nodeId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % brokers;
}

function unavailable(message: string, cause?: unknown): BusUnavailableError {
  const error = new BusUnavailableError(message);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/**
 * amqplib queues each frame buffer a channel sends (a whole small publish, an ack) and its muxer
 * writes them to the socket one `write` each, one syscall per publish. Corking the socket around the
 * muxer's pass sends every buffer queued since the last pass (the publishes of one event-loop turn:
 * a group of API requests answered by one Redis reply, a batch) in one `writev`; backpressure is
 * unchanged (`write` still returns false past the socket's high-water mark). Reaches into amqplib's
 * `Connection` (`muxer._readIncoming`, `stream`); false, and nothing changed, when they are not there
 * (another amqplib version: frames then go out one write each, as before).
 */
export function coalesceFrameWrites(connection: unknown): boolean {
  const { muxer, stream } = (connection ?? {}) as {
    muxer?: { _readIncoming?: unknown };
    stream?: { cork?: unknown; uncork?: unknown };
  };
  const readIncoming = muxer?._readIncoming;
  if (
    typeof readIncoming !== 'function' ||
    typeof stream?.cork !== 'function' ||
    typeof stream.uncork !== 'function'
  )
    return false;
  const socket = stream as { cork(): void; uncork(): void };
  muxer!._readIncoming = function (this: unknown): void {
    socket.cork();
    try {
      readIncoming.call(this);
    } finally {
      socket.uncork();
    }
  };
  return true;
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export class RabbitMqBus implements Bus {
  private readonly options: Required<RabbitMqBusOptions>;
  private readonly brokers: string[];
  /** The broker the next connection attempt goes to (its place in `brokers`), and amqplib's target. */
  private broker: number;
  private readonly target: BrokerTarget;
  /** The queue of the last link that got set up (a move to another broker purges the new one). */
  private lastQueue: string | undefined;
  /** The direct exchange of targeted publishes (see the header). */
  private readonly direct: string;
  private readonly log: Logger;
  /** Acks go out when this many deliveries are pending, or at the end of the event-loop turn. */
  private readonly ackBatch: number;
  private state: 'idle' | 'running' | 'closed' = 'idle';
  private handler: BusHandler | undefined;
  private hooks: BusHooks | undefined;
  private connection: RecoveringChannelModel | undefined;
  private link: Link | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private lastFailure: Error | undefined;
  private disconnectedAt: number | undefined;
  /** Publishes not yet written to the broker, in call order. Entries that timed out are skipped. */
  private outbox: PendingPublish[] = [];
  /** Publishes written and awaiting their confirm. */
  private readonly inflight = new Set<PendingPublish>();
  private inflightSettled: (() => void) | undefined;

  constructor(options: RabbitMqBusOptions) {
    this.options = { ...options, startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS };
    const { url, exchange, nodeId, prefetch } = this.options;
    this.brokers = brokerUrls(url);
    if (this.brokers.length === 0 || !this.brokers.every((u) => /^amqps?:\/\//.test(u)))
      throw new TypeError('RabbitMqBus: url must start with amqp:// or amqps:// (each, when several)');
    if (exchange === '') throw new TypeError('RabbitMqBus: exchange must not be empty');
    if (nodeId === '') throw new TypeError('RabbitMqBus: nodeId must not be empty');
    positiveInt('prefetch', prefetch, 65_535);
    positiveInt('queueMaxLength', this.options.queueMaxLength);
    positiveInt('queueExpiresMs', this.options.queueExpiresMs);
    positiveInt('publishTimeoutMs', this.options.publishTimeoutMs);
    positiveInt('startTimeoutMs', this.options.startTimeoutMs);
    this.direct = `${exchange}.direct`;
    if (Buffer.byteLength(nodeId) > 255)
      throw new TypeError(`RabbitMqBus: nodeId ${nodeId} is longer than a routing key's 255 bytes`);
    const longest = this.queueOn(this.brokers.length - 1);
    if (Buffer.byteLength(longest) > 255)
      throw new TypeError(`RabbitMqBus: queue name ${longest} is longer than RabbitMQ's 255 bytes`);
    this.broker = spreadIndex(nodeId, this.brokers.length);
    this.target = brokerTarget(this.brokers[this.broker]!);
    this.ackBatch = Math.max(1, Math.floor(prefetch / 2));
    this.log = options.log.child({ queue: this.queueOn(0).replace(/\.0$/, '') });
  }

  get ready(): boolean {
    const link = this.link;
    return (
      this.state === 'running' &&
      link !== undefined &&
      link.established &&
      link.open &&
      !link.blocked &&
      link.publisher !== undefined &&
      link.consuming
    );
  }

  /**
   * Connects and declares the topology. Rejects with `BusUnavailableError` (naming the broker and
   * the last failure) when that has not happened within startTimeoutMs; the bus may then be started
   * again. A second call while started only replaces the handler.
   */
  async start(handler: BusHandler, hooks?: BusHooks): Promise<void> {
    if (this.state === 'closed') throw new BusUnavailableError('cluster bus is closed');
    this.handler = handler;
    this.hooks = hooks;
    this.state = 'running';
    this.starting ??= this.connect();
    try {
      await this.starting;
    } catch (err) {
      this.starting = undefined;
      if (this.state === 'running') this.state = 'idle';
      this.rejectOutbox(
        err instanceof BusUnavailableError ? err : unavailable('cluster bus failed to start'),
      );
      throw err;
    }
  }

  /**
   * Hot path: one closure and one timer per payload; the payloads of one turn leave in one socket write
   * (coalesceFrameWrites), and confirms arrive batched.
   */
  publish(payload: Buffer, nodes?: readonly string[]): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new BusUnavailableError('cluster bus is closed'));
    if (this.state === 'idle') return Promise.reject(new BusUnavailableError('cluster bus is not started'));
    if (nodes?.length === 0)
      return Promise.reject(new InvalidArgumentError('RabbitMqBus: publish to no node'));
    return new Promise<void>((resolve, reject) => {
      const entry: PendingPublish = {
        payload,
        nodes,
        resolve,
        reject,
        timer: undefined,
        sent: false,
        settled: false,
      };
      entry.timer = setTimeout(
        () => this.finish(entry, this.timeoutError(entry)),
        this.options.publishTimeoutMs,
      );
      this.outbox.push(entry);
      this.pump();
    });
  }

  /** Stops recovery, lets written publishes settle (bounded by their deadline), deletes this node's queue. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    this.rejectOutbox(new BusUnavailableError('cluster bus is closed'));
    if (this.inflight.size > 0) await new Promise<void>((resolve) => (this.inflightSettled = resolve));
    const { link, connection } = this;
    this.connection = undefined;
    const timeoutMs = this.options.publishTimeoutMs;
    if (link?.established && link.open && link.consumer !== undefined) {
      try {
        await withDeadline(link.consumer.deleteQueue(link.queue), timeoutMs, 'deleting the bus queue');
      } catch (err) {
        this.log.debug({ err }, 'bus queue not deleted on close; x-expires will remove it');
      }
    }
    if (connection !== undefined) {
      try {
        await withDeadline(connection.close(), timeoutMs, 'closing the RabbitMQ connection');
      } catch (err) {
        this.log.warn({ err }, 'RabbitMQ connection did not close cleanly');
      }
    }
    this.log.info('cluster bus closed');
  }

  /** This node's queue on broker `i`: `<exchange>.<nodeId>`, with `.<i>` when there are several. */
  private queueOn(i: number): string {
    const base = `${this.options.exchange}.${this.options.nodeId}`;
    return this.brokers.length === 1 ? base : `${base}.${i}`;
  }

  /** Points the next connection attempt at the next broker of the list (no-op with one). */
  private nextBroker(): void {
    if (this.brokers.length === 1) return;
    this.broker = (this.broker + 1) % this.brokers.length;
    Object.assign(this.target, brokerTarget(this.brokers[this.broker]!));
  }

  /** A method, not a field read, so TypeScript does not narrow `state` across awaits. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private async connect(): Promise<void> {
    const { nodeId, startTimeoutMs } = this.options;
    // Several brokers: the object, which nextBroker() refills between attempts (see BrokerTarget);
    // one: the URL itself, read by amqplib as always.
    const target = this.brokers.length === 1 ? this.brokers[0]! : this.target;
    const connection = await amqplib.connect(target, {
      timeout: CONNECT_TIMEOUT_MS,
      noDelay: true,
      clientProperties: { connection_name: `herald ${nodeId}` },
      recovery: { ...RECOVERY, waitForConnect: false, setup: (model: ChannelModel) => this.setup(model) },
    });
    this.watchConnection(connection);
    if (this.isClosed()) {
      await connection.close();
      throw new BusUnavailableError('cluster bus was closed while starting');
    }
    this.connection = connection;
    try {
      await withDeadline(connection.waitForConnect(), startTimeoutMs, 'connecting to RabbitMQ');
    } catch (err) {
      if (this.connection === connection) this.connection = undefined;
      await connection.close().catch(() => undefined);
      if (this.isClosed()) throw new BusUnavailableError('cluster bus was closed while starting');
      const reason = this.lastFailure?.message ?? (err instanceof Error ? err.message : String(err));
      throw unavailable(
        `RabbitMQ at ${this.brokers.map(redactUrlPassword).join(', ')} gave no connection with the bus topology within ${startTimeoutMs} ms: ${reason}`,
        this.lastFailure ?? err,
      );
    }
  }

  /** amqplib recovery's `setup`: runs on every fresh connection before it counts as connected. */
  private async setup(model: ChannelModel): Promise<void> {
    const link: Link = {
      model,
      queue: this.queueOn(this.broker),
      open: true,
      established: false,
      closing: false,
      blocked: false,
      consumer: undefined,
      consuming: false,
      publisher: undefined,
      writable: true,
      lastDelivery: undefined,
      unacked: 0,
      ackScheduled: false,
    };
    this.watchModel(link);
    if (this.state === 'closed') throw new Error('cluster bus closed during setup');
    if (!coalesceFrameWrites(model.connection))
      this.log.warn('amqplib internals changed: publishes are written to RabbitMQ one syscall each');
    this.link = link;
    const { exchange, prefetch, queueMaxLength, queueExpiresMs } = this.options;

    const consumer = await model.createChannel();
    this.watchChannel(link, consumer, 'consumer');
    await consumer.assertExchange(exchange, 'fanout', { durable: true });
    await consumer.assertExchange(this.direct, 'direct', { durable: true });
    await consumer.assertQueue(link.queue, {
      durable: true,
      exclusive: false,
      autoDelete: false,
      arguments: {
        'x-expires': queueExpiresMs,
        'x-max-length': queueMaxLength,
        'x-overflow': 'drop-head',
      },
    });
    await consumer.bindQueue(link.queue, exchange, '');
    await consumer.bindQueue(link.queue, this.direct, this.options.nodeId);
    // Moved to a queue this node left earlier (back on a broker within queueExpiresMs): what it
    // collected meanwhile is stale (control messages carry no offset to drop them by). The catch-up
    // that follows every reconnect (`resumed`) restores from history what was published.
    if (this.lastQueue !== undefined && this.lastQueue !== link.queue) await consumer.purgeQueue(link.queue);
    this.lastQueue = link.queue;
    await consumer.prefetch(prefetch);

    const publisher = await model.createConfirmChannel();
    this.watchChannel(link, publisher, 'publisher');
    publisher.on('drain', () => {
      link.writable = true;
      this.pump();
    });

    await consumer.consume(link.queue, (message) => this.onMessage(link, message), {
      noAck: false,
      exclusive: true,
    });
    link.consumer = consumer;
    link.consuming = true;
    link.publisher = publisher;
    link.established = true;
    this.pump();
  }

  private watchConnection(connection: RecoveringChannelModel): void {
    connection.on('connect', () => {
      const downMs = this.disconnectedAt === undefined ? undefined : Date.now() - this.disconnectedAt;
      this.disconnectedAt = undefined;
      this.lastFailure = undefined;
      const broker = redactUrlPassword(this.brokers[this.broker]!);
      if (downMs === undefined) this.log.info({ broker }, 'cluster bus connected; topology declared');
      else {
        this.log.info({ downMs, broker }, 'cluster bus recovered; topology declared again');
        try {
          this.hooks?.resumed?.();
        } catch (err) {
          this.log.error({ err }, 'bus resumed hook threw');
        }
      }
    });
    connection.on('disconnect', (err: Error) => {
      this.disconnectedAt = Date.now();
      this.log.warn({ err }, 'cluster bus lost its RabbitMQ connection; recovering');
    });
    // Emitted before amqplib schedules the next attempt, which then goes to the next broker: a link
    // that dropped is first tried again on the same broker (a blip), a failed attempt moves on.
    connection.on('connect-failed', (err: Error) => {
      this.lastFailure = err;
      this.log.warn(
        { err, broker: redactUrlPassword(this.brokers[this.broker]!) },
        'cluster bus could not (re)connect to RabbitMQ',
      );
      this.nextBroker();
    });
    connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) => {
      this.log.debug({ attempt, delayMs: delay }, 'cluster bus reconnect scheduled');
    });
    connection.on('reconnect-failed', (err: Error) => {
      this.log.error({ err }, 'cluster bus gave up reconnecting to RabbitMQ');
    });
    // amqplib re-emits here the 'error' and 'handler-error' events of the current connection, which
    // watchModel has logged already; these listeners keep an unlistened 'error' from throwing.
    connection.on('error', (err: Error) => this.log.debug({ err }, 'RabbitMQ connection error (re-emitted)'));
    connection.on('handler-error', (err: Error, event: string) =>
      this.log.debug({ err, event }, 'RabbitMQ connection listener threw (re-emitted)'),
    );
  }

  /** Listens from the first moment: amqplib binds its own listeners only after `setup` resolved. */
  private watchModel(link: Link): void {
    const { model } = link;
    model.on('error', (err: Error) => this.log.warn({ err }, 'RabbitMQ connection error'));
    model.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event }, 'a RabbitMQ connection listener threw'),
    );
    model.on('close', () => {
      link.open = false;
    });
    model.on('blocked', (reason: string) => {
      link.blocked = true;
      this.log.warn({ reason }, 'RabbitMQ blocked this connection; publishes wait');
    });
    model.on('unblocked', () => {
      link.blocked = false;
      this.log.info('RabbitMQ unblocked this connection');
      this.pump();
    });
  }

  private watchChannel(link: Link, channel: Channel, role: 'consumer' | 'publisher'): void {
    channel.on('error', (err: Error) => this.log.warn({ err, role }, 'RabbitMQ channel error'));
    channel.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event, role }, 'a RabbitMQ channel listener threw'),
    );
    channel.on('close', () => {
      if (role === 'consumer') {
        link.consumer = undefined;
        link.consuming = false;
      } else link.publisher = undefined;
      if (link.established) this.rebuild(link, `${role} channel closed`);
    });
  }

  /**
   * A channel closed or the consumer was cancelled while the connection may still be up (queue or
   * exchange deleted behind our back, a channel error): closing the connection hands the repair to
   * amqplib's recovery, whose setup declares everything again. Deferred a turn, because a dying
   * connection closes its channels before it reports its own close.
   */
  private rebuild(link: Link, reason: string): void {
    setImmediate(() => {
      if (this.state !== 'running' || this.link !== link || !link.open || link.closing) return;
      link.closing = true;
      this.log.warn({ reason }, 'reconnecting to RabbitMQ to restore the bus topology');
      link.model.close().catch((err: unknown) => this.log.debug({ err }, 'closing a broken RabbitMQ link'));
    });
  }

  private onMessage(link: Link, message: ConsumeMessage | null): void {
    if (message === null) {
      link.consuming = false;
      if (this.state === 'running') this.rebuild(link, 'consumer cancelled by RabbitMQ');
      return;
    }
    if (this.state !== 'running') return; // closing: not acked, so requeued (and then deleted)
    try {
      this.handler?.(message.content);
    } catch (err) {
      this.log.error({ err, bytes: message.content.length }, 'bus handler threw; payload dropped');
    }
    this.acknowledge(link, message);
  }

  /**
   * One `basic.ack multiple` covers every delivery up to the latest: sent when half the prefetch
   * window is pending (so the broker never stalls on a full window) or ACK_DELAY_MS after the first
   * unacknowledged delivery. Acks are off the latency path (the window is large), and each is a write
   * to the broker: at a steady trickle of messages, acking per event-loop turn cost one syscall per
   * message; this costs a few dozen per second. Unacked deliveries of a node that dies are redelivered
   * to its queue, which nobody consumes any more.
   */
  private acknowledge(link: Link, message: ConsumeMessage): void {
    link.lastDelivery = message;
    link.unacked += 1;
    if (link.unacked >= this.ackBatch) this.flushAcks(link);
    else if (!link.ackScheduled) {
      link.ackScheduled = true;
      setTimeout(() => {
        link.ackScheduled = false;
        this.flushAcks(link);
      }, ACK_DELAY_MS).unref();
    }
  }

  private flushAcks(link: Link): void {
    const last = link.lastDelivery;
    if (last === undefined) return;
    link.lastDelivery = undefined;
    link.unacked = 0;
    try {
      link.consumer?.ack(last, true);
    } catch (err) {
      // The channel died under us; the broker requeues what we did not ack (at-least-once).
      this.log.debug({ err }, 'ack not sent; RabbitMQ will redeliver');
    }
  }

  /** Writes waiting publishes in call order while the link is up and the channel takes more. */
  private pump(): void {
    const link = this.link;
    if (!this.ready || link?.publisher === undefined || !link.writable) return;
    const channel = link.publisher;
    const { exchange } = this.options;
    let next = 0;
    while (next < this.outbox.length && link.writable) {
      const entry = this.outbox[next]!;
      next += 1;
      if (entry.settled) continue;
      let flushed: boolean;
      try {
        const callback = (err: unknown): void => this.confirmed(entry, err);
        const nodes = entry.nodes;
        flushed =
          nodes === undefined
            ? channel.publish(exchange, '', entry.payload, undefined, callback)
            : channel.publish(
                this.direct,
                nodes[0]!,
                entry.payload,
                nodes.length > 1 ? { BCC: nodes.slice(1) } : undefined,
                callback,
              );
      } catch (err) {
        // The channel is closing: keep this entry and the rest for the next link, within their deadline.
        this.log.debug({ err }, 'publish channel closing; publishes wait for recovery');
        next -= 1;
        break;
      }
      entry.sent = true;
      this.inflight.add(entry);
      if (!flushed) link.writable = false;
    }
    this.outbox = next === this.outbox.length ? [] : this.outbox.slice(next);
  }

  private confirmed(entry: PendingPublish, err: unknown): void {
    if (err === null || err === undefined) this.finish(entry);
    else {
      const reason = err instanceof Error ? err.message : 'no reason given';
      this.finish(entry, unavailable(`RabbitMQ did not confirm the publish (${reason})`, err));
    }
  }

  private timeoutError(entry: PendingPublish): BusUnavailableError {
    const ms = this.options.publishTimeoutMs;
    if (entry.sent) return new BusUnavailableError(`RabbitMQ did not confirm the publish within ${ms} ms`);
    if (this.ready) return new BusUnavailableError(`RabbitMQ did not take the publish within ${ms} ms`);
    return new BusUnavailableError(`no usable RabbitMQ connection within ${ms} ms`);
  }

  private finish(entry: PendingPublish, err?: Error): void {
    if (entry.settled) return;
    entry.settled = true;
    clearTimeout(entry.timer);
    if (entry.sent && this.inflight.delete(entry) && this.inflight.size === 0) {
      this.inflightSettled?.();
      this.inflightSettled = undefined;
    }
    if (err === undefined) entry.resolve();
    else entry.reject(err);
  }

  private rejectOutbox(err: BusUnavailableError): void {
    const waiting = this.outbox;
    this.outbox = [];
    for (const entry of waiting) this.finish(entry, err);
  }
}
