/**
 * Contract suite for `History` (shared/state/history.ts): every driver runs it, one test per sentence
 * of the contract.
 *
 * The factory gets the suite's RetentionResolver and returns a fresh driver over isolated state (see
 * ContractSubject). The resolver gives channels a retention by kind, as configuration does:
 * `small:*` keeps 5 messages, `brief:*` keeps messages for 1 s (and the channel state as long), every
 * other channel 1,000 messages for 300 s. Ageing runs on the real clock: the tests poll with a deadline
 * or use a message `ts` already in the past, never a fixed sleep. That the epoch changes when state
 * is lost by other means (flush, failover) cannot be provoked through the interface; driver-specific
 * tests cover it.
 */
import { describe, expect, it } from 'vitest';
import type {
  ChannelPosition,
  History,
  HistoryRange,
  NewMessage,
  RetentionResolver,
  StoredMessage,
} from '../../shared/state/history.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractSubject,
} from './subject.js';

export type HistoryFactory = (retention: RetentionResolver) => Promise<ContractSubject<History>>;

/** `small:*` channels keep this many messages. */
export const SMALL_MAX_MESSAGES = 5;
/** `brief:*` channels keep messages (and their state, when idle) this long. */
export const BRIEF_MAX_AGE_MS = 1_000;
const LONG_MAX_AGE_MS = LONG_TTL_SECONDS * 1000;

export const CONTRACT_RETENTION: RetentionResolver = (channel) => {
  if (channel.startsWith('small:')) return { maxMessages: SMALL_MAX_MESSAGES, maxAgeMs: LONG_MAX_AGE_MS };
  if (channel.startsWith('brief:')) return { maxMessages: 100, maxAgeMs: BRIEF_MAX_AGE_MS };
  return { maxMessages: 1_000, maxAgeMs: LONG_MAX_AGE_MS };
};

let serial = 0;

