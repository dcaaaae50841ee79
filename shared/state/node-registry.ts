/**
 * The node registry: which gateway nodes are alive, where clients reach them, and how loaded they
 * are. Each node announces itself with `heartbeat` at a fixed interval; an entry whose node stopped
 * heartbeating (crash, SIGKILL, partition) disappears `ttlSeconds` after its last heartbeat.
 *
 * Semantics every driver keeps (test/contracts/node-registry.contract.ts):
 *  - `heartbeat` creates or replaces the node's entry and sets `lastHeartbeat` to the time of the call
 *    (milliseconds since the epoch, the store's or the caller's clock); the entry lives `ttlSeconds`.
 *  - `list` returns the live entries only, sorted by node id; expired ones never appear.
 *  - `remove` deletes an entry at once (graceful stop); removing an unknown node is a no-op.
 */
export interface NodeAnnouncement {
  id: string;
  /** Base URL clients and peers reach this node at, e.g. http://10.0.0.5:8080. */
  url: string;
  connections: number;
  /** Relative capacity weight (1 = standard). */
  capacity: number;
  draining: boolean;
  startedAt: number;
}

export interface NodeRecord extends NodeAnnouncement {
  lastHeartbeat: number;
}

export interface NodeRegistry {
  heartbeat(node: NodeAnnouncement, ttlSeconds: number): Promise<void>;
  list(): Promise<NodeRecord[]>;
  remove(nodeId: string): Promise<void>;
  close(): Promise<void>;
}
