/**
 * Channel history: every published message is stored under its channel offset before it is sent on
 * the bus, so a client that missed messages (reconnect, node death, bus outage) can recover them by
 * offset, and a node that sees a gap can repair it. History replaces a bare offset counter: offset
 * assignment and storage are one atomic step.
 *
 * An epoch names one continuous run of a channel's offsets: it changes when the channel's state is
 * lost (expired after `retention.maxAgeMs` without appends, flushed, failed over without the write),
 * and the run then restarts at offset 1. Offsets of two epochs are not comparable.
 *
 * Retention, per channel from the driver's resolver: at most `maxMessages` newest messages are kept,
 * and a message older than `maxAgeMs` (by its `ts`) is never returned. Channels are independent.
 *
 * Every driver keeps the guarantees documented on each method (test/contracts/history.contract.ts
 * runs them against memory and Redis). Errors: bad arguments reject with `InvalidArgumentError` (a
 * TypeError; not temporary) and change nothing; a Redis call that cannot be answered in time (or an
 * append too few replicas acknowledged) rejects with `StateUnavailableError` (`temporary`). After
 * such a rejection an append may still have been stored: retry it with the same `dedupe` key.
 */
export interface NewMessage {
  id: string;
  event: string;
  /** The message data as JSON text (serialized once by the API). */
  dataJson: string;
  /** Publish time, ms since the Unix epoch. */
  ts: number;
}

export interface StoredMessage extends NewMessage {
  offset: number;
}

import type { ChannelPosition } from '../protocol/frames.js';
export type { ChannelPosition };

/** Makes an append idempotent (see the contract above). */
export interface AppendDedupe {
  /** Names one append on the channel, e.g. an Idempotency-Key with the message's place in its request. */
  key: string;
  /** How long the key is remembered, in seconds (fractions allowed; positive). */
  ttlSeconds: number;
}

/** What `append` answers: where the message is, and with `dedupe`, whether it was stored before. */
export interface AppendResult extends ChannelPosition {
  /**
   * Only with `dedupe`, when the key was already recorded: nothing was appended, `offset` and `epoch`
   * are the original message's, and this is its identity (not the one just passed).
   */
  replayed?: {
    id: string;
    ts: number;
    /**
     * The original's event and data while a read would still return it, so a caller can send the very
     * message stored (a retry's data may differ, e.g. a server-side default timestamp).
     */
    retained?: Pick<NewMessage, 'event' | 'dataJson'>;
  };
}

export interface HistoryRange extends ChannelPosition {
  messages: StoredMessage[];
  complete: boolean;
}

export interface Retention {
  maxMessages: number;
  maxAgeMs: number;
}

/** Retention of one channel (by kind: user/order vs promotions, from configuration). */
export type RetentionResolver = (channel: string) => Retention;

export interface History {
  /**
   * Atomically reserves the channel's next offset (1, 2, 3, … with no gaps and no repeats, even under
   * concurrent appenders on different nodes) and stores the message under it: offset assignment and
   * storage are one step. Answers the offset and the channel's epoch, and restarts the channel's
   * lifetime (`maxAgeMs` from now). A `ts` that is not whole milliseconds rejects.
   *
   * With `dedupe` (so that an idempotent request's retry never stores its message twice, also when
   * the first attempt died after storing it) it is one atomic step too: if the channel holds a live
   * record of `dedupe.key`, nothing is appended and the answer is the recorded message's offset and
   * epoch, with `replayed` holding its id and ts (and its event and data while a read would still
   * return it); otherwise the message is appended as without `dedupe` (no `replayed` in the answer)
   * and `key → {offset, epoch, id, ts}` is recorded for `dedupe.ttlSeconds`. Of concurrent appends
   * with one key exactly one stores. Keys are per channel (one key on two channels names two
   * appends), and a record lives no longer than the run it names: once the channel's state is lost
   * (new epoch) the key is unknown again, and a retry stores its message in the new run. An empty key
   * or a TTL that is not positive rejects, storing nothing.
   */
  append(channel: string, message: NewMessage, dedupe?: AppendDedupe): Promise<AppendResult>;
  /**
   * The newest offset (0 when none) and the epoch, reserving nothing; the epoch it reports is the one
   * the next `append` will carry (an unknown channel's run starts here). Never extends the lifetime.
   */
  position(channel: string): Promise<ChannelPosition>;
  /**
   * The retained messages with offset > `after`, oldest first, at most `limit`, with the channel's
   * current position, in one consistent snapshot; reserves nothing and never extends the lifetime.
   * `complete` is true when the messages are exactly offsets after+1, after+2, … (nothing in between
   * was trimmed or aged out), including the case of nothing to return because `after` is the newest
   * offset. `after` greater than the newest offset is answered with no messages and `complete: false`
   * (the caller's position is of another run). An `after` that is not a non-negative integer, or a
   * `limit` below 1 or fractional, rejects.
   */
  read(channel: string, after: number, limit: number): Promise<HistoryRange>;
  /** Releases the driver (its timers, its share of the Redis connection); resolves once done. */
  close(): Promise<void>;
}
