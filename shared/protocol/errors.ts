/**
 * The WebSocket error catalogue. `code` is stable and machine-readable; `retryable` tells a client
 * whether sending the same thing again later can succeed. docs/protocol.md lists the same table.
 */
export const WsErrors = {
  invalid_json: { retryable: false, message: 'Frame is not valid JSON' },
  bad_frame: { retryable: false, message: 'Frame does not match the protocol' },
  unknown_type: { retryable: false, message: 'Unknown frame type' },
  auth_required: { retryable: false, message: 'Authenticate with an auth frame first' },
  already_authenticated: { retryable: false, message: 'Connection is already authenticated' },
  token_invalid: { retryable: false, message: 'Token is invalid' },
  token_expired: { retryable: true, message: 'Token has expired; connect again with a fresh token' },
  user_mismatch: { retryable: false, message: 'A refreshed token must carry the same subject' },
  unknown_channel: { retryable: false, message: 'Channel name has no known shape' },
  permission_denied: { retryable: false, message: 'Not allowed to subscribe to this channel' },
  already_subscribed: { retryable: false, message: 'Already subscribed to this channel' },
  not_subscribed: { retryable: false, message: 'Not subscribed to this channel' },
  session_not_found: {
    retryable: false,
    message: "No such session for this user (unknown, expired or another user's); subscribe again",
  },
  too_many_subscriptions: { retryable: false, message: 'Subscription limit reached' },
  too_many_connections: { retryable: true, message: 'Connection limit for this user reached' },
  rate_limited: { retryable: true, message: 'Too many frames; slow down' },
  unavailable: { retryable: true, message: 'Service temporarily unavailable' },
  internal: { retryable: true, message: 'Internal error' },
} as const satisfies Record<string, { retryable: boolean; message: string }>;

export type WsErrorCode = keyof typeof WsErrors;

/** WebSocket close codes Herald uses. 1xxx are standard, 4xxx are Herald's own. */
export const CloseCodes = {
  /** Node is shutting down or draining; reconnect (to any node). */
  goingAway: 1001,
  /** A flood that went on after a rate_limited error. Do not retry unchanged. */
  policyViolation: 1008,
  /** A client frame exceeded the maximum frame size. */
  messageTooBig: 1009,
  /** The server could not set the connection up (state unavailable); reconnect with backoff. */
  internalError: 1011,
  /** Node restarting (drain); reconnect elsewhere, resume. */
  serviceRestart: 1012,
  /** Slow consumer: the client did not read fast enough. Reconnect and resume. */
  tryAgainLater: 1013,
  /** Authentication failed (invalid token, wrong algorithm), or a frame other than auth/ping came first. */
  unauthorized: 4001,
  /** No auth frame within the auth timeout. */
  authTimeout: 4002,
  /** The token expired while connected. Reconnect with a fresh token. */
  tokenExpired: 4003,
  /** Disconnected by an operator (DELETE /v1/users/{id}/connections). */
  disconnected: 4004,
  /** The user already holds the maximum number of connections. */
  tooManyConnections: 4008,
} as const;
