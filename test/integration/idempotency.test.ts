/**
 * Idempotent publishing (the Idempotency-Key header): one message and one answer for a key sent again,
 * 409 for a key reused with another body, 400 for a malformed key, a failed validation that claims
 * nothing, and a claim whose attempt never answered that lapses. Nodes on memory drivers; the crash of
 * a node holding a claim is in idempotent-crash.test.ts, key abuse in test/security/rest.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { postPublish, publish } from '../helpers/rest-http.js';
import { injector } from '../helpers/rest-inject.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.stop());

/** A publish through `inject` (no socket) with `key` as its Idempotency-Key. */
const injectPublish = (channel: string, data: unknown, key: string) =>
  injector(t)('POST', '/v1/publish', {
    auth: PUBLISH_ONLY,
    body: { channel, event: 'tick', data },
    headers: { 'idempotency-key': key },
  });

describe('idempotent publishing', () => {
  it('when the attempt holding a claim never answers, then a retry gets through once the short claim lapses', async () => {
    // Claim lifetime = ceil((publish timeout + 4 state timeouts) / 1 s) + 2 = 3 s here.
    const drivers = createMemoryDrivers();
    const node = await startTestNode(
      // The node's own stats (cluster channel) are off: they would publish on the held bus too.
      { AMQP_PUBLISH_TIMEOUT_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '100', CLUSTER_STATS_INTERVAL_MS: '0' },
      drivers,
    );
    try {
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      // The first attempt hangs on the bus, as in a node that died mid-request: its claim stays.
      drivers.bus.publish = () => new Promise<void>(() => undefined);
      // Real HTTP: the first attempt is a request the client gives up on while the node still holds it.
      const send = (signal?: AbortSignal) =>
        postPublish(node, 'promotions', 'x', {
          idempotencyKey: 'k-9',
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
      const res = await postPublish(t, 'user:i1', { order: 7 }, { idempotencyKey: 'order-7-shipped' });
      expect(res.status).toBe(202);
      answers.push({ body: await res.text(), replayed: res.headers.get('idempotent-replayed') });
    }
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers.map((a) => a.replayed)).toEqual([null, 'true', 'true']);
    await publish(t, 'user:i1', 'marker');
    const messages = await c.waitForMessages(2);
    expect(messages.map((m) => m.data)).toEqual([{ order: 7 }, 'marker']);
    c.close();
  });

  it('when the same key comes with another body, then 409 idempotency_key_reused and nothing is published', async () => {
    expect((await injectPublish('user:i2', 1, 'k-2')).status).toBe(202);
    const res = await injectPublish('user:i2', 2, 'k-2');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'idempotency_key_reused' });
    const history = await injector(t)('GET', '/v1/channels/user:i2/history', { auth: ADMIN });
    expect(history.body.offset).toBe(1);
  });

  it('when the key is malformed, then 400 invalid_idempotency_key', async () => {
    const res = await injectPublish('user:i3', 1, 'x'.repeat(300));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'invalid_idempotency_key' });
  });

  it('when the first attempt failed validation, then a corrected retry with the same key runs', async () => {
    const bad = await injectPublish('nope', 1, 'k-4');
    expect(bad.status).toBe(400);
    expect((await injectPublish('user:i4', 1, 'k-4')).status).toBe(202);
  });
});
