/**
 * Client tokens minted by the node itself: the demo's (/demo/token, any user id) and the operator
 * console's (POST /v1/cluster/token, `herald_operator: true`). HS256 with JWT_SECRET, with the
 * configured `iss` and `aud`, `iat` and `exp`: exactly what the node's own verifier accepts. A node
 * that verifies with JWT_PUBLIC_KEY only holds no key to sign with (`canMint` false).
 */
import { SignJWT } from 'jose';
import type { Config } from '../../shared/config/config.js';

export interface MintOptions {
  /** The token's `sub`: a valid user id (shared/protocol/channels.ts, isValidId). */
  subject: string;
  /** Lifetime: `exp` is this many seconds after `iat`. */
  ttlSeconds: number;
  /** Further claims, e.g. `{ herald_operator: true }`. */
  claims?: Record<string, unknown>;
}

/** Whether this node can mint client tokens (it has JWT_SECRET). */
export const canMint = (jwt: Config['jwt']): boolean => jwt.secret !== undefined;

/** Signs a client token; throws TypeError on a node without JWT_SECRET (check `canMint` first). */
export async function mintClientToken(jwt: Config['jwt'], options: MintOptions): Promise<string> {
  if (jwt.secret === undefined) throw new TypeError('mintClientToken needs JWT_SECRET');
  let token = new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds}s`);
  if (jwt.issuer !== undefined) token = token.setIssuer(jwt.issuer);
  if (jwt.audience !== undefined) token = token.setAudience(jwt.audience);
  return token.sign(Buffer.from(jwt.secret, 'utf8'));
}
