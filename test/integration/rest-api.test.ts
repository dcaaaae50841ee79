import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { injector } from '../helpers/rest-inject.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ API_MAX_DATA_BYTES: '1024', API_BODY_LIMIT_BYTES: '4096', API_MAX_BATCH: '3' });
});
afterAll(() => t.stop());

const call = (...args: Parameters<ReturnType<typeof injector>>) => injector(t)(...args);
const publish = (body: unknown, auth = PUBLISH_ONLY) => call('POST', '/v1/publish', { auth, body });

describe('REST API publishing', () => {
  it('when a message is published, then 202 with id, offset and epoch', async () => {
    const a = await publish({ channel: 'user:rest-1', event: 'note', data: { hello: 'world' } });
    const b = await publish({ channel: 'user:rest-1', event: 'note', data: null });
    expect(a.status).toBe(202);
    expect(a.body.messages).toHaveLength(1);
    expect(a.body.messages?.[0]).toMatchObject({ channel: 'user:rest-1', offset: 1 });
    expect(a.body.messages?.[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.body.messages?.[0]?.epoch).toMatch(/^\w+$/);
    expect(b.body.messages?.[0]).toMatchObject({ offset: 2, epoch: a.body.messages?.[0]?.epoch });
  });

  it('when an order event is posted, then it lands on the user and order channels', async () => {
    const res = await call('POST', '/v1/orders/o-9/events', {
      auth: PUBLISH_ONLY,
      body: { userId: 'u9', status: 'delivered', occurredAt: '2026-11-21T10:00:00Z' },
    });
    expect(res.status).toBe(202);
    expect(res.body.messages?.map((m) => m.channel)).toEqual(['user:u9', 'order:o-9']);
  });

  it('when an order event names another user than the order owner, then 409 and nothing is published', async () => {
    await call('POST', '/v1/orders/o-10/events', {
      auth: PUBLISH_ONLY,
      body: { userId: 'owner', status: 'created' },
    });
    const before = await t.node.app.inject({ method: 'GET', url: '/metrics' });
    const res = await call('POST', '/v1/orders/o-10/events', {
      auth: PUBLISH_ONLY,
      body: { userId: 'intruder', status: 'paid' },
    });
    expect(res).toMatchObject({ status: 409, body: { code: 'order_owner_conflict' } });
    const after = await t.node.app.inject({ method: 'GET', url: '/metrics' });
    const count = (text: string): string | undefined =>
      /herald_messages_published_total\{kind="user"\} (\d+)/.exec(text)?.[1];
    expect(count(after.body)).toBe(count(before.body));
  });

  it('when a promotion is posted with a segment, then it goes to promotions:{segment}', async () => {
    const res = await call('POST', '/v1/promotions', {
      auth: PUBLISH_ONLY,
      body: {
        promotionId: 'p1',
        title: 'T',
        body: 'B',
        segment: 'vip',
        url: 'https://shop.example.com/p1',
        expiresAt: '2099-01-01T00:00:00Z',
      },
    });
    expect(res.status).toBe(202);
    expect(res.body.messages?.[0]?.channel).toBe('promotions:vip');
  });

  it('when a promotion has already expired, then 422 promotion_expired', async () => {
    const res = await call('POST', '/v1/promotions', {
      auth: PUBLISH_ONLY,
      body: { promotionId: 'p2', title: 'T', body: 'B', expiresAt: '2001-01-01T00:00:00Z' },
    });
    expect(res).toMatchObject({ status: 422, body: { code: 'promotion_expired' } });
  });

  it('when a batch is published, then every message is answered in order', async () => {
    const res = await call('POST', '/v1/publish/batch', {
      auth: PUBLISH_ONLY,
      body: { messages: [1, 2, 3].map((i) => ({ channel: 'user:batch', event: 'n', data: i })) },
    });
    expect(res.status).toBe(202);
    expect(res.body.messages?.map((m) => m.offset)).toEqual([1, 2, 3]);
  });

  it('when one batch entry is invalid, then 400 and nothing of the batch is published', async () => {
    const res = await call('POST', '/v1/publish/batch', {
      auth: PUBLISH_ONLY,
      body: {
        messages: [
          { channel: 'user:batch2', event: 'n', data: 1 },
          { channel: 'nope', event: 'n', data: 2 },
        ],
      },
    });
    expect(res).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
    const next = await publish({ channel: 'user:batch2', event: 'n', data: 1 });
    expect(next.body.messages?.[0]?.offset).toBe(1);
  });
});

describe('operations endpoints', () => {
  it('when the cluster view is asked for, then it lists this node with its URL and a fresh heartbeat', async () => {
    expect((await call('GET', '/v1/cluster', { auth: PUBLISH_ONLY })).status).toBe(403);
    const before = Date.now();
    const res = await t.node.app.inject({
      method: 'GET',
      url: '/v1/cluster',
      headers: { authorization: ADMIN },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      self: string;
      nodes: { id: string; url: string; lastHeartbeat: number; load: number }[];
    }>();
    expect(body.self).toBe(t.config.nodeId);
    expect(body.nodes).toHaveLength(1);
    expect(body.nodes[0]).toMatchObject({
      id: t.config.nodeId,
      url: t.url,
      connections: 0,
      capacity: 1,
      load: 0,
      draining: false,
    });
    expect(body.nodes[0]!.lastHeartbeat).toBeGreaterThan(before - 60_000);
  });

  it('serves /healthz, /readyz, /metrics and the OpenAPI document', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
    const metrics = await t.node.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('herald_connections');
    expect(metrics.body).toContain('herald_messages_published_total');
    const spec = await t.node.app.inject({ method: 'GET', url: '/docs/json' });
    expect(spec.statusCode).toBe(200);
    const paths = Object.keys(spec.json<{ paths: Record<string, unknown> }>().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/orders/{orderId}/events',
        '/v1/promotions',
        '/v1/publish',
        '/v1/publish/batch',
        '/v1/users/{userId}/presence',
        '/v1/users/{userId}/connections',
      ]),
    );
    const ui = await t.node.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(ui.statusCode);
  });
});

describe('REST API when a backing service is down', () => {
  it('when the state store does not answer, then 503 state_unavailable; when the bus does not, 503 bus_unavailable', async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode({}, drivers);
    try {
      const publish = () =>
        injector(node)('POST', '/v1/publish', {
          auth: PUBLISH_ONLY,
          body: { channel: 'promotions', event: 'e', data: 1 },
        });
      drivers.state.history.append = () => Promise.reject(new StateUnavailableError('redis down'));
      const stateDown = await publish();
      expect(stateDown.status).toBe(503);
      expect(stateDown.body).toMatchObject({ code: 'state_unavailable' });
      drivers.state.history.append = () => Promise.resolve({ offset: 1, epoch: 'e' });
      Object.defineProperty(drivers.bus, 'ready', { get: () => false });
      const busDown = await publish();
      expect(busDown.status).toBe(503);
      expect(busDown.body).toMatchObject({ code: 'bus_unavailable' });
    } finally {
      await node.stop();
    }
  });
});
