import { describe, expect, it } from 'vitest';
import { Fanout, type GapRepair, type PositionedFrame } from '../../../../services/gateway/fanout/fanout.js';
import { waitFor } from '../../../helpers/wait.js';
import { FakeRecipient, payload } from './fake-recipient.js';

const frame = (offset: number, epoch = 'e'): PositionedFrame => ({
  offset,
  epoch,
  payload: payload(offset),
});

/** `failures`: how many reads fail first (Infinity: history stays down); `retryMs`: the fan-out's waits. */
function setup(history: Map<number, PositionedFrame>, failures = 0, retryMs: readonly number[] = []) {
  const calls: [number, number][] = [];
  let failed = 0;
  const repair: GapRepair = (_channel, after, upTo) => {
    calls.push([after, upTo]);
    if (failed < failures) {
      failed += 1;
      return Promise.reject(new Error('history down'));
    }
    const out: PositionedFrame[] = [];
    for (let o = after + 1; o <= Math.min(upTo, 10_000); o++) {
      const m = history.get(o);
      if (m === undefined) break;
      out.push(m);
    }
    return Promise.resolve(out);
  };
  const recipient = new FakeRecipient();
  const fanout = new Fanout(undefined, repair, { repairRetryMs: retryMs });
  fanout.add('user:g', recipient);
  return { fanout, received: recipient.offsets, calls };
}

describe('Fanout gap repair', () => {
  it('when n+2 arrives right after n, then n+1 is read from history and delivered first, and its late copy is dropped', async () => {
    const history = new Map([2, 3].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.deliver('user:g', 3, 'e', frame(3).payload);
    fanout.deliver('user:g', 4, 'e', frame(4).payload); // arrives while the repair runs: held
    await waitFor(() => received.length === 4, 'the repair to finish');
    expect(received).toEqual([1, 2, 3, 4]);
    expect(calls).toEqual([[1, 2]]);
    fanout.deliver('user:g', 2, 'e', frame(2).payload);
    expect(received).toEqual([1, 2, 3, 4]);
    expect(fanout.duplicates).toBe(1);
  });

  it('when the messages held during a repair show another gap, then a further round fills it before they go out', async () => {
    const history = new Map([2, 3, 4, 5].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.deliver('user:g', 3, 'e', frame(3).payload); // 2 missing: repair (1, 2]
    fanout.deliver('user:g', 5, 'e', frame(5).payload); // held while it runs; 4 still in flight
    await waitFor(() => received.length === 5, 'both repair rounds');
    fanout.deliver('user:g', 4, 'e', frame(4).payload); // the late copy
    expect(received).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('when history cannot be read through every retry, then the held messages are still delivered in offset order', async () => {
    const { fanout, received, calls } = setup(new Map(), Infinity, [10, 10]);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.deliver('user:g', 5, 'e', frame(5).payload);
    fanout.deliver('user:g', 4, 'e', frame(4).payload);
    await waitFor(() => received.length === 3, 'held messages');
    expect(received).toEqual([1, 4, 5]);
    expect(calls).toHaveLength(3); // the read and its two retries
  });

  it('when history fails twice during a catch-up (a failover) and then answers, then nothing is lost: the channel is held and everything goes out in order', async () => {
    const history = new Map([2, 3, 4].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history, 2, [10, 10, 10]);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.catchUp(); // the bus came back: 2-4 were published meanwhile
    fanout.deliver('user:g', 5, 'e', frame(5).payload); // arrives while history is down: held
    await waitFor(() => received.length === 5, 'the catch-up to succeed on its third read');
    expect(received).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toHaveLength(3);
  });

  it('when a subscriber seeded the position, then the first message after a gap is repaired too, and older copies are dropped', async () => {
    const history = new Map([11, 12].map((o) => [o, frame(o)] as const));
    const { fanout, received } = setup(history);
    fanout.seed('user:g', 'e', 10);
    fanout.deliver('user:g', 9, 'e', frame(9).payload);
    fanout.deliver('user:g', 12, 'e', frame(12).payload);
    await waitFor(() => received.length === 2, 'the repair');
    expect(received).toEqual([11, 12]);
  });

  it('when a subscriber seeded a fresh channel at offset 0, then 2 arriving before 1 is a gap repaired from history', async () => {
    const history = new Map([1, 2].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history);
    fanout.seed('user:g', 'e', 0);
    fanout.deliver('user:g', 2, 'e', frame(2).payload);
    await waitFor(() => received.length === 2, 'the repair');
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    expect(received).toEqual([1, 2]);
    expect(calls).toEqual([[0, 1]]);
  });

  it('when a catch-up comes while a gap repair holds the channel, then it runs once the repair is over and delivers what history holds past it', async () => {
    // 4 and 5 were routed past this node (its presence entry was missing): only history has them.
    const history = new Map([2, 3, 4, 5].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.deliver('user:g', 3, 'e', frame(3).payload); // 2 missing: the channel is held for (1, 2]
    fanout.catchUp(); // presence restored meanwhile
    await waitFor(() => received.length === 5, 'the repair, then the catch-up');
    expect(received).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toEqual([
      [1, 2],
      [3, Number.MAX_SAFE_INTEGER],
    ]);
  });

  it('when the bus reconnects, then catchUp delivers what history holds past the newest offset seen', async () => {
    const history = new Map([2, 3, 4].map((o) => [o, frame(o)] as const));
    const { fanout, received } = setup(history);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.catchUp();
    await waitFor(() => received.length === 4, 'the catch-up');
    expect(received).toEqual([1, 2, 3, 4]);
  });

  it('when a fresh channel (seeded at 0) missed its first messages, then catchUp delivers them; a channel with no position is left alone', async () => {
    const history = new Map([1, 2].map((o) => [o, frame(o)] as const));
    const { fanout, received, calls } = setup(history);
    const unknown = new FakeRecipient();
    fanout.add('user:unknown', unknown);
    fanout.seed('user:g', 'e', 0);
    fanout.catchUp();
    await waitFor(() => received.length === 2, 'the catch-up');
    expect(received).toEqual([1, 2]);
    expect(calls).toEqual([[0, Number.MAX_SAFE_INTEGER]]);
    expect(unknown.offsets).toEqual([]);
  });

  it('when history was trimmed past the newest offset seen, then catchUp delivers nothing ahead of the older messages the bus still brings', async () => {
    // History keeps only 5..6 (2..4 were trimmed); the node's queue still holds 2..6 from the outage.
    const repair: GapRepair = (_channel, after) =>
      Promise.resolve([5, 6].filter((o) => o > after).map((o) => frame(o)));
    const recipient = new FakeRecipient();
    const received = recipient.offsets;
    const fanout = new Fanout(undefined, repair);
    fanout.add('user:g', recipient);
    fanout.deliver('user:g', 1, 'e', frame(1).payload);
    fanout.catchUp();
    for (const o of [2, 3, 4, 5, 6]) fanout.deliver('user:g', o, 'e', frame(o).payload);
    await waitFor(() => received.length === 6, 'the backlog');
    expect(received).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('when the epoch changes, then no gap is assumed across epochs', () => {
    const { fanout, received, calls } = setup(new Map());
    fanout.deliver('user:g', 7, 'old', frame(7, 'old').payload);
    fanout.deliver('user:g', 1, 'new', frame(1, 'new').payload);
    expect(received).toEqual([7, 1]);
    expect(calls).toEqual([]);
  });
});
