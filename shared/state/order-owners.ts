/**
 * Order ownership, learned from the order events posted for each order: the first event of an order
 * names its owner, and only that user may subscribe to `order:{orderId}`.
 *
 * Every driver keeps the guarantees documented on each method (test/contracts/order-owners.contract.ts
 * runs them against memory and Redis). Orders are independent of each other. A Redis call that cannot
 * be answered in time rejects with `StateUnavailableError` (`temporary`); the memory driver never
 * rejects.
 */
export interface OrderOwners {
  /**
   * Records `userId` as the owner of an order that has none (unknown or expired), atomically: of
   * concurrent claims for a new order exactly one wins, and every claimant is told the winner. Always
   * answers the owner now recorded. When the claimant is (or just became) the owner, the record
   * expires `ttlSeconds` from now (a shorter TTL shortens it); another user's claim changes nothing,
   * its lifetime included. Safe to retry: a repeated claim by the owner only refreshes the record.
   */
  claim(orderId: string, userId: string, ttlSeconds: number): Promise<string>;
  /** The owner, or `undefined` for an unknown or expired order. Never extends the lifetime. */
  get(orderId: string): Promise<string | undefined>;
  /** Releases the driver; resolves once done. */
  close(): Promise<void>;
}
