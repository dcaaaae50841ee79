/**
 * Server WebSocket text frames (RFC 6455 §5.2), built once and written as they are: server frames are
 * unmasked and Herald never compresses, so one frame's bytes are valid on every socket.
 */

/** Length of the header of a frame carrying `length` payload bytes: 2, 4 or 10. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes FIN + opcode 0x1 and the minimal 7-, 16- or 64-bit payload length; returns the header length. */
function writeHeader(frame: Buffer, length: number): number {
  const header = headerLength(length);
  frame[0] = 0x81;
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  return header;
}

/** The complete, final, unmasked text frame carrying `payload` (a copy of it). */
export function prepareTextFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(payload.length) + payload.length);
  payload.copy(frame, writeHeader(frame, payload.length));
  return frame;
}

/** The complete, final, unmasked text frame carrying `text` as UTF-8 (replies; one allocation). */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const frame = Buffer.allocUnsafe(headerLength(length) + length);
  frame.write(text, writeHeader(frame, length), 'utf8');
  return frame;
}

/**
 * The unmasked pong frame answering a ping with `payload` (RFC 6455 §5.5.3: the same application
 * data; a control frame's payload is at most 125 bytes, which ws enforces on the ping).
 */
export function pongFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(2 + payload.length);
  frame[0] = 0x8a;
  frame[1] = payload.length;
  payload.copy(frame, 2);
  return frame;
}
