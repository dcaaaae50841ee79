/**
 * Client token verification (fast-jwt, the verifier of fastify's own @fastify/jwt). Algorithms are
 * pinned: HS256 with JWT_SECRET, and RS256 or ES256 (chosen by the key's type) with JWT_PUBLIC_KEY;
 * each configured key has a verifier that accepts its one algorithm only, so `alg: none`, HS/RS
 * confusion and every other algorithm are refused before any key is used. `iss` and `aud` are
 * required and checked when configured; `exp` and `nbf` are checked when present, `exp` required with
 * JWT_REQUIRE_EXP, and with JWT_MAX_AGE_SECONDS `iat` is required and may be at most that old; an `iat`
 * more than a minute in the future is refused. `sub` is the user
 * id; an optional `segments` claim (array of strings) lists the promotion segments the user belongs to.
 * `herald_operator: true` marks an operator token (the dashboard's, from POST /v1/cluster/token): it may
 * subscribe to the `cluster` channel, and to nothing else (channel-access.ts).
 *
 * Verification is synchronous (node:crypto): a reconnect storm of thousands of tokens costs about
 * 15 µs each, where WebCrypto's asynchronous jobs cost four times that.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createVerifier, TokenError, type Algorithm } from 'fast-jwt';
import { isValidId, isValidSegment } from '../protocol/channels.js';

export interface TokenClaims {
  userId: string;
  /** A guest (no token, WS_ALLOW_GUESTS): `userId` is made up, and only `promotions` is open to it. */
  guest?: true;
  segments: ReadonlySet<string>;
  /**
   * An operator (claim `herald_operator: true`): the `cluster` channel is open to it, and only that.
   * Anyone who can sign client tokens can sign this claim too: it grants what the signer could see.
   */
  operator?: true;
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
  /** Refuse tokens without `exp` (JWT_REQUIRE_EXP). */
  requireExp?: boolean;
  /** Refuse tokens issued longer ago than this (JWT_MAX_AGE_SECONDS; they then need `iat`); 0 = none. */
  maxAgeSeconds?: number;
}

/** How far in the future an `iat` may lie (issuer clocks run a little ahead); beyond, it is refused. */
export const IAT_FUTURE_TOLERANCE_SECONDS = 60;

const MAX_SEGMENTS = 64;
/** The claim that marks an operator token (a private claim name, so no other issuer's claim collides). */
export const OPERATOR_CLAIM = 'herald_operator';
/** The segments of every token that lists none: one shared set, not one per connection. */
const NO_SEGMENTS: ReadonlySet<string> = new Set();

type Verify = (token: string) => Record<string, unknown>;

export class TokenVerifier {
  /** One verifier per accepted algorithm, each bound to its own key. */
  private readonly verifiers = new Map<string, Verify>();

  constructor(options: JwtOptions) {
    const claims = {
      ...(options.issuer !== undefined ? { allowedIss: options.issuer } : {}),
      ...(options.audience !== undefined ? { allowedAud: options.audience } : {}),
      requiredClaims: [
        ...(options.issuer !== undefined ? ['iss'] : []),
        ...(options.audience !== undefined ? ['aud'] : []),
        ...(options.requireExp === true ? ['exp'] : []),
        ...((options.maxAgeSeconds ?? 0) > 0 ? ['iat'] : []),
      ],
      ...((options.maxAgeSeconds ?? 0) > 0 ? { maxAge: options.maxAgeSeconds! * 1000 } : {}),
    };
    const add = (algorithm: Algorithm, key: string): void => {
      this.verifiers.set(algorithm, createVerifier({ key, algorithms: [algorithm], ...claims }));
    };
    if (options.secret !== undefined) add('HS256', options.secret);
    if (options.publicKey !== undefined)
      add(asymmetricAlgorithm(createPublicKey(options.publicKey)), options.publicKey);
    if (this.verifiers.size === 0) throw new TypeError('TokenVerifier needs a secret or a public key');
  }

  get acceptedAlgorithms(): readonly string[] {
    return [...this.verifiers.keys()];
  }

  verify(token: string): Promise<VerifyResult> {
    return Promise.resolve(this.check(token));
  }

  private check(token: string): VerifyResult {
    // With one key (the usual case) its verifier judges the header itself: no second parse of it.
    const verify =
      this.verifiers.size === 1
        ? this.verifiers.values().next().value
        : this.verifiers.get(headerAlgorithm(token) ?? '');
    if (verify === undefined) return { ok: false, code: 'token_invalid', reason: 'algorithm not accepted' };
    let payload: Record<string, unknown>;
    try {
      payload = verify(token);
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired)
        return { ok: false, code: 'token_expired', reason: 'token expired' };
      return {
        ok: false,
        code: 'token_invalid',
        reason: err instanceof TokenError ? err.code : 'malformed token',
      };
    }
    if (payload.iat !== undefined && typeof payload.iat !== 'number')
      return { ok: false, code: 'token_invalid', reason: 'iat claim must be a number' };
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + IAT_FUTURE_TOLERANCE_SECONDS)
      return { ok: false, code: 'token_invalid', reason: 'iat claim lies in the future' };
    const sub = payload.sub;
    if (typeof sub !== 'string' || !isValidId(sub)) {
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
    const operator = payload[OPERATOR_CLAIM];
    if (operator !== undefined && typeof operator !== 'boolean')
      return { ok: false, code: 'token_invalid', reason: `${OPERATOR_CLAIM} claim must be a boolean` };
    return {
      ok: true,
      claims: {
        userId: sub,
        segments: segments.length === 0 ? NO_SEGMENTS : new Set(segments),
        ...(operator === true ? { operator } : {}),
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      },
    };
  }
}

/** The `alg` of a compact JWS's protected header; undefined when it cannot be read. */
function headerAlgorithm(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > 1024) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    const alg = typeof header === 'object' && header !== null ? (header as { alg?: unknown }).alg : undefined;
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}

function asymmetricAlgorithm(key: KeyObject): 'RS256' | 'ES256' {
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new TypeError('JWT_PUBLIC_KEY: RSA keys must have at least 2048 bits');
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new TypeError('JWT_PUBLIC_KEY must be an RSA key (RS256) or a P-256 EC key (ES256)');
}
