/**
 * Idempotent publishing: the first request with an `Idempotency-Key` records its answer; a retry with
 * the same key and the same request body gets that answer again and publishes nothing; the same key
 * with a different body is a conflict.
 *
 * Semantics every driver keeps (test/contracts/idempotency.contract.ts):
 *  - `begin(key, fingerprint, ttlSeconds)` atomically claims an unknown key and answers `{ state:
 *    'new' }`; the claim lives `ttlSeconds`. For a known key it answers `{ state: 'done', answer }`
 *    when the first request completed with the same fingerprint, `{ state: 'pending' }` while the
 *    first request with the same fingerprint is still running, and `{ state: 'conflict' }` when the
 *    fingerprint differs (whatever the first request's state). `also`, when given, is a second
 *    fingerprint of the same request (as an earlier version computed it, during a rolling upgrade): a
 *    key claimed under it counts as the same request, never a conflict.
 *  - `complete(key, fingerprint, answer, ttlSeconds)` records the answer (a JSON string) of a claimed
 *    key; later `begin`s with the same fingerprint get it.
 *  - `abandon(key, fingerprint)` forgets a claim whose request failed before publishing anything, so
 *    a retry can run again; it does nothing if the key was completed or claimed with another
 *    fingerprint.
 *  - Keys are independent of each other; expired keys behave as unknown.
 */
export type IdempotencyBegin =
  { state: 'new' } | { state: 'pending' } | { state: 'conflict' } | { state: 'done'; answer: string };

export interface IdempotencyStore {
  begin(key: string, fingerprint: string, ttlSeconds: number, also?: string): Promise<IdempotencyBegin>;
  complete(key: string, fingerprint: string, answer: string, ttlSeconds: number): Promise<void>;
  abandon(key: string, fingerprint: string): Promise<void>;
  close(): Promise<void>;
}
