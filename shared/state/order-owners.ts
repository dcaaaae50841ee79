/**
 * Order ownership, learned from the order events posted for each order: the first event of an order
 * names its owner, and only that user may subscribe to `order:{orderId}`.
 *
 * Semantics every driver keeps (test/contracts/order-owners.contract.ts):
 *  - `claim` records `userId` as the owner when the order has none, atomically (two concurrent claims
 *    for a new order: one wins, both are told the winner); it always returns the owner now recorded
 *    and refreshes the record's lifetime to `ttlSeconds` when the claimant is the owner.
 *  - `get` returns the owner, or `undefined` for an unknown or expired order.
 */
export interface OrderOwners {
  claim(orderId: string, userId: string, ttlSeconds: number): Promise<string>;
  get(orderId: string): Promise<string | undefined>;
  close(): Promise<void>;
}
