import { describe, expect, it } from 'vitest';
import type { ChannelKind } from '../../../../shared/protocol/channels.js';
import { Fanout } from '../../../../services/gateway/fanout/fanout.js';
import { prepareTextFrame } from '../../../../services/gateway/fanout/text-frame.js';
import type { GapRepair, PositionedFrame } from '../../../../services/gateway/fanout/fanout.js';
import { FakeRecipient, payload } from './fake-recipient.js';

describe('Fanout bookkeeping', () => {
  it('when recipients are added and removed, then subscription and channel counts follow', () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    const b = new FakeRecipient();
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
    fanout.add('user:u1', a);
    fanout.add('user:u1', b);
    fanout.join('promotions', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([3, 2]);
    fanout.remove('user:u1', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([2, 2]);
    fanout.remove('user:u1', b);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([1, 1]);
    fanout.remove('promotions', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
  });

  it('when the same recipient is added twice, then it counts and receives once', () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    fanout.add('user:u1', a);
    fanout.add('user:u1', a);
    expect(fanout.subscriptions).toBe(1);
    expect(fanout.deliver('user:u1', 1, 'e1', payload(1))).toBe(1);
    expect(a.offsets).toEqual([1]);
  });

  it('when an unknown subscription is removed, then the counts do not change', () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    fanout.add('user:u1', a);
    fanout.remove('user:u1', new FakeRecipient());
    fanout.remove('user:u2', a);
    fanout.remove('user:u1', a);
    fanout.remove('user:u1', a);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
  });
});

describe('Fanout.deliver', () => {
  it('when a channel has recipients, then each gets the same prepared frame once and the count is returned', () => {
    const seen: [ChannelKind, number][] = [];
    const fanout = new Fanout({
      delivered: (kind, recipients) => seen.push([kind, recipients]),
      duplicate: () => {},
    });
    const subs = [new FakeRecipient(), new FakeRecipient(), new FakeRecipient()];
    const other = new FakeRecipient();
    for (const s of subs) fanout.add('order:o1', s);
    fanout.add('order:o2', other);
    const body = payload(5);

    expect(fanout.deliver('order:o1', 5, 'e1', body)).toBe(3);

    const expected = prepareTextFrame(body);
    for (const s of subs) {
      expect(s.frames).toHaveLength(1);
      expect(s.frames[0]!.equals(expected)).toBe(true);
    }
    // One frame built per message, shared by every recipient.
    expect(subs[1]!.frames[0]).toBe(subs[0]!.frames[0]);
    expect(other.frames).toHaveLength(0);
    expect(seen).toEqual([['order', 3]]);
  });

  it('when a channel has no recipients, then nothing is sent, 0 is returned and the observer is not told', () => {
    const seen: unknown[] = [];
    const fanout = new Fanout({ delivered: (...args) => seen.push(args), duplicate: () => {} });
    const a = new FakeRecipient();
    fanout.add('user:u1', a);
    expect(fanout.deliver('user:u2', 1, 'e1', payload(1))).toBe(0);
    expect(a.frames).toHaveLength(0);
    expect(seen).toEqual([]);
  });

  it('when the observer is told, then it receives the channel kind for each kind of channel', () => {
    const seen: [ChannelKind, number][] = [];
    const fanout = new Fanout({
      delivered: (kind, recipients) => seen.push([kind, recipients]),
      duplicate: () => {},
    });
    const channels = ['user:u1', 'order:o1', 'promotions', 'promotions:vip'];
    for (const c of channels) fanout.add(c, new FakeRecipient());
    for (const c of channels) fanout.deliver(c, 1, 'e1', payload(1));
    expect(seen).toEqual([
      ['user', 1],
      ['order', 1],
      ['promotions', 1],
      ['segment', 1],
    ]);
  });

  it('when delays are configured per channel kind, then each recipient is handed its kind’s delay', () => {
    const fanout = new Fanout(undefined, undefined, {
      delayMs: { user: 0, order: 1, promotions: 5, segment: 7 },
    });
    const a = new FakeRecipient();
    for (const c of ['user:u1', 'order:o1', 'promotions', 'promotions:vip']) fanout.add(c, a);
    for (const c of ['user:u1', 'order:o1', 'promotions', 'promotions:vip'])
      fanout.deliver(c, 1, 'e', payload(1));
    expect(a.delays).toEqual([0, 1, 5, 7]);
  });

  it('when a recipient removes itself during delivery, then every other recipient still receives the message', () => {
    const fanout = new Fanout();
    const channel = 'user:u1';
    const quitter: FakeRecipient = new FakeRecipient(() => fanout.remove(channel, quitter));
    const before = new FakeRecipient();
    const after = new FakeRecipient();
    fanout.add(channel, before);
    fanout.add(channel, quitter);
    fanout.add(channel, after);

    expect(fanout.deliver(channel, 1, 'e1', payload(1))).toBe(3);
    expect([before.frames.length, quitter.frames.length, after.frames.length]).toEqual([1, 1, 1]);
    expect(fanout.subscriptions).toBe(2);

    fanout.deliver(channel, 2, 'e1', payload(2));
    expect([before.frames.length, quitter.frames.length, after.frames.length]).toEqual([2, 1, 2]);
  });

  it('when every recipient removes itself during delivery, then all receive it and the channel is dropped', () => {
    const fanout = new Fanout();
    const channel = 'promotions';
    const subs: FakeRecipient[] = [];
    for (let i = 0; i < 4; i++) {
      const s: FakeRecipient = new FakeRecipient(() => fanout.remove(channel, s));
      subs.push(s);
      fanout.add(channel, s);
    }
    expect(fanout.deliver(channel, 1, 'e1', payload(1))).toBe(4);
    expect(subs.map((s) => s.frames.length)).toEqual([1, 1, 1, 1]);
    expect([fanout.subscriptions, fanout.channelCount]).toEqual([0, 0]);
    expect(fanout.deliver(channel, 2, 'e1', payload(2))).toBe(0);
  });
});

