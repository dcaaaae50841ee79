/**
 * The director: which node a client should connect to, from the node registry. For deployments where
 * clients reach nodes directly (no balancer in front), and for reconnect frames that should point at
 * the least-loaded node rather than at the balancer.
 *
 * Load is connections / capacity (NODE_CAPACITY weights a bigger machine up); draining nodes are never
 * chosen, and a dead node is absent from the registry NODE_TTL_SECONDS after its last heartbeat.
 */
import type { Config } from '../../shared/config/config.js';
import type { NodeRecord } from '../../shared/state/node-registry.js';

/** The live, non-draining node with the lowest load (ties: the lower id), or undefined. */
export function pickNode(nodes: readonly NodeRecord[], exclude?: string): NodeRecord | undefined {
  let best: NodeRecord | undefined;
  for (const node of nodes) {
    if (node.draining || node.id === exclude) continue;
    if (best === undefined || load(node) < load(best) || (load(node) === load(best) && node.id < best.id))
      best = node;
  }
  return best;
}

export const load = (node: Pick<NodeRecord, 'connections' | 'capacity'>): number =>
  node.connections / Math.max(1, node.capacity);

/** The WebSocket URL of a node's public base URL: http://h:p → ws://h:p/ws, https → wss. */
export function webSocketUrl(publicUrl: string): string {
  return `${publicUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`;
}

/**
 * The base URL this node announces: PUBLIC_URL, or with PORT=0 (tests) the port it is bound to on the
 * interface it listens on (loopback for a wildcard bind).
 */
export function announcedUrl(config: Pick<Config, 'port' | 'host' | 'node'>, boundPort: number): string {
  if (config.port !== 0) return config.node.publicUrl;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host}:${boundPort}`;
}
