/**
 * Sessions: what a connection was doing, kept outside the connection so that a client that
 * reconnects (to any node) can be restored.
 *
 * Every driver keeps the guarantees documented on each method (test/contracts/session-store.contract.ts
 * runs them against memory and Redis). Sessions are independent of each other. A Redis call that
 * cannot be answered in time rejects with `StateUnavailableError` (`temporary`: retrying later may
 * succeed); the memory driver never rejects.
 */
export interface SessionRecord {
  id: string;
  userId: string;
  nodeId: string;
  channels: string[];
}

/** What `create` stores: the channels of a connection that named them when it connected. */
export interface NewSession {
  id: string;
  userId: string;
  nodeId: string;
  channels?: readonly string[];
}

export interface SessionStore {
  /**
   * Stores a session of `userId` on `nodeId` holding `channels` (none when absent; a channel listed
   * twice is held once), replacing any session of that id (its channels included). It expires
   * `ttlSeconds` after this call unless `touch`ed or `claim`ed (a closed connection's session is
   * touched once, then left to expire).
   */
  create(session: NewSession, ttlSeconds: number): Promise<void>;
  /**
   * The live session, or `undefined` for an unknown, expired or deleted one. `channels` is a set (no
   * duplicates, order unspecified). Reads never extend the lifetime.
   */
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Adds `channel` to a live session. Idempotent (a channel added twice is held once); does nothing
   * for an unknown, expired or deleted session (it never creates one). Leaves the lifetime alone.
   */
  addChannel(id: string, channel: string): Promise<void>;
  /** Removes `channel` from the session. Idempotent; does nothing for a channel or session it lacks. */
  removeChannel(id: string, channel: string): Promise<void>;
  /**
   * Makes each live session of `ids` expire `ttlSeconds` from now (a shorter TTL shortens it).
   * Unknown or expired ids are ignored (an expired session stays gone).
   */
  touch(ids: readonly string[], ttlSeconds: number): Promise<void>;
  /**
   * Atomically moves a live session to `nodeId` (a resumed session) and makes it expire `ttlSeconds`
   * from now, keeping its user and channels; answers true. For an unknown or expired session it
   * answers false and creates nothing.
   */
  claim(id: string, nodeId: string, ttlSeconds: number): Promise<boolean>;
  /** Removes the session at once; later channel changes do nothing. Deleting an unknown id is a no-op. */
  delete(id: string): Promise<void>;
  /** Releases the driver (its timers, its share of the Redis connection); resolves once done. */
  close(): Promise<void>;
}
