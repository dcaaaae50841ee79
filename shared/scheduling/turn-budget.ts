/**
 * Bounds how long one kind of work runs per event-loop turn. A task runs at once while the current
 * turn has spent less than `budgetMs` on such tasks and nothing waits; otherwise it waits, in order.
 * Waiting tasks run in the turn's check phase while its budget lasts, the rest in later turns'
 * check phases, `budgetMs` per turn, with a poll phase (I/O) in between. A burst that arrives in one
 * poll phase (thousands of WebSocket upgrades when a node's clients all reconnect at once) is spread
 * over turns instead of stalling the loop for its whole length.
 *
 * Costs two clock reads per task and one setImmediate per turn that ran or queued any.
 */
export class TurnBudget {
  private spent = 0;
  private armed = false;
  private queue: (() => void)[] = [];
  private head = 0;

  constructor(
    private readonly budgetMs: number,
    /** Told what a task that waited threw (one that ran at once throws to its caller). */
    private readonly onError: (err: unknown) => void,
  ) {
    if (!(budgetMs > 0)) throw new TypeError('budgetMs must be positive');
  }

  /** Tasks waiting for a later turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Runs `task` now if the turn's budget allows and nothing waits before it, else in a later turn. */
  run(task: () => void): void {
    if (this.head === this.queue.length && this.spent < this.budgetMs) this.measure(task);
    else {
      this.queue.push(task);
      this.arm();
    }
  }

  private measure(task: () => void): void {
    const started = performance.now();
    try {
      task();
    } finally {
      this.spent += performance.now() - started;
      this.arm();
    }
  }

  /** The next check phase runs what waits with what is left of the turn's budget, then starts it over. */
  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(this.endOfTurn);
  }

  private readonly endOfTurn = (): void => {
    this.armed = false;
    while (this.head < this.queue.length && this.spent < this.budgetMs) {
      try {
        this.measure(this.queue[this.head++]!);
      } catch (err) {
        this.onError(err);
      }
    }
    this.spent = 0;
    // An immediate armed during this check phase runs in the next turn's: the rest waits for it.
    if (this.head < this.queue.length) {
      this.arm();
      // Tasks already run must not stay referenced (an upgrade's task holds its request and socket).
      if (this.head >= 1_024) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    } else {
      this.queue = [];
      this.head = 0;
    }
  };
}
