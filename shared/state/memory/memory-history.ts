/**
 * History in memory (the embedded default, and what unit tests run on), with the semantics of the
 * Redis driver (one contract suite runs against both: test/contracts/history.contract.ts).
 *
 * Per channel: the newest offset, the epoch (random hex, minted when the channel is first seen or
 * seen again after it was forgotten) and a window of the newest `maxMessages` messages, kept as an
 * array with a moving head (appends and trims are amortized O(1); the array is compacted once the
 * dead head is as long as the live part). Messages older than `maxAgeMs` (by their `ts`) are
 * skipped by reads.
 *
 * Lifetime, like the Redis keys' PEXPIRE: a channel is forgotten `maxAgeMs` after its last append
 * (or after `position`/`read` created it, when nothing was appended since). `position` and `read`
 * never extend it. Lookups check the deadline; a sweep (unref'd, so it never keeps the process alive)
 * drops forgotten channels nobody asks about and the aged-out head of live ones, so memory stays
 * bounded by the live channels' retention.
 *
 * Dedupe records (`append` with `dedupe`) live in their channel's state, each with its own deadline:
 * forgetting a channel forgets its records with its epoch, as the contract asks. The sweep drops
 * expired ones.
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

export interface MemoryHistoryOptions {
  /** The clock (ms since the Unix epoch) for ages and channel lifetimes; default `Date.now`. */
  now?: () => number;
  /** How often forgotten channels are dropped; default 10 s. */
  sweepEveryMs?: number;
}

interface ChannelHistory {
  offset: number;
  epoch: string;
  /** Messages from `head` on are retained, with contiguous offsets ending at `offset`. */
  messages: StoredMessage[];
  head: number;
  /** When the channel is forgotten: last append (or creation) + maxAgeMs. */
  expiresAt: number;
  /** The channel's maxAgeMs at that time (the sweep never calls the resolver). */
  maxAgeMs: number;
  /** Dedupe key → the message appended under it, until `expiresAt`. */
  dedupe: Map<string, { offset: number; id: string; ts: number; expiresAt: number }>;
}

/** Below this, a dead head is not worth a copy. */
const COMPACT_MIN_HEAD = 64;

