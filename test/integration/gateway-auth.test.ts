import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken, unsignedToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({
    WS_AUTH_TIMEOUT_MS: '300',
    WS_MAX_CONNECTIONS_PER_USER: '2',
    ALLOWED_ORIGINS: 'https://shop.example.com',
  });
});
afterAll(() => t.stop());

async function expectRejected(token: string, code: string, closeCode: number): Promise<void> {
  const client = await TestClient.connect(t.wsUrl, { token });
  expect(await client.next('error')).toMatchObject({ code, retryable: code === 'token_expired' });
  expect(await client.waitClose()).toBe(closeCode);
  expect(client.frames.some((f) => f.type === 'welcome')).toBe(false);
}

describe('gateway authentication', () => {
  it('when the query token is valid, then welcome names the user, node, session and limits', async () => {
    const client = await TestClient.connect(t.wsUrl, { token: await mintToken('u1') });
    const welcome = await client.next('welcome');
    expect(welcome).toMatchObject({
      protocol: 'herald.v1',
      user: 'u1',
      node: t.config.nodeId,
      heartbeatMs: t.config.ws.heartbeatMs,
    });
    expect(welcome.session).toMatch(/^[0-9a-f-]{36}$/);
    expect(welcome.limits).toEqual({ maxFrameBytes: 65_536, maxSubscriptions: 100, messagesPerSecond: 50 });
    client.close();
  });

  it('when the token comes in a first auth frame, then the reply carries its ref', async () => {
    const client = await TestClient.connect(t.wsUrl);
    client.send({ type: 'auth', token: await mintToken('u2'), ref: 'a1' });
    expect(await client.next('welcome')).toMatchObject({ user: 'u2', ref: 'a1' });
    client.close();
  });

  it('when the token is expired, then token_expired and close 4003', async () => {
    await expectRejected(
      await mintToken('u3', { expiresIn: Math.floor(Date.now() / 1000) - 10 }),
      'token_expired',
      4003,
    );
  });

  it('when the signature is bad, then token_invalid and close 4001', async () => {
    await expectRejected(
      await mintToken('u3', { secret: 'another-secret-another-secret-another!' }),
      'token_invalid',
      4001,
    );
  });

  it('when the token is alg:none, then token_invalid and close 4001', async () => {
    await expectRejected(unsignedToken('u3'), 'token_invalid', 4001);
  });

  it('when the token uses another algorithm than the configured one, then token_invalid and close 4001', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const rs = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('u3')
      .setExpirationTime('1h')
      .sign(privateKey);
    await expectRejected(rs, 'token_invalid', 4001);
  });

  it('when a public key is configured, then an HS256 token signed with that key text is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const pem = await exportSPKI(publicKey);
    const node = await startTestNode({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
    try {
      const good = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256' })
        .setSubject('es')
        .setExpirationTime('1h')
        .sign(privateKey);
      const ok = await TestClient.open(node.wsUrl, good);
      ok.close();
      const confused = await mintToken('es', { secret: pem });
      const client = await TestClient.connect(node.wsUrl, { token: confused });
      expect(await client.next('error')).toMatchObject({ code: 'token_invalid' });
      expect(await client.waitClose()).toBe(4001);
    } finally {
      await node.stop();
    }
  });

  it('when the token is not yet valid (nbf), then token_invalid', async () => {
    await expectRejected(await mintToken('u3', { notBefore: '1h' }), 'token_invalid', 4001);
  });

  it('when no auth frame arrives in time, then auth_required and close 4002', async () => {
    const client = await TestClient.connect(t.wsUrl);
    expect(await client.next('error')).toMatchObject({ code: 'auth_required' });
    expect(await client.waitClose()).toBe(4002);
  });

  it('when a frame other than auth comes first, then auth_required and close 4001', async () => {
    const client = await TestClient.connect(t.wsUrl);
    client.send({ type: 'subscribe', channel: 'promotions', ref: 7 });
    expect(await client.next('error')).toMatchObject({ code: 'auth_required', ref: 7 });
    expect(await client.waitClose()).toBe(4001);
  });

  it('when authenticated twice, then already_authenticated and the connection stays', async () => {
    const client = await TestClient.open(t.wsUrl, await mintToken('u4'));
    client.send({ type: 'auth', token: await mintToken('u4'), ref: 2 });
    expect(await client.next('error')).toMatchObject({ code: 'already_authenticated', ref: 2 });
    client.send({ type: 'ping', ref: 3 });
    expect(await client.next('pong')).toMatchObject({ ref: 3 });
    client.close();
  });

  it('when the token expires while connected, then token_expired and close 4003', async () => {
    const exp = Math.floor(Date.now() / 1000) + 1;
    const client = await TestClient.open(t.wsUrl, await mintToken('u5', { expiresIn: exp }));
    expect(await client.next('error', undefined, 4_000)).toMatchObject({
      code: 'token_expired',
      retryable: true,
    });
    expect(await client.waitClose()).toBe(4003);
  });

  it('when a user opens more connections than allowed, then the extra one gets too_many_connections (4008)', async () => {
    const token = await mintToken('u6');
    const a = await TestClient.open(t.wsUrl, token);
    const b = await TestClient.open(t.wsUrl, token);
    const c = await TestClient.connect(t.wsUrl, { token });
    expect(await c.next('error')).toMatchObject({ code: 'too_many_connections', retryable: true });
    expect(await c.waitClose()).toBe(4008);
    // The refused connection is not counted in presence.
    const presence = await fetch(`${t.url}/v1/users/u6/presence`, { headers: { authorization: ADMIN } });
    expect(await presence.json()).toMatchObject({ connections: 2 });
    a.close();
    await waitFor(async () => {
      const p = await fetch(`${t.url}/v1/users/u6/presence`, { headers: { authorization: ADMIN } });
      return ((await p.json()) as { connections: number }).connections === 1;
    }, 'presence to drop to 1');
    const d = await TestClient.open(t.wsUrl, token);
    d.close();
    b.close();
  });
});

