/**
 * Idempotent publishing: the first request with an `Idempotency-Key` records its answer; a retry with
 * the same key and the same request body gets that answer again and publishes nothing; the same key
 * with a different body is a conflict (the REST API answers `409 idempotency_key_reused`, and a
 * retry while the first still runs `409 idempotency_in_progress`: services/api/plugins/idempotency.ts).
 *
 * Every driver keeps the guarantees documented on each method
 * (test/contracts/idempotency.contract.ts runs them against memory and Redis). Keys are independent of
 * each other (any visible ASCII, prefixes included); an expired key behaves as unknown. A Redis call
 * that cannot be answered in time rejects with `StateUnavailableError` (`temporary`: the REST call
 * answers 503 and its retry with the same key is safe); the memory driver never rejects.
 */
export type IdempotencyBegin =
  { state: 'new' } | { state: 'pending' } | { state: 'conflict' } | { state: 'done'; answer: string };

export interface IdempotencyStore {
  /**
   * Atomically claims an unknown (or expired) key and answers `{ state: 'new' }`: of concurrent
   * begins of one key exactly one is `new`. The claim expires `ttlSeconds` after this call; a `begin`
   * that finds the key never extends it. For a known key it answers, changing nothing:
   *  - `{ state: 'conflict' }` when the request differs (whatever the first request's state);
   *  - `{ state: 'pending' }` while the first request, the same one, still runs;
   *  - `{ state: 'done', answer }` once it completed, with its exact answer, every time.
   *
   * The same request: `fingerprint` equals the stored first fingerprint, or `also` (a second
   * fingerprint of the request, stored beside the first when the key is claimed) equals the stored
   * second one. A key claimed without `also` matches on the first only. (The API passes the
   * fingerprint earlier versions compute first, and its key-order-independent one as `also`, so that
   * nodes of both versions recognise each other's keys during a rolling upgrade.)
   */
  begin(key: string, fingerprint: string, ttlSeconds: number, also?: string): Promise<IdempotencyBegin>;
  /**
   * Records `answer` (a JSON string) of a pending claim made with `fingerprint` (its first one), to
   * live `ttlSeconds` from now; later `begin`s of the same request answer `done` with it. Does
   * nothing for an unknown or expired key (a claim that expired is not recreated), a key claimed with
   * another fingerprint, or one completed already (the first answer stays).
   */
  complete(key: string, fingerprint: string, answer: string, ttlSeconds: number): Promise<void>;
  /**
   * Forgets a pending claim made with `fingerprint` whose request failed before publishing anything,
   * so a retry (or another request) can claim the key as new. Does nothing for an unknown key, a key
   * claimed with another fingerprint, or a completed one (its answer stays).
   */
  abandon(key: string, fingerprint: string): Promise<void>;
  /** Releases the driver; resolves once done. */
  close(): Promise<void>;
}
