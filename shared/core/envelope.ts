/**
 * Bus envelopes: the bytes one node sends every node.
 *
 * Cost model: a published message is serialized exactly once, on the publishing node, as the final
 * client `message` frame text. Receiving nodes never parse it: they read the small binary header
 * (kind, channel, offset, epoch) to route and deduplicate it, and hand the frame bytes to the fan-out
 * untouched.
 *
 *   message:  [0x01][u16 channel length][channel utf8][f64 offset][f64 publish ts][u8 epoch length]
 *             [epoch utf8][client frame json utf8 …]
 *   control:  [0x02][json …]            (rare: disconnects, read receipts, node events)
 */
const KIND_MESSAGE = 0x01;
const KIND_CONTROL = 0x02;

export type ControlMessage =
  /** Close every connection of a user, on every node. */
  | { kind: 'disconnect-user'; userId: string; reason: string }
  /**
   * A user's read position on `channel` moved (an `ack` on node `origin`, which told its own
   * connections already): the user's connections on the other nodes get a `read` frame.
   */
  | ReadMoved;

export interface ReadMoved {
  kind: 'read';
  userId: string;
  channel: string;
  offset: number;
  epoch: string;
  origin: string;
}

export type Envelope =
  | { kind: 'message'; channel: string; offset: number; epoch: string; ts: number; frame: Buffer }
  | { kind: 'control'; control: ControlMessage };

/** `frameJson` is the complete client `message` frame for (channel, offset); epochs are ASCII, < 256 bytes. */
export function encodeMessageEnvelope(
  channel: string,
  offset: number,
  epoch: string,
  frameJson: string,
  ts: number,
): Buffer {
  const channelBytes = Buffer.byteLength(channel, 'utf8');
  const epochBytes = Buffer.byteLength(epoch, 'utf8');
  if (epochBytes > 255) throw new RangeError('epoch must be at most 255 bytes');
  const epochAt = 3 + channelBytes + 16;
  const header = epochAt + 1 + epochBytes;
  const envelope = Buffer.allocUnsafe(header + Buffer.byteLength(frameJson, 'utf8'));
  envelope[0] = KIND_MESSAGE;
  envelope.writeUInt16BE(channelBytes, 1);
  envelope.write(channel, 3, 'utf8');
  envelope.writeDoubleBE(offset, 3 + channelBytes);
  envelope.writeDoubleBE(ts, 3 + channelBytes + 8);
  envelope[epochAt] = epochBytes;
  envelope.write(epoch, epochAt + 1, 'utf8');
  envelope.write(frameJson, header, 'utf8');
  return envelope;
}

export function encodeControlEnvelope(control: ControlMessage): Buffer {
  const body = Buffer.from(JSON.stringify(control), 'utf8');
  const envelope = Buffer.allocUnsafe(1 + body.length);
  envelope[0] = KIND_CONTROL;
  body.copy(envelope, 1);
  return envelope;
}

/** Decodes an envelope; `undefined` for bytes that are not one (logged and dropped by the caller). */
export function decodeEnvelope(bytes: Buffer): Envelope | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] === KIND_MESSAGE) {
    if (bytes.length < 3) return undefined;
    const channelBytes = bytes.readUInt16BE(1);
    const epochAt = 3 + channelBytes + 16;
    if (bytes.length <= epochAt) return undefined;
    const frameStart = epochAt + 1 + bytes[epochAt]!;
    if (bytes.length <= frameStart) return undefined;
    return {
      kind: 'message',
      channel: bytes.toString('utf8', 3, 3 + channelBytes),
      offset: bytes.readDoubleBE(3 + channelBytes),
      ts: bytes.readDoubleBE(3 + channelBytes + 8),
      epoch: bytes.toString('utf8', epochAt + 1, frameStart),
      frame: bytes.subarray(frameStart),
    };
  }
  if (bytes[0] === KIND_CONTROL) {
    try {
      const control = JSON.parse(bytes.toString('utf8', 1)) as ControlMessage;
      if (control?.kind === 'disconnect-user' && typeof control.userId === 'string')
        return { kind: 'control', control };
      if (control?.kind === 'read' && isReadMoved(control)) return { kind: 'control', control };
    } catch {
      // fall through: not an envelope
    }
  }
  return undefined;
}

function isReadMoved(c: ReadMoved): boolean {
  return (
    typeof c.userId === 'string' &&
    typeof c.channel === 'string' &&
    Number.isSafeInteger(c.offset) &&
    c.offset >= 0 &&
    typeof c.epoch === 'string' &&
    typeof c.origin === 'string'
  );
}
