import { describe, expect, it } from 'vitest';
import type { ChannelKind } from '../../../shared/protocol/channels.js';
import {
  channelKind,
  Fanout,
  prepareTextFrame,
  WriteCoalescer,
  type Subscriber,
} from '../../../services/gateway/fanout.js';

interface Call {
  channel: string;
  offset: number;
  frame: Buffer;
}

class FakeSubscriber implements Subscriber {
  readonly calls: Call[] = [];
  constructor(private readonly onSend?: (call: Call) => void) {}
  sendPrepared(channel: string, offset: number, _epoch: string, frame: Buffer): void {
    const call = { channel, offset, frame };
    this.calls.push(call);
    this.onSend?.(call);
  }
}

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

describe('prepareTextFrame', () => {
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

  it('when the payload is framed, then the frame is a copy (later payload changes do not leak in)', () => {
    const payload = Buffer.from('{"type":"message"}');
    const frame = prepareTextFrame(payload);
    payload[2] = 0x58;
    expect(frame.subarray(2).toString()).toBe('{"type":"message"}');
  });
});

describe('channelKind', () => {
  it.each<[string, ChannelKind]>([
    ['user:u1', 'user'],
    ['order:o-1', 'order'],
    ['promotions', 'promotions'],
    ['promotions:vip', 'segment'],
    ['promotions:a', 'segment'],
  ])('when the channel is %j, then its kind is %s', (channel, kind) => {
    expect(channelKind(channel)).toBe(kind);
  });
});

