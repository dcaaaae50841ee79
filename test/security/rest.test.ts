/**
 * Security suite, REST: API keys missing, wrong or of the wrong scope; oversized, broken, hostile and
 * schema-violating bodies; idempotency-key abuse; and the internal port that keeps /metrics, /docs and
 * the admin routes off the public one. Every answer is a coded 4xx in the catalogue's shape, never a
 * 500 or a stack trace. Real Redis and RabbitMQ behind the node.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injector } from '../helpers/rest-inject.js';
import { ADMIN, PUBLISH_ONLY, startBackedNode, type TestNode } from '../helpers/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startBackedNode({ API_MAX_DATA_BYTES: '1024', API_BODY_LIMIT_BYTES: '4096', API_MAX_BATCH: '3' });
});
afterAll(() => t.stop());

const call = (...args: Parameters<ReturnType<typeof injector>>) => injector(t)(...args);
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
    const node = await startBackedNode({});
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

describe('REST API: prototype keys and idempotency-key abuse', () => {
  it('when a body holds a __proto__ or constructor.prototype key, then 400 forbidden_key (valid JSON, refused), and nothing is published', async () => {
    for (const raw of [
      '{"channel":"promotions","event":"e","data":{"__proto__":{"admin":true}}}',
      '{"channel":"promotions","event":"e","data":{"constructor":{"prototype":{"admin":true}}}}',
      '{"__proto__":{"channel":"promotions"},"event":"e","data":1}',
    ]) {
      const res = await call('POST', '/v1/publish', { auth: PUBLISH_ONLY, raw });
      expect(res).toMatchObject({ status: 400, body: { code: 'forbidden_key' } });
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const history = await call('GET', '/v1/channels/promotions/history', { auth: ADMIN });
    expect(JSON.stringify(history.body)).not.toContain('admin');
  });

  it('when an Idempotency-Key is too long, empty or not visible ASCII, then 400 invalid_idempotency_key', async () => {
    for (const key of ['k'.repeat(256), 'has space', 'tab\there', 'caf\u00e9']) {
      const res = await call('POST', '/v1/publish', {
        auth: PUBLISH_ONLY,
        body: { channel: 'promotions', event: 'e', data: 1 },
        headers: { 'idempotency-key': key },
      });
      expect(res).toMatchObject({ status: 400, body: { code: 'invalid_idempotency_key' } });
    }
  });

  it('when a key is reused with another body, then 409 idempotency_key_reused; with the same body in another key order, the first answer is replayed', async () => {
    const key = { 'idempotency-key': `order-${Date.now()}` };
    const first = await call('POST', '/v1/publish', {
      auth: PUBLISH_ONLY,
      raw: '{"channel":"promotions","event":"sale","data":{"a":1,"b":[{"x":1,"y":2}]}}',
      headers: key,
    });
    expect(first.status).toBe(202);
    const reordered = await call('POST', '/v1/publish', {
      auth: PUBLISH_ONLY,
      raw: '{"data":{"b":[{"y":2,"x":1}],"a":1},"event":"sale","channel":"promotions"}',
      headers: key,
    });
    expect(reordered).toMatchObject({ status: 202, headers: { 'idempotent-replayed': 'true' } });
    expect(reordered.body).toEqual(first.body);
    const other = await call('POST', '/v1/publish', {
      auth: PUBLISH_ONLY,
      body: { channel: 'promotions', event: 'sale', data: { a: 2 } },
      headers: key,
    });
    expect(other).toMatchObject({ status: 409, body: { code: 'idempotency_key_reused' } });
    // Order inside arrays is meaning, not form: a reordered array is another request.
    const swapped = await call('POST', '/v1/publish', {
      auth: PUBLISH_ONLY,
      raw: '{"channel":"promotions","event":"sale","data":{"a":1,"b":[{"x":2,"y":1}]}}',
      headers: key,
    });
    expect(swapped).toMatchObject({ status: 409, body: { code: 'idempotency_key_reused' } });
  });

  it("when another API key sends the same Idempotency-Key, then it is its own request, not the first key's answer", async () => {
    const key = { 'idempotency-key': `shared-${Date.now()}` };
    const body = { channel: 'promotions', event: 'e', data: 1 };
    const a = await call('POST', '/v1/publish', { auth: PUBLISH_ONLY, body, headers: key });
    const b = await call('POST', '/v1/publish', { auth: ADMIN, body, headers: key });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.body.messages?.[0]?.offset).not.toBe(a.body.messages?.[0]?.offset);
  });
});

describe('internal port (INTERNAL_PORT)', () => {
  let node: TestNode;
  let internalUrl: string;
  beforeAll(async () => {
    node = await startBackedNode({ INTERNAL_PORT: '0', HTTP_HEADERS_TIMEOUT_MS: '1000' });
    const address = node.node.internalAddress;
    if (address === undefined) throw new Error('no internal port');
    internalUrl = address;
  });
  afterAll(() => node.stop());

  const get = async (base: string, path: string): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: ADMIN } });
    const text = await res.text();
    return {
      status: res.status,
      code: text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined,
    };
  };

  it('when /metrics, /docs or an admin route is asked for on the public port, also percent-encoded, then 404 not_found as for a route it does not have', async () => {
    for (const path of [
      '/metrics',
      '/%6detrics',
      '/docs',
      '/docs/json',
      '/v1/cluster',
      '/v1/users/u1/presence',
      '/v1/channels/promotions/history',
      '/dashboard',
      '/dashboard/herald-client.js',
    ]) {
      expect(await get(node.url, path)).toEqual({ status: 404, code: 'not_found' });
    }
    const token = await fetch(`${node.url}/v1/cluster/token`, {
      method: 'POST',
      headers: { authorization: ADMIN },
    });
    expect(token.status).toBe(404);
  });

  it('when they are asked for on the internal port, then they answer there; health checks answer on both', async () => {
    expect((await get(internalUrl, '/metrics')).status).toBe(200);
    expect((await get(internalUrl, '/docs/json')).status).toBe(200);
    expect((await get(internalUrl, '/v1/cluster')).status).toBe(200);
    expect((await get(internalUrl, '/dashboard')).status).toBe(200);
    expect((await get(internalUrl, '/healthz')).status).toBe(200);
    expect((await get(node.url, '/healthz')).status).toBe(200);
    expect((await get(node.url, '/readyz')).status).toBe(200);
  });

  it('when the operator console asks the internal port for a token, then it is told to connect to the public port, where the publish API is', async () => {
    const res = await fetch(`${internalUrl}/v1/cluster/token`, {
      method: 'POST',
      headers: { authorization: ADMIN },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ url: `${node.wsUrl}`, internalPort: true });
  });

  it('when the internal port is asked to publish, then 404: it serves nothing public, and the public port still publishes', async () => {
    const body = JSON.stringify({ channel: 'promotions', event: 'e', data: 1 });
    const headers = { authorization: PUBLISH_ONLY, 'content-type': 'application/json' };
    expect((await fetch(`${internalUrl}/v1/publish`, { method: 'POST', headers, body })).status).toBe(404);
    expect((await fetch(`${node.url}/v1/publish`, { method: 'POST', headers, body })).status).toBe(202);
  });

  it('when a request on the internal port never finishes its headers, then 408 within HTTP_HEADERS_TIMEOUT_MS, as on the public port', async () => {
    const { hostname, port } = new URL(internalUrl);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.on('connect', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('when a client holds a half-sent request on either port, then the node still stops within seconds', async () => {
    const n = await startBackedNode({ INTERNAL_PORT: '0' });
    const sockets = [n.url, n.node.internalAddress!].map((url) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname);
      socket.on('error', () => undefined);
      socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      return socket;
    });
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    const started = Date.now();
    await n.stop();
    expect(Date.now() - started).toBeLessThan(8_000);
    for (const s of sockets) s.destroy();
  });
});

describe('storefront demo routes (DEMO_ENABLED)', () => {
  it('when the demo is turned on, then /demo/token mints a token for a valid user id only; by default (a real secret), the demo routes are 404', async () => {
    const on = await startBackedNode({ DEMO_ENABLED: 'true' });
    const off = await startBackedNode({});
    try {
      const minted = await injector(on)('GET', '/demo/token?user=42');
      expect(minted.status).toBe(200);
      expect((minted.body as { token?: string }).token).toMatch(/^ey/);
      expect(await injector(on)('GET', '/demo/token?user=a%20b')).toMatchObject({
        status: 400,
        body: { code: 'validation_failed' },
      });
      for (const route of ['/demo', '/demo/token?user=42', '/demo/herald-client.js'])
        expect((await injector(off)('GET', route)).status, route).toBe(404);
    } finally {
      await on.stop();
      await off.stop();
    }
  });
});
