import type { ContractError } from '../core/contract-errors.js';

/**
 * The cluster bus: moves opaque byte payloads from one node to every node, or to the nodes named.
 *
 * Transports only move bytes; the core (shared/core) owns what the bytes mean. Every driver keeps the
 * guarantees documented on each member (test/contracts/bus.contract.ts runs them against memory and
 * RabbitMQ). The bus is never relied on for durability: every message is in history before it is
 * published, a node that may have missed payloads (`hooks.resumed`, a restart) catches up from
 * there, and each node drops a message offset it has delivered (shared/core/recent-offsets.ts), so a
 * channel message delivered twice (RabbitMQ requeues a payload unacknowledged when its link drops)
 * reaches no client twice.
 */
export interface Bus {
  /**
   * Starts consuming: from now on `handler` gets the payloads owed to this node, one at a time, in
   * the order each publisher published them. Rejects with `BusUnavailableError` when the bus is closed
   * or (RabbitMQ) could not connect and declare its topology in time; it may then be started again. A
   * second call while started only replaces the handler. Call it before `publish`.
   *
   * `hooks.resumed` is called after the bus reconnected following an outage: payloads published
   * while this node was cut off may never arrive, so the core catches up from history then.
   */
  start(handler: BusHandler, hooks?: BusHooks): Promise<void>;
  /**
   * Without `nodes`: to every started node, the publisher included, exactly once each while both
   * are connected. With `nodes` (node ids, at least one; an empty list rejects with
   * `InvalidArgumentError`): to exactly those nodes, once each (the publisher too when named); a
   * named node that is not running drops it (it catches up from history when it comes back, as after
   * any outage). A driver that cannot tell its nodes apart (a MemoryBus made without a node id) may
   * deliver it to more nodes, never to fewer.
   *
   * Ordering: payloads published by one node reach each node in the order they were published,
   * targeted or not, also when the publisher does not wait in between.
   *
   * Resolves once the transport has accepted the payload (RabbitMQ: the publisher confirm); rejects
   * with `BusUnavailableError` (`temporary`) when it could not be handed over in time, or the bus is
   * closed. A payload is never silently dropped, and never resent by the driver: one whose fate is
   * unknown (written, then the link died before the confirm) rejects too, so a caller's retry may
   * deliver it twice (harmless, see above).
   */
  publish(payload: Buffer, nodes?: readonly string[]): Promise<void>;
  /** True while publishing is expected to succeed (drives /readyz); false once closed. */
  readonly ready: boolean;
  /**
   * Stops consuming (the handler gets nothing more), rejects publishes waiting for the link with
   * `BusUnavailableError`, lets written ones settle, and releases the transport (RabbitMQ deletes this
   * node's queue). Idempotent; later `start` and `publish` reject with `BusUnavailableError`.
   */
  close(): Promise<void>;
}

/**
 * Gets each payload owed to this node. It must not throw: a driver logs a payload whose handler threw
 * and drops it (not redelivered), and goes on with the next.
 */
export type BusHandler = (payload: Buffer) => void;

export interface BusHooks {
  resumed?(): void;
}

/**
 * What a bus rejects with when a payload could not be handed over in time, or the bus is closed or not
 * started. (The other error a bus may reject with, InvalidArgumentError: ../core/contract-errors.ts.)
 */
export class BusUnavailableError extends Error implements ContractError {
  /** The REST catalogue's code for it (a 503), as StateUnavailableError carries its own. */
  readonly code = 'bus_unavailable';
  /** Retrying later may succeed: the bus reconnects by itself. */
  readonly temporary = true;

  constructor(message = 'cluster bus unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusUnavailableError';
  }
}
