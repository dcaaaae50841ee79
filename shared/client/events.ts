/**
 * Per-event listeners: `client.onEvent('order.status', (data, message) => …)` with `data` typed by
 * the event's name.
 *
 * Why a filter over `message` rather than a second dispatch path: the `message` event already carries
 * each offset once (recovery, dedupe), so a typed listener sees exactly what a `message` listener
 * sees, in the same order, with no second set of bookkeeping. Why the data is checked: any backend
 * with a publish key may send any event name with any data (`POST /v1/publish`), so a name alone does
 * not prove the shape; a message whose data lacks the fields of its type is not handed to the typed
 * listener (a `message` listener still gets it).
 */
import type { MessageFrame } from '../protocol/frames.js';
import { isEventData, type PublishedEvents } from '../protocol/events.js';
import type { Listener } from './emitter.js';

/**
 * The `data` of each event by name. Holds the events the REST API publishes (`order.status`,
 * `promotion`); an app adds its own (those it sends through `POST /v1/publish`) by augmentation:
 *
 * ```ts
 * declare module '@herald/client' {
 *   interface HeraldEvents { 'cart.updated': { items: number } }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an interface, so apps can augment it
export interface HeraldEvents extends PublishedEvents {}

/** The `data` of `event`: its declared type, `unknown` for an event not declared in `HeraldEvents`. */
export type EventData<E extends string> = E extends keyof HeraldEvents ? HeraldEvents[E] : unknown;

/** A message of `event`, its `data` typed. */
export type EventMessage<E extends string> = Omit<MessageFrame, 'event' | 'data'> & {
  event: E;
  data: EventData<E>;
};

/** A per-event listener: the message's data, and the whole message (channel, offset, id, ts). */
export type EventListener<E extends string> = (data: EventData<E>, message: EventMessage<E>) => void;

/** A `message` listener that calls `listener` for the messages of `event` whose data fits its type. */
export function forEvent<E extends string>(event: E, listener: EventListener<E>): Listener<MessageFrame> {
  if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a string');
  if (typeof listener !== 'function') throw new TypeError('listener must be a function');
  return (message) => {
    if (message.event !== event || !isEventData(event, message.data)) return;
    const typed = message as EventMessage<E>;
    listener(typed.data, typed);
  };
}
