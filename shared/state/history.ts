/**
 * Channel history: every published message is stored under its channel offset before it is sent on
 * the bus, so a client that missed messages (reconnect, node death, bus outage) can recover them by
 * offset, and a node that sees a gap can repair it. History replaces a bare offset counter: offset
 * assignment and storage are one atomic step.
 *
 * Semantics every driver keeps (test/contracts/history.contract.ts):
 *  - `append` atomically reserves the channel's next offset (1, 2, 3, … with no gaps and no repeats,
 *    even under concurrent appenders on different nodes) and stores the message under it; it returns
 *    the offset and the channel's epoch. The epoch names one continuous run of offsets: it changes
 *    when the channel's state is lost (expired after `retention.maxAgeMs` without appends, flushed,
 *    failed over without the write), and the run then restarts at offset 1.
 *  - Retention (per channel, from the driver's resolver): at most `maxMessages` newest messages are
 *    kept, and a message older than `maxAgeMs` (by its `ts`) is never returned.
 *  - `position` returns the newest offset (0 when none) and the epoch, reserving nothing; the epoch it
 *    reports is the one the next `append` will carry.
 *  - `read(channel, after, limit)` returns the retained messages with offset > `after`, oldest first,
 *    at most `limit`, with the channel's current position; `complete` is true when the returned
 *    messages are exactly offsets after+1, after+2, … (nothing in between was trimmed or aged out),
 *    including the case of nothing to return because `after` is the newest offset. `after` greater
 *    than the newest offset is answered with no messages and `complete: false`.
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

export interface ChannelPosition {
  offset: number;
  epoch: string;
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
  append(channel: string, message: NewMessage): Promise<ChannelPosition>;
  position(channel: string): Promise<ChannelPosition>;
  read(channel: string, after: number, limit: number): Promise<HistoryRange>;
  close(): Promise<void>;
}
