/**
 * An idempotent publish whose first attempt stored its message and then died (SIGKILL after the
 * history append, before the answer was recorded): the backend's retry with the same Idempotency-Key,
 * once the dead attempt's claim lapses, must not store the message a second time. It answers the
 * stored message's id, offset and epoch, sends that very message on the bus again (the first attempt
 * may have died before its bus publish), and subscribers get it exactly once.
 *
 * "Died" is a bus publish that never returns (the request never answers, its claim stays until it
 * lapses, ~3 s with these timeouts) and a client that gives up. Both state drivers: memory, and Redis
 * (the machine's shared Redis under a unique prefix, deleted afterwards) with the memory bus.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers, type Drivers } from '../../services/node/drivers.js';
import { MemoryBus } from '../../shared/bus/memory-bus.js';
import { defaultHistory } from '../../shared/config/config.js';
import { createRedisState } from '../../shared/state/redis/redis-state.js';
import { retentionResolver } from '../../shared/state/retention.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

import { REDIS_URL } from '../helpers/backends.js';
/** Claim lifetime = ceil((publish timeout + 4 state timeouts) / 1 s) + 2 = 3 s with these. */
const FAST_TIMEOUTS = { AMQP_PUBLISH_TIMEOUT_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '100' };
const ROOT = `herald-test:idempotent-crash:${randomUUID()}:`;

let admin: Redis;
beforeAll(async () => {
  admin = new Redis(REDIS_URL, { lazyConnect: true });
  admin.on('error', () => undefined);
  await admin.connect();
});
afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${ROOT}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
  await admin.quit();
});

function redisDrivers(): Drivers {
  const state = createRedisState({
    url: REDIS_URL,
    prefix: `${ROOT}${randomUUID()}:`,
    nodeId: `crash-${randomUUID()}`,
    commandTimeoutMs: 2_000,
    presenceTtlSeconds: 30,
    retention: retentionResolver(defaultHistory()),
    log: pino({ level: 'silent' }),
  });
  return { bus: new MemoryBus(), state, stateReady: () => state.ready, closeState: () => state.close() };
}

interface Answer {
  messages: { channel: string; id: string; offset: number; epoch: string }[];
}

interface HistoryBody {
  epoch: string;
  offset: number;
  messages: { offset: number; id: string; event: string; data: unknown; ts: number }[];
}