describe('Fanout bookkeeping', () => {
  it('when subscribers are added and removed, then subscription and channel counts follow', () => {
    const fanout = new Fanout();
    const a = new FakeSubscriber();
    const b = new FakeSubscriber();
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
    fanout.add('user:u1', a);
    fanout.add('user:u1', b);
    fanout.add('promotions', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([3, 2]);
    fanout.remove('user:u1', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([2, 2]);
    fanout.remove('user:u1', b);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([1, 1]);
    fanout.remove('promotions', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
  });

  it('when the same subscriber is added twice, then it counts and receives once', () => {
    const fanout = new Fanout();
    const a = new FakeSubscriber();
    fanout.add('user:u1', a);
    fanout.add('user:u1', a);
    expect(fanout.subscriptions).toBe(1);
    expect(fanout.deliver('user:u1', 1, 'e1', Buffer.from('{}'))).toBe(1);
    expect(a.calls).toHaveLength(1);
  });

  it('when an unknown subscription is removed, then the counts do not change', () => {
    const fanout = new Fanout();
    const a = new FakeSubscriber();
    fanout.add('user:u1', a);
    fanout.remove('user:u1', new FakeSubscriber());
    fanout.remove('user:u2', a);
    fanout.remove('user:u1', a);
    fanout.remove('user:u1', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
  });
});

describe('Fanout.deliver', () => {
  it('when a channel has subscribers, then each gets the same prepared frame once and the count is returned', () => {
    const seen: [ChannelKind, number][] = [];
    const fanout = new Fanout({
      delivered: (kind, recipients) => seen.push([kind, recipients]),
      duplicate: () => {},
    });
    const subs = [new FakeSubscriber(), new FakeSubscriber(), new FakeSubscriber()];
    const other = new FakeSubscriber();
    for (const s of subs) fanout.add('order:o1', s);
    fanout.add('order:o2', other);
    const payload = Buffer.from('{"type":"message","channel":"order:o1","offset":5}');

    expect(fanout.deliver('order:o1', 5, 'e1', payload)).toBe(3);

    const expected = prepareTextFrame(payload);
    for (const s of subs) {
      expect(s.calls).toHaveLength(1);
      expect(s.calls[0]).toMatchObject({ channel: 'order:o1', offset: 5 });
      expect(s.calls[0]!.frame.equals(expected)).toBe(true);
    }
    // One frame built per message, shared by every recipient.
    expect(subs[1]!.calls[0]!.frame).toBe(subs[0]!.calls[0]!.frame);
    expect(other.calls).toHaveLength(0);
    expect(seen).toEqual([['order', 3]]);
  });

  it('when a channel has no subscribers, then nothing is sent, 0 is returned and the observer is not told', () => {
    const seen: unknown[] = [];
    const fanout = new Fanout({ delivered: (...args) => seen.push(args), duplicate: () => {} });
    const a = new FakeSubscriber();
    fanout.add('user:u1', a);
    expect(fanout.deliver('user:u2', 1, 'e1', Buffer.from('{}'))).toBe(0);
    expect(a.calls).toHaveLength(0);
    expect(seen).toEqual([]);
  });

  it('when the observer is told, then it receives the channel kind for each kind of channel', () => {
    const seen: [ChannelKind, number][] = [];
    const fanout = new Fanout({
      delivered: (kind, recipients) => seen.push([kind, recipients]),
      duplicate: () => {},
    });
    const channels = ['user:u1', 'order:o1', 'promotions', 'promotions:vip'];
    for (const c of channels) fanout.add(c, new FakeSubscriber());
    for (const c of channels) fanout.deliver(c, 1, 'e1', Buffer.from('{}'));
    expect(seen).toEqual([
      ['user', 1],
      ['order', 1],
      ['promotions', 1],
      ['segment', 1],
    ]);
  });

  it('when a subscriber removes itself during delivery, then every other subscriber still receives the message', () => {
    const fanout = new Fanout();
    const channel = 'user:u1';
    const quitter: FakeSubscriber = new FakeSubscriber(() => fanout.remove(channel, quitter));
    const before = new FakeSubscriber();
    const after = new FakeSubscriber();
    fanout.add(channel, before);
    fanout.add(channel, quitter);
    fanout.add(channel, after);

    expect(fanout.deliver(channel, 1, 'e1', Buffer.from('{}'))).toBe(3);
    expect([before.calls.length, quitter.calls.length, after.calls.length]).toEqual([1, 1, 1]);
    expect(fanout.subscriptions).toBe(2);

    fanout.deliver(channel, 2, 'e1', Buffer.from('{}'));
    expect([before.calls.length, quitter.calls.length, after.calls.length]).toEqual([2, 1, 2]);
  });

  it('when every subscriber removes itself during delivery, then all receive it and the channel is dropped', () => {
    const fanout = new Fanout();
    const channel = 'promotions';
    const subs: FakeSubscriber[] = [];
    for (let i = 0; i < 4; i++) {
      const s: FakeSubscriber = new FakeSubscriber(() => fanout.remove(channel, s));
      subs.push(s);
      fanout.add(channel, s);
    }
    expect(fanout.deliver(channel, 1, 'e1', Buffer.from('{}'))).toBe(4);
    expect(subs.map((s) => s.calls.length)).toEqual([1, 1, 1, 1]);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
    expect(fanout.deliver(channel, 2, 'e1', Buffer.from('{}'))).toBe(0);
  });
});

describe('WriteCoalescer', () => {
  const target = () => {
    const calls: string[] = [];
    return { calls, cork: () => calls.push('cork'), uncork: () => calls.push('uncork') };
  };

  it('when targets are corked during a turn, then each is uncorked once after the turn, in order', async () => {
    const coalescer = new WriteCoalescer();
    const a = target();
    const b = target();
    coalescer.cork(a);
    coalescer.cork(b);
    expect(a.calls).toEqual(['cork']);
    expect(b.calls).toEqual(['cork']);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(a.calls).toEqual(['cork', 'uncork']);
    expect(b.calls).toEqual(['cork', 'uncork']);
  });

  it('when a target is corked again in a later turn, then that turn gets its own flush', async () => {
    const coalescer = new WriteCoalescer();
    const a = target();
    coalescer.cork(a);
    await new Promise<void>((resolve) => setImmediate(resolve));
    coalescer.cork(a);
    expect(a.calls).toEqual(['cork', 'uncork', 'cork']);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(a.calls).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });
});

describe('Fanout duplicate filter', () => {
  it('when the bus delivers the same (epoch, offset) twice, then subscribers get it once', () => {
    const fanout = new Fanout();
    const got: number[] = [];
    fanout.add('user:d', { sendPrepared: (_c, offset) => void got.push(offset) });
    expect(fanout.deliver('user:d', 1, 'e', Buffer.from('{}'))).toBe(1);
    expect(fanout.deliver('user:d', 2, 'e', Buffer.from('{}'))).toBe(1);
    expect(fanout.deliver('user:d', 1, 'e', Buffer.from('{}'))).toBe(0);
    expect(fanout.deliver('user:d', 1, 'e2', Buffer.from('{}'))).toBe(1);
    expect(got).toEqual([1, 2, 1]);
    expect(fanout.duplicates).toBe(1);
  });
});
