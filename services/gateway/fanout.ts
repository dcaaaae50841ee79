/**
 * HOT PATH — local fan-out of published messages to this node's subscribers.
 *
 * Cost model (keep it this way; measure with `npm run bench` before changing anything here):
 *  - per message and node: one map lookup, a duplicate check (a few bit operations), one WebSocket
 *    frame built (header + payload, one buffer);
 *    the JSON was produced once on the publishing node and is never parsed or re-encoded here;
 *  - per recipient: one `socket.write` of that shared buffer plus a buffered-bytes check. No
 *    per-recipient serialization, framing, masking, allocation or promise.
 *  - per socket and event-loop turn: one syscall. A socket is corked at its first write of a turn and
 *    uncorked once after it (WriteCoalescer), so a burst of N messages leaves in one writev, not N.
 * Server frames are unmasked and we never compress, so one frame's bytes are valid for every socket.
 */
import { RecentOffsets } from '../../shared/core/recent-offsets.js';
import type { ChannelKind } from '../../shared/protocol/channels.js';

/** A connection as the fan-out sees it. */
export interface Subscriber {
  /** Writes a prepared WebSocket frame carrying (`epoch`, `offset`) of `channel`; must not throw. */
  sendPrepared(channel: string, offset: number, epoch: string, frame: Buffer): void;
}

export interface FanoutObserver {
  delivered(kind: ChannelKind, recipients: number): void;
  /** A message the bus delivered again, dropped. */
  duplicate(kind: ChannelKind): void;
  /** A gap repair (or catch-up) from history finished; `ok` false when history could not be read. */
  repaired?(channel: string, ok: boolean): void;
}

/**
 * Builds the complete, unmasked, final WebSocket text frame (RFC 6455 §5.2) for a payload, once:
 * FIN + opcode 0x1, then a 7-bit, 16-bit or 64-bit payload length, then the payload.
 */
