/**
 * Shared plumbing for the state contract suites: each test gets a fresh driver from the factory, and
 * the driver is closed (unless the test closed it) and its state discarded after the test.
 */
import { afterEach, beforeEach } from 'vitest';

/**
 * What a state contract factory returns: a driver over state no other test sees (unique key prefix,
 * fresh database, ...), optionally with a `cleanup` that discards that state. `cleanup` runs after
 * the driver is closed, so it must not rely on the driver's own connection.
 */
export type ContractSubject<T> = T & { cleanup?: () => Promise<void> };

export type ContractFactory<T> = () => Promise<ContractSubject<T>>;

interface Closable {
  close(): Promise<void>;
}

export interface SubjectHandle<T> {
  /** The driver of the running test. */
  readonly driver: T;
  /** Closes the driver now; the suite then does not close it again after the test. */
  close(): Promise<void>;
}

/** Registers beforeEach/afterEach hooks in the calling describe block and hands out the current driver. */
export function useSubject<T extends Closable>(factory: ContractFactory<T>): SubjectHandle<T> {
  let current: ContractSubject<T> | undefined;
  let closed = false;

  beforeEach(async () => {
    current = await factory();
    closed = false;
  });

  afterEach(async () => {
    const subject = current;
    current = undefined;
    if (subject === undefined) return;
    try {
      if (!closed) await subject.close();
    } finally {
      await subject.cleanup?.();
    }
  });

  return {
    get driver(): T {
      if (current === undefined) throw new Error('the contract driver is only available inside a test');
      return current;
    },
    async close(): Promise<void> {
      if (current === undefined) throw new Error('the contract driver is only available inside a test');
      closed = true;
      await current.close();
    },
  };
}

/** A TTL short enough to watch expire, and how long the suites poll for it (a few seconds). */
export const SHORT_TTL_SECONDS = 1;
export const EXPIRY_DEADLINE_MS = 5_000;
/** A TTL no test outlives. */
export const LONG_TTL_SECONDS = 300;
