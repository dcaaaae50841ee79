/**
 * IdempotencyStore in memory (the embedded default, and what unit tests run on): one expiring entry
 * per idempotency key holding the first request's fingerprint and, once it completed, its answer.
 * Every call runs to completion before the next one starts, so `begin` is atomic by construction.
 */
import type { IdempotencyBegin, IdempotencyStore } from '../idempotency.js';
import { ExpiringMap } from './expiring-map.js';

interface Entry {
  fingerprint: string;
  /** The second fingerprint `begin` was given (see IdempotencyStore). */
  also: string | undefined;
  /** The first request's answer; undefined while it is still running (a pending claim). */
  answer: string | undefined;
}

const done = Promise.resolve();

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new ExpiringMap<string, Entry>();

  begin(key: string, fingerprint: string, ttlSeconds: number, also?: string): Promise<IdempotencyBegin> {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.entries.set(key, { fingerprint, also, answer: undefined }, ttlSeconds);
      return Promise.resolve({ state: 'new' });
    }
    const same = entry.fingerprint === fingerprint || (also !== undefined && entry.also === also);
    if (!same) return Promise.resolve({ state: 'conflict' });
    if (entry.answer === undefined) return Promise.resolve({ state: 'pending' });
    return Promise.resolve({ state: 'done', answer: entry.answer });
  }

  complete(key: string, fingerprint: string, answer: string, ttlSeconds: number): Promise<void> {
    const entry = this.entries.get(key);
    if (entry !== undefined && this.isPendingClaim(key, fingerprint))
      this.entries.set(key, { ...entry, answer }, ttlSeconds);
    return done;
  }

  abandon(key: string, fingerprint: string): Promise<void> {
    if (this.isPendingClaim(key, fingerprint)) this.entries.delete(key);
    return done;
  }

  close(): Promise<void> {
    this.entries.close();
    return done;
  }

  private isPendingClaim(key: string, fingerprint: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.fingerprint === fingerprint && entry.answer === undefined;
  }
}