export class MemoryHistory implements History {
  private readonly channels = new Map<string, ChannelHistory>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly retention: RetentionResolver,
    options: MemoryHistoryOptions = {},
  ) {
    const sweepEveryMs = options.sweepEveryMs ?? 10_000;
    if (!(sweepEveryMs > 0)) throw new TypeError('sweepEveryMs must be positive');
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  append(channel: string, message: NewMessage, dedupe?: AppendDedupe): Promise<AppendResult> {
    return settle(() =>
      dedupe === undefined ? this.store(channel, message) : this.storeOnce(channel, message, dedupe),
    );
  }

  position(channel: string): Promise<ChannelPosition> {
    return settle(() => {
      const state = this.channel(channel, retentionOf(this.retention, channel), this.now());
      return { offset: state.offset, epoch: state.epoch };
    });
  }

  read(channel: string, after: number, limit: number): Promise<HistoryRange> {
    return settle(() => this.range(channel, after, limit));
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.channels.clear();
    return Promise.resolve();
  }

  /** Channels held in memory (live ones, and forgotten ones the sweep has not dropped yet). */
  get size(): number {
    return this.channels.size;
  }

  /** Drops forgotten channels and the aged-out head of live ones (reads skip both anyway). */
  sweep(now = this.now()): void {
    for (const [channel, state] of this.channels) {
      if (state.expiresAt <= now) {
        this.channels.delete(channel);
        continue;
      }
      for (const [key, record] of state.dedupe) if (record.expiresAt <= now) state.dedupe.delete(key);
      const oldestTs = now - state.maxAgeMs;
      while (state.head < state.messages.length && state.messages[state.head]!.ts < oldestTs) state.head++;
      compact(state);
    }
  }

  private store(channel: string, message: NewMessage): ChannelPosition {
    checkMessage(message);
    const retention = retentionOf(this.retention, channel);
    const now = this.now();
    return this.push(this.channel(channel, retention, now), message, retention, now);
  }

  /** `store`, unless the channel holds a live record of the key: then the recorded message's place. */
  private storeOnce(channel: string, message: NewMessage, dedupe: AppendDedupe): AppendResult {
    checkMessage(message);
    checkDedupe(dedupe);
    const retention = retentionOf(this.retention, channel);
    const now = this.now();
    const state = this.channel(channel, retention, now);
    const seen = state.dedupe.get(dedupe.key);
    if (seen !== undefined && seen.expiresAt > now) {
      const { offset, id, ts } = seen;
      const kept = retained(state, offset, retention, now);
      const retainedPart =
        kept === undefined ? {} : { retained: { event: kept.event, dataJson: kept.dataJson } };
      return { offset, epoch: state.epoch, replayed: { id, ts, ...retainedPart } };
    }
    const position = this.push(state, message, retention, now);
    const { id, ts } = message;
    state.dedupe.set(dedupe.key, {
      offset: position.offset,
      id,
      ts,
      expiresAt: now + dedupe.ttlSeconds * 1000,
    });
    return position;
  }

  private push(
    state: ChannelHistory,
    message: NewMessage,
    retention: Retention,
    now: number,
  ): ChannelPosition {
    state.offset += 1;
    state.messages.push({
      id: message.id,
      event: message.event,
      dataJson: message.dataJson,
      ts: message.ts,
      offset: state.offset,
    });
    state.expiresAt = now + retention.maxAgeMs;
    state.maxAgeMs = retention.maxAgeMs;
    trim(state, retention.maxMessages);
    return { offset: state.offset, epoch: state.epoch };
  }

  private range(channel: string, after: number, limit: number): HistoryRange {
    checkRange(after, limit);
    const retention = retentionOf(this.retention, channel);
    const now = this.now();
    const state = this.channel(channel, retention, now);
    // A lowered maxMessages applies to reads before the next append trims.
    trim(state, retention.maxMessages);
    const oldestTs = now - retention.maxAgeMs;
    const messages: StoredMessage[] = [];
    const first = state.messages[state.head]?.offset ?? state.offset + 1;
    for (let i = state.head + Math.max(0, after + 1 - first); i < state.messages.length; i++) {
      const message = state.messages[i]!;
      if (message.ts < oldestTs) continue;
      messages.push({ ...message });
      if (messages.length === limit) break;
    }
    return {
      offset: state.offset,
      epoch: state.epoch,
      messages,
      complete: isComplete(after, state.offset, messages),
    };
  }

  /** The channel's live state, (re)created on a new epoch when it is unknown or forgotten. */
  private channel(channel: string, retention: Retention, now: number): ChannelHistory {
    let state = this.channels.get(channel);
    if (state === undefined || state.expiresAt <= now) {
      state = {
        offset: 0,
        epoch: randomBytes(6).toString('hex'),
        messages: [],
        head: 0,
        expiresAt: now + retention.maxAgeMs,
        maxAgeMs: retention.maxAgeMs,
        dedupe: new Map(),
      };
      this.channels.set(channel, state);
    }
    return state;
  }
}

/** Runs `op` now; its result or exception as a promise (a bad argument rejects, never throws). */
function settle<T>(op: () => T): Promise<T> {
  return new Promise((resolve) => resolve(op()));
}

/** The message at `offset` if a read would return it (not trimmed, not aged out). */
function retained(
  state: ChannelHistory,
  offset: number,
  retention: Retention,
  now: number,
): StoredMessage | undefined {
  trim(state, retention.maxMessages);
  const first = state.messages[state.head]?.offset;
  if (first === undefined || offset < first) return undefined;
  const message = state.messages[state.head + offset - first];
  return message !== undefined && message.ts >= now - retention.maxAgeMs ? message : undefined;
}

function trim(state: ChannelHistory, maxMessages: number): void {
  const excess = state.messages.length - state.head - maxMessages;
  if (excess > 0) state.head += excess;
  compact(state);
}

function compact(state: ChannelHistory): void {
  if (state.head >= COMPACT_MIN_HEAD && state.head * 2 >= state.messages.length) {
    state.messages = state.messages.slice(state.head);
    state.head = 0;
  } else if (state.head > 0 && state.head === state.messages.length) {
    state.messages = [];
    state.head = 0;
  }
}

function retentionOf(resolver: RetentionResolver, channel: string): Retention {
  const retention = resolver(channel);
  checkRetention(retention, channel);
  return retention;
}
