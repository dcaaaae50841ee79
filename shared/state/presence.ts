/**
 * Presence: who is connected, counted per user across every node.
 *
 * Semantics every driver keeps (test/contracts/presence.contract.ts):
 *  - `add` registers one connection of a user on a node and returns the user's connection count
 *    including it; adding the same connection id twice counts it once.
 *  - `remove` unregisters one connection and returns the user's live connection count left (0: the
 *    user's last connection anywhere closed, which webhooks turn into user.offline); removing an
 *    unknown connection changes nothing.
 *  - `get` answers the user's connection count and the distinct nodes holding them (sorted); an
 *    unknown user has 0 connections and no nodes. Three tabs of one browser are one user with three
 *    connections.
 *  - Connections added through a driver stay while that driver is open. A driver that goes away
 *    without removing them (its process crashed) stops refreshing them, and they disappear within the
 *    driver's presence TTL, so a dead node never keeps users "online". (Memory: they die with it.)
 *  - `nodesOf` answers the nodes that may hold a connection of the user, for routing its messages: every
 *    node of a live connection, and possibly nodes of connections that just expired or whose node just
 *    died (never fewer). It reflects every `add` whose promise resolved before `nodesOf` was called,
 *    and, where `inCallOrder` is true (memory; Redis on one connection, which runs commands in call
 *    order), every add applied before a state call issued just ahead of it in the same turn
 *    (shared/core/router.ts relies on it). On Redis Cluster a call issued earlier may run later on
 *    another shard: `inCallOrder` is false, and a lookup that must follow a write waits for its reply.
 *  - `onRestored` (drivers whose entries can lapse while the node lives: Redis) calls its listener after
 *    the node's connections were added again following a time they may have been missing (a refresh
 *    failed, the link dropped): messages routed by presence meanwhile did not reach this node, and
 *    the listener catches up from history.
 *  - `close` stops refreshing; it does not remove the connections (removal is the gateway's job).
 */
export interface UserPresence {
  connections: number;
  nodes: string[];
}

export interface Presence {
  add(userId: string, connectionId: string, nodeId: string): Promise<number>;
  remove(userId: string, connectionId: string): Promise<number>;
  get(userId: string): Promise<UserPresence>;
  nodesOf(userId: string): Promise<string[]>;
  /** Whether `nodesOf` runs after every state call issued before it (see above). */
  readonly inCallOrder: boolean;
  onRestored?(listener: () => void): void;
  close(): Promise<void>;
}
