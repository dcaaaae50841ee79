/**
 * The node registry: which gateway nodes are alive, where clients reach them, and how loaded they
 * are. Each node announces itself with `heartbeat` at a fixed interval; an entry whose node stopped
 * heartbeating (crash, SIGKILL, partition) disappears `ttlSeconds` after its last heartbeat.
 *
 * Every driver keeps the guarantees documented on each method (test/contracts/node-registry.contract.ts
 * runs them against memory and Redis). A Redis call that cannot be answered in time rejects with
 * `StateUnavailableError` (`temporary`: the heartbeat simply runs again next interval); the memory
 * driver never rejects.
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
  /** When the entry was last written: the heartbeating caller's clock, ms since the epoch. */
  lastHeartbeat: number;
}

export interface NodeRegistry {
  /**
   * Creates or replaces the node's entry (a removed or expired node is listed again) with
   * `lastHeartbeat` set to the time of the call (the caller's clock). The entry expires `ttlSeconds`
   * after this heartbeat (a shorter TTL shortens it). Idempotent apart from that time.
   */
  heartbeat(node: NodeAnnouncement, ttlSeconds: number): Promise<void>;
  /**
   * The live entries, each once, sorted by node id; expired or removed ones never appear. An entry
   * the store holds in a shape this version cannot read is skipped (Redis logs it).
   */
  list(): Promise<NodeRecord[]>;
  /** Deletes the node's entry at once (graceful stop). Removing an unknown node, or twice, is a no-op. */
  remove(nodeId: string): Promise<void>;
  /** Releases the driver; resolves once done. */
  close(): Promise<void>;
}
