/**
 * The cluster bus: moves opaque byte payloads from one node to every node, or to the nodes named.
 *
 * Transports only move bytes; the core (shared/core) owns what the bytes mean. Semantics every
 * driver keeps (the contract suite in test/contracts checks them):
 *  - A payload published by any node reaches the handler of every started node, the publisher
 *    included, exactly once while both are connected.
 *  - A payload published with `nodes` (targeted) reaches the handlers of exactly those nodes (the
 *    publisher's too when named) once each; a named node that is not running drops it (it catches up
 *    from history when it comes back, as after any outage). A driver that cannot tell its nodes apart
 *    (a MemoryBus made without a node id) may deliver it to more nodes, never to fewer.
 *  - Payloads published by one node reach each node in the order they were published, targeted or not.
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
  /** To every node, or with `nodes` (node ids, at least one) to those only. */
  publish(payload: Buffer, nodes?: readonly string[]): Promise<void>;
  /** True while publishing is expected to succeed (drives /readyz). */
  readonly ready: boolean;
  close(): Promise<void>;
}

export type BusHandler = (payload: Buffer) => void;

export interface BusHooks {
  resumed?(): void;
}

export class BusUnavailableError extends Error {
  /** The REST catalogue's code for it (a 503), as StateUnavailableError carries its own. */
  readonly code = 'bus_unavailable';
  /** Retrying later may succeed: the bus reconnects by itself. */
  readonly temporary = true;

  constructor(message = 'cluster bus unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusUnavailableError';
  }
}