export function prepareTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (headerLength === 2) frame[1] = length;
  else if (headerLength === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

export function channelKind(channel: string): ChannelKind {
  switch (channel.charCodeAt(0)) {
    case 117 /* u */:
      return 'user';
    case 111 /* o */:
      return 'order';
    default:
      return channel.length === 10 ? 'promotions' : 'segment';
  }
}

/** A socket that can hold writes back (net.Socket's cork/uncork), as the coalescer sees it. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Corks each written socket once per event-loop turn and uncorks them all in one `setImmediate`
 * after the turn, so everything delivered in one turn (a bus burst, a batch) goes out per socket in
 * a single syscall. Costs one array push per socket per turn; adds at most one turn of latency.
 */
export class WriteCoalescer {
  private corked: Corkable[] = [];
  private scheduled = false;

  /** Call before the first write of a turn to `target`; the caller tracks "already corked". */
  cork(target: Corkable): void {
    target.cork();
    this.corked.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const corked = this.corked;
    this.corked = [];
    for (const target of corked) target.uncork();
  };
}

/** A message as the fan-out handles it: its position and its client frame JSON bytes. */
export interface PositionedFrame {
  offset: number;
  epoch: string;
  payload: Buffer;
}

/**
 * Reads the messages of `channel` with offsets in (after, upTo] from history, oldest first (fewer if
 * some were trimmed). Used to fill a gap (offset n+2 arrived right after n) before delivering on.
 */
export type GapRepair = (channel: string, after: number, upTo: number) => Promise<PositionedFrame[]>;

/** The local subscribers of one channel, and the offsets already delivered to them. */
interface LocalChannel {
  subscribers: Set<Subscriber>;
  recent: RecentOffsets;
  /** Set while a gap is being repaired: messages arriving meanwhile wait here. */
  held?: PositionedFrame[];
}

export class Fanout {
  private readonly channels = new Map<string, LocalChannel>();
  private subscriptionCount = 0;
  private duplicateCount = 0;

  constructor(
    private readonly observer?: FanoutObserver,
    private readonly repair?: GapRepair,
  ) {}

  add(channel: string, subscriber: Subscriber): void {
    let local = this.channels.get(channel);
    if (local === undefined)
      this.channels.set(channel, (local = { subscribers: new Set(), recent: new RecentOffsets() }));
    if (!local.subscribers.has(subscriber)) {
      local.subscribers.add(subscriber);
      this.subscriptionCount++;
    }
  }

  remove(channel: string, subscriber: Subscriber): void {
    const local = this.channels.get(channel);
    if (local?.subscribers.delete(subscriber)) {
      this.subscriptionCount--;
      if (local.subscribers.size === 0) this.channels.delete(channel);
    }
  }

  /**
   * Tells the fan-out the channel's position a subscriber just read, when this node has no run for
   * the channel yet (or an older epoch): gaps after it can then be detected from the first message.
   */
  seed(channel: string, epoch: string, offset: number): void {
    const local = this.channels.get(channel);
    if (local !== undefined && local.recent.highIn(epoch) === 0) local.recent.seed(epoch, offset);
  }

  get subscriptions(): number {
    return this.subscriptionCount;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Messages dropped because the bus delivered them again. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /**
   * Sends one message (its JSON frame bytes) to every local subscriber of `channel`, once and in
   * offset order: a repeat of an (epoch, offset) already delivered here is dropped, and when offsets
   * were skipped (n+2 right after n) the missing ones are read from history and delivered first.
   */
  deliver(channel: string, offset: number, epoch: string, payload: Buffer): number {
    const local = this.channels.get(channel);
    if (local === undefined) return 0;
    if (local.held !== undefined) {
      local.held.push({ offset, epoch, payload });
      return 0;
    }
    const high = local.recent.highIn(epoch);
    if (this.repair !== undefined && high > 0 && offset > high + 1) {
      local.held = [{ offset, epoch, payload }];
      void this.fill(channel, local, high, offset - 1);
      return 0;
    }
    return this.send(channel, local, offset, epoch, payload);
  }

  /** Delivers what history holds after the newest offset seen on every local channel (after a bus outage). */
  catchUp(): void {
    if (this.repair === undefined) return;
    for (const [channel, local] of this.channels) {
      if (local.held !== undefined) continue;
      const high = local.recent.highIn(local.recent.currentEpoch);
      if (high === 0) continue;
      local.held = [];
      void this.fill(channel, local, high, Number.MAX_SAFE_INTEGER, true);
    }
  }

  /**
   * Delivers the messages of (after, upTo] that history holds, then the held ones, in offset order.
   * With `contiguous` (a catch-up, which has no upper bound) only the unbroken run from `after + 1`
   * is taken: the bus may still bring the older messages history no longer holds (its queue kept them
   * during the outage), and a run read past a hole would put newer messages ahead of them.
   */
  private async fill(
    channel: string,
    local: LocalChannel,
    after: number,
    upTo: number,
    contiguous = false,
  ): Promise<void> {
    try {
      let next = after + 1;
      for (const missing of await this.repair!(channel, after, upTo)) {
        if (contiguous && missing.offset !== next) break;
        next = missing.offset + 1;
        this.send(channel, local, missing.offset, missing.epoch, missing.payload);
      }
      this.observer?.repaired?.(channel, true);
    } catch {
      // History unreachable: deliver what we have rather than hold the channel; the gap stays.
      this.observer?.repaired?.(channel, false);
    }
    // Held messages go out in offset order without another repair round: a range history could not
    // fill stays a gap (never an endless retry), and duplicates among them are still dropped.
    const held = (local.held ?? []).sort((x, y) => x.offset - y.offset);
    local.held = undefined;
    for (const message of held) this.send(channel, local, message.offset, message.epoch, message.payload);
  }

  private send(channel: string, local: LocalChannel, offset: number, epoch: string, payload: Buffer): number {
    if (!local.recent.firstSight(epoch, offset)) {
      this.duplicateCount++;
      this.observer?.duplicate(channelKind(channel));
      return 0;
    }
    const frame = prepareTextFrame(payload);
    const recipients = local.subscribers.size;
    // A subscriber may remove itself (slow consumer) during the loop; Set iteration tolerates that.
    for (const subscriber of local.subscribers) subscriber.sendPrepared(channel, offset, epoch, frame);
    this.observer?.delivered(channelKind(channel), recipients);
    return recipients;
  }
}
