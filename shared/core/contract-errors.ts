/**
 * The errors that cross a contract (the state and bus interfaces of shared/state and shared/bus):
 * each carries a stable machine-readable `code` and `temporary`, whether the same call may succeed
 * if retried later (centrifuge's errors carry a code and `Temporary` the same way). A caller maps
 * them by class or by `temporary`, never by message. The catalogue:
 *
 *  - `state_unavailable`, StateUnavailableError (../state/state-unavailable-error.ts), temporary:
 *    Redis did not answer in time (unreachable, reconnecting, slow, too few replicas acknowledged an
 *    append), or the driver is closed.
 *  - `bus_unavailable`, BusUnavailableError (../bus/bus.ts), temporary: the bus did not take a payload
 *    in time, or it is closed or not started.
 *  - `invalid_argument`, InvalidArgumentError (here), not temporary: the caller passed an argument the
 *    contract refuses (a caller bug); nothing was changed.
 *  - `malformed_reply`, MalformedReplyError (here), not temporary: the store answered in a shape this
 *    version cannot read.
 *
 * What callers answer (unchanged by these fields): the REST API maps the two `*_unavailable` errors
 * to `503` with the same code (services/api/app.ts) and anything else to `500 internal`; the gateway
 * answers a frame that failed with either `*_unavailable` error with the WebSocket error
 * `unavailable`, and with `internal` otherwise (shared/protocol/errors.ts, both retryable there:
 * the client's request, not the server's call, is what it retries).
 *
 * Results that are answers, not failures, stay results: an idempotency conflict is
 * `{ state: 'conflict' }` (the API's `409 idempotency_key_reused`), a full webhook outbox is counted
 * in `enqueue`'s answer, a refused token is `{ ok: false, code }` (shared/auth/jwt.ts).
 */

/** An error that crosses a contract: a stable `code`, and whether retrying later may succeed. */
export interface ContractError extends Error {
  readonly code: string;
  readonly temporary: boolean;
}

/** True for an error that carries a string `code` and a boolean `temporary`. */
export function isContractError(err: unknown): err is ContractError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ContractError>).code === 'string' &&
    typeof (err as Partial<ContractError>).temporary === 'boolean'
  );
}

/**
 * A contract refused an argument (a negative offset, an empty dedupe key, a TTL that is not
 * positive, a targeted publish naming no node): a bug of the caller, so retrying the same call fails
 * the same way. A TypeError, as JavaScript's own argument errors are; nothing was changed.
 */
export class InvalidArgumentError extends TypeError implements ContractError {
  readonly code = 'invalid_argument';
  readonly temporary = false;

  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/**
 * The store answered in a shape this version of the driver cannot read (a reply of the wrong type, a
 * stored value written by something else): decoded at the edge and refused loudly rather than
 * passed on. Retrying reads the same data, so it is not temporary.
 */
export class MalformedReplyError extends Error implements ContractError {
  readonly code = 'malformed_reply';
  readonly temporary = false;

  constructor(message: string) {
    super(message);
    this.name = 'MalformedReplyError';
  }
}
