/**
 * HOT PATH — local fan-out of published messages to this node's subscribers.
 *
 * Cost model (keep it this way; measure with `npm run bench` and profile with --cpu-prof before
 * changing anything in this folder):
 *  - per message and node: one map lookup, a duplicate check (a few bit operations), one WebSocket
 *    frame built (header + payload, one buffer); the JSON was produced once on the publishing node
 *    and is never parsed or re-encoded here;
 *  - per recipient: `Outlet.push` of that shared frame (an array push and a byte count). No
 *    per-recipient serialization, framing, masking, promise or syscall;
 *  - per socket and write round: one `socket.write` carrying every frame that accumulated for it
 *    (outlet.ts): under load many messages share one syscall; an idle node still writes at once.
 *  - subscribers still being answered (their `subscribed` and replay not out yet, or copies of
 *    messages at or below their reported position still in flight) cost a map lookup per recipient,
 *    and only on the channels that have such subscribers at that moment.
 * Server frames are unmasked and we never compress, so one frame's bytes are valid for every socket.
 */
import { channelKind, type ChannelKind } from '../../../shared/protocol/channels.js';
import type { ChannelPosition } from '../../../shared/protocol/frames.js';
import { OffsetGate } from './offset-gate.js';
import type { Recipient } from './outlet.js';
import { prepareTextFrame } from './text-frame.js';

export interface FanoutObserver {
  delivered(kind: ChannelKind, recipients: number): void;
  /** A message the bus delivered again, dropped. */
  duplicate(kind: ChannelKind): void;
  /** A gap repair (or catch-up) from history finished; `ok` false when history could not be read. */
  repaired?(channel: string, ok: boolean): void;
  /** Something threw where nothing should (a bug): the channel goes on; this is for the log. */
  failed?(channel: string, err: unknown): void;
}

/** A message as the fan-out handles it: its position and its client frame JSON bytes. */
export interface PositionedFrame extends ChannelPosition {
  payload: Buffer;
}

/** A message held for one subscriber: its position and its prepared WebSocket frame. */
interface HeldFrame extends ChannelPosition {
  frame: Buffer;
}

/**
 * Reads the messages of `channel` with offsets in (after, upTo] from history, oldest first (fewer if
 * some were trimmed). Used to fill a gap (offset n+2 arrived right after n) before delivering on.
 */
export type GapRepair = (channel: string, after: number, upTo: number) => Promise<PositionedFrame[]>;

/** A figure per channel kind (milliseconds). */
export type ByKind = Readonly<Record<ChannelKind, number>>;

export interface FanoutOptions {
  /** Longest a message of each kind may wait on a node to share a write (0: only while busy). */
  delayMs?: ByKind;
  /**
   * How long a channel of each kind keeps its run without a message (history retention): a node
   * that has seen nothing for that long no longer answers a subscribe from its own position.
   */
  maxAgeMs?: ByKind;
  /**
   * Waits between attempts to read history for a repair or a catch-up that failed (default
   * REPAIR_RETRY_MS); the channel's messages are held meanwhile, and released as they are when the
   * last attempt fails.
   */
  repairRetryMs?: readonly number[];
}

/**
 * A history read that fails is tried again after these waits (7.75 s in all): a Redis failover or a
 * slot map that is being refreshed is over by then, and a gap left open is a loss for a quiet channel.
 */
const REPAIR_RETRY_MS: readonly number[] = [250, 500, 1_000, 2_000, 4_000];

/** Gap repair rounds per gap, each filling what held messages showed missing meanwhile. */
const MAX_REPAIR_ROUNDS = 5;

const NO_DELAY: ByKind = { user: 0, order: 0, promotions: 0, segment: 0 };
const FOREVER: ByKind = { user: Infinity, order: Infinity, promotions: Infinity, segment: Infinity };

/** The local subscribers of one channel and the order of what they were sent. */
interface LocalChannel {
  readonly kind: ChannelKind;
  readonly delayMs: number;
  readonly recipients: Set<Recipient>;
  /**
   * When the channel's run was last confirmed (Date.now): a message arrived, or a subscriber read
   * the position from history. Its state in the store lives for its retention after the last append,
   * so a run not confirmed for that long may name an epoch that is gone.
   */
  seenAt: number;
  /** Offsets delivered here; holds newer messages while a gap is repaired from history. */
  readonly order: OffsetGate<PositionedFrame>;
  /** Recipients whose subscribe is still being answered, and their gates. */
  gates: Map<Recipient, OffsetGate<HeldFrame>> | undefined;
  /** A catch-up came while a repair held the channel: it runs once that repair is over. */
  catchUpDue: boolean;
}

export class Fanout {
  private readonly channels = new Map<string, LocalChannel>();
  private subscriptionCount = 0;
  private duplicateCount = 0;

  private readonly delays: ByKind;
  private readonly maxAges: ByKind;
  private readonly retryMs: readonly number[];

