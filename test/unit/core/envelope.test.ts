import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeControlEnvelope,
  encodeMessageEnvelope,
  type ControlMessage,
} from '../../../shared/core/envelope.js';

const frameJson = JSON.stringify({
  type: 'message',
  channel: 'promotions:été',
  offset: 12,
  id: 'm1',
  event: 'promo.started',
  data: { title: 'Soldes d’été 🌞', price: 9.99 },
  ts: 1_700_000_000_000,
});

describe('message envelopes', () => {
  it('when a message envelope with a multi-byte UTF-8 channel is decoded, then channel, offset and frame bytes round-trip', () => {
    const channel = 'user:josé-日本-🌞';
    const envelope = encodeMessageEnvelope(channel, 12, 'a1b2c3d4', frameJson, 1_700_000_000_123);
    const decoded = decodeEnvelope(envelope);
    expect(decoded).toBeDefined();
    if (decoded?.kind !== 'message') throw new Error(`expected a message envelope, got ${decoded?.kind}`);
    expect(decoded.channel).toBe(channel);
    expect(decoded.offset).toBe(12);
    expect(decoded.epoch).toBe('a1b2c3d4');
    expect(decoded.ts).toBe(1_700_000_000_123);
    expect(Buffer.isBuffer(decoded.frame)).toBe(true);
    expect(decoded.frame.equals(Buffer.from(frameJson, 'utf8'))).toBe(true);
  });

  it('when the envelope is built, then its header is [0x01][u16 channel bytes][channel][f64 offset][f64 ts][u8 epoch bytes][epoch]', () => {
    const channel = 'order:ü';
    const envelope = encodeMessageEnvelope(channel, 7, 'ep', '{}', 42);
    const channelBytes = Buffer.byteLength(channel, 'utf8');
    expect(channelBytes).toBe(channel.length + 1);
    expect(envelope[0]).toBe(0x01);
    expect(envelope.readUInt16BE(1)).toBe(channelBytes);
    expect(envelope.toString('utf8', 3, 3 + channelBytes)).toBe(channel);
    expect(envelope.readDoubleBE(3 + channelBytes)).toBe(7);
    expect(envelope.readDoubleBE(3 + channelBytes + 8)).toBe(42);
    expect(envelope[3 + channelBytes + 16]).toBe(2);
    expect(envelope.toString('utf8', 3 + channelBytes + 17, 3 + channelBytes + 19)).toBe('ep');
    expect(envelope.length).toBe(3 + channelBytes + 16 + 1 + 2 + 2);
  });

  it.each([0, 1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER])(
    'when the offset is %d, then it round-trips exactly',
    (offset) => {
      const decoded = decodeEnvelope(encodeMessageEnvelope('promotions', offset, 'e', frameJson, 1));
      expect(decoded).toMatchObject({ kind: 'message', channel: 'promotions', offset });
    },
  );

  it('when the message envelope is truncated anywhere, then decoding gives undefined', () => {
    const envelope = encodeMessageEnvelope('user:u1', 3, 'e1', '{"type":"message"}', 1);
    const header = 3 + 'user:u1'.length + 16 + 1 + 2;
    for (let length = 0; length <= header; length++) {
      expect(decodeEnvelope(envelope.subarray(0, length)), `length ${length}`).toBeUndefined();
    }
  });

  it('when the channel length field claims more bytes than exist, then decoding gives undefined', () => {
    const bytes = Buffer.from([0x01, 0xff, 0xff, 0x61, 0x62, 0x63]);
    expect(decodeEnvelope(bytes)).toBeUndefined();
  });
});

describe('control envelopes', () => {
  it('when a disconnect-user control envelope is decoded, then the control message round-trips', () => {
    const control: ControlMessage = { kind: 'disconnect-user', userId: 'u-ü1', reason: 'operator request' };
    const envelope = encodeControlEnvelope(control);
    expect(envelope[0]).toBe(0x02);
    expect(decodeEnvelope(envelope)).toEqual({ kind: 'control', control });
  });

  it('when the control envelope is truncated, then decoding gives undefined', () => {
    const envelope = encodeControlEnvelope({ kind: 'disconnect-user', userId: 'u1', reason: 'r' });
    for (let length = 0; length < envelope.length; length++) {
      expect(decodeEnvelope(envelope.subarray(0, length)), `length ${length}`).toBeUndefined();
    }
  });

  it.each([
    ['null', 'null'],
    ['a number', '42'],
    ['an unknown kind', '{"kind":"reboot","userId":"u1"}'],
    ['a missing userId', '{"kind":"disconnect-user","reason":"r"}'],
    ['a numeric userId', '{"kind":"disconnect-user","userId":1,"reason":"r"}'],
  ])('when the control body is %s, then decoding gives undefined', (_what, body) => {
    expect(decodeEnvelope(Buffer.concat([Buffer.from([0x02]), Buffer.from(body)]))).toBeUndefined();
  });
});

describe('garbage', () => {
  it.each([
    ['empty bytes', Buffer.alloc(0)],
    ['an unknown kind byte', Buffer.from([0x03, 0x00, 0x01])],
    ['a zero kind byte', Buffer.from([0x00])],
    ['plain JSON text', Buffer.from('{"kind":"disconnect-user","userId":"u1"}')],
    ['a control byte followed by non-JSON', Buffer.from([0x02, 0xff, 0xfe, 0x7b])],
  ])('when the bytes are %s, then decoding gives undefined', (_what, bytes) => {
    expect(decodeEnvelope(bytes)).toBeUndefined();
  });
});
