/**
 * HOT PATH — local fan-out of published messages to this node's subscribers.
 *
 * Cost model (keep it this way; measure with `npm run bench` before changing anything here):
 *  - per message and node: one map lookup, one WebSocket frame built (header + payload, one buffer);
 *    the JSON was produced once on the publishing node and is never parsed or re-encoded here;
 *  - per recipient: one `socket.write` of that shared buffer plus a buffered-bytes check. No
 *    per-recipient serialization, framing, masking, allocation or promise.
 * Server frames are unmasked and we never compress, so one frame's bytes are valid for every socket.
 */
import type { ChannelKind } from '../../shared/protocol/channels.js';

/** A connection as the fan-out sees it. */
export interface Subscriber {
  /** Writes a prepared WebSocket frame carrying `offset` of `channel`; must not throw. */
  sendPrepared(channel: string, offset: number, frame: Buffer): void;
}

export interface FanoutObserver {
  delivered(kind: ChannelKind, recipients: number): void;
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

export class Fanout {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private subscriptionCount = 0;

  constructor(private readonly observer?: FanoutObserver) {}

  add(channel: string, subscriber: Subscriber): void {
    let set = this.channels.get(channel);
    if (set === undefined) this.channels.set(channel, (set = new Set()));
    if (!set.has(subscriber)) {
      set.add(subscriber);
      this.subscriptionCount++;
    }
  }

  remove(channel: string, subscriber: Subscriber): void {
    const set = this.channels.get(channel);
    if (set?.delete(subscriber)) {
      this.subscriptionCount--;
      if (set.size === 0) this.channels.delete(channel);
    }
  }

  get subscriptions(): number {
    return this.subscriptionCount;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Sends one message (its JSON frame bytes) to every local subscriber of `channel`. */
  deliver(channel: string, offset: number, payload: Buffer): number {
    const set = this.channels.get(channel);
    if (set === undefined) return 0;
    const frame = prepareTextFrame(payload);
    const recipients = set.size;
    // A subscriber may remove itself (slow consumer) during the loop; Set iteration tolerates that.
    for (const subscriber of set) subscriber.sendPrepared(channel, offset, frame);
    this.observer?.delivered(channelKind(channel), recipients);
    return recipients;
  }
}
