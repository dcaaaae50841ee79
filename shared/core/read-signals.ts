/**
 * Read receipts across the cluster: when a user's read position moves on one node (an `ack`), the
 * user's connections on the other nodes are told with a `read` frame.
 *
 * Routed like the user's messages (router.ts): to the nodes presence lists for the user, other than
 * this one (which told its own connections already), so nowhere when there are none; to every node
 * when the lookup failed (the router answers undefined), where this node drops its own copy by
 * `origin`. A control envelope, so the message path (its envelope kind, the fan-out) is untouched.
 * Best effort: a bus that refuses it loses the frame only (the position is stored; every `subscribed`
 * carries it again), so a failure is the caller's to log, never the ack's.
 */
import type { Bus } from '../bus/bus.js';
import { userChannel } from '../protocol/channels.js';
import { encodeControlEnvelope } from './envelope.js';
import type { Router } from './router.js';

const RESOLVED = Promise.resolve();

export interface ReadMove {
  userId: string;
  channel: string;
  offset: number;
  epoch: string;
}

export class ReadSignals {
  constructor(
    private readonly bus: Bus,
    /** Routing by presence; undefined: every node (BUS_ROUTING=broadcast). */
    private readonly router: Router | undefined,
    readonly nodeId: string,
  ) {}

  /** Sends `move` to the other nodes holding the user's connections; resolves once the bus took it. */
  async announce(move: ReadMove): Promise<void> {
    const lookup = this.router?.nodesFor(userChannel(move.userId), undefined, RESOLVED);
    const nodes = lookup === undefined ? undefined : await lookup;
    const others = nodes?.filter((node) => node !== this.nodeId);
    if (others !== undefined && others.length === 0) return;
    await this.bus.publish(encodeControlEnvelope({ kind: 'read', ...move, origin: this.nodeId }), others);
  }
}
