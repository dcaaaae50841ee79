/**
 * Security suite, JWT: every way of presenting a client token that must not authenticate (forged,
 * tampered, confused algorithms, outside its validity, for another issuer or audience, against the
 * token policy) is answered with its code and close code, and never reaches `welcome`. Real Redis and
 * RabbitMQ behind the node.
 */
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken, TEST_SECRET, unsignedToken } from '../helpers/tokens.js';

let t: TestNode;
beforeAll(async () => {
  t = await startBackedNode({ WS_AUTH_TIMEOUT_MS: '300' });
});
afterAll(() => t.stop());

async function expectRejected(
  token: string,
  code: string,
  closeCode: number,
  node: TestNode = t,
): Promise<void> {
  const client = await TestClient.connect(node.wsUrl, { token });
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
    const node = await startBackedNode({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
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

  it('when the payload is altered after signing (another sub), then token_invalid and close 4001', async () => {
    const [header, , signature] = (await mintToken('victim')).split('.');
    const forged = Buffer.from(
      JSON.stringify({ sub: 'attacker', exp: Math.floor(Date.now() / 1000) + 3600 }),
    );
    await expectRejected(`${header}.${forged.toString('base64url')}.${signature}`, 'token_invalid', 4001);
  });

  it('when the token is not a JWT at all, or empty, then token_invalid and close 4001', async () => {
    for (const junk of ['x', 'a.b.c', '...', '\u0000'.repeat(10), 'e30.e30.'])
      await expectRejected(junk, 'token_invalid', 4001);
  });

  it('when its iat lies in the future, then token_invalid', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('time-traveller')
      .setIssuedAt(future)
      .setExpirationTime(future + 3600)
      .sign(Buffer.from(TEST_SECRET));
    await expectRejected(token, 'token_invalid', 4001);
  });
});

describe('token policy: issuer, audience, exp and age', () => {
  let strict: TestNode;
  beforeAll(async () => {
    strict = await startBackedNode({
      JWT_ISSUER: 'https://auth.shop.example',
      JWT_AUDIENCE: 'herald',
      JWT_REQUIRE_EXP: 'true',
      JWT_MAX_AGE_SECONDS: '600',
    });
  });
  afterAll(() => strict.stop());

  const good = { issuer: 'https://auth.shop.example', audience: 'herald' };

  it('when issuer and audience match, then the token is accepted', async () => {
    const client = await TestClient.open(strict.wsUrl, await mintToken('ok', good));
    client.close();
  });

  it('when the issuer is another, or missing, then token_invalid and close 4001', async () => {
    await expectRejected(
      await mintToken('i1', { ...good, issuer: 'https://evil.example' }),
      'token_invalid',
      4001,
      strict,
    );
    await expectRejected(await mintToken('i2', { audience: 'herald' }), 'token_invalid', 4001, strict);
  });

  it('when the audience is another, or missing, then token_invalid and close 4001', async () => {
    await expectRejected(
      await mintToken('a1', { ...good, audience: 'billing' }),
      'token_invalid',
      4001,
      strict,
    );
    await expectRejected(await mintToken('a2', { issuer: good.issuer }), 'token_invalid', 4001, strict);
  });

  it('when exp is missing and JWT_REQUIRE_EXP is set, then token_invalid', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('forever')
      .setIssuer(good.issuer)
      .setAudience(good.audience)
      .setIssuedAt()
      .sign(Buffer.from(TEST_SECRET));
    await expectRejected(token, 'token_invalid', 4001, strict);
  });

  it('when the token was issued longer ago than JWT_MAX_AGE_SECONDS, or has no iat, then it is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('old')
      .setIssuer(good.issuer)
      .setAudience(good.audience)
      .setIssuedAt(now - 3_600)
      .setExpirationTime(now + 3_600)
      .sign(Buffer.from(TEST_SECRET));
    // Too old to use counts as expired: the client may fetch a fresh token and retry.
    await expectRejected(old, 'token_expired', 4003, strict);
    const noIat = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('no-iat')
      .setIssuer(good.issuer)
      .setAudience(good.audience)
      .setExpirationTime(now + 3_600)
      .sign(Buffer.from(TEST_SECRET));
    await expectRejected(noIat, 'token_invalid', 4001, strict);
  });
});
