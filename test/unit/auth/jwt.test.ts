import { generateKeyPairSync } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier, type JwtOptions, type TokenClaims } from '../../../shared/auth/jwt.js';
import { mintToken, TEST_SECRET, unsignedToken } from '../../helpers/tokens.js';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const options = (overrides: Partial<JwtOptions>): JwtOptions => ({
  secret: undefined,
  publicKey: undefined,
  issuer: undefined,
  audience: undefined,
  ...overrides,
});

const hsVerifier = (overrides: Partial<JwtOptions> = {}): TokenVerifier =>
  new TokenVerifier(options({ secret: TEST_SECRET, ...overrides }));

async function claimsOf(verifier: TokenVerifier, token: string): Promise<TokenClaims> {
  const result = await verifier.verify(token);
  if (!result.ok) throw new Error(`expected a valid token, got ${result.code} (${result.reason})`);
  return result.claims;
}

async function expectInvalid(verifier: TokenVerifier, token: string): Promise<void> {
  expect(await verifier.verify(token)).toMatchObject({ ok: false, code: 'token_invalid' });
}

function signAsymmetric(alg: 'RS256' | 'ES256', privateKey: CryptoKey, sub = 'u1'): Promise<string> {
  return new SignJWT({ segments: ['vip'] })
    .setProtectedHeader({ alg })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(privateKey);
}

interface Pair {
  privateKey: CryptoKey;
  publicPem: string;
}

async function pair(alg: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { privateKey, publicPem: await exportSPKI(publicKey) };
}

let rsa: Pair;
let otherRsa: Pair;
let ec: Pair;
beforeAll(async () => {
  [rsa, otherRsa, ec] = await Promise.all([pair('RS256'), pair('RS256'), pair('ES256')]);
});

describe('TokenVerifier with an HS256 secret', () => {
  it('when the token is valid, then the claims carry the user id, segments and expiry', async () => {
    const exp = nowSeconds() + 600;
    const claims = await claimsOf(
      hsVerifier(),
      await mintToken('u-42', { segments: ['vip', 'eu-west'], expiresIn: exp }),
    );
    expect(claims.userId).toBe('u-42');
    expect(claims.segments).toEqual(new Set(['vip', 'eu-west']));
    expect(claims.expiresAt).toBe(exp * 1000);
  });

  it('when the token has no segments claim, then segments is empty', async () => {
    const claims = await claimsOf(hsVerifier(), await mintToken('u1'));
    expect(claims.segments.size).toBe(0);
  });

  it('when the token has no exp claim, then expiresAt is undefined', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .sign(Buffer.from(TEST_SECRET, 'utf8'));
    expect((await claimsOf(hsVerifier(), token)).expiresAt).toBeUndefined();
  });

  it('when only a secret is configured, then HS256 is the only accepted algorithm', () => {
    expect(hsVerifier().acceptedAlgorithms).toEqual(['HS256']);
  });

  it('when the token is expired, then token_expired', async () => {
    const result = await hsVerifier().verify(await mintToken('u1', { expiresIn: nowSeconds() - 60 }));
    expect(result).toMatchObject({ ok: false, code: 'token_expired' });
  });

  it('when the token is signed with another secret, then token_invalid', async () => {
    await expectInvalid(
      hsVerifier(),
      await mintToken('u1', { secret: 'another-secret-that-is-long-enough-too!!' }),
    );
  });

  it('when the token is alg:none, then token_invalid', async () => {
    await expectInvalid(hsVerifier(), unsignedToken('u1'));
  });

  it('when the token is RS256-signed but only a secret is configured, then token_invalid', async () => {
    await expectInvalid(hsVerifier(), await signAsymmetric('RS256', rsa.privateKey));
  });

  it('when nbf is in the future, then token_invalid', async () => {
    await expectInvalid(hsVerifier(), await mintToken('u1', { notBefore: nowSeconds() + 3600 }));
  });

  it('when nbf is in the past, then the token is accepted', async () => {
    const claims = await claimsOf(hsVerifier(), await mintToken('u1', { notBefore: nowSeconds() - 10 }));
    expect(claims.userId).toBe('u1');
  });

  it.each([
    ['exp', { exp: String(nowSeconds() + 3600) }],
    ['nbf', { nbf: 'yesterday' }],
    ['iat', { iat: 'now' }],
  ])('when the %s claim is not a number, then token_invalid', async (_claim, claims) => {
    const token = await new SignJWT({ sub: 'u1', ...claims } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(Buffer.from(TEST_SECRET, 'utf8'));
    await expectInvalid(hsVerifier(), token);
  });

  it('when the header carries a crit parameter the verifier does not understand, then token_invalid', async () => {
    const token = await new SignJWT({ sub: 'u1', exp: nowSeconds() + 3600, 'urn:x': 1 })
      .setProtectedHeader({ alg: 'HS256', crit: ['urn:x'], 'urn:x': 1 })
      .sign(Buffer.from(TEST_SECRET, 'utf8'), { crit: { 'urn:x': true } });
    await expectInvalid(hsVerifier(), token);
  });

  it('when sub is missing, then token_invalid', async () => {
    await expectInvalid(hsVerifier(), await mintToken(undefined));
  });

  it.each(['user one', 'a/b', 'u:1', 'ü', 'x'.repeat(129), ''])(
    'when sub is %j (not a valid user id), then token_invalid',
    async (sub) => {
      await expectInvalid(hsVerifier(), await mintToken(sub));
    },
  );

  it('when sub uses every allowed id character, then the token is accepted', async () => {
    const sub = 'Az09._@|=+-';
    expect((await claimsOf(hsVerifier(), await mintToken(sub))).userId).toBe(sub);
  });

  it.each([
    ['a string', 'vip'],
    ['an object', { vip: true }],
    ['a number', 7],
    ['true', true],
  ])('when segments is %s instead of an array, then token_invalid', async (_what, segments) => {
    await expectInvalid(hsVerifier(), await mintToken('u1', { segments }));
  });

  it.each([
    ['with a space', ['vip gold']],
    ['empty', ['']],
    ['with a colon', ['a:b']],
    ['with an @', ['a@b']],
    ['not a string', [42]],
    ['too long', ['s'.repeat(65)]],
  ])('when a segment name is %s, then token_invalid', async (_what, segments) => {
    await expectInvalid(hsVerifier(), await mintToken('u1', { segments }));
  });

  it('when the segments claim lists more than 64 segments, then token_invalid', async () => {
    const segments = Array.from({ length: 65 }, (_, i) => `s${i}`);
    await expectInvalid(hsVerifier(), await mintToken('u1', { segments }));
    // 64 is still fine, so the refusal above is about the count
    expect(
      (await claimsOf(hsVerifier(), await mintToken('u1', { segments: segments.slice(0, 64) }))).segments
        .size,
    ).toBe(64);
  });

  it('when the token carries herald_operator: true, then the claims mark an operator; without it, none', async () => {
    const operator = await claimsOf(
      hsVerifier(),
      await mintToken('ops-1', { claims: { herald_operator: true } }),
    );
    expect(operator.operator).toBe(true);
    expect(operator.userId).toBe('ops-1');
    expect((await claimsOf(hsVerifier(), await mintToken('u1'))).operator).toBeUndefined();
    const declined = await mintToken('u1', { claims: { herald_operator: false } });
    expect((await claimsOf(hsVerifier(), declined)).operator).toBeUndefined();
  });

  it.each([
    ['a string', 'true'],
    ['a number', 1],
    ['an object', { on: true }],
  ])('when herald_operator is %s, then token_invalid', async (_what, value) => {
    await expectInvalid(hsVerifier(), await mintToken('u1', { claims: { herald_operator: value } }));
  });

  it.each(['garbage', '', 'a.b.c', '...', 'eyJhbGciOiJIUzI1NiJ9.e30'])(
    'when the token is the garbage string %j, then token_invalid',
    async (token) => {
      await expectInvalid(hsVerifier(), token);
    },
  );
});

