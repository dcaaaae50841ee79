/**
 * The cluster bus: moves opaque byte payloads from one node to every node.
 *
 * Transports only move bytes; the core (shared/core) owns what the bytes mean. Semantics every
 * driver keeps (the contract suite in test/contracts checks them):
 *  - A payload published by any node reaches the handler of every started node, the publisher
 *    included, exactly once while both are connected.
 *  - Payloads published by one node reach each node in the order they were published.
 *  - `publish` resolves once the transport has accepted the payload (RabbitMQ: publisher confirm);
 *    it rejects with `BusUnavailableError` when the payload could not be handed over in time. A
 *    payload is never silently dropped.
 *  - The handler must not throw; a driver logs and drops a payload whose handler threw.
 */
export interface Bus {
  /**
   * Starts consuming. `hooks.resumed` is called after the bus reconnected following an outage:
   * payloads published while this node was cut off may never arrive, so the core catches up from
   * history then.
   */
  start(handler: BusHandler, hooks?: BusHooks): Promise<void>;
  publish(payload: Buffer): Promise<void>;
  /** True while publishing is expected to succeed (drives /readyz). */
  readonly ready: boolean;
  close(): Promise<void>;
}

export type BusHandler = (payload: Buffer) => void;

export interface BusHooks {
  resumed?(): void;
}

export class BusUnavailableError extends Error {
  constructor(message = 'cluster bus unavailable') {
    super(message);
    this.name = 'BusUnavailableError';
  }
}
