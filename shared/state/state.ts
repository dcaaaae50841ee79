import type { History } from './history.js';
import type { IdempotencyStore } from './idempotency.js';
import type { NodeRegistry } from './node-registry.js';
import type { OrderOwners } from './order-owners.js';
import type { Presence } from './presence.js';
import type { ReadPositions } from './read-positions.js';
import type { SessionStore } from './session-store.js';
import type { WebhookOutbox } from './webhook-outbox.js';

/** The state drivers a node runs on: all memory (embedded default) or all Redis (cluster). */
export interface StateDrivers {
  sessions: SessionStore;
  presence: Presence;
  orderOwners: OrderOwners;
  /** Offsets, epochs and the recoverable messages of every channel. */
  history: History;
  idempotency: IdempotencyStore;
  registry: NodeRegistry;
  /** Webhook events waiting to be sent, and users whose user.offline waits for the grace. */
  webhooks: WebhookOutbox;
  /** How far each user has read each channel (acks, the inbox). */
  reads: ReadPositions;
}
