/**
 * Where a `reconnect` frame (drain, rebalance) sends a client, per RECONNECT_URL:
 *  - `usual` (unset): no `url`; the client reconnects to the URL it always uses (the balancer);
 *  - `fixed`: that URL;
 *  - `director`: the least-loaded other node, from the registry. Each pick is counted against the node
 *    it chose until the registry is read again (at most once a second), so a burst of moves spreads
 *    over the nodes instead of piling onto the one that was least loaded at the start.
 */
import type { Config } from '../../shared/config/config.js';
import type { NodeRecord, NodeRegistry } from '../../shared/state/node-registry.js';
import { pickNode, webSocketUrl } from './director.js';

const REFRESH_MS = 1_000;

export class ReconnectTargets {
  private nodes: NodeRecord[] = [];
  private readAt = 0;

  constructor(
    private readonly setting: Config['reconnectUrl'],
    private readonly registry: NodeRegistry,
    private readonly selfId: string,
  ) {}

  /** The `url` for the next reconnect frame; undefined = the client's usual URL. Never throws. */
  async next(): Promise<string | undefined> {
    if (this.setting.kind === 'usual') return undefined;
    if (this.setting.kind === 'fixed') return this.setting.url;
    if (Date.now() - this.readAt > REFRESH_MS) {
      this.readAt = Date.now();
      this.nodes = await this.registry.list().catch(() => this.nodes);
    }
    const node = pickNode(this.nodes, this.selfId);
    if (node === undefined) return undefined;
    node.connections += 1;
    return webSocketUrl(node.url);
  }
}