describe('TokenVerifier with issuer and audience', () => {
  const verifier = (): TokenVerifier => hsVerifier({ issuer: 'https://auth.shop', audience: 'herald' });

  it('when iss and aud match, then the token is accepted', async () => {
    const token = await mintToken('u1', { issuer: 'https://auth.shop', audience: 'herald' });
    expect((await claimsOf(verifier(), token)).userId).toBe('u1');
  });

  it('when iss is wrong, then token_invalid', async () => {
    await expectInvalid(
      verifier(),
      await mintToken('u1', { issuer: 'https://evil.example', audience: 'herald' }),
    );
  });

  it('when iss is missing, then token_invalid', async () => {
    await expectInvalid(verifier(), await mintToken('u1', { audience: 'herald' }));
  });

  it('when aud is wrong, then token_invalid', async () => {
    await expectInvalid(
      verifier(),
      await mintToken('u1', { issuer: 'https://auth.shop', audience: 'other' }),
    );
  });

  it('when aud is missing, then token_invalid', async () => {
    await expectInvalid(verifier(), await mintToken('u1', { issuer: 'https://auth.shop' }));
  });

  it('when neither is configured, then tokens with any iss and aud are accepted', async () => {
    const token = await mintToken('u1', { issuer: 'anyone', audience: 'anything' });
    expect((await claimsOf(hsVerifier(), token)).userId).toBe('u1');
  });
});

