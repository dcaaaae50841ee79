/**
 * Mints a client token with the configured JWT_SECRET (the demo secret in development):
 *   npm run token -- --user 42 [--segments vip,city-paris] [--ttl 3600]
 * Prints only the token, so `TOKEN=$(npm run -s token -- --user 42)` works.
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../../shared/config/config.js';
import { isValidId, isValidSegment } from '../../shared/protocol/channels.js';

function fail(message: string): never {
  console.error(`token: ${message}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', short: 'u' },
      segments: { type: 'string', short: 's' },
      ttl: { type: 'string', short: 't', default: '3600' },
    },
  });
  if (values.user === undefined || !isValidId(values.user))
    fail('--user <id> is required (1-128 of [A-Za-z0-9._@|=+-])');
  const segments = values.segments === undefined ? [] : values.segments.split(',').filter((s) => s !== '');
  const badSegment = segments.find((s) => !isValidSegment(s));
  if (badSegment !== undefined) fail(`segment ${JSON.stringify(badSegment)} is not a valid segment name`);
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  if (config.jwt.secret === undefined)
    fail('JWT_SECRET is not set (tokens for JWT_PUBLIC_KEY are minted by your identity provider)');

  let jwt = new SignJWT(segments.length > 0 ? { segments } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(values.user)
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`);
  if (config.jwt.issuer !== undefined) jwt = jwt.setIssuer(config.jwt.issuer);
  if (config.jwt.audience !== undefined) jwt = jwt.setAudience(config.jwt.audience);
  console.log(await jwt.sign(Buffer.from(config.jwt.secret, 'utf8')));
}

void main();
