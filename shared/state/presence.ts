/**
 * Presence: who is connected, counted per user across every node. Three tabs of one browser are one
 * user with three connections.
 *
 * Every driver keeps the guarantees documented on each member (test/contracts/presence.contract.ts
 * runs them against memory and Redis). Liveness: connections added through a driver stay while that
 * driver is open (Redis: it refreshes them). A driver that goes away without removing them (its
 * process crashed) stops refreshing them, and they disappear within the driver's presence TTL, so a
 * dead node never keeps users "online" (memory: they die with it). A Redis call that cannot be
 * answered in time rejects with `StateUnavailableError` (`temporary`); the memory driver never rejects.
 */
export interface UserPresence {
  connections: number;
  nodes: string[];
}

export interface Presence {
  /**
   * Registers one connection of `userId` on `nodeId` and answers the user's live connection count,
   * this one included. Idempotent per connection id: adding it again counts it once (and moves it to
   * the node now given). Atomic: concurrent adds of one user are each counted. A rejected add is not
   * refreshed by the driver (Redis: if it did reach the store, it expires within the presence TTL).
   */
  add(userId: string, connectionId: string, nodeId: string): Promise<number>;
  /**
   * Unregisters one connection and answers the user's live connection count left (0: the user's last
   * connection anywhere closed, which webhooks turn into user.offline). Removing an unknown
   * connection changes nothing and answers the count as it is.
   */
  remove(userId: string, connectionId: string): Promise<number>;
  /**
   * The user's live connection count and the distinct nodes holding them, sorted. An unknown user has
   * 0 connections and no nodes.
   */
  get(userId: string): Promise<UserPresence>;
  /**
   * The nodes that may hold a connection of the user, for routing its messages (each once, in no
   * particular order): every node of a live connection, and possibly nodes of connections that just
   * expired or whose node just died (never fewer). It reflects every `add` whose promise resolved
   * before `nodesOf` was called and, where `inCallOrder` is true, every add issued before it (see
   * there). An unknown user: none.
   */
  nodesOf(userId: string): Promise<string[]>;
  /**
   * Whether a call runs after every state call issued before it (true: memory, and Redis on one
   * connection, which runs commands in call order), so a `nodesOf` issued in the same turn just after
   * an add reflects that add (shared/core/router.ts relies on it). False on Redis Cluster, where a call
   * issued earlier may run later on another shard: a lookup that must follow a write waits for its reply.
   */
  readonly inCallOrder: boolean;
  /**
   * Drivers whose entries can lapse while the node lives (Redis) call `listener` after the node's
   * connections were added again following a time they may have been missing (a refresh failed, the
   * link dropped, a refresh found some gone): messages routed by presence meanwhile did not reach
   * this node, and the listener catches up from history. A listener that throws is logged; the others
   * still run. Absent: entries never lapse (memory).
   */
  onRestored?(listener: () => void): void;
  /**
   * Stops refreshing; it does not remove the connections from a shared store (removal is the
   * gateway's job; they expire there within the presence TTL). Memory: its state goes with it.
   */
  close(): Promise<void>;
}
