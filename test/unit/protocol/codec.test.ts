import { describe, expect, it } from 'vitest';
import {
  decodeClientFrame,
  DEFAULT_HISTORY_LIMIT,
  encodeServerFrame,
  MAX_HISTORY_LIMIT,
  type DecodeResult,
} from '../../../shared/protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../../../shared/protocol/frames.js';

const decode = (frame: unknown): DecodeResult => decodeClientFrame(JSON.stringify(frame));

describe('decodeClientFrame: valid frames', () => {
  it.each<[string, ClientFrame]>([
    ['ping', { type: 'ping' }],
    ['auth', { type: 'auth', token: 'a.b.c' }],
    ['auth without a token (a guest, where the node takes guests)', { type: 'auth' }],
    ['auth with channels', { type: 'auth', token: 'a.b.c', channels: ['user:u1', 'promotions'] }],
    ['guest auth with channels', { type: 'auth', channels: ['promotions'] }],
    ['auth with no channels', { type: 'auth', token: 't', channels: [] }],
    ['auth with 1000 channels', { type: 'auth', token: 't', channels: Array(1000).fill('promotions') }],
    ['subscribe', { type: 'subscribe', channel: 'user:u1' }],
    ['subscribe with offset 0', { type: 'subscribe', channel: 'order:o1', offset: 0 }],
    [
      'subscribe with offset and epoch',
      { type: 'subscribe', channel: 'promotions', offset: 42, epoch: 'e-1' },
    ],
    ['unsubscribe', { type: 'unsubscribe', channel: 'promotions:vip' }],
    ['resume', { type: 'resume', session: 's-1' }],
    [
      'resume with positions',
      {
        type: 'resume',
        session: 's-1',
        positions: { 'user:u1': { offset: 0, epoch: 'e' }, promotions: { offset: 9, epoch: 'f' } },
      },
    ],
  ])('when a %s frame is well-formed, then it decodes to exactly that frame', (_what, frame) => {
    expect(decode(frame)).toEqual({ ok: true, frame });
  });

  it.each<[string, string | number]>([
    ['a string ref', 'r-1'],
    ['a numeric ref', 7],
    ['a zero ref', 0],
    ['a 64-character ref', 'r'.repeat(64)],
  ])('when a frame carries %s, then the ref is echoed on the decoded frame', (_what, ref) => {
    for (const frame of [
      { type: 'ping' },
      { type: 'auth', token: 't' },
      { type: 'subscribe', channel: 'user:u1' },
      { type: 'unsubscribe', channel: 'user:u1' },
    ]) {
      expect(decode({ ...frame, ref })).toEqual({ ok: true, frame: { ...frame, ref } });
    }
  });

  it('when a frame has extra fields, then they are dropped', () => {
    expect(decode({ type: 'ping', extra: 1, token: 'x' })).toEqual({ ok: true, frame: { type: 'ping' } });
    expect(decode({ type: 'unsubscribe', channel: 'user:u1', offset: 3 })).toEqual({
      ok: true,
      frame: { type: 'unsubscribe', channel: 'user:u1' },
    });
  });

  it('when a subscribe channel is exactly 256 characters, then it is accepted', () => {
    const channel = `user:${'x'.repeat(251)}`;
    expect(decode({ type: 'subscribe', channel })).toEqual({
      ok: true,
      frame: { type: 'subscribe', channel },
    });
  });

  it('when an offset is the largest safe integer, then it is accepted', () => {
    const frame = { type: 'subscribe', channel: 'user:u1', offset: Number.MAX_SAFE_INTEGER };
    expect(decode(frame)).toEqual({ ok: true, frame });
  });
});

