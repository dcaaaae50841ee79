/**
 * Channel authorization, exactly as the design's table:
 *   user:{id}             only the user whose JWT `sub` is id
 *   order:{id}            only the order's owner (learned from the order events posted for it)
 *   promotions            every authenticated user
 *   promotions:{segment}  users whose token lists that segment
 *   cluster               operators only (token claim herald_operator: true)
 * A guest (WS_ALLOW_GUESTS) may subscribe to `promotions` only. An operator token may subscribe to
 * `cluster` only: it is a console's credential, not a user's, whatever its `sub`.
 */
import type { TokenClaims } from '../../shared/auth/jwt.js';
import type { ChannelRef } from '../../shared/protocol/channels.js';
import type { OrderOwners } from '../../shared/state/order-owners.js';

export class ChannelAccess {
  constructor(private readonly orderOwners: OrderOwners) {}

  async maySubscribe(claims: TokenClaims, channel: ChannelRef): Promise<boolean> {
    if (claims.guest === true) return channel.kind === 'promotions';
    if (claims.operator === true) return channel.kind === 'cluster';
    switch (channel.kind) {
      case 'user':
        return channel.userId === claims.userId;
      case 'order':
        return (await this.orderOwners.get(channel.orderId)) === claims.userId;
      case 'promotions':
        return true;
      case 'segment':
        return claims.segments.has(channel.segment);
      case 'cluster':
        return false;
    }
  }
}
