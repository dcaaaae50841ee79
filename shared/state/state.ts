import type { ChannelOffsets } from './channel-offsets.js';
import type { NodeRegistry } from './node-registry.js';
import type { OrderOwners } from './order-owners.js';
import type { Presence } from './presence.js';
import type { SessionStore } from './session-store.js';

/** The state drivers a node runs on: all memory (embedded default) or all Redis (cluster). */
export interface StateDrivers {
  sessions: SessionStore;
  presence: Presence;
  orderOwners: OrderOwners;
  offsets: ChannelOffsets;
  registry: NodeRegistry;
}
