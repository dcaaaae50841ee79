/**
 * Targeted routing: which nodes a message has to reach.
 *
 * A `user:{id}` channel is subscribed by that user's connections only (channel-access.ts), and a
 * connection is in presence before it subscribes anything (Subscriptions.open awaits the add before
 * the first subscribe frame is read, and issues it before reading the positions of the channels named
 * at connect; waits for it first where calls may run out of order). So the nodes holding the user's
 * connections, as presence lists them after the message is stored, are every node with a subscriber
 * that may still be owed it:
 *  - a subscriber whose position read came before the append was in presence before that read, so
 *    the lookup (after the append) lists its node;
 *  - one whose position read came after the append starts past the message and does not need it.
 * The lookup is issued right after the append, in the same turn: the Redis drivers share one
 * connection and Redis runs its commands in order, so it runs after the append without a second round
 * trip (presence.ts). On Redis Cluster the append and the lookup may go to different shards, so the
 * lookup is sent once the append is answered (`presence.inCallOrder` false). A node listed whose
 * connection just left or died gets a copy it drops.
 *
 * An `order:` channel is subscribed by its owner's connections only; an order event names the owner
 * and claims the order for it before publishing (`routeUser`), so it is routed like that user's
 * channel. A connection subscribed while another user owned the order (a claim that expired and was
 * taken over) gets no more of its events, as it would no longer be allowed to subscribe.
 *
 * No node at all when presence knows no connection of the user: the message is stored and goes
 * nowhere else (no bus publish, no copy on any node). Most order events find their user offline; on N
 * nodes each such message cost N deliveries of nothing. A user who connects later reads a position
 * at or after it (above). A state store that lost presence entries is noticed and repaired by the
 * nodes holding them: a dropped link, or a refresh that had to add an entry back, makes the node catch
 * up from history on its local channels (`Presence.onRestored`, redis-presence.ts).
 *
 * Unknown means every node (the fanout exchange): promotions and segments, an `order:` message
 * published without `routeUser` (POST /v1/publish), and a lookup that failed.
 */
import { userOfChannel } from '../protocol/channels.js';
import type { Presence } from '../state/presence.js';

export interface Router {
  /**
   * The node ids a message of `channel` must reach (none: no node), or undefined for every node.
   * `routeUser`: the one user whose connections may subscribe the channel, when it is not a `user:`
   * channel (see above).
   * Synchronous undefined for messages it never targets (no state call); call it right after issuing
   * the message's append, `stored` (see above).
   */
  nodesFor(
    channel: string,
    routeUser: string | undefined,
    stored: Promise<unknown>,
  ): Promise<readonly string[] | undefined> | undefined;
}

export class PresenceRouter implements Router {
  constructor(private readonly presence: Presence) {}

  nodesFor(
    channel: string,
    routeUser: string | undefined,
    stored: Promise<unknown>,
  ): Promise<readonly string[] | undefined> | undefined {
    const user = userOfChannel(channel) ?? routeUser;
    if (user === undefined) return undefined;
    const lookup = this.presence.inCallOrder
      ? this.presence.nodesOf(user)
      : // A failed append publishes nothing: its route does not matter.
        stored.then(() => this.presence.nodesOf(user));
    return lookup.catch(() => undefined);
  }
}
