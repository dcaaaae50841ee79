/**
 * The part of a WebSocket the SDK uses, and what each close code means for reconnecting.
 *
 * Why a structural type instead of the DOM's `WebSocket`: the SDK runs in browsers (native
 * `WebSocket`) and in Node 20 (the `ws` package, no global `WebSocket`), and it is compiled without
 * the DOM library. Only the browser-standard surface is used (`onopen`, `onmessage`, `onclose`,
 * `onerror`, `send`, `close`, `readyState`), which `ws` implements too, so either constructor can be
 * passed as the `WebSocket` option.
 */
import { CloseCodes } from '../protocol/errors.js';

/**
 * Handler types are declared through a method so that they are checked bivariantly: a library's
 * handler that takes its own richer event type (`ws`'s `MessageEvent`, the DOM's `CloseEvent`) must
 * still be assignable to the SDK's narrower view of the event.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

/** The `WebSocket` of the environment (browsers, Deno, Node 22+), if there is one. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

/**
 * What to do after a close: `stop` (do not reconnect: the app must act), `refresh` (get a new token,
 * then reconnect), `slow` (reconnect after a long backoff), `reconnect` (reconnect with backoff).
 */
export type CloseAction = 'stop' | 'refresh' | 'slow' | 'reconnect';

export function closeAction(code: number | undefined): CloseAction {
  switch (code) {
    case CloseCodes.unauthorized: // bad token or a client bug: the same token would fail again
    case CloseCodes.disconnected: // an operator ended the session
    case CloseCodes.policyViolation: // flood: retrying unchanged would flood again
      return 'stop';
    case CloseCodes.tokenExpired:
      return 'refresh';
    case CloseCodes.tooManyConnections:
      return 'slow';
    default:
      return 'reconnect';
  }
}

/** Error code reported for a close the SDK stops on. */
export function stopCode(code: number | undefined): string {
  switch (code) {
    case CloseCodes.unauthorized:
      return 'unauthorized';
    case CloseCodes.disconnected:
      return 'disconnected';
    case CloseCodes.policyViolation:
      return 'policy_violation';
    case CloseCodes.tokenExpired:
      return 'token_expired';
    default:
      return 'closed';
  }
}