describe('upgrade guards', () => {
  it('when the Origin is not allowed, then the upgrade is refused with 403', async () => {
    await expect(
      TestClient.connect(t.wsUrl, {
        token: await mintToken('o1'),
        headers: { origin: 'https://evil.example' },
      }),
    ).rejects.toThrow('HTTP 403');
  });

  it('when 50 upgrades come from a foreign Origin, then each is refused and counted, and the log gets one line, its text cut short', async () => {
    const lines: string[] = [];
    const node = await startTestNode(
      { ALLOWED_ORIGINS: 'https://shop.example.com' },
      undefined,
      pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    );
    try {
      const origin = `https://evil.example/${'x'.repeat(5_000)}`;
      for (let i = 0; i < 50; i++)
        await expect(TestClient.connect(node.wsUrl, { headers: { origin } })).rejects.toThrow('HTTP 403');
      const about = lines.filter((l) => l.includes('origin not allowed'));
      expect(about).toHaveLength(1);
      expect(about[0]!.length).toBeLessThan(600);
      const metrics = await (
        await fetch(`${node.url}/metrics`, { headers: { authorization: ADMIN } })
      ).text();
      expect(metrics).toMatch(/^herald_upgrades_refused_total\{reason="origin"\} 50$/m);
    } finally {
      await node.stop();
    }
  });

  it('when the Origin is allowed, then the connection opens', async () => {
    const client = await TestClient.connect(t.wsUrl, {
      token: await mintToken('o2'),
      headers: { origin: 'https://shop.example.com' },
    });
    await client.next('welcome');
    client.close();
  });

  it('when the path is not /ws, then the upgrade is refused with 404', async () => {
    await expect(TestClient.connect(t.wsUrl.replace('/ws', '/nope'))).rejects.toThrow('HTTP 404');
  });

  it('when the gateway stops accepting, then upgrades get 503 and open connections keep working', async () => {
    const node = await startTestNode();
    try {
      const client = await TestClient.open(node.wsUrl, await mintToken('s1'));
      node.node.gateway.stopAccepting();
      await expect(TestClient.connect(node.wsUrl, { token: await mintToken('s2') })).rejects.toThrow(
        'HTTP 503',
      );
      client.send({ type: 'ping', ref: 'still-here' });
      expect(await client.next('pong')).toMatchObject({ ref: 'still-here' });
      const ready = await fetch(`${node.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await node.stop();
    }
  });

  it('when the node stops, then clients are closed with 1001 and readiness fails during shutdown', async () => {
    const node = await startTestNode();
    const client = await TestClient.open(node.wsUrl, await mintToken('s3'));
    const stopping = node.node.stop();
    expect(node.node.notReadyReasons()).toContain('shutting down');
    expect(await client.waitClose()).toBe(1001);
    await stopping;
  });
});
