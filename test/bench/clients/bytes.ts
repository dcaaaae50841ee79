/**
 * Byte-level reading of received frames, so the hot receive path never decodes or JSON-parses a
 * delivery: prefix checks and number parsing straight from the frame's Buffer.
 */

/** Whether `buf` holds `expected` at `at` (a JS loop: for a few dozen bytes, 4-5× cheaper than Buffer.compare). */
export function hasAt(buf: Buffer, at: number, expected: Buffer): boolean {
  if (buf.length < at + expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}

/** Parses the unsigned decimal number (digits, optional fraction) starting at `at`; NaN if none. */
export function numberAt(buf: Buffer, at: number): number {
  let i = at;
  let value = 0;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  if (i === at) return NaN;
  if (buf[i] === 46) {
    let scale = 0.1;
    for (i++; i < buf.length; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) break;
      value += (c - 48) * scale;
      scale /= 10;
    }
  }
  return value;
}

const SENT_AT = Buffer.from('"sentAt":');

const DATA_SENT_AT = Buffer.from('{"sentAt":');

/** The `sentAt` field of the payload (the publisher's clock, ms), searched from `from`; NaN if absent. */
export function sentAtIn(buf: Buffer, from: number): number {
  if (hasAt(buf, from, DATA_SENT_AT)) return numberAt(buf, from + DATA_SENT_AT.length); // right there
  const at = buf.indexOf(SENT_AT, from);
  return at < 0 ? NaN : numberAt(buf, at + SENT_AT.length);
}
