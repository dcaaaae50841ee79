import type { ContractError } from '../core/contract-errors.js';

/**
 * The error the Redis state drivers reject with when Redis could not answer in time (unreachable,
 * reconnecting, slow, too few replicas acknowledged an append, or the driver was closed). Callers on
 * the request path map it to a 503 and may retry later; the original ioredis error, when there was
 * one, is the `cause`. (The other errors a state contract may reject with: ../core/contract-errors.ts.)
 */
export class StateUnavailableError extends Error implements ContractError {
  /** The REST catalogue's code for it (a 503). */
  readonly code = 'state_unavailable';
  /** Retrying later may succeed: the connection reconnects by itself. */
  readonly temporary = true;

  constructor(message = 'state store unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateUnavailableError';
  }
}
