/**
 * Herald client SDK: entry point of the npm package `@herald/client` (shared/client/package.json, built by
 * scripts/build-client-package.mjs) and of the browser bundle (dist/client/herald-client.js).
 *
 * Runs in browsers (native WebSocket, and EventSource for the SSE fallback) and in Node (pass the `ws`
 * package as the `WebSocket` option, and the `eventsource` package as `EventSource` for the fallback);
 * it imports nothing Node-specific. See README.md ("Client SDK") for usage and docs/protocol.md for
 * the wire protocol it speaks.
 */
export { HeraldClient } from './herald-client.js';
export { Subscription } from './subscription.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { Cursor, type Position } from './cursor.js';
export { closeAction, type CloseAction, type WebSocketConstructor, type WebSocketLike } from './socket.js';
export { sseUrlFor, type EventSourceConstructor, type EventSourceLike } from './sse-socket.js';
export type { EventData, EventListener, EventMessage, HeraldEvents } from './events.js';
export {
  ORDER_STATUSES,
  ORDER_STATUS_EVENT,
  PROMOTION_EVENT,
  isEventData,
  type OrderStatus,
  type OrderStatusData,
  type PromotionData,
} from '../protocol/events.js';
export {
  HeraldError,
  type ClientEvents,
  type ClientStats,
  type ConnectionState,
  type HeraldClientOptions,
  type RecoveryEvent,
  type ReadEvent,
  type HistoryOptions,
  type HistoryResult,
  type StateChange,
  type SubscriptionEvents,
  type SubscriptionState,
  type TokenProvider,
  type TokenReason,
  type Transport,
} from './types.js';
export type { MessageFrame, WelcomeFrame } from '../protocol/frames.js';