describe('Fanout duplicate filter', () => {
  it('when the bus delivers the same (epoch, offset) twice, then recipients get it once', () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    fanout.add('user:d', a);
    expect(fanout.deliver('user:d', 1, 'e', payload(1))).toBe(1);
    expect(fanout.deliver('user:d', 2, 'e', payload(2))).toBe(1);
    expect(fanout.deliver('user:d', 1, 'e', payload(1))).toBe(0);
    expect(fanout.deliver('user:d', 1, 'e2', payload(1))).toBe(1);
    expect(a.offsets).toEqual([1, 2, 1]);
    expect(fanout.duplicates).toBe(1);
  });
});

describe('Fanout subscriber gate (join … release)', () => {
  it('when messages arrive while a subscriber is being answered, then they wait and follow its reply in offset order', async () => {
    const fanout = new Fanout();
    const old = new FakeRecipient();
    const fresh = new FakeRecipient();
    fanout.add('promotions', old);
    fanout.deliver('promotions', 1, 'e', payload(1));
    fanout.join('promotions', fresh);
    fanout.deliver('promotions', 3, 'e', payload(3));
    fanout.deliver('promotions', 2, 'e', payload(2));
    expect(fresh.offsets).toEqual([]);
    expect(old.offsets).toEqual([1, 3, 2]);
    // The reply reported offset 1 (and the replay, if any, was written): 2 and 3 follow, in order.
    fresh.push(Buffer.from('reply'), 0);
    await fanout.release('promotions', fresh, { offset: 1, epoch: 'e' });
    expect(fresh.offsets).toEqual([null, 2, 3]);
    fanout.deliver('promotions', 4, 'e', payload(4));
    expect(fresh.offsets).toEqual([null, 2, 3, 4]);
  });

  it('when copies at or below the reported position arrive after the reply, then they are dropped, and later ones pass', async () => {
    const fanout = new Fanout();
    const fresh = new FakeRecipient();
    fanout.join('user:g', fresh);
    fanout.deliver('user:g', 5, 'e', payload(5));
    await fanout.release('user:g', fresh, { offset: 7, epoch: 'e' });
    expect(fresh.offsets).toEqual([]);
    fanout.deliver('user:g', 6, 'e', payload(6));
    fanout.deliver('user:g', 7, 'e', payload(7));
    fanout.deliver('user:g', 8, 'e', payload(8));
    fanout.deliver('user:g', 9, 'e', payload(9));
    expect(fresh.offsets).toEqual([8, 9]);
  });

  it('when a message of another epoch arrives after the reply, then it passes (the channel started a new run)', async () => {
    const fanout = new Fanout();
    const fresh = new FakeRecipient();
    fanout.join('user:g', fresh);
    await fanout.release('user:g', fresh, { offset: 40, epoch: 'old' });
    fanout.deliver('user:g', 1, 'new', payload(1));
    expect(fresh.offsets).toEqual([1]);
  });

  it('when a subscriber leaves while held, then its held messages are dropped and release does nothing', async () => {
    const fanout = new Fanout();
    const fresh = new FakeRecipient();
    fanout.join('user:g', fresh);
    fanout.deliver('user:g', 1, 'e', payload(1));
    fanout.remove('user:g', fresh);
    await fanout.release('user:g', fresh, { offset: 0, epoch: 'e' });
    expect(fresh.frames).toEqual([]);
    expect(fanout.subscriptions).toBe(0);
  });

  it('when another subscriber seeded the channel past this one’s position, then the offsets in between come from history, in order', async () => {
    const history: GapRepair = (_channel, after, upTo) =>
      Promise.resolve(
        Array.from({ length: upTo - after }, (_, i): PositionedFrame => {
          const offset = after + 1 + i;
          return { offset, epoch: 'e', payload: payload(offset) };
        }),
      );
    const fanout = new Fanout(undefined, history);
    const a = new FakeRecipient();
    const b = new FakeRecipient();
    fanout.join('user:g', a);
    fanout.join('user:g', b);
    // A read position 10 and seeds the channel there; B read 8 a moment earlier.
    fanout.seed('user:g', 'e', 10);
    await fanout.release('user:g', a, { offset: 10, epoch: 'e' });
    fanout.deliver('user:g', 9, 'e', payload(9)); // in flight: dropped as old by the channel
    await fanout.release('user:g', b, { offset: 8, epoch: 'e' });
    fanout.deliver('user:g', 11, 'e', payload(11));
    expect(a.offsets).toEqual([11]);
    expect(b.offsets).toEqual([9, 10, 11]);
  });
});

