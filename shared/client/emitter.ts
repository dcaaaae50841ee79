/**
 * A tiny typed event emitter for the client SDK.
 *
 * Why not Node's `EventEmitter` or the DOM's `EventTarget`: the SDK must bundle for browsers without
 * Node polyfills, and `EventTarget` cannot type each event's payload. Why listener errors are caught:
 * a listener that throws must not leave the client half-way through handling a frame (a position not
 * stored, a reply not matched); the error is rethrown on a microtask instead, so it still surfaces
 * (an uncaught error in the browser console, `uncaughtException` in Node) as it would from any event
 * handler.
 */

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds a listener that is removed after its first call. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** Number of listeners of `event`. */
  count(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
