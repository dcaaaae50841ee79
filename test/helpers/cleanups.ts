/**
 * What each test opens (nodes, clients, servers, proxies), closed after it: the calling file pushes a
 * close function when it opens something, and after each of its tests they run, the last opened first.
 */
import { afterEach } from 'vitest';

export type Cleanup = () => unknown;

/**
 * Registers the afterEach hook in the calling file (call it once, at the file's top level) and returns
 * the list to push onto. Every cleanup runs even when one throws; the first error then fails the test.
 */
export function cleanupAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return cleanups;
}
