import { BusUnavailableError, type Bus, type BusHandler } from './bus.js';

/**
 * In-process broker: every MemoryBus attached to the same broker receives every payload. One broker
 * per process is the single-node default; tests attach several buses to one broker to model nodes.
 */
export class MemoryBroker {
  private readonly handlers = new Set<BusHandler>();

  attach(handler: BusHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Delivers on a later microtask, in publish order, like a real broker would (never re-entrantly). */
  deliver(payload: Buffer): void {
    for (const handler of this.handlers) queueMicrotask(() => handler(payload));
  }
}

export class MemoryBus implements Bus {
  private detach: (() => void) | undefined;
  private closed = false;

  constructor(private readonly broker: MemoryBroker = new MemoryBroker()) {}

  get ready(): boolean {
    return !this.closed;
  }

  start(handler: BusHandler): Promise<void> {
    if (this.closed) return Promise.reject(new BusUnavailableError('bus is closed'));
    this.detach?.();
    this.detach = this.broker.attach((payload) => {
      try {
        handler(payload);
      } catch {
        // The contract says handlers do not throw; a broken one must not stop the others.
      }
    });
    return Promise.resolve();
  }

  publish(payload: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new BusUnavailableError('bus is closed'));
    this.broker.deliver(payload);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.detach?.();
    this.detach = undefined;
    return Promise.resolve();
  }
}