describe.each([
  ['memory', createMemoryDrivers],
  ['redis', redisDrivers],
] as const)('an idempotent publish whose first attempt died after storing (%s state)', (_, makeDrivers) => {
  let drivers: Drivers;
  let node: TestNode;
  let realPublish: Drivers['bus']['publish'];

  beforeAll(async () => {
    drivers = makeDrivers();
    // Broadcast routing: this node's own subscriber gets each message from the bus, so holding the
    // bus back models a crash between storing and publishing (presence routing would deliver it here
    // without the bus). The node's own stats (cluster channel) are off: they would meet the held bus too.
    node = await startTestNode(
      { ...FAST_TIMEOUTS, BUS_ROUTING: 'broadcast', CLUSTER_STATS_INTERVAL_MS: '0' },
      drivers,
    );
    realPublish = drivers.bus.publish.bind(drivers.bus);
  });
  afterAll(() => node.stop());

  const post = (path: string, body: unknown, key?: string, signal?: AbortSignal) =>
    fetch(`${node.url}/v1${path}`, {
      method: 'POST',
      headers: {
        authorization: PUBLISH_ONLY,
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    });

  const history = async (channel: string): Promise<HistoryBody> =>
    (await (
      await fetch(`${node.url}/v1/channels/${channel}/history?since=0`, { headers: { authorization: ADMIN } })
    ).json()) as HistoryBody;

  /**
   * The first attempt: the bus publish never returns (after `deliver`ing or not), the client gives up.
   * Then the bus is back and the same request is retried until its claim lapses and it answers 202.
   */
  async function crashThenRetry(
    path: string,
    body: unknown,
    key: string,
    deliver: boolean,
    retryBody: unknown = body,
  ): Promise<Answer> {
    drivers.bus.publish = (payload) =>
      (deliver ? realPublish(payload) : Promise.resolve()).then(() => new Promise<void>(() => undefined));
    const first = await post(path, body, key, AbortSignal.timeout(300)).catch(() => 'aborted');
    expect(first).toBe('aborted');
    drivers.bus.publish = realPublish;
    const retry = await waitFor(
      async () => {
        const res = await post(path, retryBody, key);
        if (res.status === 202) return res;
        expect(res.status).toBe(409); // idempotency_in_progress until the claim lapses
        return undefined;
      },
      'the claim to lapse and the retry to be answered',
      8_000,
      200,
    );
    expect(retry.headers.get('idempotent-replayed')).toBeNull(); // it ran, it was not a recorded answer
    return (await retry.json()) as Answer;
  }

  it('when the first attempt died before its bus publish, then the retry answers the stored message (offset 1, its id), history holds it once and a subscriber gets it once', async () => {
    const user = `crash-a-${randomUUID().slice(0, 8)}`;
    const channel = `user:${user}`;
    const client = await TestClient.open(node.wsUrl, await mintToken(user));
    await client.subscribe(channel);

    const answer = await crashThenRetry(
      '/publish',
      { channel, event: 'tick', data: { n: 1 } },
      `k-${user}`,
      false,
    );

    const stored = await history(channel);
    expect(stored.offset).toBe(1);
    expect(stored.messages).toHaveLength(1);
    expect(answer.messages).toEqual([
      { channel, id: stored.messages[0]!.id, offset: 1, epoch: stored.epoch },
    ]);
    // A marker behind it: anything sent twice would arrive before it.
    expect((await post('/publish', { channel, event: 'tick', data: 'marker' })).status).toBe(202);
    const got = await client.waitForMessages(2, channel);
    expect(got.map((m) => [m.offset, m.id, m.data])).toEqual([
      [1, stored.messages[0]!.id, { n: 1 }],
      [2, expect.any(String), 'marker'],
    ]);
    expect(got[0]).toMatchObject({ epoch: stored.epoch, ts: stored.messages[0]!.ts });
    client.close();
  });

  it('when the first attempt died after its bus publish, then the copy the retry sends again is dropped: the subscriber gets the message once', async () => {
    const user = `crash-b-${randomUUID().slice(0, 8)}`;
    const channel = `user:${user}`;
    const client = await TestClient.open(node.wsUrl, await mintToken(user));
    await client.subscribe(channel);

    const answer = await crashThenRetry(
      '/publish',
      { channel, event: 'tick', data: { n: 2 } },
      `k-${user}`,
      true,
    );

    const stored = await history(channel);
    expect(stored.messages).toHaveLength(1);
    expect(answer.messages).toEqual([
      { channel, id: stored.messages[0]!.id, offset: 1, epoch: stored.epoch },
    ]);
    expect((await post('/publish', { channel, event: 'tick', data: 'marker' })).status).toBe(202);
    const got = await client.waitForMessages(2, channel);
    expect(got.map((m) => [m.offset, m.data])).toEqual([
      [1, { n: 2 }],
      [2, 'marker'],
    ]);
    client.close();
  });

  it('when an order event (two channels, occurredAt defaulted by the server) died after storing, then the retry answers both stored messages and re-sends them as stored', async () => {
    const user = `crash-c-${randomUUID().slice(0, 8)}`;
    const orderId = `o-${user}`;
    const client = await TestClient.open(node.wsUrl, await mintToken(user));
    await client.subscribe(`user:${user}`);

    const answer = await crashThenRetry(
      `/orders/${orderId}/events`,
      { userId: user, status: 'shipped' },
      `k-${user}`,
      false,
    );

    const forUser = await history(`user:${user}`);
    const forOrder = await history(`order:${orderId}`);
    expect(forUser.messages).toHaveLength(1);
    expect(forOrder.messages).toHaveLength(1);
    const [userMessage, orderMessage] = [forUser.messages[0]!, forOrder.messages[0]!];
    expect(orderMessage.id).toBe(userMessage.id);
    expect(answer.messages).toEqual([
      { channel: `user:${user}`, id: userMessage.id, offset: 1, epoch: forUser.epoch },
      { channel: `order:${orderId}`, id: userMessage.id, offset: 1, epoch: forOrder.epoch },
    ]);
    const [got] = await client.waitForMessages(1, `user:${user}`);
    // The data as first stored (its occurredAt), not the retry's.
    expect(got).toMatchObject({ offset: 1, id: userMessage.id, ts: userMessage.ts, data: userMessage.data });
    expect((await post('/publish', { channel: `user:${user}`, event: 'tick', data: 'marker' })).status).toBe(
      202,
    );
    expect((await client.waitForMessages(2, `user:${user}`)).map((m) => m.offset)).toEqual([1, 2]);
    client.close();
  });

  it('when the key comes back with another request once the dead attempt is forgotten, then that request publishes its own message', async () => {
    const channel = `user:crash-d-${randomUUID().slice(0, 8)}`;

    const answer = await crashThenRetry(
      '/publish',
      { channel, event: 'tick', data: 'first' },
      `k-${channel}`,
      false,
      { channel, event: 'tick', data: 'another' },
    );

    const stored = await history(channel);
    expect(stored.messages.map((m) => [m.offset, m.data])).toEqual([
      [1, 'first'],
      [2, 'another'],
    ]);
    expect(answer.messages).toEqual([
      { channel, id: stored.messages[1]!.id, offset: 2, epoch: stored.epoch },
    ]);
  });

  it('when a request without Idempotency-Key is sent twice, then it is stored twice, as before', async () => {
    const channel = `user:plain-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 2; i++)
      expect((await post('/publish', { channel, event: 'tick', data: 1 })).status).toBe(202);
    expect((await history(channel)).messages.map((m) => m.offset)).toEqual([1, 2]);
  });
});
