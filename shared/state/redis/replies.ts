/**
 * Decoders for Redis replies: ioredis types script and pipeline results as `unknown`, so each reply is
 * checked once, here at the edge, and a reply of the wrong shape fails loudly (MalformedReplyError)
 * instead of flowing on.
 */
import { MalformedReplyError } from '../../core/contract-errors.js';

export function asInteger(reply: unknown, what: string): number {
  const value = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new MalformedReplyError(`${what}: expected an integer reply, got ${describe(reply)}`);
  return value;
}

export function asString(reply: unknown, what: string): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString();
  throw new MalformedReplyError(`${what}: expected a string reply, got ${describe(reply)}`);
}

export function asOptionalString(reply: unknown, what: string): string | undefined {
  return reply === null || reply === undefined ? undefined : asString(reply, what);
}

export function asArray(reply: unknown, what: string): unknown[] {
  if (Array.isArray(reply)) return reply as unknown[];
  throw new MalformedReplyError(`${what}: expected an array reply, got ${describe(reply)}`);
}

export function asStrings(reply: unknown, what: string): string[] {
  return asArray(reply, what).map((item) => asString(item, what));
}

function describe(reply: unknown): string {
  if (reply === null) return 'null';
  if (Array.isArray(reply)) return `an array of ${reply.length}`;
  return typeof reply;
}