  constructor(
    private readonly observer?: FanoutObserver,
    private readonly repair?: GapRepair,
    options: FanoutOptions = {},
  ) {
    this.delays = options.delayMs ?? NO_DELAY;
    this.maxAges = options.maxAgeMs ?? FOREVER;
    this.retryMs = options.repairRetryMs ?? REPAIR_RETRY_MS;
  }

  /**
   * Adds `recipient` to `channel` with its live messages held (it is being answered): they wait
   * until `release`, so nothing published meanwhile is lost and nothing is sent ahead of the reply.
   */
  join(channel: string, recipient: Recipient): void {
    const local = this.include(channel, recipient);
    (local.gates ??= new Map()).set(recipient, new OffsetGate<HeldFrame>(true));
  }

  /**
   * Ends `join`'s hold: the held messages after `position` go to the recipient in offset order, and
   * copies at or below it that are still in flight are dropped when they arrive.
   *
   * When another subscriber seeded the channel past `position` meanwhile (it read a newer one), the
   * offsets in between are dropped as old when they arrive: they are read from history first, and
   * go out with the held ones (as gap repair does; if history cannot be read, the gap stays).
   */
  async release(channel: string, recipient: Recipient, position: ChannelPosition): Promise<void> {
    const local = this.channels.get(channel);
    const gate = local?.gates?.get(recipient);
    if (local === undefined || gate === undefined) return;
    const seeded = local.order.floorIn(position.epoch);
    if (seeded > position.offset && this.repair !== undefined) {
      try {
        for (const m of await this.repair(channel, position.offset, seeded))
          gate.hold({ offset: m.offset, epoch: m.epoch, frame: prepareTextFrame(m.payload) });
        this.observer?.repaired?.(channel, true);
      } catch {
        this.observer?.repaired?.(channel, false);
      }
      if (local.gates?.get(recipient) !== gate) return; // it left meanwhile
    }
    gate.seed(position.epoch, position.offset);
    gate.release((held) => recipient.push(held.frame, local.delayMs));
    // Usually the channel's own dedupe already drops every copy at or below the position: done.
    if (gate.coveredBy(local.order)) this.ungate(local, recipient);
  }

  /** Adds `recipient` to `channel` (live at once); adding it twice changes nothing. */
  add(channel: string, recipient: Recipient): void {
    this.include(channel, recipient);
  }

  private include(channel: string, recipient: Recipient): LocalChannel {
    let local = this.channels.get(channel);
    if (local === undefined) {
      const kind = channelKind(channel);
      local = {
        kind,
        delayMs: this.delays[kind],
        recipients: new Set(),
        seenAt: 0,
        order: new OffsetGate(),
        gates: undefined,
        catchUpDue: false,
      };
      this.channels.set(channel, local);
    }
    if (!local.recipients.has(recipient)) {
      local.recipients.add(recipient);
      this.subscriptionCount++;
    }
    return local;
  }

  remove(channel: string, recipient: Recipient): void {
    const local = this.channels.get(channel);
    if (local?.recipients.delete(recipient)) {
      this.subscriptionCount--;
      this.ungate(local, recipient);
      if (local.recipients.size === 0) this.channels.delete(channel);
    }
  }

  /**
   * Tells the fan-out the channel's position a subscriber just read from history (never one this node
   * answered itself: that confirms nothing). It confirms the channel's run, and seeds one when the
   * node has none yet, so gaps after it are detected from the first message. A run that exists is
   * never moved (another subscriber may still be owed the messages below a newer position), and a
   * subscriber that read an older position than the seed gets the difference from history (release).
   */
  seed(channel: string, epoch: string, offset: number): void {
    const local = this.channels.get(channel);
    if (local === undefined) return;
    if (local.order.currentEpoch === '' && !local.order.holding) local.order.seed(epoch, offset);
    if (local.order.currentEpoch === epoch) local.seenAt = Date.now();
  }

