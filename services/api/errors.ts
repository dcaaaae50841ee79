/**
 * The REST error catalogue. Every error answer has the same shape,
 * `{ statusCode, code, message, details? }`, with a stable `code`. 5xx details go to the log only.
 * `temporary` says whether the same request may succeed later (a 503, a 409 while an idempotent first
 * attempt runs, a 429), as the errors crossing the state and bus contracts carry it
 * (shared/core/contract-errors.ts); it is the server's own, not part of the answer.
 */
/** Longest path parameter the router takes (ids are at most 128 characters, a channel 134, escaped more). */
export const MAX_PARAM_LENGTH = 512;

export const ApiErrors = {
  bad_request: { status: 400, temporary: false, message: 'Bad request' },
  invalid_json: { status: 400, temporary: false, message: 'Request body is not valid JSON' },
  forbidden_key: {
    status: 400,
    temporary: false,
    message: 'Request body holds a __proto__ or constructor.prototype key, which is refused',
  },
  validation_failed: { status: 400, temporary: false, message: 'Request does not match the schema' },
  unauthorized: { status: 401, temporary: false, message: 'Missing or invalid API key' },
  insufficient_scope: { status: 403, temporary: false, message: 'API key lacks the scope this route needs' },
  not_found: { status: 404, temporary: false, message: 'Route not found' },
  order_owner_conflict: { status: 409, temporary: false, message: 'Order belongs to another user' },
  operator_token_unavailable: {
    status: 409,
    temporary: false,
    message:
      'This node verifies client tokens with JWT_PUBLIC_KEY only and cannot mint operator tokens: set JWT_SECRET too, or sign one with your issuer key and the claim herald_operator: true',
  },
  idempotency_key_reused: {
    status: 409,
    temporary: false,
    message: 'Idempotency-Key was already used with a different request',
  },
  idempotency_in_progress: {
    status: 409,
    temporary: true,
    message: 'A request with this Idempotency-Key is still running; retry later',
  },
  invalid_idempotency_key: {
    status: 400,
    temporary: false,
    message: 'Idempotency-Key must be 1-255 visible ASCII characters',
  },
  unknown_channel: { status: 400, temporary: false, message: 'Not a channel (docs/protocol.md, channels)' },
  too_many_subscriptions: { status: 400, temporary: false, message: 'Too many channels for one stream' },
  bad_last_event_id: {
    status: 400,
    temporary: false,
    message: 'Last-Event-ID is not a cursor this server wrote (channel offset epoch, comma-separated)',
  },
  origin_not_allowed: { status: 403, temporary: false, message: 'Origin not allowed (ALLOWED_ORIGINS)' },
  too_many_requests: {
    status: 429,
    temporary: true,
    message: 'Too many connections from this address are authenticating; retry later',
  },
  payload_too_large: { status: 413, temporary: false, message: 'Request body too large' },
  uri_too_long: {
    status: 414,
    temporary: false,
    message: `A path segment is longer than ${MAX_PARAM_LENGTH} characters`,
  },
  data_too_large: { status: 413, temporary: false, message: 'Message data too large' },
  unsupported_media_type: { status: 415, temporary: false, message: 'Content-Type must be application/json' },
  promotion_expired: { status: 422, temporary: false, message: 'expiresAt is in the past' },
  internal: { status: 500, temporary: true, message: 'Internal error' },
  bus_unavailable: { status: 503, temporary: true, message: 'Cluster bus unavailable; retry later' },
  state_unavailable: { status: 503, temporary: true, message: 'State store unavailable; retry later' },
  draining: { status: 503, temporary: true, message: 'This node is draining; connect to another' },
  server_busy: {
    status: 503,
    temporary: true,
    message: 'Too many connections are authenticating; retry later',
  },
  no_node_available: { status: 503, temporary: true, message: 'No gateway node is available; retry later' },
} as const satisfies Record<string, { status: number; temporary: boolean; message: string }>;

export type ApiErrorCode = keyof typeof ApiErrors;

export class ApiError extends Error {
  readonly statusCode: number;
  /** Whether retrying the same request later may succeed (the catalogue's `temporary`). */
  readonly temporary: boolean;

  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly details?: unknown,
    /** Overrides the catalogue status (framework 4xx errors mapped onto bad_request keep theirs). */
    status?: number,
  ) {
    super(message ?? ApiErrors[code].message);
    this.name = 'ApiError';
    this.statusCode = status ?? ApiErrors[code].status;
    this.temporary = ApiErrors[code].temporary;
  }
}
