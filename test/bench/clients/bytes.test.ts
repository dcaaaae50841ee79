/** The generator's byte-level frame reading (bytes.ts): every function keeps to `buf[start, end)`. */
import { describe, expect, it } from 'vitest';
import { byteIn, finder, hasAt, numberAt, sentAtIn } from './bytes.js';

/** `text` at `at` inside a larger buffer whose other bytes could match: returns the buffer and the range. */
function embedded(text: string, at = 7): { buf: Buffer; start: number; end: number } {
  const buf = Buffer.alloc(at + Buffer.byteLength(text) + 64, '"sentAt":99,');
  const end = at + buf.write(text, at);
  return { buf, start: at, end };
}

describe('bench frame bytes', () => {
  it('hasAt and byteIn stop at the end of the range', () => {
    const { buf, start, end } = embedded('{"type":"mess');
    expect(hasAt(buf, start, end, Buffer.from('{"type":"'))).toBe(true);
    expect(hasAt(buf, start, end, Buffer.from('{"type":"message"'))).toBe(false);
    expect(byteIn(buf, 0x6d, start, end)).toBe(start + 9);
    expect(byteIn(buf, 0x2c, start, end)).toBe(-1); // commas only past the end
  });

  it('numberAt parses integers and fractions up to the end', () => {
    const { buf, start, end } = embedded('1733520000000.125,');
    expect(numberAt(buf, start, end)).toBe(1733520000000.125);
    expect(numberAt(buf, start, start + 4)).toBe(1733);
    expect(numberAt(buf, start + 13, end)).toBeNaN();
  });

  it('finder finds the first occurrence inside the range only', () => {
    const find = finder(Buffer.from('"sentAt":'));
    for (const text of ['"sentAt":1', 'xx"sentAt":1', '{"a":"sentAt","sentAt":1', 'sentAt":"sentAt":']) {
      const { buf, start, end } = embedded(text);
      expect(find(buf, start, end)).toBe(start + text.indexOf('"sentAt":'));
    }
    const { buf, start, end } = embedded('{"sent":1,"sentA');
    expect(find(buf, start, end)).toBe(-1);
  });

  it('sentAtIn reads the field right after the data start or anywhere after `from`', () => {
    const herald = embedded(
      '{"type":"message","channel":"promotions","offset":3,"epoch":"e","data":{"sentAt":12.5,"x":1},"ts":1}',
    );
    expect(sentAtIn(herald.buf, herald.start + 40, herald.end)).toBe(12.5);
    const socketIo = embedded('42["promotion",{"sentAt":77,"x":1}]');
    expect(sentAtIn(socketIo.buf, socketIo.start + 15, socketIo.end)).toBe(77);
    const none = embedded('{"type":"message","data":{}}');
    expect(sentAtIn(none.buf, none.start, none.end)).toBeNaN();
  });
});
