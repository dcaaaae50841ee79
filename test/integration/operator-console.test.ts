/**
 * The operator console's server side: POST /v1/cluster/token (admin key → an operator token that opens
 * the `cluster` channel and nothing else; coded errors for every bad request and for a node that
 * cannot sign), and the /dashboard page with its headers. On the machine's Redis and RabbitMQ; the
 * INTERNAL_PORT placement is in test/security/rest.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../shared/auth/jwt.js';
import { injector } from '../helpers/rest-inject.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, PUBLISH_ONLY, startBackedNode, type TestNode } from '../helpers/test-node.js';
import { TEST_SECRET } from '../helpers/tokens.js';

let t: TestNode;
beforeAll(async () => {
  t = await startBackedNode({ JWT_ISSUER: 'shop', JWT_AUDIENCE: 'herald' });
});
afterAll(() => t.stop());

const call = (...args: Parameters<ReturnType<typeof injector>>) => injector(t)(...args);

interface Grant {
  token: string;
  expiresIn: number;
  node: string;
  url?: string;
  internalPort: boolean;
  statsIntervalMs: number;
}

describe('POST /v1/cluster/token', () => {
  it('when an admin key asks, then it gets a 15-minute operator token, with the issuer and audience the node requires', async () => {
    const res = await call('POST', '/v1/cluster/token', { auth: ADMIN });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const grant = res.body as unknown as Grant;
    expect(grant).toEqual({
      token: expect.stringMatching(/^ey/) as unknown,
      expiresIn: 900,
      node: t.config.nodeId,
      internalPort: false,
      statsIntervalMs: 1000,
    });
    const verifier = new TokenVerifier({ ...t.config.jwt, secret: TEST_SECRET, requireExp: true });
    const verified = await verifier.verify(grant.token);
    expect(verified).toMatchObject({ ok: true, claims: { operator: true } });
    if (!verified.ok) return;
    expect(verified.claims.userId).toMatch(/^operator\.[0-9a-f]{16}$/);
    expect(verified.claims.expiresAt! - Date.now()).toBeGreaterThan(890_000);
    // Each console its own subject: no user channel and no connection limit shared.
    const again = (await call('POST', '/v1/cluster/token', { auth: ADMIN })).body as unknown as Grant;
    const other = await verifier.verify(again.token);
    expect(other.ok && other.claims.userId).not.toBe(verified.claims.userId);
  });

  it('when the operator token connects, then it may subscribe to cluster and to nothing else', async () => {
    const { token } = (await call('POST', '/v1/cluster/token', { auth: ADMIN })).body as unknown as Grant;
    const ops = await TestClient.open(t.wsUrl, token);
    try {
      expect(await ops.subscribe('cluster')).toMatchObject({ type: 'subscribed' });
      const welcome = ops.frames.find((f) => f.type === 'welcome');
      for (const channel of ['promotions', `user:${String(welcome?.user)}`])
        expect(await ops.subscribe(channel)).toMatchObject({ type: 'error', code: 'permission_denied' });
      // The node's own stats arrive (every second by default).
      const [stats] = await ops.waitForMessages(1, 'cluster', 5_000);
      expect(stats).toMatchObject({ event: 'node.stats', data: { node: t.config.nodeId } });
    } finally {
      ops.close();
    }
  });

  it('when the key is missing, wrong or publish-only, then 401 or 403 with the catalogue code', async () => {
    expect(await call('POST', '/v1/cluster/token')).toMatchObject({
      status: 401,
      body: { code: 'unauthorized' },
    });
    expect(await call('POST', '/v1/cluster/token', { auth: 'Bearer wrong-key' })).toMatchObject({
      status: 401,
      body: { code: 'unauthorized' },
    });
    expect(await call('POST', '/v1/cluster/token', { auth: PUBLISH_ONLY })).toMatchObject({
      status: 403,
      body: { code: 'insufficient_scope' },
    });
  });

  it('when the request has a body with fields, broken JSON or another media type, then a coded 4xx', async () => {
    expect(await call('POST', '/v1/cluster/token', { auth: ADMIN, body: { ttl: 99999 } })).toMatchObject({
      status: 400,
      body: { code: 'validation_failed' },
    });
    expect(await call('POST', '/v1/cluster/token', { auth: ADMIN, raw: '{"a":' })).toMatchObject({
      status: 400,
      body: { code: 'invalid_json' },
    });
    expect(
      await call('POST', '/v1/cluster/token', { auth: ADMIN, raw: 'hello', type: 'text/plain' }),
    ).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    expect(await call('POST', '/v1/cluster/token', { auth: ADMIN, body: {} })).toMatchObject({ status: 200 });
  });

  it('when the node verifies with a public key only, then 409 operator_token_unavailable, no stack trace', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyOnly = await startBackedNode({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
    try {
      const res = await injector(keyOnly)('POST', '/v1/cluster/token', { auth: ADMIN });
      expect(res).toMatchObject({ status: 409, body: { code: 'operator_token_unavailable' } });
      expect(res.body.message).toContain('JWT_SECRET');
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    } finally {
      await keyOnly.stop();
    }
  });
});

describe('GET /dashboard', () => {
  it('when the page is asked for, then it is served with no caching, no framing and a script policy by hash', async () => {
    const res = await t.node.app.inject({ method: 'GET', url: '/dashboard' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-frame-options']).toBe('DENY');
    const csp = String(res.headers['content-security-policy'] ?? '');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    const html = res.body;
    expect(html).toContain('<title>Herald operator console</title>');
    expect(html).toContain('type="password"');
    expect(html).toContain('sessionStorage');
    expect(html).not.toContain('localStorage');
  });
});
