/**
 * Memory drivers for the state contracts: the embedded default, and what unit tests run on. They keep
 * the same semantics as the Redis drivers (one contract suite runs against both). History and the
 * idempotency store have their own modules (./memory-history.ts, ./memory-idempotency.ts).
 */
import type { RetentionResolver } from '../history.js';
import type { NodeAnnouncement, NodeRecord, NodeRegistry } from '../node-registry.js';
import type { OrderOwners } from '../order-owners.js';
import type { Presence, UserPresence } from '../presence.js';
import type { NewSession, SessionRecord, SessionStore } from '../session-store.js';
import type { StateDrivers } from '../state.js';
import { ExpiringMap } from './expiring-map.js';
import { MemoryHistory } from './memory-history.js';
import { MemoryIdempotencyStore } from './memory-idempotency.js';
import { MemoryWebhookOutbox } from './memory-webhook-outbox.js';
import { MemoryReadPositions } from './memory-read-positions.js';

const done = Promise.resolve();

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new ExpiringMap<
    string,
    { userId: string; nodeId: string; channels: Set<string> }
  >();

  create(session: NewSession, ttlSeconds: number): Promise<void> {
    this.sessions.set(
      session.id,
      { userId: session.userId, nodeId: session.nodeId, channels: new Set(session.channels) },
      ttlSeconds,
    );
    return done;
  }

  get(id: string): Promise<SessionRecord | undefined> {
    const s = this.sessions.get(id);
    return Promise.resolve(s && { id, userId: s.userId, nodeId: s.nodeId, channels: [...s.channels] });
  }

  addChannel(id: string, channel: string): Promise<void> {
    this.sessions.get(id)?.channels.add(channel);
    return done;
  }

  removeChannel(id: string, channel: string): Promise<void> {
    this.sessions.get(id)?.channels.delete(channel);
    return done;
  }

  touch(ids: readonly string[], ttlSeconds: number): Promise<void> {
    for (const id of ids) this.sessions.expire(id, ttlSeconds);
    return done;
  }

  claim(id: string, nodeId: string, ttlSeconds: number): Promise<boolean> {
    const session = this.sessions.get(id);
    if (session === undefined) return Promise.resolve(false);
    session.nodeId = nodeId;
    this.sessions.expire(id, ttlSeconds);
    return Promise.resolve(true);
  }

  delete(id: string): Promise<void> {
    this.sessions.delete(id);
    return done;
  }

  close(): Promise<void> {
    this.sessions.close();
    return done;
  }
}

export class MemoryPresence implements Presence {
  /** userId → connectionId → nodeId */
  private readonly users = new Map<string, Map<string, string>>();

  add(userId: string, connectionId: string, nodeId: string): Promise<number> {
    let connections = this.users.get(userId);
    if (connections === undefined) this.users.set(userId, (connections = new Map<string, string>()));
    connections.set(connectionId, nodeId);
    return Promise.resolve(connections.size);
  }

  remove(userId: string, connectionId: string): Promise<number> {
    const connections = this.users.get(userId);
    if (connections?.delete(connectionId) && connections.size === 0) this.users.delete(userId);
    return Promise.resolve(connections?.size ?? 0);
  }

  get(userId: string): Promise<UserPresence> {
    const connections = this.users.get(userId);
    if (connections === undefined) return Promise.resolve({ connections: 0, nodes: [] });
    return Promise.resolve({
      connections: connections.size,
      nodes: [...new Set(connections.values())].sort(),
    });
  }

  /** Synchronous: every call before it has run. */
  readonly inCallOrder = true;

  nodesOf(userId: string): Promise<string[]> {
    const connections = this.users.get(userId);
    return Promise.resolve(connections === undefined ? [] : [...new Set(connections.values())]);
  }

  close(): Promise<void> {
    this.users.clear();
    return done;
  }
}

export class MemoryOrderOwners implements OrderOwners {
  private readonly owners = new ExpiringMap<string, string>();

  claim(orderId: string, userId: string, ttlSeconds: number): Promise<string> {
    const owner = this.owners.get(orderId);
    if (owner === undefined || owner === userId) {
      this.owners.set(orderId, userId, ttlSeconds);
      return Promise.resolve(userId);
    }
    return Promise.resolve(owner);
  }

  get(orderId: string): Promise<string | undefined> {
    return Promise.resolve(this.owners.get(orderId));
  }

  close(): Promise<void> {
    this.owners.close();
    return done;
  }
}

export class MemoryNodeRegistry implements NodeRegistry {
  private readonly nodes = new ExpiringMap<string, NodeRecord>();
  private readonly ids = new Set<string>();

  heartbeat(node: NodeAnnouncement, ttlSeconds: number): Promise<void> {
    this.nodes.set(node.id, { ...node, lastHeartbeat: Date.now() }, ttlSeconds);
    this.ids.add(node.id);
    return done;
  }

  list(): Promise<NodeRecord[]> {
    const live: NodeRecord[] = [];
    for (const id of [...this.ids].sort()) {
      const record = this.nodes.get(id);
      if (record === undefined) this.ids.delete(id);
      else live.push({ ...record });
    }
    return Promise.resolve(live);
  }

  remove(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
    this.ids.delete(nodeId);
    return done;
  }

  close(): Promise<void> {
    this.nodes.close();
    this.ids.clear();
    return done;
  }
}

/** Every memory driver; `retention` gives each channel's history retention (by kind, from config). */
/** Events the webhook outbox holds at most, unless configured (WEBHOOK_MAX_PENDING). */
export const DEFAULT_WEBHOOK_MAX_PENDING = 100_000;

export function createMemoryState(
  retention: RetentionResolver,
  webhookMaxPending = DEFAULT_WEBHOOK_MAX_PENDING,
): StateDrivers {
  return {
    sessions: new MemorySessionStore(),
    presence: new MemoryPresence(),
    orderOwners: new MemoryOrderOwners(),
    history: new MemoryHistory(retention),
    idempotency: new MemoryIdempotencyStore(),
    registry: new MemoryNodeRegistry(),
    webhooks: new MemoryWebhookOutbox(webhookMaxPending),
    reads: new MemoryReadPositions(),
  };
}
