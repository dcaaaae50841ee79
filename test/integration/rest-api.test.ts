import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ API_MAX_DATA_BYTES: '1024', API_BODY_LIMIT_BYTES: '4096', API_MAX_BATCH: '3' });
});
afterAll(() => t.stop());

interface Reply {
  status: number;
  body: {
    statusCode?: number;
    code?: string;
    message?: string;
    messages?: { channel: string; offset: number; id: string; epoch: string }[];
  };
}

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  options: { auth?: string; body?: unknown; raw?: string; type?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.auth !== undefined) headers.authorization = options.auth;
  if (options.body !== undefined || options.raw !== undefined)
    headers['content-type'] = options.type ?? 'application/json';
  const res = await t.node.app.inject({
    method,
    url,
    headers,
    ...(options.raw !== undefined
      ? { payload: options.raw }
      : options.body !== undefined
        ? { payload: JSON.stringify(options.body) }
        : {}),
  });
  const text = res.body;
  return { status: res.statusCode, body: text.startsWith('{') ? (JSON.parse(text) as Reply['body']) : {} };
}

const publish = (body: unknown, auth = PUBLISH_ONLY) => call('POST', '/v1/publish', { auth, body });

describe('REST API authentication', () => {
  it('when no key is sent, then 401 unauthorized with a WWW-Authenticate header', async () => {
    const res = await t.node.app.inject({ method: 'POST', url: '/v1/publish', payload: {} });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toMatchObject({ statusCode: 401, code: 'unauthorized' });
  });

  it('when the key is wrong or malformed, then 401', async () => {
    expect((await publish({ channel: 'promotions', event: 'e', data: 1 }, 'Bearer nope')).body.code).toBe(
      'unauthorized',
    );
    expect((await publish({ channel: 'promotions', event: 'e', data: 1 }, 'Basic abc')).status).toBe(401);
  });

  it('when the key lacks the scope, then 403 insufficient_scope', async () => {
    const res = await call('GET', '/v1/users/u1/presence', { auth: PUBLISH_ONLY });
    expect(res).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    const del = await call('DELETE', '/v1/users/u1/connections', { auth: PUBLISH_ONLY });
    expect(del).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
  });

  it('when the key has admin, then it may publish too', async () => {
    expect((await publish({ channel: 'promotions', event: 'e', data: 1 }, ADMIN)).status).toBe(202);
  });
});

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

describe('REST API bad input', () => {
  const cases: [string, unknown, string][] = [
    ['channel of unknown shape', { channel: 'news', event: 'e', data: 1 }, 'validation_failed'],
    ['missing data', { channel: 'promotions', event: 'e' }, 'validation_failed'],
    ['bad event name', { channel: 'promotions', event: 'has space', data: 1 }, 'validation_failed'],
    ['unknown field', { channel: 'promotions', event: 'e', data: 1, extra: true }, 'validation_failed'],
    ['not an object', [1, 2], 'validation_failed'],
  ];
  for (const [what, body, code] of cases) {
    it(`when the publish body has ${what}, then 400 ${code}`, async () => {
      const res = await publish(body);
      expect(res).toMatchObject({ status: 400, body: { statusCode: 400, code } });
      expect(res.body.message).toBeTruthy();
    });
  }

  it('when an order event has an unknown status, then 400 validation_failed', async () => {
    const res = await call('POST', '/v1/orders/o-1/events', {
      auth: PUBLISH_ONLY,
      body: { userId: 'u1', status: 'teleported' },
    });
    expect(res).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
  });

  it('when the order id in the path is malformed, then 400 validation_failed', async () => {
    const res = await call('POST', '/v1/orders/bad%20id/events', {
      auth: PUBLISH_ONLY,
      body: { userId: 'u1', status: 'paid' },
    });
    expect(res).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
  });

  it('when the promotion misses its title or has a bad url, then 400', async () => {
    expect(
      (await call('POST', '/v1/promotions', { auth: PUBLISH_ONLY, body: { promotionId: 'p', body: 'B' } }))
        .status,
    ).toBe(400);
    expect(
      (
        await call('POST', '/v1/promotions', {
          auth: PUBLISH_ONLY,
          body: { promotionId: 'p', title: 'T', body: 'B', url: 'not a url' },
        })
      ).status,
    ).toBe(400);
  });

  it('when the body is not JSON, then 400 invalid_json', async () => {
    const res = await call('POST', '/v1/publish', { auth: PUBLISH_ONLY, raw: '{"channel":' });
    expect(res).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
  });

  it('when the content type is not JSON, then 415 unsupported_media_type', async () => {
    const res = await call('POST', '/v1/publish', { auth: PUBLISH_ONLY, raw: 'hello', type: 'text/plain' });
    expect(res).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
  });

  it('when the body exceeds the limit, then 413 payload_too_large', async () => {
    const res = await publish({ channel: 'promotions', event: 'e', data: 'x'.repeat(5000) });
    expect(res).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
  });

  it('when data exceeds the per-message limit, then 413 data_too_large', async () => {
    const res = await publish({ channel: 'promotions', event: 'e', data: 'x'.repeat(2000) });
    expect(res).toMatchObject({ status: 413, body: { code: 'data_too_large' } });
  });

  it('when the batch is too long or empty, then 400', async () => {
    const four = [1, 2, 3, 4].map((i) => ({ channel: 'promotions', event: 'n', data: i }));
    expect(
      (await call('POST', '/v1/publish/batch', { auth: PUBLISH_ONLY, body: { messages: four } })).status,
    ).toBe(400);
    expect(
      (await call('POST', '/v1/publish/batch', { auth: PUBLISH_ONLY, body: { messages: [] } })).status,
    ).toBe(400);
  });

  it('when the route does not exist, then 404 not_found', async () => {
    expect(await call('GET', '/v1/nothing')).toMatchObject({ status: 404, body: { code: 'not_found' } });
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
        node.node.app.inject({
          method: 'POST',
          url: '/v1/publish',
          headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
          payload: JSON.stringify({ channel: 'promotions', event: 'e', data: 1 }),
        });
      drivers.state.history.append = () => Promise.reject(new StateUnavailableError('redis down'));
      const stateDown = await publish();
      expect(stateDown.statusCode).toBe(503);
      expect(stateDown.json()).toMatchObject({ code: 'state_unavailable' });
      drivers.state.history.append = () => Promise.resolve({ offset: 1, epoch: 'e' });
      Object.defineProperty(drivers.bus, 'ready', { get: () => false });
      const busDown = await publish();
      expect(busDown.statusCode).toBe(503);
      expect(busDown.json()).toMatchObject({ code: 'bus_unavailable' });
    } finally {
      await node.stop();
    }
  });
});

