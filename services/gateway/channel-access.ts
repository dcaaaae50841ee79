/**
 * Channel authorization, exactly as the design's table:
 *   user:{id}             only the user whose JWT `sub` is id
 *   order:{id}            only the order's owner (learned from the order events posted for it)
 *   promotions            every authenticated user
 *   promotions:{segment}  users whose token lists that segment
 * A guest (WS_ALLOW_GUESTS) may subscribe to `promotions` only.
 */
import type { TokenClaims } from '../../shared/auth/jwt.js';
import type { ChannelRef } from '../../shared/protocol/channels.js';
import type { OrderOwners } from '../../shared/state/order-owners.js';

export class ChannelAccess {
  constructor(private readonly orderOwners: OrderOwners) {}

  async maySubscribe(claims: TokenClaims, channel: ChannelRef): Promise<boolean> {
    if (claims.guest === true) return channel.kind === 'promotions';
    switch (channel.kind) {
      case 'user':
        return channel.userId === claims.userId;
      case 'order':
        return (await this.orderOwners.get(channel.orderId)) === claims.userId;
      case 'promotions':
        return true;
      case 'segment':
        return claims.segments.has(channel.segment);
    }
  }
}