  /**
   * The newest position this node has delivered on `channel`, when other local subscribers keep a run
   * of it and confirmed it within the channel's retention (undefined otherwise): a subscriber
   * joining without a position to recover from starts there.
   */
  position(channel: string): ChannelPosition | undefined {
    const local = this.channels.get(channel);
    if (local === undefined || local.recipients.size < 2) return undefined;
    const epoch = local.order.currentEpoch;
    if (epoch === '' || Date.now() - local.seenAt >= this.maxAges[local.kind]) return undefined;
    return { offset: local.order.highIn(epoch), epoch };
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
   * Returns how many recipients it went to now (0 when held for a repair).
   */
  deliver(channel: string, offset: number, epoch: string, payload: Buffer): number {
    const local = this.channels.get(channel);
    if (local === undefined) return 0;
    const order = local.order;
    if (order.holding) {
      order.hold({ offset, epoch, payload });
      return 0;
    }
    // A gap is only known once the channel has a position in this epoch (a message, or a subscriber's
    // seed, which may be offset 0 on a fresh channel: then 2 arriving before 1 is a gap too).
    const high = order.highIn(epoch);
    if (this.repair !== undefined && order.currentEpoch === epoch && offset > high + 1) {
      order.hold({ offset, epoch, payload });
      void this.fill(channel, local, high, offset - 1);
      return 0;
    }
    if (!order.admit(epoch, offset)) {
      this.dropped(local, 1);
      return 0;
    }
    return this.send(local, offset, epoch, payload);
  }

  /**
   * Delivers what history holds after the newest offset seen on every local channel with a known
   * position (after a bus outage, or after this node's presence was restored: messages routed
   * elsewhere meanwhile). A channel seeded at offset 0 (fresh) counts: its first messages may be the
   * ones missed.
   */
  catchUp(): void {
    if (this.repair === undefined) return;
    for (const [channel, local] of this.channels) {
      if (local.order.currentEpoch === '') continue;
      // A repair under way reads up to the messages it holds, not past them: catch up after it.
      if (local.order.holding) local.catchUpDue = true;
      else this.catchUpChannel(channel, local);
    }
  }

  private catchUpChannel(channel: string, local: LocalChannel): void {
    local.catchUpDue = false;
    const high = local.order.highIn(local.order.currentEpoch);
    local.order.hold();
    void this.fill(channel, local, high, Number.MAX_SAFE_INTEGER, true);
  }

  /**
   * Delivers the messages of (after, upTo] that history holds, then the held ones, in offset order.
   * With `contiguous` (a catch-up, which has no upper bound) only the unbroken run from `after + 1`
   * is taken: the bus may still bring the older messages history no longer holds (its queue kept them
   * during the outage), and a run read past a hole would put newer messages ahead of them.
   *
   * What history gives joins the held messages, and they all go out together in offset order,
   * duplicates dropped. Messages held meanwhile may show a gap of their own (n+5 arrived, n+4 is still
   * in flight): it is filled from history in a further round (unbroken runs only), as long as a round
   * fills something, at most MAX_REPAIR_ROUNDS. A range history cannot fill stays a gap (never an
   * endless retry).
   */
  private async fill(
    channel: string,
    local: LocalChannel,
    after: number,
    upTo: number,
    contiguous = false,
  ): Promise<void> {
    const order = local.order;
    try {
      let range: [number, number] | undefined = [after, upTo];
      for (let round = 1; range !== undefined; round++) {
        let next = range[0] + 1;
        let added = 0;
        for (const missing of await this.readHistory(channel, range[0], range[1])) {
          if (contiguous && missing.offset !== next) break;
          next = missing.offset + 1;
          order.hold(missing);
          added++;
        }
        // Later rounds take only unbroken runs, like a catch-up: what history skips may still come.
        contiguous = true;
        const epoch = order.currentEpoch;
        range =
          added > 0 && round < MAX_REPAIR_ROUNDS ? order.firstHeldGap(epoch, order.highIn(epoch)) : undefined;
      }
      this.observer?.repaired?.(channel, true);
    } catch {
      // History unreachable through every retry: deliver what we have rather than hold the channel
      // longer; the gap stays.
      this.observer?.repaired?.(channel, false);
    }
    try {
      const dropped = order.release((m) => this.send(local, m.offset, m.epoch, m.payload));
      if (dropped > 0) this.dropped(local, dropped);
    } catch (err) {
      // A recipient must not throw (Recipient); should one, the rest of the channel is not stuck.
      this.observer?.failed?.(channel, err);
    }
    if (local.catchUpDue && this.channels.get(channel) === local) this.catchUpChannel(channel, local);
  }

  /** The repair read, tried again after each of `retryMs` while it fails (the channel stays held). */
  private async readHistory(channel: string, after: number, upTo: number): Promise<PositionedFrame[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.repair!(channel, after, upTo);
      } catch (err) {
        const wait = this.retryMs[attempt];
        if (wait === undefined) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Hands an admitted message to every recipient (through its gate while it has one). */
  private send(local: LocalChannel, offset: number, epoch: string, payload: Buffer): number {
    local.seenAt = Date.now();
    const frame = prepareTextFrame(payload);
    const recipients = local.recipients.size;
    const delayMs = local.delayMs;
    const gates = local.gates;
    // A recipient may remove itself (slow consumer) during the loop; Set iteration tolerates that.
    if (gates === undefined) for (const recipient of local.recipients) recipient.push(frame, delayMs);
    else {
      for (const recipient of local.recipients) {
        const gate = gates.get(recipient);
        if (gate === undefined) recipient.push(frame, delayMs);
        else if (gate.holding) gate.hold({ offset, epoch, frame });
        else if (gate.admit(epoch, offset)) {
          // The first message past the subscriber's reported position: the gate is done.
          this.ungate(local, recipient);
          recipient.push(frame, delayMs);
        } else if (gate.coveredBy(local.order)) this.ungate(local, recipient);
      }
    }
    this.observer?.delivered(local.kind, recipients);
    return recipients;
  }

  private ungate(local: LocalChannel, recipient: Recipient): void {
    if (local.gates?.delete(recipient) && local.gates.size === 0) local.gates = undefined;
  }

  private dropped(local: LocalChannel, count: number): void {
    this.duplicateCount += count;
    for (let i = 0; i < count; i++) this.observer?.duplicate(local.kind);
  }
}
