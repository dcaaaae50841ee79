import { describe, expect, it } from 'vitest';
import { messageFrameJson } from '../../../shared/core/message-frame.js';
import type { HistoryRange, StoredMessage } from '../../../shared/state/history.js';
import { textFrame } from '../../../services/gateway/fanout/text-frame.js';
import {
  historyReplyJson,
  positionedFrames,
  replayFrame,
  storedMessageJson,
} from '../../../services/gateway/history-frames.js';

const stored = (offset: number, dataJson = `{"n":${offset}}`): StoredMessage => ({
  offset,
  id: `id-${offset}`,
  event: 'order.status',
  dataJson,
  ts: 1_700_000_000_000 + offset,
});

const range = (messages: StoredMessage[], complete = true): HistoryRange => ({
  offset: messages.at(-1)?.offset ?? 0,
  epoch: 'ep1',
  complete,
  messages,
});

describe('storedMessageJson', () => {
  it('when a stored message is rebuilt, then it is byte for byte the frame the publisher sent live', () => {
    const m = stored(7, '{ "status" : "shipped", "note": "é" }');
    const live = messageFrameJson({ channel: 'user:42', epoch: 'ep1', ...m });
    expect(storedMessageJson('user:42', 'ep1', m)).toBe(live);
    expect(storedMessageJson('user:42', 'ep1', m)).toBe(
      '{"type":"message","channel":"user:42","offset":7,"epoch":"ep1","id":"id-7","event":"order.status",' +
        '"data":{ "status" : "shipped", "note": "é" },"ts":1700000000007}',
    );
  });
});

describe('replayFrame', () => {
  it('when a message is replayed, then it carries its offset and the prepared WebSocket text frame', () => {
    const m = stored(3);
    const replay = replayFrame('order:9', 'ep1', m);
    expect(replay.offset).toBe(3);
    expect(replay.frame.equals(textFrame(storedMessageJson('order:9', 'ep1', m)))).toBe(true);
  });
});

describe('positionedFrames', () => {
  it('when gap repair gets messages, then each keeps its order and position and carries its frame JSON', () => {
    const messages = [stored(4), stored(5), stored(6)];
    const frames = positionedFrames('promotions', 'ep2', messages);
    expect(frames.map((f) => [f.offset, f.epoch])).toEqual([
      [4, 'ep2'],
      [5, 'ep2'],
      [6, 'ep2'],
    ]);
    frames.forEach((f, i) =>
      expect(f.payload.toString('utf8')).toBe(storedMessageJson('promotions', 'ep2', messages[i]!)),
    );
  });

  it('when there is nothing to repair, then there are no frames', () => {
    expect(positionedFrames('promotions', 'ep2', [])).toEqual([]);
  });
});

describe('historyReplyJson', () => {
  it('when a range is answered, then the reply holds its message frames, position and completeness', () => {
    const reply = historyReplyJson('user:42', range([stored(1), stored(2)]), 'r1', 1_000_000);
    expect(reply).toBe(
      '{"type":"history","channel":"user:42","offset":2,"epoch":"ep1","complete":true,"messages":[' +
        `${storedMessageJson('user:42', 'ep1', stored(1))},${storedMessageJson('user:42', 'ep1', stored(2))}` +
        '],"ref":"r1"}',
    );
  });

  it('when the request had no ref, then the reply has none; a numeric ref is echoed as a number', () => {
    const noRef = historyReplyJson('user:42', range([], false), undefined, 1000);
    expect(noRef).toBe(
      '{"type":"history","channel":"user:42","offset":0,"epoch":"ep1","complete":false,"messages":[]}',
    );
    expect(JSON.parse(historyReplyJson('user:42', range([]), 5, 1000))).toMatchObject({ ref: 5 });
  });

  it('when the messages would pass maxBytes, then they stop before the one that would (frames and separators counted)', () => {
    const messages = [stored(1), stored(2), stored(3)];
    const one = Buffer.byteLength(storedMessageJson('user:42', 'ep1', messages[0]!)) + 1;
    const reply = JSON.parse(historyReplyJson('user:42', range(messages), undefined, 2 * one)) as {
      messages: { offset: number }[];
      offset: number;
    };
    expect(reply.messages.map((m) => m.offset)).toEqual([1, 2]);
    expect(reply.offset).toBe(3);
  });

  it('when the first message alone passes maxBytes, then it is still sent (a reply always makes progress)', () => {
    const big = stored(1, `"${'é'.repeat(100)}"`);
    const reply = JSON.parse(historyReplyJson('user:42', range([big, stored(2)]), undefined, 10)) as {
      messages: { offset: number; data: string }[];
    };
    expect(reply.messages.map((m) => m.offset)).toEqual([1]);
    expect(reply.messages[0]!.data).toBe('é'.repeat(100));
  });
});
