/**
 * HOT PATH — the write side of every WebSocket, and the scheduler that coalesces writes.
 *
 * Cost model (see fanout.ts for the whole path; measure with `npm run bench` before changing this):
 *  - `Outlet.push`, per recipient and message: one array push, a byte count and a buffered-bytes
 *    check; the first push of a round also appends the outlet to the scheduler's queue. No syscall.
 *  - `Outlet.flush`, per socket and round: the frames that accumulated are written with ONE
 *    `socket.write` (concatenated when there are several): one syscall however many messages wait.
 *    On an idle node (nothing queued) a frame is written at once instead, for the first few sockets
 *    of a turn: a lone message (an order update to one user) does not wait for the turn to end.
 *    That syscall (on loopback it also carries the receiver's TCP work) is most of what a delivery
 *    costs, so the write count is what this module keeps low.
 *  - `WriteScheduler`: outlets with frames queue in arrival order; a round writes them in slices of
 *    about `sliceMs` and yields to I/O between slices. While a round works through thousands of
 *    sockets, the node goes on reading the bus and the REST API, and new frames join the outlets
 *    still waiting: the busier the node, the more frames each write carries. On an idle node the
 *    first frames go out at once (see above) and the rest of the turn's in its check phase. A channel
 *    kind may allow a maximum delay (`delayMs`): its frames then wait up to that long for company
 *    even on an idle node; any earlier round takes them along.
 *
 * Every frame a connection sends goes through its outlet, replies included, so frames leave in the
 * order they were pushed and one budget (`maxBufferedBytes`, pending plus what the socket holds)
 * covers all of them.
 *
 * `ws` has no public "write these pre-framed bytes"; like engine.io we write to its socket. That is
 * what ws itself does for an uncompressed frame, and ws keeps no other state about data frames.
 */
import WebSocket from 'ws';

/** Frames written at once (not queued) per event-loop turn on an idle node. */
const AT_ONCE_PER_TURN = 16;

/**
 * Where an outlet's bytes go: the TCP socket under a `ws` WebSocket (its `_socket`), or the SSE
 * stream's frame writer (sse-socket.ts), which turns the same prepared frames into events.
 */
export interface FrameStream {
  write(data: Buffer): unknown;
  readonly writableLength: number;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** What an outlet needs of its socket: a `ws` WebSocket, or an SSE stream that looks like one. */
export interface OutletSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
}

interface WsInternals {
  _socket?: FrameStream;
}

/** What the fan-out needs of a recipient: take a prepared frame, never throw. */
export interface Recipient {
  push(frame: Buffer, delayMs: number): void;
}

/** Told when an outlet's unsent bytes exceed the budget (the connection closes it 1013). */
export interface OutletOwner {
  overflowed(): void;
}

export class Outlet implements Recipient {
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  /** In the scheduler's queue (it clears this when it flushes the outlet). */
  queued = false;
  /** The scheduler's turn in which this outlet last wrote at once. */
  private atOnceTurn = -1;
  private closed = false;
  /** Set by `cork`: frames wait for `uncork`, which writes them together. */
  private corked = false;

  constructor(
    private readonly ws: OutletSocket,
    private readonly scheduler: WriteScheduler,
    private readonly owner: OutletOwner,
  ) {}

  /** Unsent bytes: frames not yet written plus what the socket has not handed to the kernel. */
  get backlog(): number {
    return this.pendingBytes + this.ws.bufferedAmount;
  }

  /**
   * Queues a prepared frame; it goes out with the next write of this socket (see the cost model). On
   * an idle node (nothing queued anywhere) it is written at once instead, within a small budget per
   * event-loop turn, so a lone message does not wait for the rest of the turn.
   */
  push(frame: Buffer, delayMs: number): void {
    if (this.closed) return;
    if (
      !this.queued &&
      !this.corked &&
      delayMs <= 0 &&
      this.atOnceTurn !== this.scheduler.turn &&
      this.scheduler.writeAtOnce()
    ) {
      // Nothing of this socket waits (it is not queued), so the order holds. A second frame for it in
      // the same turn is queued: a burst to one socket still leaves in one write.
      this.atOnceTurn = this.scheduler.turn;
      this.write(frame, 1);
    } else {
      (this.pending ??= []).push(frame);
      this.pendingBytes += frame.length;
      if (this.queued) this.scheduler.wake(delayMs);
      else if (!this.corked) {
        this.queued = true;
        this.scheduler.enqueue(this, delayMs);
      }
    }
    if (this.pendingBytes + this.ws.bufferedAmount > this.scheduler.maxBufferedBytes) this.owner.overflowed();
  }

