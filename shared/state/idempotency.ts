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
 *    fingerprint of the request, stored beside the first: a later `begin` is the same request when
 *    its `fingerprint` equals the stored first one, or its `also` equals the stored second one. (The
 *    API passes the fingerprint earlier versions compute first, and its key-order-independent one as
 *    `also`, so that nodes of both versions recognise each other's keys during a rolling upgrade.)
 *  - `complete(key, fingerprint, answer, ttlSeconds)` records the answer (a JSON string) of a claimed
 *    key (`fingerprint`: the first one it was claimed with); later `begin`s of the same request get it.
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
