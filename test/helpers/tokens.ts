import { SignJWT } from 'jose';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256!';

export interface TokenOptions {
  segments?: unknown;
  expiresIn?: string | number;
  notBefore?: string | number;
  issuer?: string;
  audience?: string;
  secret?: string;
  /** Further claims, e.g. `{ herald_operator: true }` for an operator token. */
  claims?: Record<string, unknown>;
}

/** Mints an HS256 client token for `userId` (default secret: TEST_SECRET, 1 hour). */
export async function mintToken(userId: string | undefined, options: TokenOptions = {}): Promise<string> {
  let jwt = new SignJWT({
    ...options.claims,
    ...(options.segments === undefined ? {} : { segments: options.segments }),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (userId !== undefined) jwt = jwt.setSubject(userId);
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return jwt.sign(Buffer.from(options.secret ?? TEST_SECRET, 'utf8'));
}

/** An unsigned `alg: none` token, which must always be refused. */
export function unsignedToken(userId: string): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: userId, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}