describe('decodeClientFrame: rejections', () => {
  it.each(['', '{', '{"type":"ping",}', "{'type':'ping'}", 'ping', '{"type":"ping"} x'])(
    'when the text %j is not JSON, then invalid_json',
    (raw) => {
      expect(decodeClientFrame(raw)).toEqual({
        ok: false,
        code: 'invalid_json',
        message: 'Frame is not valid JSON',
      });
    },
  );

  it.each(['[]', '[{"type":"ping"}]', '42', 'null', '"ping"', 'true'])(
    'when the JSON %s is not an object, then bad_frame',
    (raw) => {
      expect(decodeClientFrame(raw)).toEqual({
        ok: false,
        code: 'bad_frame',
        message: 'Frame must be a JSON object',
      });
    },
  );

  it.each<[string, Record<string, unknown>]>([
    ['missing', {}],
    ['a number', { type: 1 }],
    ['null', { type: null }],
    ['an object', { type: { name: 'ping' } }],
  ])('when type is %s, then bad_frame with the ref echoed', (_what, frame) => {
    expect(decode({ ...frame, ref: 'r1' })).toMatchObject({ ok: false, code: 'bad_frame', ref: 'r1' });
    const withoutRef = decode(frame);
    expect(withoutRef).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(withoutRef).not.toHaveProperty('ref');
  });

  it('when type is unknown and a ref is given, then unknown_type echoes the ref', () => {
    expect(decode({ type: 'publish', ref: 9 })).toEqual({
      ok: false,
      code: 'unknown_type',
      message: 'Unknown frame type',
      ref: 9,
    });
  });

  it('when type is unknown without a ref, then unknown_type has no ref', () => {
    expect(decode({ type: 'PING' })).toEqual({
      ok: false,
      code: 'unknown_type',
      message: 'Unknown frame type',
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['subscribe without channel', { type: 'subscribe' }],
    ['subscribe with an empty channel', { type: 'subscribe', channel: '' }],
    ['subscribe with a numeric channel', { type: 'subscribe', channel: 5 }],
    ['subscribe with a 257-character channel', { type: 'subscribe', channel: `user:${'x'.repeat(252)}` }],
    ['subscribe with a negative offset', { type: 'subscribe', channel: 'user:u1', offset: -1 }],
    ['subscribe with a fractional offset', { type: 'subscribe', channel: 'user:u1', offset: 1.5 }],
    ['subscribe with a string offset', { type: 'subscribe', channel: 'user:u1', offset: '3' }],
    ['subscribe with an unsafe offset', { type: 'subscribe', channel: 'user:u1', offset: 2 ** 53 }],
    ['subscribe with a null offset', { type: 'subscribe', channel: 'user:u1', offset: null }],
    ['subscribe with an empty epoch', { type: 'subscribe', channel: 'user:u1', epoch: '' }],
    ['subscribe with a numeric epoch', { type: 'subscribe', channel: 'user:u1', epoch: 1 }],
    ['subscribe with a 65-character epoch', { type: 'subscribe', channel: 'user:u1', epoch: 'e'.repeat(65) }],
    ['resume without session', { type: 'resume' }],
    ['resume with a 65-character session', { type: 'resume', session: 's'.repeat(65) }],
    ['resume with positions as an array', { type: 'resume', session: 's', positions: [] }],
    [
      'resume with a position without epoch',
      { type: 'resume', session: 's', positions: { a: { offset: 1 } } },
    ],
    [
      'resume with a negative position offset',
      { type: 'resume', session: 's', positions: { a: { offset: -1, epoch: 'e' } } },
    ],
    ['resume with a non-object position', { type: 'resume', session: 's', positions: { a: 3 } }],
    [
      'resume with 1001 positions',
      {
        type: 'resume',
        session: 's',
        positions: Object.fromEntries(
          Array.from({ length: 1001 }, (_, i) => [`user:${i}`, { offset: 1, epoch: 'e' }]),
        ),
      },
    ],
    ['unsubscribe without channel', { type: 'unsubscribe' }],
    ['unsubscribe with a 257-character channel', { type: 'unsubscribe', channel: 'c'.repeat(257) }],
    ['auth with an empty token', { type: 'auth', token: '' }],
    ['auth with a non-string token', { type: 'auth', token: { jwt: 'x' } }],
    ['auth with an overlong token', { type: 'auth', token: 't'.repeat(16_385) }],
    ['auth with channels that are not a list', { type: 'auth', token: 't', channels: 'promotions' }],
    ['auth with a channel that is not a string', { type: 'auth', token: 't', channels: ['promotions', 7] }],
    ['auth with an empty channel name', { type: 'auth', token: 't', channels: [''] }],
    ['auth with a 257-character channel', { type: 'auth', channels: ['c'.repeat(257)] }],
    ['auth with 1001 channels', { type: 'auth', token: 't', channels: Array(1001).fill('promotions') }],
  ])('when %s, then bad_frame with the ref echoed', (_what, frame) => {
    const result = decode({ ...frame, ref: 'req-1' });
    expect(result).toMatchObject({ ok: false, code: 'bad_frame', ref: 'req-1' });
    expect(result.ok ? '' : result.message).not.toBe('');
  });

  it.each<[string, unknown]>([
    ['a boolean', true],
    ['an object', { id: 1 }],
    ['an array', [1]],
    ['null', null],
    ['a 65-character string', 'r'.repeat(65)],
  ])('when ref is %s, then bad_frame without a ref', (_what, ref) => {
    const result = decode({ type: 'ping', ref });
    expect(result).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(result).not.toHaveProperty('ref');
  });

  it('when a numeric ref overflows to Infinity, then bad_frame without a ref', () => {
    const result = decodeClientFrame('{"type":"ping","ref":1e400}');
    expect(result).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(result).not.toHaveProperty('ref');
  });

  it('when a frame contains __proto__, then the decoded frame has no polluted prototype', () => {
    const result = decodeClientFrame('{"type":"ping","__proto__":{"polluted":true}}');
    expect(result).toEqual({ ok: true, frame: { type: 'ping' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('encodeServerFrame', () => {
  it.each<ServerFrame>([
    {
      type: 'welcome',
      protocol: 'herald.v1',
      session: 's-1',
      node: 'n-1',
      user: 'u1',
      heartbeatMs: 25_000,
      limits: { maxFrameBytes: 65_536, maxSubscriptions: 100, messagesPerSecond: 50 },
      ref: 'a1',
    },
    { type: 'subscribed', channel: 'user:u1', offset: 3, epoch: 'e', recovered: false, ref: 2 },
    { type: 'unsubscribed', channel: 'user:u1' },
    {
      type: 'message',
      channel: 'order:o1',
      offset: 9,
      epoch: 'e9',
      id: 'm1',
      event: 'order.shipped',
      data: { items: [1, 'two', null], note: 'ünïcødé ✓' },
      ts: 1_700_000_000_000,
    },
    { type: 'error', code: 'bad_frame', message: 'nope', retryable: false, channel: 'user:u1', ref: 'x' },
    { type: 'pong', ts: 1, ref: 0 },
    { type: 'reconnect', afterMs: 500, url: 'wss://other' },
  ])('when a $type frame is encoded, then parsing the text gives the same frame back', (frame) => {
    const text = encodeServerFrame(frame);
    expect(typeof text).toBe('string');
    expect(JSON.parse(text)).toEqual(frame);
  });
});

describe('decodeClientFrame: history and ack', () => {
  it.each([
    ['{"type":"history","channel":"user:u1"}', { type: 'history', channel: 'user:u1' }],
    [
      '{"type":"history","channel":"user:u1","since":0,"limit":1,"ref":"h"}',
      { type: 'history', channel: 'user:u1', since: 0, limit: 1, ref: 'h' },
    ],
    [
      `{"type":"history","channel":"promotions","since":${Number.MAX_SAFE_INTEGER},"limit":${MAX_HISTORY_LIMIT}}`,
      { type: 'history', channel: 'promotions', since: Number.MAX_SAFE_INTEGER, limit: MAX_HISTORY_LIMIT },
    ],
    ['{"type":"ack","channel":"user:u1","offset":0}', { type: 'ack', channel: 'user:u1', offset: 0 }],
    [
      '{"type":"ack","channel":"user:u1","offset":7,"epoch":"e1","ref":3,"extra":true}',
      { type: 'ack', channel: 'user:u1', offset: 7, epoch: 'e1', ref: 3 },
    ],
  ])('when %s is decoded, then it is a valid frame', (raw, frame) => {
    expect(decodeClientFrame(raw)).toEqual({ ok: true, frame });
  });

  it.each([
    ['{"type":"history","ref":1}', 'history needs a channel string'],
    ['{"type":"history","channel":"","ref":1}', 'history needs a channel string'],
    ['{"type":"history","channel":"user:u1","since":-1,"ref":1}', 'since must be a non-negative integer'],
    ['{"type":"history","channel":"user:u1","since":1.5,"ref":1}', 'since must be a non-negative integer'],
    ['{"type":"history","channel":"user:u1","since":null,"ref":1}', 'since must be a non-negative integer'],
    [
      '{"type":"history","channel":"user:u1","limit":0,"ref":1}',
      `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`,
    ],
    [
      `{"type":"history","channel":"user:u1","limit":${MAX_HISTORY_LIMIT + 1},"ref":1}`,
      `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`,
    ],
    [
      '{"type":"history","channel":"user:u1","limit":"5","ref":1}',
      `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`,
    ],
    ['{"type":"ack","offset":1,"ref":1}', 'ack needs a channel string'],
    ['{"type":"ack","channel":"user:u1","ref":1}', 'ack needs an offset: a non-negative integer'],
    ['{"type":"ack","channel":"user:u1","offset":-2,"ref":1}', 'ack needs an offset: a non-negative integer'],
    [
      `{"type":"ack","channel":"user:u1","offset":${Number.MAX_SAFE_INTEGER + 2},"ref":1}`,
      'ack needs an offset: a non-negative integer',
    ],
    ['{"type":"ack","channel":"user:u1","offset":1,"epoch":"","ref":1}', 'epoch must be a short string'],
    [
      `{"type":"ack","channel":"user:u1","offset":1,"epoch":"${'e'.repeat(65)}","ref":1}`,
      'epoch must be a short string',
    ],
  ])('when %s is decoded, then it is bad_frame with the ref', (raw, message) => {
    expect(decodeClientFrame(raw)).toEqual({ ok: false, code: 'bad_frame', message, ref: 1 });
  });

  it('when limit is left out, then the gateway uses the default, which is within the maximum', () => {
    expect(DEFAULT_HISTORY_LIMIT).toBeGreaterThan(0);
    expect(DEFAULT_HISTORY_LIMIT).toBeLessThanOrEqual(MAX_HISTORY_LIMIT);
  });

  it.each([
    { type: 'read', channel: 'user:u1', offset: 4, epoch: 'e1', ref: 'a' },
    { type: 'subscribed', channel: 'user:u1', offset: 4, epoch: 'e1', recovered: false, read: 2 },
    { type: 'history', channel: 'user:u1', offset: 0, epoch: 'e1', complete: true, messages: [] },
  ] satisfies ServerFrame[])(
    'when a $type frame is encoded, then parsing the text gives the same frame back',
    (frame) => {
      expect(JSON.parse(encodeServerFrame(frame))).toEqual(frame);
    },
  );
});
