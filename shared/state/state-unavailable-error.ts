/**
 * The one error the Redis state drivers reject with: Redis could not answer in time (unreachable,
 * reconnecting, slow, or the driver was closed). Callers on the request path map it to a 503 and may
 * retry later (`temporary`); the original ioredis error, when there was one, is the `cause`.
 */
export class StateUnavailableError extends Error {
  readonly code = 'state_unavailable';
  readonly temporary = true;

  constructor(message = 'state store unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateUnavailableError';
  }
}