/** A message with a unique id; `ts` now unless given. */
export function message(overrides: Partial<NewMessage> = {}): NewMessage {
  serial += 1;
  return {
    id: `m-${serial}`,
    event: 'order.shipped',
    dataJson: JSON.stringify({ n: serial }),
    ts: Date.now(),
    ...overrides,
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function offsetsOf(history: HistoryRange): number[] {
  return history.messages.map((m) => m.offset);
}

function expectEpoch(position: ChannelPosition): void {
  expect(typeof position.epoch).toBe('string');
  expect(position.epoch.length).toBeGreaterThan(0);
}

/** Appends `count` messages one after the other; returns what was stored, by offset. */
async function fill(history: History, channel: string, count: number): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (let i = 0; i < count; i++) {
    const sent = message();
    const { offset } = await history.append(channel, sent);
    stored.push({ ...sent, offset });
  }
  return stored;
}

export function historyContract(name: string, factory: HistoryFactory): void {
  describe(`History contract: ${name}`, () => {
    const subject = useSubject(() => factory(CONTRACT_RETENTION));

    describe('append', () => {
      it('when a channel gets its first message, then append returns offset 1 with an epoch', async () => {
        const first = await subject.driver.append('user:alice', message());

        expect(first.offset).toBe(1);
        expectEpoch(first);
      });

      it('when append is called in turn, then offsets run 1, 2, 3, … on one epoch', async () => {
        const history = subject.driver;
        const positions: ChannelPosition[] = [];
        for (let i = 0; i < 5; i++) positions.push(await history.append('user:alice', message()));

        expect(positions.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
        expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
      });

      it('when 200 appends race on one channel, then they get offsets 1..200 each once on one epoch, and each message is stored under the offset its append returned', async () => {
        const history = subject.driver;
        const sent = Array.from({ length: 200 }, () => message());

        const positions = await Promise.all(sent.map((m) => history.append('broadcast', m)));

        expect(positions.map((p) => p.offset).sort((a, b) => a - b)).toEqual(range(1, 200));
        expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
        const epoch = positions[0]!.epoch;
        const expected = sent
          .map((m, i) => ({ ...m, offset: positions[i]!.offset }))
          .sort((a, b) => a.offset - b.offset);
        expect(await history.read('broadcast', 0, 1_000)).toEqual({
          offset: 200,
          epoch,
          messages: expected,
          complete: true,
        });
        expect(await history.append('broadcast', message())).toEqual({ offset: 201, epoch });
      });

      it('when two channels are raced at once, then each still gets contiguous offsets and keeps its own messages', async () => {
        const history = subject.driver;

        const appended = await Promise.all(
          Array.from({ length: 200 }, (_, i) => {
            const channel = i % 2 ? 'user:alice' : 'user:bob';
            const sent = message();
            return history.append(channel, sent).then((position) => ({ channel, sent, ...position }));
          }),
        );

        for (const channel of ['user:alice', 'user:bob']) {
          const mine = appended.filter((a) => a.channel === channel).sort((a, b) => a.offset - b.offset);
          expect(mine.map((a) => a.offset)).toEqual(range(1, 100));
          expect(new Set(mine.map((a) => a.epoch)).size).toBe(1);
          const read = await history.read(channel, 0, 1_000);
          expect(read.messages).toEqual(mine.map((a) => ({ ...a.sent, offset: a.offset })));
          expect(read.complete).toBe(true);
        }
      });

      it('when channels are used side by side, then each counts, keeps and reads on its own', async () => {
        const history = subject.driver;
        const alice = await fill(history, 'user:alice', 3);
        const bob = await fill(history, 'user:bob', 1);

        expect((await history.position('user:alice')).offset).toBe(3);
        expect((await history.position('user:bob')).offset).toBe(1);
        expect((await history.position('order:o-1')).offset).toBe(0);
        expect((await history.read('user:alice', 0, 100)).messages).toEqual(alice);
        expect((await history.read('user:bob', 0, 100)).messages).toEqual(bob);
        expect((await history.read('order:o-1', 0, 100)).messages).toEqual([]);
      });

      it('when messages carry unicode, JSON of every shape and large data, then they read back exactly', async () => {
        const history = subject.driver;
        const sent: NewMessage[] = [
          message({
            id: 'ünïcödé-🚚-已发货',
            event: 'order.shipped ✓',
            dataJson: JSON.stringify({
              text: 'Ihre Bestellung ist unterwegs 🚚 — 已发货\n"quoted"\t\\',
              n: 1.5,
            }),
          }),
          message({ dataJson: 'null' }),
          message({ dataJson: '""', event: '' }),
          // A `ts` well in the past (yet within retention) is kept as given, not restamped.
          message({ dataJson: '[1,null,true,{"a":{"b":[]}}]', ts: Date.now() - 60_000 }),
          message({ dataJson: JSON.stringify({ blob: 'x'.repeat(64 * 1024) }) }),
        ];

        const positions: ChannelPosition[] = [];
        for (const m of sent) positions.push(await history.append('user:alice', m));

        const read = await history.read('user:alice', 0, 100);
        expect(read.messages).toEqual(sent.map((m, i) => ({ ...m, offset: positions[i]!.offset })));
        expect(read.complete).toBe(true);
      });

      it('when a caller changes a message after appending or reading it, then history still holds what was appended', async () => {
        const history = subject.driver;
        const sent = message();
        const copy = { ...sent };
        await history.append('user:alice', sent);
        sent.dataJson = '"changed after append"';

        const first = await history.read('user:alice', 0, 10);
        first.messages[0]!.event = 'changed after read';

        expect((await history.read('user:alice', 0, 10)).messages).toEqual([{ ...copy, offset: 1 }]);
      });
    });

    describe('position', () => {
      it('when position is asked about an unused channel, then it returns offset 0 and reserves nothing', async () => {
        const history = subject.driver;

        const before = await history.position('user:alice');
        expect(before.offset).toBe(0);
        expectEpoch(before);
        expect(await history.position('user:alice')).toEqual(before);

        expect(await history.append('user:alice', message())).toEqual({ offset: 1, epoch: before.epoch });
      });

      it('when position is asked after messages, then it returns the newest offset and the epoch the next append carries', async () => {
        const history = subject.driver;
        let last: ChannelPosition | undefined;
        for (let i = 0; i < 4; i++) last = await history.append('user:alice', message());

        const position = await history.position('user:alice');
        expect(position).toEqual(last);
        expect(await history.position('user:alice')).toEqual(position);

        expect(await history.append('user:alice', message())).toEqual({ offset: 5, epoch: position.epoch });
        expect(await history.position('user:alice')).toEqual({ offset: 5, epoch: position.epoch });
      });

      it('when position and append race on new channels, then append carries the epoch position reported', async () => {
        const history = subject.driver;
        const channels = Array.from({ length: 30 }, (_, i) => `order:o-${i}`);

        const pairs = await Promise.all(
          channels.map((channel, i) =>
            i % 2
              ? Promise.all([history.position(channel), history.append(channel, message())])
              : Promise.all([history.append(channel, message()), history.position(channel)]).then(
                  ([appended, position]) => [position, appended] as const,
                ),
          ),
        );

        for (const [position, appended] of pairs) {
          expect(appended.offset).toBe(1);
          expect([0, 1]).toContain(position.offset);
          expect(appended.epoch).toBe(position.epoch);
        }
      });
    });

    describe('read', () => {
      it('when reading from 0, the middle, the newest and with a limit, then exactly the asked offsets come back, oldest first, complete', async () => {
        const history = subject.driver;
        const stored = await fill(history, 'user:alice', 10);
        const { epoch } = await history.position('user:alice');
        const window = (from: number, to: number) => stored.slice(from - 1, to);

        expect(await history.read('user:alice', 0, 100)).toEqual({
          offset: 10,
          epoch,
          messages: stored,
          complete: true,
        });
        expect(await history.read('user:alice', 4, 100)).toEqual({
          offset: 10,
          epoch,
          messages: window(5, 10),
          complete: true,
        });
        expect(await history.read('user:alice', 4, 3)).toEqual({
          offset: 10,
          epoch,
          messages: window(5, 7),
          complete: true,
        });
        expect(await history.read('user:alice', 0, 1)).toEqual({
          offset: 10,
          epoch,
          messages: window(1, 1),
          complete: true,
        });
        expect(await history.read('user:alice', 9, 100)).toEqual({
          offset: 10,
          epoch,
          messages: window(10, 10),
          complete: true,
        });
      });

      it('when after is the newest offset, then nothing comes back and the range is complete', async () => {
        const history = subject.driver;
        await fill(history, 'user:alice', 3);
        const position = await history.position('user:alice');

        expect(await history.read('user:alice', 3, 100)).toEqual({
          ...position,
          messages: [],
          complete: true,
        });
      });

      it('when after is beyond the newest offset, then nothing comes back and the range is not complete', async () => {
        const history = subject.driver;
        await fill(history, 'user:alice', 3);
        const position = await history.position('user:alice');

        expect(await history.read('user:alice', 4, 100)).toEqual({
          ...position,
          messages: [],
          complete: false,
        });
        expect(await history.read('user:alice', 1_000, 100)).toEqual({
          ...position,
          messages: [],
          complete: false,
        });
      });

      it('when an unused channel is read, then it answers offset 0 with the epoch the next append carries; from 0 complete, from beyond not', async () => {
        const history = subject.driver;

        const empty = await history.read('user:alice', 0, 100);
        expect(empty).toMatchObject({ offset: 0, messages: [], complete: true });
        expectEpoch(empty);
        expect(await history.read('user:alice', 1, 100)).toEqual({ ...empty, complete: false });
        expect(await history.position('user:alice')).toEqual({ offset: 0, epoch: empty.epoch });

        expect(await history.append('user:alice', message())).toEqual({ offset: 1, epoch: empty.epoch });
      });

      it('when read is called, then it reserves nothing', async () => {
        const history = subject.driver;
        await fill(history, 'user:alice', 2);
        const before = await history.position('user:alice');

        await history.read('user:alice', 0, 100);
        await history.read('user:alice', 5, 100);

        expect(await history.position('user:alice')).toEqual(before);
        expect((await history.append('user:alice', message())).offset).toBe(3);
      });

      it('when after or limit names no offsets (negative, fractional, limit below 1) or a ts is not whole ms, then read or append rejects with a TypeError and changes nothing', async () => {
        const history = subject.driver;
        await fill(history, 'user:alice', 2);

        await expect(history.read('user:alice', -1, 10)).rejects.toThrow(TypeError);
        await expect(history.read('user:alice', 0.5, 10)).rejects.toThrow(TypeError);
        await expect(history.read('user:alice', 0, 0)).rejects.toThrow(TypeError);
        await expect(history.read('user:alice', 0, 1.5)).rejects.toThrow(TypeError);
        await expect(history.append('user:alice', message({ ts: 1.5 }))).rejects.toThrow(TypeError);
        expect(await history.position('user:alice')).toMatchObject({ offset: 2 });
      });
    });

    describe('retention by count', () => {
      it('when a channel holds exactly maxMessages, then all of them read back complete', async () => {
        const history = subject.driver;
        const stored = await fill(history, 'small:promo', SMALL_MAX_MESSAGES);

        const read = await history.read('small:promo', 0, 100);
        expect(read.messages).toEqual(stored);
        expect(read.complete).toBe(true);
      });

      it('when more than maxMessages were appended, then only the newest maxMessages are kept, and a range is complete only if its start was not trimmed', async () => {
        const history = subject.driver;
        const stored = await fill(history, 'small:promo', 12);
        const kept = stored.slice(12 - SMALL_MAX_MESSAGES); // offsets 8..12

        const all = await history.read('small:promo', 0, 100);
        expect(all.offset).toBe(12);
        expect(all.messages).toEqual(kept);
        expect(all.complete).toBe(false);

        expect(await history.read('small:promo', 6, 100)).toMatchObject({ messages: kept, complete: false });
        expect(await history.read('small:promo', 7, 100)).toMatchObject({ messages: kept, complete: true });
        expect(await history.read('small:promo', 7, 2)).toMatchObject({
          messages: kept.slice(0, 2),
          complete: true,
        });
        expect(offsetsOf(await history.read('small:promo', 10, 100))).toEqual([11, 12]);
        expect((await history.read('small:promo', 10, 100)).complete).toBe(true);
        expect(await history.read('small:promo', 12, 100)).toMatchObject({ messages: [], complete: true });
        expect(await history.read('small:promo', 13, 100)).toMatchObject({ messages: [], complete: false });
      });

      it('when a channel is trimmed, then other channels keep their own messages', async () => {
        const history = subject.driver;
        const other = await fill(history, 'user:alice', 8);
        await fill(history, 'small:promo', 8);

        expect(await history.read('user:alice', 0, 100)).toMatchObject({ messages: other, complete: true });
      });
    });

    describe('retention by age', () => {
      it('when a message is older than maxAgeMs by its ts, then it is never returned, and a range over it is not complete', async () => {
        const history = subject.driver;
        const stale = message({ ts: Date.now() - 2 * BRIEF_MAX_AGE_MS });
        const fresh = message();
        await history.append('brief:flash', stale);
        await history.append('brief:flash', fresh);

        expect(await history.read('brief:flash', 0, 100)).toMatchObject({
          offset: 2,
          messages: [{ ...fresh, offset: 2 }],
          complete: false,
        });
        expect(await history.read('brief:flash', 0, 1)).toMatchObject({
          messages: [{ ...fresh, offset: 2 }],
          complete: false,
        });
        expect(await history.read('brief:flash', 1, 100)).toMatchObject({
          messages: [{ ...fresh, offset: 2 }],
          complete: true,
        });
      });

      it('when an aged-out message lies between kept ones, then the range skips it and is not complete', async () => {
        const history = subject.driver;
        const first = message();
        const stale = message({ ts: Date.now() - 2 * BRIEF_MAX_AGE_MS });
        const last = message();
        for (const m of [first, stale, last]) await history.append('brief:flash', m);

        expect(await history.read('brief:flash', 0, 100)).toMatchObject({
          messages: [
            { ...first, offset: 1 },
            { ...last, offset: 3 },
          ],
          complete: false,
        });
        expect(await history.read('brief:flash', 0, 1)).toMatchObject({
          messages: [{ ...first, offset: 1 }],
          complete: true,
        });
      });

      it('when a message ages past maxAgeMs while the channel stays in use, then reads stop returning it', async () => {
        const history = subject.driver;
        // Ages out about 200 ms from now; the channel itself lives on (its last append is fresh).
        const ageing = message({ ts: Date.now() - BRIEF_MAX_AGE_MS + 200 });
        const fresh = message();
        await history.append('brief:flash', ageing);
        await history.append('brief:flash', fresh);
        expect(offsetsOf(await history.read('brief:flash', 0, 100))).toEqual([1, 2]);

        const read = await waitFor(async () => {
          const r = await history.read('brief:flash', 0, 100);
          return r.messages.length === 1 ? r : undefined;
        }, 'the older message to age out');

        expect(read).toMatchObject({ offset: 2, messages: [{ ...fresh, offset: 2 }], complete: false });
        expect(await history.read('brief:flash', 1, 100)).toMatchObject({ complete: true });
      });

      it('when a channel gets no append for maxAgeMs, then its state is forgotten: the next append is offset 1 on a new epoch', async () => {
        const history = subject.driver;
        await fill(history, 'brief:flash', 2);
        const appendedAt = Date.now();
        const old = await history.append('brief:flash', message());
        expect(old.offset).toBe(3);

        // position and read do not extend the channel's life: polling them must see it end.
        const renewed = await waitFor(
          async () => {
            await history.read('brief:flash', 0, 100);
            const position = await history.position('brief:flash');
            return position.offset === 0 ? position : undefined;
          },
          'the idle channel to be forgotten',
          EXPIRY_DEADLINE_MS,
        );
        expect(Date.now() - appendedAt).toBeGreaterThanOrEqual(BRIEF_MAX_AGE_MS - 100);
        expect(renewed.epoch).not.toBe(old.epoch);

        const fresh = message();
        const next = await history.append('brief:flash', fresh);
        expect(next).toEqual({ offset: 1, epoch: renewed.epoch });
        expect(await history.read('brief:flash', 0, 100)).toEqual({
          offset: 1,
          epoch: renewed.epoch,
          messages: [{ ...fresh, offset: 1 }],
          complete: true,
        });
        expect(await history.read('brief:flash', 3, 100)).toMatchObject({ messages: [], complete: false });
      });

      it('when a channel keeps getting appends, then it keeps its run past maxAgeMs', async () => {
        const history = subject.driver;
        const first = await history.append('brief:flash', message());
        const startedAt = Date.now();

        let last = first;
        // An append every 100 ms until 1.5 × maxAgeMs have passed since the first.
        await waitFor(
          async () => {
            last = await history.append('brief:flash', message());
            return Date.now() - startedAt > BRIEF_MAX_AGE_MS * 1.5;
          },
          'appends to run past maxAgeMs',
          EXPIRY_DEADLINE_MS,
          BRIEF_MAX_AGE_MS / 10,
        );

        expect(last.epoch).toBe(first.epoch);
        expect(last.offset).toBeGreaterThan(10);
        expect(await history.position('brief:flash')).toEqual(last);
      });
    });

    describe('append with a dedupe key', () => {
      const once = (key: string, ttlSeconds = LONG_TTL_SECONDS) => ({ key, ttlSeconds });

      it('when one key is appended twice, then one message is stored and the second answer is the first message: same offset, epoch, id and ts, replayed, nothing appended', async () => {
        const history = subject.driver;
        const sent = message();
        const retry = message({ dataJson: '"the retry\'s data"', ts: sent.ts + 5 });

        const first = await history.append('user:alice', sent, once('req-1#user:alice#0'));
        const second = await history.append('user:alice', retry, once('req-1#user:alice#0'));

        expect(first).toEqual({ offset: 1, epoch: first.epoch });
        expect(second).toEqual({
          offset: 1,
          epoch: first.epoch,
          replayed: {
            id: sent.id,
            ts: sent.ts,
            retained: { event: sent.event, dataJson: sent.dataJson },
          },
        });
        expect(await history.read('user:alice', 0, 100)).toEqual({
          offset: 1,
          epoch: first.epoch,
          messages: [{ ...sent, offset: 1 }],
          complete: true,
        });
      });

      it('when other messages were appended since, then a replay still answers the original offset and appends nothing', async () => {
        const history = subject.driver;
        const sent = message();
        await fill(history, 'user:alice', 2);
        await history.append('user:alice', sent, once('k'));
        await fill(history, 'user:alice', 2);

        const again = await history.append('user:alice', message(), once('k'));

        expect(again).toMatchObject({ offset: 3, replayed: { id: sent.id, ts: sent.ts } });
        expect((await history.position('user:alice')).offset).toBe(5);
      });

      it('when different keys are appended, then each stores its message', async () => {
        const history = subject.driver;
        const a = message();
        const b = message();

        const first = await history.append('user:alice', a, once('req-1#user:alice#0'));
        const second = await history.append('user:alice', b, once('req-1#user:alice#1'));

        expect(first).toEqual({ offset: 1, epoch: first.epoch });
        expect(second).toEqual({ offset: 2, epoch: first.epoch });
        expect((await history.read('user:alice', 0, 100)).messages).toEqual([
          { ...a, offset: 1 },
          { ...b, offset: 2 },
        ]);
      });

      it('when one key is used on two channels, then each channel stores its message', async () => {
        const history = subject.driver;

        await history.append('user:alice', message(), once('shared'));
        const other = await history.append('order:o-1', message(), once('shared'));

        expect(other).toEqual({ offset: 1, epoch: other.epoch });
        expect((await history.read('order:o-1', 0, 100)).messages).toHaveLength(1);
        expect((await history.read('user:alice', 0, 100)).messages).toHaveLength(1);
      });

      it('when 20 appends with one key race, then exactly one stores its message and every answer names it', async () => {
        const history = subject.driver;
        const sent = Array.from({ length: 20 }, () => message());

        const answers = await Promise.all(sent.map((m) => history.append('broadcast', m, once('race'))));

        const stored = answers.filter((a) => a.replayed === undefined);
        expect(stored).toHaveLength(1);
        const winner = sent[answers.indexOf(stored[0]!)]!;
        for (const answer of answers) expect(answer).toMatchObject({ offset: 1, epoch: stored[0]!.epoch });
        for (const answer of answers.filter((a) => a.replayed !== undefined))
          expect(answer.replayed).toMatchObject({ id: winner.id, ts: winner.ts });
        expect((await history.read('broadcast', 0, 100)).messages).toEqual([{ ...winner, offset: 1 }]);
      });

      it('when the original was trimmed or aged out, then a replay still answers its offset, id and ts, without its event and data', async () => {
        const history = subject.driver;
        const trimmed = message();
        await history.append('small:promo', trimmed, once('trimmed'));
        await fill(history, 'small:promo', SMALL_MAX_MESSAGES);
        const stale = message({ ts: Date.now() - 2 * BRIEF_MAX_AGE_MS });
        await history.append('brief:flash', stale, once('stale'));

        const a = await history.append('small:promo', message(), once('trimmed'));
        const b = await history.append('brief:flash', message(), once('stale'));

        expect(a).toEqual({ offset: 1, epoch: a.epoch, replayed: { id: trimmed.id, ts: trimmed.ts } });
        expect(b).toEqual({ offset: 1, epoch: b.epoch, replayed: { id: stale.id, ts: stale.ts } });
        expect((await history.position('small:promo')).offset).toBe(SMALL_MAX_MESSAGES + 1);
        expect((await history.position('brief:flash')).offset).toBe(1);
      });

      it('when the key outlives its TTL, then it is forgotten: the same key appends again', async () => {
        const history = subject.driver;
        const appendedAt = Date.now();
        const first = await history.append('user:alice', message(), once('short', SHORT_TTL_SECONDS));
        expect(
          (await history.append('user:alice', message(), once('short', SHORT_TTL_SECONDS))).replayed,
        ).toBeDefined();

        const again = await waitFor(
          async () => {
            const answer = await history.append('user:alice', message(), once('short', SHORT_TTL_SECONDS));
            return answer.replayed === undefined ? answer : undefined;
          },
          'the dedupe key to expire',
          EXPIRY_DEADLINE_MS,
          50,
        );

        expect(Date.now() - appendedAt).toBeGreaterThanOrEqual(SHORT_TTL_SECONDS * 1000 - 100);
        expect(again).toEqual({ offset: 2, epoch: first.epoch });
        expect((await history.read('user:alice', 0, 100)).messages.map((m) => m.offset)).toEqual([1, 2]);
        // The new append is recorded in turn.
        expect(await history.append('user:alice', message(), once('short'))).toMatchObject({
          offset: 2,
          replayed: {},
        });
      });

      it("when the channel's state is lost, then its keys go with it: the same key appends in the new run", async () => {
        const history = subject.driver;
        const old = await history.append('brief:flash', message(), once('lost'));

        await waitFor(
          async () => ((await history.position('brief:flash')).epoch !== old.epoch ? true : undefined),
          'the idle channel to be forgotten',
          EXPIRY_DEADLINE_MS,
        );
        const sent = message();
        const fresh = await history.append('brief:flash', sent, once('lost'));

        expect(fresh.replayed).toBeUndefined();
        expect(fresh.offset).toBe(1);
        expect(fresh.epoch).not.toBe(old.epoch);
        expect((await history.read('brief:flash', 0, 100)).messages).toEqual([{ ...sent, offset: 1 }]);
      });

      it('when the key is empty or the TTL not positive, then append rejects with a TypeError and stores nothing', async () => {
        const history = subject.driver;

        await expect(history.append('user:alice', message(), once(''))).rejects.toThrow(TypeError);
        await expect(history.append('user:alice', message(), once('k', 0))).rejects.toThrow(TypeError);
        await expect(history.append('user:alice', message(), once('k', -1))).rejects.toThrow(TypeError);
        await expect(history.append('user:alice', message(), once('k', Number.NaN))).rejects.toThrow(
          TypeError,
        );
        expect((await history.position('user:alice')).offset).toBe(0);
      });
    });

    it('when history is closed, then close resolves', async () => {
      await subject.driver.append('user:alice', message());

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
