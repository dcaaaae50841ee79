/**
 * Sessions: what a connection was doing, kept outside the connection so that a client that
 * reconnects (to any node, once the cluster drivers exist) can be restored.
 *
 * Semantics every driver keeps (test/contracts/session-store.contract.ts):
 *  - `create` stores a session with no channels; it expires `ttlSeconds` after the last
 *    `create`/`touch` unless touched again (a closed connection's session is touched once, then left).
 *  - `addChannel`/`removeChannel` are idempotent and do nothing for an unknown (or expired) session.
 *  - `get` returns `undefined` for an unknown or expired session; `channels` is a set (no duplicates,
 *    order unspecified).
 *  - `touch` extends the lifetime of the given sessions; unknown ids are ignored.
 *  - `claim` moves a live session to another node (a resumed session) and extends its lifetime, keeping
 *    its user and channels; it answers false, changing nothing, for an unknown or expired session.
 *  - `delete` removes the session at once.
 */
export interface SessionRecord {
  id: string;
  userId: string;
  nodeId: string;
  channels: string[];
}

export interface SessionStore {
  create(session: { id: string; userId: string; nodeId: string }, ttlSeconds: number): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  addChannel(id: string, channel: string): Promise<void>;
  removeChannel(id: string, channel: string): Promise<void>;
  touch(ids: readonly string[], ttlSeconds: number): Promise<void>;
  claim(id: string, nodeId: string, ttlSeconds: number): Promise<boolean>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}
