import { describe, expect, it } from 'vitest';
import { prepareTextFrame, textFrame } from '../../../../services/gateway/fanout/text-frame.js';

/** Parses one server (unmasked) frame the way RFC 6455 §5.2 describes it. */
function parseFrame(frame: Buffer): {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
} {
  const b0 = frame[0]!;
  const b1 = frame[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    length = frame.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    const big = frame.readBigUInt64BE(2);
    expect(big >> 63n).toBe(0n); // most significant bit must be 0
    length = Number(big);
    offset = 10;
  }
  expect(frame.length).toBe(offset + length);
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 0x07,
    opcode: b0 & 0x0f,
    masked: (b1 & 0x80) !== 0,
    payload: frame.subarray(offset),
  };
}

const payloadOf = (length: number): Buffer =>
  Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) % 256));

describe('prepareTextFrame and textFrame', () => {
  it.each<[number, number[]]>([
    [0, [0x81, 0]],
    [1, [0x81, 1]],
    [125, [0x81, 125]],
    [126, [0x81, 126, 0x00, 0x7e]],
    [65_535, [0x81, 126, 0xff, 0xff]],
    [65_536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    [70_000, [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]],
  ])(
    'when the payload is %d bytes, then the header is exactly the RFC 6455 minimal encoding',
    (length, header) => {
      const payload = payloadOf(length);
      const frame = prepareTextFrame(payload);
      expect([...frame.subarray(0, header.length)]).toEqual(header);
      expect(frame.length).toBe(header.length + length);
      expect(frame.subarray(header.length).equals(payload)).toBe(true);
    },
  );

  it.each([0, 125, 126, 65_535, 65_536])(
    'when a %d-byte payload is framed, then it parses as one final unmasked text frame carrying the payload',
    (length) => {
      const payload = payloadOf(length);
      const parsed = parseFrame(prepareTextFrame(payload));
      expect(parsed).toMatchObject({ fin: true, rsv: 0, opcode: 0x1, masked: false });
      expect(parsed.payload.equals(payload)).toBe(true);
    },
  );

  it('when text is framed, then the frame carries its UTF-8 bytes with the same header rules', () => {
    for (const text of ['', 'pong', 'é'.repeat(70), 'x'.repeat(70_000)]) {
      const parsed = parseFrame(textFrame(text));
      expect(parsed).toMatchObject({ fin: true, rsv: 0, opcode: 0x1, masked: false });
      expect(parsed.payload.toString('utf8')).toBe(text);
      expect(textFrame(text).equals(prepareTextFrame(Buffer.from(text)))).toBe(true);
    }
  });

  it('when the payload is framed, then the frame is a copy (later payload changes do not leak in)', () => {
    const payload = Buffer.from('{"type":"message"}');
    const frame = prepareTextFrame(payload);
    payload[2] = 0x58;
    expect(frame.subarray(2).toString()).toBe('{"type":"message"}');
  });
});
