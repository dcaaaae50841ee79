import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ HISTORY_USER_MAX_MESSAGES: '5', HISTORY_PROMOTIONS_MAX_MESSAGES: '3' });
});
afterAll(() => t.stop());

/** For the tests that hold bus publishes: the node's own stats (cluster channel) are off. */
const NO_STATS = { CLUSTER_STATS_INTERVAL_MS: '0' };

describe('recovery on subscribe', () => {
  it('when a client comes back within retention, then it gets every missed message once, in order, then live ones', async () => {
    const first = await TestClient.open(t.wsUrl, await mintToken('r1'));
    const sub = await first.subscribe('user:r1');
    await publish(t, 'user:r1', 1);
    const [seen] = await first.waitForMessages(1);
    first.close();
    await first.waitClose();
    for (let i = 2; i <= 4; i++) await publish(t, 'user:r1', i);

    const back = await TestClient.open(t.wsUrl, await mintToken('r1'));
    const reply = await back.subscribe('user:r1', { offset: seen!.offset, epoch: sub.epoch });
    expect(reply).toMatchObject({ type: 'subscribed', recovered: true, offset: 4, epoch: sub.epoch });
    await publish(t, 'user:r1', 5);
    const messages = await back.waitForMessages(4);
    expect(messages.map((m) => m.offset)).toEqual([2, 3, 4, 5]);
    expect(messages.map((m) => m.data)).toEqual([2, 3, 4, 5]);
    // The replayed frames are the very frames live subscribers got (ids, events, ts).
    expect(messages[0]).toMatchObject({ type: 'message', channel: 'user:r1', event: 'tick' });
    expect(back.frames.indexOf(reply)).toBeLessThan(back.frames.indexOf(messages[0]!));
    back.close();
  });

  it('when the offset is older than retention, then recovered is false with the current position', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('r2'));
    const sub = await c.subscribe('user:r2');
    for (let i = 1; i <= 8; i++) await publish(t, 'user:r2', i);
    await c.waitForMessages(8);
    c.send({ type: 'unsubscribe', channel: 'user:r2' });
    await c.next('unsubscribed');
    const again = await c.subscribe('user:r2', { offset: 1, epoch: sub.epoch });
    expect(again).toMatchObject({ type: 'subscribed', recovered: false, offset: 8, epoch: sub.epoch });
    await publish(t, 'user:r2', 9);
    const messages = await c.waitForMessages(9);
    expect(messages.at(-1)).toMatchObject({ offset: 9 });
    expect(messages.filter((m) => (m.offset as number) <= 8)).toHaveLength(8); // nothing replayed twice
    c.close();
  });

  it('when the epoch differs, then recovered is false', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('r3'));
    await publish(t, 'user:r3', 1);
    expect(await c.subscribe('user:r3', { offset: 0, epoch: 'another-epoch' })).toMatchObject({
      recovered: false,
      offset: 1,
    });
    c.close();
  });

  it('when the client is already up to date, then recovered is true with nothing replayed', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('r4'));
    await publish(t, 'user:r4', 1);
    const position = await fetch(`${t.url}/v1/channels/user:r4/history?since=0`, {
      headers: { authorization: ADMIN },
    });
    const { epoch } = (await position.json()) as { epoch: string };
    expect(await c.subscribe('user:r4', { offset: 1, epoch })).toMatchObject({ recovered: true, offset: 1 });
    await publish(t, 'user:r4', 2);
    expect((await c.waitForMessages(1)).map((m) => m.offset)).toEqual([2]);
    c.close();
  });

  it('when messages are published while a client recovers, then it sees every offset exactly once, in order', async () => {
    // Its own node with default retention: the shared one keeps only 3 promotions, and a recovery
    // racing 30 publishes must not depend on how many were trimmed meanwhile.
    const node = await startTestNode();
    try {
      const post = (data: unknown) => publish(node, 'promotions', data);
      const c = await TestClient.open(node.wsUrl, await mintToken('r5'));
      const sub = await c.subscribe('promotions');
      c.send({ type: 'unsubscribe', channel: 'promotions' });
      await c.next('unsubscribed');
      const start = sub.offset as number;
      await post('a');
      const publishing = (async () => {
        for (let i = 0; i < 30; i++) await post(i);
      })();
      const again = await c.subscribe('promotions', { offset: start, epoch: sub.epoch });
      await publishing;
      expect(again).toMatchObject({ type: 'subscribed', recovered: true });
      const total = 31;
      const messages = await c.waitForMessages(total, 'promotions');
      const offsets = messages.map((m) => m.offset as number);
      expect(offsets).toEqual(Array.from({ length: total }, (_, i) => start + i + 1));
      c.close();
    } finally {
      await node.stop();
    }
  });
});

describe('recovery edge cases', () => {
  it('when a copy of a replayed message is still on the bus, then the recovering client gets it once', async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode(NO_STATS, drivers);
    try {
      const post = (data: unknown) => publish(node, 'promotions', data);
      const watcher = await TestClient.open(node.wsUrl, await mintToken('w1'));
      const sub = await watcher.subscribe('promotions');
      await post(1);
      await watcher.waitForMessages(1);
      // Hold the bus: the next message is stored in history but not delivered yet.
      const held: Buffer[] = [];
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      drivers.bus.publish = (payload) => {
        held.push(payload);
        return Promise.resolve();
      };
      await post(2);
      const late = await TestClient.open(node.wsUrl, await mintToken('w2'));
      const reply = await late.subscribe('promotions', { offset: 1, epoch: sub.epoch });
      expect(reply).toMatchObject({ recovered: true, offset: 2 });
      await late.waitForMessages(1);
      drivers.bus.publish = realPublish;
      for (const payload of held) await realPublish(payload);
      await watcher.waitForMessages(2);
      await post(3);
      const messages = await late.waitForMessages(2);
      expect(messages.map((m) => m.offset)).toEqual([2, 3]);
      expect(messages.every((m) => m.epoch === sub.epoch)).toBe(true);
      watcher.close();
      late.close();
    } finally {
      await node.stop();
    }
  });

  it('when a replay is larger than the unread-bytes allowance, then it is paced instead of closing the client', async () => {
    const node = await startTestNode({ WS_MAX_BUFFERED_BYTES: '65536' });
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('big-replay'));
      const sub = await c.subscribe('user:big-replay');
      c.send({ type: 'unsubscribe', channel: 'user:big-replay' });
      await c.next('unsubscribed');
      const blob = 'z'.repeat(8_000);
      const res = await fetch(`${node.url}/v1/publish/batch`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: Array.from({ length: 100 }, (_, i) => ({
            channel: 'user:big-replay',
            event: 'bulk',
            data: { i, blob },
          })),
        }),
      });
      expect(res.status).toBe(202);
      expect(await c.subscribe('user:big-replay', { offset: 0, epoch: sub.epoch })).toMatchObject({
        recovered: true,
      });
      const messages = await c.waitForMessages(100, 'user:big-replay', 10_000);
      expect(messages.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(c.closeCode).toBeUndefined();
      c.close();
    } finally {
      await node.stop();
    }
  });
});