describe('TokenVerifier with a public key', () => {
  it('when an RSA public key is configured, then RS256 tokens signed with its private key are accepted', async () => {
    const verifier = new TokenVerifier(options({ publicKey: rsa.publicPem }));
    expect(verifier.acceptedAlgorithms).toEqual(['RS256']);
    const claims = await claimsOf(verifier, await signAsymmetric('RS256', rsa.privateKey, 'u7'));
    expect(claims.userId).toBe('u7');
    expect(claims.segments).toEqual(new Set(['vip']));
  });

  it('when a P-256 public key is configured, then ES256 tokens signed with its private key are accepted', async () => {
    const verifier = new TokenVerifier(options({ publicKey: ec.publicPem }));
    expect(verifier.acceptedAlgorithms).toEqual(['ES256']);
    expect((await claimsOf(verifier, await signAsymmetric('ES256', ec.privateKey, 'u8'))).userId).toBe('u8');
  });

  it('when an RS256 token is signed with another private key, then token_invalid', async () => {
    await expectInvalid(
      new TokenVerifier(options({ publicKey: rsa.publicPem })),
      await signAsymmetric('RS256', otherRsa.privateKey),
    );
  });

  it('when an ES256 token meets an RSA key, then token_invalid', async () => {
    await expectInvalid(
      new TokenVerifier(options({ publicKey: rsa.publicPem })),
      await signAsymmetric('ES256', ec.privateKey),
    );
  });

  it('when an HS256 token is signed with the public key PEM as secret (algorithm confusion), then token_invalid', async () => {
    const forged = await mintToken('admin', { secret: rsa.publicPem });
    // The forgery is well-formed: a verifier that (wrongly) used the PEM text as an HMAC secret would accept it.
    expect((await claimsOf(hsVerifier({ secret: rsa.publicPem }), forged)).userId).toBe('admin');
    await expectInvalid(new TokenVerifier(options({ publicKey: rsa.publicPem })), forged);
  });

  it('when an HS256 token is signed with the EC public key PEM as secret, then token_invalid', async () => {
    await expectInvalid(
      new TokenVerifier(options({ publicKey: ec.publicPem })),
      await mintToken('u1', { secret: ec.publicPem }),
    );
  });

  it('when alg:none meets a public key, then token_invalid', async () => {
    await expectInvalid(new TokenVerifier(options({ publicKey: rsa.publicPem })), unsignedToken('u1'));
  });

  it('when both a secret and a key are configured, then each algorithm verifies with its own key', async () => {
    const verifier = new TokenVerifier(options({ secret: TEST_SECRET, publicKey: rsa.publicPem }));
    expect([...verifier.acceptedAlgorithms].sort()).toEqual(['HS256', 'RS256']);
    expect((await claimsOf(verifier, await mintToken('u1'))).userId).toBe('u1');
    expect((await claimsOf(verifier, await signAsymmetric('RS256', rsa.privateKey, 'u2'))).userId).toBe('u2');
    await expectInvalid(verifier, await mintToken('u1', { secret: rsa.publicPem }));
  });
});

describe('TokenVerifier construction', () => {
  it('when neither a secret nor a public key is given, then it throws TypeError', () => {
    expect(() => new TokenVerifier(options({}))).toThrow(TypeError);
  });

  it.each(['ES384', 'Ed25519'])(
    'when the public key is an unsupported %s key, then it throws TypeError',
    async (alg) => {
      const { publicPem } = await pair(alg);
      expect(() => new TokenVerifier(options({ publicKey: publicPem }))).toThrow(TypeError);
    },
  );

  it('when the RSA public key has fewer than 2048 bits, then it throws TypeError', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => new TokenVerifier(options({ publicKey: pem }))).toThrow(/2048 bits/);
  });
});

describe('TokenVerifier token lifetime policy', () => {
  const sign = (claims: { iat?: number; exp?: number }): Promise<string> => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1');
    if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
    if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
    return jwt.sign(Buffer.from(TEST_SECRET, 'utf8'));
  };

  it('when iat lies more than a minute in the future, then the token is invalid; a few seconds ahead pass', async () => {
    await expectInvalid(hsVerifier(), await sign({ iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 }));
    await claimsOf(hsVerifier(), await sign({ iat: nowSeconds() + 5, exp: nowSeconds() + 3600 }));
  });

  it('when JWT_REQUIRE_EXP is on, then a token without exp is invalid, one with exp passes', async () => {
    const verifier = hsVerifier({ requireExp: true });
    await expectInvalid(verifier, await sign({ iat: nowSeconds() }));
    await claimsOf(verifier, await sign({ iat: nowSeconds(), exp: nowSeconds() + 60 }));
    await claimsOf(hsVerifier(), await sign({ iat: nowSeconds() })); // off by default
  });

  it('when JWT_MAX_AGE_SECONDS is set, then a token older than that, or without iat, is refused', async () => {
    const verifier = hsVerifier({ maxAgeSeconds: 600 });
    expect(await verifier.verify(await sign({ iat: nowSeconds() - 3600 }))).toMatchObject({ ok: false });
    await expectInvalid(verifier, await sign({ exp: nowSeconds() + 60 }));
    await claimsOf(verifier, await sign({ iat: nowSeconds() - 60 }));
  });
});
