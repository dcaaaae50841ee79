/**
 * The events the REST API publishes itself, and the `data` of their messages: what a client receives
 * for an order status change (`POST /v1/orders/{orderId}/events`) and for a promotion
 * (`POST /v1/promotions`).
 *
 * Why here: the REST routes build these payloads and the client SDK types its per-event listeners
 * with them, so the shape is written once, on the wire side (services/api/routes/publish.ts checks
 * what it publishes against these types). `POST /v1/publish` can send any event name with any data,
 * so a client must not trust a name alone: `isEventData` checks the fields a listener relies on.
 */

/** Every status an order event may carry (the REST schema's enum). */
export const ORDER_STATUSES = [
  'created',
  'confirmed',
  'paid',
  'processing',
  'packed',
  'shipped',
  'out_for_delivery',
  'delivered',
  'cancelled',
  'refunded',
  'returned',
  'failed',
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Event name of an order status change, on `user:{userId}` and `order:{orderId}` (same message id). */
export const ORDER_STATUS_EVENT = 'order.status';
/** Event name of a promotion, on `promotions` or `promotions:{segment}`. */
export const PROMOTION_EVENT = 'promotion';

/** `data` of an `order.status` message. */
export interface OrderStatusData {
  orderId: string;
  userId: string;
  status: OrderStatus;
  /** ISO 8601: the time the backend gave, or the time the node accepted the event. */
  occurredAt: string;
  /** Free-form fields the backend added (carrier, tracking number, …). */
  details?: Record<string, unknown>;
}

/** `data` of a `promotion` message: the promotion as the backend posted it. */
export interface PromotionData {
  promotionId: string;
  title: string;
  body: string;
  /** Absent for `promotions` (everyone). */
  segment?: string;
  /** http(s) only. */
  url?: string;
  imageUrl?: string;
  /** ISO 8601; the node refuses promotions that have already expired. */
  expiresAt?: string;
  data?: Record<string, unknown>;
}

/** Each event the REST API publishes, by name, with its `data`. */
export interface PublishedEvents {
  [ORDER_STATUS_EVENT]: OrderStatusData;
  [PROMOTION_EVENT]: PromotionData;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasStrings(value: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.every((key) => typeof value[key] === 'string');
}

/**
 * Whether `data` has the fields of the event's type: required strings present, optional ones absent
 * or of their type. Events this module does not define pass (their type is the app's to declare).
 * A newer server may add order statuses, so `status` is only checked to be a string.
 */
export function isEventData(event: string, data: unknown): boolean {
  switch (event) {
    case ORDER_STATUS_EVENT:
      return (
        isRecord(data) &&
        hasStrings(data, ['orderId', 'userId', 'status', 'occurredAt']) &&
        (data.details === undefined || isRecord(data.details))
      );
    case PROMOTION_EVENT:
      return (
        isRecord(data) &&
        hasStrings(data, ['promotionId', 'title', 'body']) &&
        ['segment', 'url', 'imageUrl', 'expiresAt'].every(
          (key) => data[key] === undefined || typeof data[key] === 'string',
        ) &&
        (data.data === undefined || isRecord(data.data))
      );
    default:
      return true;
  }
}
