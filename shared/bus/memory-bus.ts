import { InvalidArgumentError } from '../core/contract-errors.js';
import { BusUnavailableError, type Bus, type BusHandler } from './bus.js';

/**
 * In-process broker: every MemoryBus attached to the same broker receives every payload. One broker
 * per process is the single-node default; tests attach several buses to one broker to model nodes.
 */
export class MemoryBroker {
  /** Each attached handler and the node id of its bus (undefined: a bus made without one). */
  private readonly handlers = new Map<BusHandler, string | undefined>();

  attach(handler: BusHandler, nodeId?: string): () => void {
    this.handlers.set(handler, nodeId);
    return () => this.handlers.delete(handler);
  }

  /**
   * Delivers on a later microtask, in publish order, like a real broker would (never re-entrantly):
   * to every handler, or with `nodes` to the handlers of those nodes and of buses without a node id.
   */
  deliver(payload: Buffer, nodes?: readonly string[]): void {
    for (const [handler, nodeId] of this.handlers) {
      if (nodes !== undefined && nodeId !== undefined && !nodes.includes(nodeId)) continue;
      queueMicrotask(() => handler(payload));
    }
  }
}

export class MemoryBus implements Bus {
  private detach: (() => void) | undefined;
  private closed = false;

  /**
   * `nodeId` names this bus for targeted publishes; without one it receives every payload (a
   * single-node process needs none).
   */
  constructor(
    private readonly broker: MemoryBroker = new MemoryBroker(),
    private readonly nodeId?: string,
    /** Told what a handler threw (the contract's "logs and drops"); the node passes its logger. */
    private readonly onHandlerError: (err: unknown) => void = () => undefined,
  ) {}

  get ready(): boolean {
    return !this.closed;
  }

  start(handler: BusHandler): Promise<void> {
    if (this.closed) return Promise.reject(new BusUnavailableError('bus is closed'));
    this.detach?.();
    this.detach = this.broker.attach((payload) => {
      try {
        handler(payload);
      } catch (err) {
        // The contract says handlers do not throw; a broken one must not stop the others.
        this.onHandlerError(err);
      }
    }, this.nodeId);
    return Promise.resolve();
  }

  publish(payload: Buffer, nodes?: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new BusUnavailableError('bus is closed'));
    if (nodes?.length === 0) return Promise.reject(new InvalidArgumentError('MemoryBus: publish to no node'));
    this.broker.deliver(payload, nodes);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.detach?.();
    this.detach = undefined;
    return Promise.resolve();
  }
}
