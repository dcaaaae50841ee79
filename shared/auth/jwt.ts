/**
 * Client token verification (jose). Algorithms are pinned: HS256 with JWT_SECRET, and RS256 or ES256
 * (chosen by the key's type) with JWT_PUBLIC_KEY. `alg: none` and every other algorithm are refused by
 * jose before any key is used. `sub` is the user id; an optional `segments` claim (array of strings)
 * lists the promotion segments the user belongs to.
 */
import { createPublicKey, createSecretKey, webcrypto, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { isValidId, isValidSegment } from '../protocol/channels.js';

export interface TokenClaims {
  userId: string;
  segments: ReadonlySet<string>;
  /** Expiry in milliseconds since the epoch, if the token has one. */
  expiresAt: number | undefined;
}

export type VerifyResult =
  { ok: true; claims: TokenClaims } | { ok: false; code: 'token_invalid' | 'token_expired'; reason: string };

export interface JwtOptions {
  secret: string | undefined;
  publicKey: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
}

const MAX_SEGMENTS = 64;
/** The segments of every token that lists none: one shared set, not one per connection. */
const NO_SEGMENTS: ReadonlySet<string> = new Set();

export class TokenVerifier {
  private readonly keys = new Map<string, KeyObject | Promise<webcrypto.CryptoKey>>();
  private readonly algorithms: string[];

  constructor(private readonly options: JwtOptions) {
    if (options.secret !== undefined) {
      // A WebCrypto key, imported once: jose uses it as it is (a KeyObject costs a conversion check on
      // every verify, about half of a verify's CPU).
      const secret = createSecretKey(Buffer.from(options.secret, 'utf8'));
      this.keys.set(
        'HS256',
        webcrypto.subtle.importKey('raw', secret.export(), { name: 'HMAC', hash: 'SHA-256' }, false, [
          'verify',
        ]),
      );
    }
    if (options.publicKey !== undefined) {
      const key = createPublicKey(options.publicKey);
      this.keys.set(asymmetricAlgorithm(key), key);
    }
    if (this.keys.size === 0) throw new TypeError('TokenVerifier needs a secret or a public key');
    this.algorithms = [...this.keys.keys()];
  }

  get acceptedAlgorithms(): readonly string[] {
    return this.algorithms;
  }

  async verify(token: string): Promise<VerifyResult> {
    let payload: JWTPayload;
    try {
      const result = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header.alg), {
        algorithms: this.algorithms,
        ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
        ...(this.options.audience !== undefined ? { audience: this.options.audience } : {}),
      });
      payload = result.payload;
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        return { ok: false, code: 'token_expired', reason: 'token expired' };
      return { ok: false, code: 'token_invalid', reason: describe(err) };
    }
    if (typeof payload.sub !== 'string' || !isValidId(payload.sub)) {
      return { ok: false, code: 'token_invalid', reason: 'sub claim missing or not a valid user id' };
    }
    const segments = payload.segments ?? [];
    if (
      !Array.isArray(segments) ||
      segments.length > MAX_SEGMENTS ||
      !segments.every((s): s is string => typeof s === 'string' && isValidSegment(s))
    ) {
      return { ok: false, code: 'token_invalid', reason: 'segments claim must be a list of segment names' };
    }
    return {
      ok: true,
      claims: {
        userId: payload.sub,
        segments: segments.length === 0 ? NO_SEGMENTS : new Set(segments),
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      },
    };
  }

  private keyFor(alg: string): KeyObject | Promise<webcrypto.CryptoKey> {
    const key = this.keys.get(alg);
    // jose has already refused algorithms outside `algorithms`; this guards the key lookup itself.
    if (key === undefined) throw new errors.JOSEAlgNotAllowed(`algorithm ${alg} is not accepted`);
    return key;
  }
}

function asymmetricAlgorithm(key: KeyObject): 'RS256' | 'ES256' {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new TypeError('JWT_PUBLIC_KEY must be an RSA key (RS256) or a P-256 EC key (ES256)');
}

function describe(err: unknown): string {
  if (err instanceof errors.JOSEError) return err.code;
  return 'malformed token';
}