describe('REST API: hostile input gets a coded 4xx, never a 500', () => {
  it('when history is asked for since an offset above 2^53, then 400 validation_failed', async () => {
    for (const since of ['9007199254740993', '1' + '0'.repeat(30)]) {
      const res = await call('GET', `/v1/channels/promotions/history?since=${since}`, { auth: ADMIN });
      expect(res).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
    }
  });

  it('when a body nests 100,000 levels deep, with or without an Idempotency-Key, then 400 invalid_json naming the limit', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const raw = `{"channel":"promotions","event":"e","data":${deep}}`;
    // Default limits (the shared test node's body limit would answer 413 first).
    const node = await startTestNode({});
    try {
      for (const headers of [{}, { 'idempotency-key': 'deep-1' }]) {
        const res = await node.node.app.inject({
          method: 'POST',
          url: '/v1/publish',
          headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json', ...headers },
          payload: raw,
        });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'invalid_json',
          message: expect.stringContaining('100 levels') as string,
        });
      }
    } finally {
      await node.stop();
    }
    // 100 levels are fine, brackets inside strings do not count.
    const ok = await publish({
      channel: 'promotions',
      event: 'e',
      data: JSON.parse('['.repeat(98) + '"[[[{{{"' + ']'.repeat(98)) as unknown,
    });
    expect(ok.status).toBe(202);
  });

  it('when an id is 128 characters (allowed), then it is served; when a path segment is longer than 512, then 414 uri_too_long in the catalogue shape', async () => {
    const allowed = await call('GET', `/v1/users/${'a'.repeat(128)}/presence`, { auth: ADMIN });
    expect(allowed.status).toBe(200);
    const res = await call('GET', `/v1/users/${'a'.repeat(600)}/presence`, { auth: ADMIN });
    expect(res).toMatchObject({ status: 414, body: { statusCode: 414, code: 'uri_too_long' } });
  });

  it('when a promotion links to a javascript:, data: or ftp: URL, then 400 validation_failed; http(s) links pass', async () => {
    const promotion = (url: string) =>
      call('POST', '/v1/promotions', {
        auth: PUBLISH_ONLY,
        body: {
          promotionId: 'p-url',
          title: 'Sale',
          body: 'Now',
          url,
          imageUrl: 'https://cdn.example.com/a.png',
        },
      });
    for (const url of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<b>x</b>',
      'ftp://x.example/a',
    ])
      expect(await promotion(url)).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
    expect((await promotion('https://shop.example.com/sale')).status).toBe(202);
  });
});
