/**
 * The History contract's rules both drivers apply the same way (./memory/memory-history.ts,
 * ./redis/redis-history.ts): when a read range is complete, and which arguments are rejected.
 */
import { InvalidArgumentError } from '../core/contract-errors.js';
import type { AppendDedupe, NewMessage, Retention, StoredMessage } from './history.js';

/** True when `messages` are exactly offsets after+1, after+2, … (none, only when after is the newest). */
export function isComplete(after: number, newest: number, messages: readonly StoredMessage[]): boolean {
  if (messages.length === 0) return after === newest;
  return messages.every((message, i) => message.offset === after + 1 + i);
}

/** Rejects a retention no store can keep. */
export function checkRetention(retention: Retention, channel: string): void {
  if (!Number.isSafeInteger(retention.maxMessages) || retention.maxMessages < 1)
    throw new InvalidArgumentError(`retention of ${channel}: maxMessages must be a positive integer`);
  if (!Number.isSafeInteger(retention.maxAgeMs) || retention.maxAgeMs < 1)
    throw new InvalidArgumentError(`retention of ${channel}: maxAgeMs must be a positive integer`);
}

/** Rejects a read range that names no offsets. */
export function checkRange(after: number, limit: number): void {
  if (!Number.isSafeInteger(after) || after < 0)
    throw new InvalidArgumentError(`after must be a non-negative integer, got ${after}`);
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`);
}

/** Rejects a message whose `ts` is not whole milliseconds. */
export function checkMessage(message: NewMessage): void {
  if (!Number.isSafeInteger(message.ts))
    throw new InvalidArgumentError(`message ts must be whole milliseconds, got ${message.ts}`);
}

/** Rejects a dedupe key that names nothing or a TTL no store can keep. */
export function checkDedupe(dedupe: AppendDedupe): void {
  if (typeof dedupe.key !== 'string' || dedupe.key === '')
    throw new InvalidArgumentError('a dedupe key must be a non-empty string');
  if (!Number.isFinite(dedupe.ttlSeconds) || dedupe.ttlSeconds <= 0)
    throw new InvalidArgumentError(
      `a dedupe TTL must be a positive number of seconds, got ${dedupe.ttlSeconds}`,
    );
}