  /**
   * Holds the frames pushed from now on until `uncork` (none is written at once), so replies made
   * together leave together: a connection's `welcome` and the `subscribed` frames of the channels it
   * asked for at connect go out in one write. An outlet already queued still flushes with its round.
   */
  cork(): void {
    this.corked = true;
  }

  /** Writes what `cork` held in one write: at once on an idle node, else with the scheduler's round. */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    if (this.pending === undefined || this.queued) return;
    if (this.scheduler.writeAtOnce()) this.flush();
    else {
      this.queued = true;
      this.scheduler.enqueue(this, 0);
    }
  }

  /** Writes what is pending now, in one write. */
  flush(): void {
    this.queued = false;
    const pending = this.pending;
    if (pending === undefined) return;
    const bytes = this.pendingBytes;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending, bytes), pending.length);
  }

  private write(data: Buffer, frames: number): void {
    const socket = (this.ws as unknown as WsInternals)._socket;
    if (this.closed || socket === undefined || this.ws.readyState !== WebSocket.OPEN) return;
    this.scheduler.writes++;
    this.scheduler.frames += frames;
    socket.write(data);
  }

  /**
   * Writes what is pending, then resolves once the socket has handed everything to the kernel (or
   * closed, or `timeoutMs` passed): lets a long replay go at the pace the client reads.
   */
  drain(timeoutMs: number): Promise<void> {
    this.flush();
    const socket = (this.ws as unknown as WsInternals)._socket;
    if (socket === undefined || socket.writableLength === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      socket.once('drain', done);
      socket.once('close', done);
    });
  }

  /** From now on nothing is written; with `flushFirst`, what is pending goes out before. */
  close(flushFirst: boolean): void {
    if (this.closed) return;
    if (flushFirst) this.flush();
    this.closed = true;
    this.pending = undefined;
    this.pendingBytes = 0;
  }
}

/**
 * Flushes queued outlets in arrival order, a slice of about `sliceMs` at a time (see the cost model).
 * Costs one queue push per outlet per round and one clock read per 64 outlets. `writes` / `frames`
 * count what went out, so frames per write shows how much coalescing the traffic allows.
 */
export class WriteScheduler {
  private queue: Outlet[] = [];
  private head = 0;
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** Writes made at once in this event-loop turn (see `writeAtOnce`). */
  private atOnce = 0;
  private atOnceReset = false;
  /** Counts event-loop turns in which something was written at once. */
  turn = 0;
  /** Slices run so far (each yields to I/O after it). */
  slices = 0;
  /** Socket writes so far, and the frames they carried. */
  writes = 0;
  frames = 0;

  constructor(
    /** Unsent bytes one outlet may hold (pending plus socket buffer) before its owner is told. */
    readonly maxBufferedBytes: number,
    private readonly sliceMs = 1,
  ) {}

  /**
   * Whether a frame may be written at once instead of queued: only while nothing is queued (a round
   * in progress goes first) and for at most AT_ONCE_PER_TURN writes per event-loop turn (a broadcast
   * arriving on an idle node writes its first sockets at once and queues the rest).
   */
  writeAtOnce(): boolean {
    if (this.head < this.queue.length || this.atOnce >= AT_ONCE_PER_TURN) return false;
    this.atOnce++;
    if (!this.atOnceReset) {
      this.atOnceReset = true;
      setImmediate(this.resetAtOnce);
    }
    return true;
  }

  private readonly resetAtOnce = (): void => {
    this.atOnceReset = false;
    this.atOnce = 0;
    this.turn++;
  };

  enqueue(outlet: Outlet, delayMs: number): void {
    this.queue.push(outlet);
    this.wake(delayMs);
  }

  /** Makes sure a slice runs within `delayMs` (0: in this event-loop turn's check phase). */
  wake(delayMs: number): void {
    if (delayMs <= 0) this.soon();
    else this.within(delayMs);
  }

  /** Makes sure a slice runs in this event-loop turn's check phase. */
  soon(): void {
    if (this.immediate !== undefined) return;
    this.immediate = setImmediate(this.run);
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private within(delayMs: number): void {
    if (this.immediate !== undefined) return;
    const due = performance.now() + delayMs;
    if (this.timer !== undefined && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.run, delayMs);
  }

  private readonly run = (): void => {
    this.immediate = undefined;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.slices++;
    const queue = this.queue;
    const deadline = performance.now() + this.sliceMs;
    let i = this.head;
    while (i < queue.length) {
      queue[i++]!.flush();
      if ((i & 63) === 0 && performance.now() >= deadline) break;
    }
    if (i >= queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    // More than a slice: go on after the I/O that arrived meanwhile (which may add to waiting outlets).
    if (i >= 4_096) {
      this.queue = queue.slice(i);
      this.head = 0;
    } else this.head = i;
    this.immediate = setImmediate(this.run);
  };
}
