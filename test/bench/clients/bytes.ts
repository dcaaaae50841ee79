/**
 * Byte-level reading of received frames, so the hot receive path never decodes or JSON-parses a
 * delivery: prefix checks and number parsing straight from the bytes. A message is `buf[start, end)`
 * (the WebSocket client hands over a range of its read buffer), so every function takes the range's end
 * and never reads past it.
 */

/** Whether `buf[at, end)` starts with `expected` (a JS loop: for a few dozen bytes, cheaper than a native call). */
export function hasAt(buf: Buffer, at: number, end: number, expected: Buffer): boolean {
  const length = expected.length;
  if (end - at < length) return false;
  for (let i = 0; i < length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}

/** Index of the first `byte` in `buf[from, end)`, or -1. */
export function byteIn(buf: Buffer, byte: number, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}

/**
 * A search for `needle` (at most 255 bytes) in a byte range, giving the index of its first occurrence in
 * `buf[from, end)` or -1: Boyer-Moore-Horspool in JS, a few times faster than a byte-by-byte scan and than
 * the native `indexOf` call for a needle a hundred bytes into a frame, and bounded by `end`.
 */
export function finder(needle: Buffer): (buf: Buffer, from: number, end: number) => number {
  const last = needle.length - 1;
  const lastByte = needle[last]!;
  const skip = new Uint8Array(256).fill(needle.length);
  for (let i = 0; i < last; i++) skip[needle[i]!] = last - i;
  return (buf, from, end) => {
    for (let i = from + last; i < end; i += skip[buf[i]!]!)
      if (buf[i] === lastByte && hasAt(buf, i - last, end, needle)) return i - last;
    return -1;
  };
}

/** Parses the unsigned decimal number (digits, optional fraction) starting at `at`, before `end`; NaN if none. */
export function numberAt(buf: Buffer, at: number, end: number): number {
  let i = at;
  let value = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  if (i === at) return NaN;
  if (i < end && buf[i] === 46) {
    let scale = 0.1;
    for (i++; i < end; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) break;
      value += (c - 48) * scale;
      scale /= 10;
    }
  }
  return value;
}

const SENT_AT = Buffer.from('"sentAt":');
const findSentAt = finder(SENT_AT);
const DATA_SENT_AT = Buffer.from('{"sentAt":');

/** The `sentAt` field of the payload (the publisher's clock, ms), searched in `buf[from, end)`; NaN if absent. */
export function sentAtIn(buf: Buffer, from: number, end: number): number {
  if (hasAt(buf, from, end, DATA_SENT_AT)) return numberAt(buf, from + DATA_SENT_AT.length, end); // right there
  const at = findSentAt(buf, from, end);
  return at < 0 ? NaN : numberAt(buf, at + SENT_AT.length, end);
}