describe('Fanout.seed', () => {
  it('when a subscriber reads a newer position on a channel the node already follows (even at offset 0), then the others still get the messages in between', async () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    const b = new FakeRecipient();
    fanout.join('user:42', a);
    fanout.seed('user:42', 'e', 0);
    await fanout.release('user:42', a, { offset: 0, epoch: 'e' });
    // B subscribes while 1..5 are still in flight to this node; its history read says 5.
    fanout.join('user:42', b);
    fanout.seed('user:42', 'e', 5);
    await fanout.release('user:42', b, { offset: 5, epoch: 'e' });
    for (let o = 1; o <= 6; o++) fanout.deliver('user:42', o, 'e', payload(o));
    expect(a.offsets).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.offsets).toEqual([6]);
  });
});

describe('Fanout.position', () => {
  it('when other local subscribers keep a run of the channel, then a joining one can start at its newest offset', () => {
    const fanout = new Fanout();
    const a = new FakeRecipient();
    const b = new FakeRecipient();
    expect(fanout.position('promotions')).toBeUndefined();
    fanout.add('promotions', a);
    fanout.deliver('promotions', 7, 'e', payload(7));
    // Only the joining subscriber itself: nobody keeps the run current.
    expect(fanout.position('promotions')).toBeUndefined();
    fanout.join('promotions', b);
    expect(fanout.position('promotions')).toEqual({ offset: 7, epoch: 'e' });
  });

  it('when the channel has recipients but no message or seed yet, then there is no position', () => {
    const fanout = new Fanout();
    fanout.add('promotions', new FakeRecipient());
    fanout.add('promotions', new FakeRecipient());
    expect(fanout.position('promotions')).toBeUndefined();
  });

  it('when the channel has seen nothing for longer than its retention, then there is no position (its epoch may be gone)', () => {
    const stale = new Fanout(undefined, undefined, {
      maxAgeMs: { user: 0, order: 0, promotions: 0, segment: 0 },
    });
    stale.add('promotions', new FakeRecipient());
    stale.deliver('promotions', 3, 'e', payload(3));
    stale.join('promotions', new FakeRecipient());
    expect(stale.position('promotions')).toBeUndefined();
  });
});
