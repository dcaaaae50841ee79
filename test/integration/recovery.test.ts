import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ HISTORY_USER_MAX_MESSAGES: '5', HISTORY_PROMOTIONS_MAX_MESSAGES: '3' });
});
afterAll(() => t.stop());

async function publish(
  channel: string,
  data: unknown,
  headers: Record<string, string> = {},
  node: TestNode = t,
): Promise<Response> {
  return fetch(`${node.url}/v1/publish`, {
    method: 'POST',
    headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ channel, event: 'tick', data }),
  });
}

/** For the tests that hold or refuse bus publishes: the node's own stats (cluster channel) are off. */
const NO_STATS = { CLUSTER_STATS_INTERVAL_MS: '0' };

describe('recovery on subscribe', () => {
  it('when a client comes back within retention, then it gets every missed message once, in order, then live ones', async () => {
    const first = await TestClient.open(t.wsUrl, await mintToken('r1'));
    const sub = await first.subscribe('user:r1');
    await publish('user:r1', 1);
    const [seen] = await first.waitForMessages(1);
    first.close();
    await first.waitClose();
    for (let i = 2; i <= 4; i++) expect((await publish('user:r1', i)).status).toBe(202);

    const back = await TestClient.open(t.wsUrl, await mintToken('r1'));
    const reply = await back.subscribe('user:r1', { offset: seen!.offset, epoch: sub.epoch });
    expect(reply).toMatchObject({ type: 'subscribed', recovered: true, offset: 4, epoch: sub.epoch });
    await publish('user:r1', 5);
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
    for (let i = 1; i <= 8; i++) await publish('user:r2', i);
    await c.waitForMessages(8);
    c.send({ type: 'unsubscribe', channel: 'user:r2' });
    await c.next('unsubscribed');
    const again = await c.subscribe('user:r2', { offset: 1, epoch: sub.epoch });
    expect(again).toMatchObject({ type: 'subscribed', recovered: false, offset: 8, epoch: sub.epoch });
    await publish('user:r2', 9);
    const messages = await c.waitForMessages(9);
    expect(messages.at(-1)).toMatchObject({ offset: 9 });
    expect(messages.filter((m) => (m.offset as number) <= 8)).toHaveLength(8); // nothing replayed twice
    c.close();
  });

  it('when the epoch differs, then recovered is false', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('r3'));
    await publish('user:r3', 1);
    expect(await c.subscribe('user:r3', { offset: 0, epoch: 'another-epoch' })).toMatchObject({
      recovered: false,
      offset: 1,
    });
    c.close();
  });

  it('when the client is already up to date, then recovered is true with nothing replayed', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('r4'));
    await publish('user:r4', 1);
    const position = await fetch(`${t.url}/v1/channels/user:r4/history?since=0`, {
      headers: { authorization: ADMIN },
    });
    const { epoch } = (await position.json()) as { epoch: string };
    expect(await c.subscribe('user:r4', { offset: 1, epoch })).toMatchObject({ recovered: true, offset: 1 });
    await publish('user:r4', 2);
    expect((await c.waitForMessages(1)).map((m) => m.offset)).toEqual([2]);
    c.close();
  });

  it('when messages are published while a client recovers, then it sees every offset exactly once, in order', async () => {
    // Its own node with default retention: the shared one keeps only 3 promotions, and a recovery
    // racing 30 publishes must not depend on how many were trimmed meanwhile.
    const node = await startTestNode();
    try {
      const post = (data: unknown) => publish('promotions', data, {}, node);
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

describe('GET /v1/channels/{channel}/history', () => {
  it('answers the retained messages after an offset, with the position and a complete flag (admin only)', async () => {
    for (let i = 1; i <= 7; i++) await publish('user:h1', { i });
    const forbidden = await fetch(`${t.url}/v1/channels/user:h1/history`, {
      headers: { authorization: PUBLISH_ONLY },
    });
    expect(forbidden.status).toBe(403);
    const res = await fetch(`${t.url}/v1/channels/user:h1/history?since=4&limit=2`, {
      headers: { authorization: ADMIN },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      offset: number;
      complete: boolean;
      messages: { offset: number; data: unknown }[];
    };
    expect(body).toMatchObject({ channel: 'user:h1', offset: 7, complete: true });
    expect(body.messages.map((m) => [m.offset, m.data])).toEqual([
      [5, { i: 5 }],
      [6, { i: 6 }],
    ]);
    const trimmed = (await (
      await fetch(`${t.url}/v1/channels/user:h1/history?since=0`, { headers: { authorization: ADMIN } })
    ).json()) as { complete: boolean; messages: unknown[] };
    expect(trimmed).toMatchObject({ complete: false });
    expect(trimmed.messages).toHaveLength(5);
    const bad = await fetch(`${t.url}/v1/channels/news/history`, { headers: { authorization: ADMIN } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'validation_failed' });
  });
});

describe('idempotent publishing', () => {
  it('when the attempt holding a claim never answers, then a retry gets through once the short claim lapses', async () => {
    // Claim lifetime = ceil((publish timeout + 4 state timeouts) / 1 s) + 2 = 3 s here.
    const drivers = createMemoryDrivers();
    const node = await startTestNode(
      { AMQP_PUBLISH_TIMEOUT_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '100', ...NO_STATS },
      drivers,
    );
    try {
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      // The first attempt hangs on the bus, as in a node that died mid-request: its claim stays.
      drivers.bus.publish = () => new Promise<void>(() => undefined);
      const send = (signal?: AbortSignal) =>
        fetch(`${node.url}/v1/publish`, {
          method: 'POST',
          headers: {
            authorization: PUBLISH_ONLY,
            'content-type': 'application/json',
            'idempotency-key': 'k-9',
          },
          body: JSON.stringify({ channel: 'user:i9', event: 'tick', data: 'x' }),
          ...(signal === undefined ? {} : { signal }),
        });
      const first = send(AbortSignal.timeout(300)).catch(() => 'aborted');
      expect(await first).toBe('aborted');
      drivers.bus.publish = realPublish;
      expect((await send()).status).toBe(409);
      const started = Date.now();
      await waitFor(async () => (await send()).status === 202, 'the claim to lapse', 6_000, 200);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await node.stop();
    }
  });

  it('when the same publish is sent three times with one Idempotency-Key, then it yields one message and one answer', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('i1'));
    await c.subscribe('user:i1');
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await publish('user:i1', { order: 7 }, { 'idempotency-key': 'order-7-shipped' });
      expect(res.status).toBe(202);
      answers.push({ body: await res.text(), replayed: res.headers.get('idempotent-replayed') });
    }
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers.map((a) => a.replayed)).toEqual([null, 'true', 'true']);
    await publish('user:i1', 'marker');
    const messages = await c.waitForMessages(2);
    expect(messages.map((m) => m.data)).toEqual([{ order: 7 }, 'marker']);
    c.close();
  });

  it('when the same key comes with another body, then 409 idempotency_key_reused and nothing is published', async () => {
    expect((await publish('user:i2', 1, { 'idempotency-key': 'k-2' })).status).toBe(202);
    const res = await publish('user:i2', 2, { 'idempotency-key': 'k-2' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'idempotency_key_reused' });
    const history = (await (
      await fetch(`${t.url}/v1/channels/user:i2/history`, { headers: { authorization: ADMIN } })
    ).json()) as { offset: number };
    expect(history.offset).toBe(1);
  });

  it('when the key is malformed, then 400 invalid_idempotency_key', async () => {
    const res = await publish('user:i3', 1, { 'idempotency-key': 'x'.repeat(300) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'invalid_idempotency_key' });
  });

  it('when the first attempt failed validation, then a corrected retry with the same key runs', async () => {
    const bad = await fetch(`${t.url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json', 'idempotency-key': 'k-4' },
      body: JSON.stringify({ channel: 'nope', event: 'tick', data: 1 }),
    });
    expect(bad.status).toBe(400);
    expect((await publish('user:i4', 1, { 'idempotency-key': 'k-4' })).status).toBe(202);
  });
});

describe('a message the bus refused after it was stored', () => {
  // Broadcast routing: the node's own subscriber gets each message from the bus (presence routing
  // would deliver it here without the bus, which these tests refuse).
  const BROADCAST = { BUS_ROUTING: 'broadcast', ...NO_STATS };

  it('when the bus refuses a stored message, then the publish still answers 202 and subscribers get it by gap repair', async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode(BROADCAST, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('g1'));
      await c.subscribe('user:g1');
      const post = (data: unknown) => publish('user:g1', data, {}, node);
      expect((await post(1)).status).toBe(202);
      await c.waitForMessages(1);
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      drivers.bus.publish = () => Promise.reject(new BusUnavailableError('link dropped mid-publish'));
      const lost = await post(2);
      expect(lost.status).toBe(202);
      drivers.bus.publish = realPublish;
      expect((await post(3)).status).toBe(202);
      const messages = await c.waitForMessages(3);
      expect(messages.map((m) => [m.offset, m.data])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
      c.close();
    } finally {
      await node.stop();
    }
  });

  it("when the bus refuses a channel's last message, then it is sent again and reaches subscribers without a next message", async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode(BROADCAST, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('g2'));
      await c.subscribe('user:g2');
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      let refused = 0;
      drivers.bus.publish = (payload) => {
        // Refuse the first attempt only: the bus is back for the resend.
        if (refused++ === 0) return Promise.reject(new BusUnavailableError('link dropped mid-publish'));
        return realPublish(payload);
      };
      const res = await fetch(`${node.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'user:g2', event: 'tick', data: 'last' }),
      });
      expect(res.status).toBe(202);
      const [message] = await c.waitForMessages(1, undefined, 5_000);
      expect(message).toMatchObject({ offset: 1, data: 'last' });
      expect(refused).toBe(2);
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
      const post = (data: unknown) => publish('promotions', data, {}, node);
      const watcher = await TestClient.open(node.wsUrl, await mintToken('w1'));
      const sub = await watcher.subscribe('promotions');
      expect((await post(1)).status).toBe(202);
      await watcher.waitForMessages(1);
      // Hold the bus: the next message is stored in history but not delivered yet.
      const held: Buffer[] = [];
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      drivers.bus.publish = (payload) => {
        held.push(payload);
        return Promise.resolve();
      };
      expect((await post(2)).status).toBe(202);
      const late = await TestClient.open(node.wsUrl, await mintToken('w2'));
      const reply = await late.subscribe('promotions', { offset: 1, epoch: sub.epoch });
      expect(reply).toMatchObject({ recovered: true, offset: 2 });
      await late.waitForMessages(1);
      drivers.bus.publish = realPublish;
      for (const payload of held) await realPublish(payload);
      await watcher.waitForMessages(2);
      expect((await post(3)).status).toBe(202);
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
