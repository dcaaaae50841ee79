/**
 * The storefront demo (DEMO_ENABLED; default on outside production): the page at /demo, the browser
 * SDK bundle it loads, and /demo/token, which mints a one-hour client token for any user id. The
 * token route is why the demo must never run in front of real users.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { SignJWT } from 'jose';
import { isValidId } from '../../../shared/protocol/channels.js';
import type { ApiDeps } from '../app.js';
import { DEMO_PAGE } from '../demo/page.js';
import { ApiError } from '../errors.js';

/** Where `npm run build` writes the SDK bundle: dist/client, seen from dist/services/api/routes or from the source tree. */
const BUNDLE_CANDIDATES = [
  new URL('../../../client/herald-client.js', import.meta.url),
  new URL('../../../dist/client/herald-client.js', import.meta.url),
];

const DEMO_TOKEN_SECONDS = 3_600;

export const demoRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  let bundle: Promise<string | undefined> | undefined;
  const loadBundle = (): Promise<string | undefined> =>
    (bundle ??= (async () => {
      for (const candidate of BUNDLE_CANDIDATES) {
        const text = await readFile(candidate, 'utf8').catch(() => undefined);
        if (text !== undefined) return text;
      }
      bundle = undefined; // built later: look again next time
      return undefined;
    })());

  app.get('/demo', { schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(DEMO_PAGE),
  );

  app.get('/demo/herald-client.js', { schema: { hide: true } }, async (_request, reply) => {
    const text = await loadBundle();
    if (text === undefined)
      throw new ApiError('not_found', 'The SDK bundle is not built (npm run build writes dist/client)');
    return reply.type('text/javascript; charset=utf-8').send(text);
  });

  app.get(
    '/demo/token',
    {
      schema: {
        hide: true,
        querystring: Type.Object({ user: Type.String({ minLength: 1, maxLength: 128 }) }),
      },
    },
    async (request, reply) => {
      const { user } = request.query;
      if (!isValidId(user)) throw new ApiError('validation_failed', 'user must be a valid user id');
      const secret = deps.config.jwt.secret;
      if (secret === undefined)
        throw new ApiError('not_found', 'Demo tokens need JWT_SECRET (this node verifies with a public key)');
      let jwt = new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(user)
        .setIssuedAt()
        .setExpirationTime(`${DEMO_TOKEN_SECONDS}s`);
      if (deps.config.jwt.issuer !== undefined) jwt = jwt.setIssuer(deps.config.jwt.issuer);
      if (deps.config.jwt.audience !== undefined) jwt = jwt.setAudience(deps.config.jwt.audience);
      const token = await jwt.sign(Buffer.from(secret, 'utf8'));
      return reply.header('cache-control', 'no-store').send({ token, expiresIn: DEMO_TOKEN_SECONDS });
    },
  );
  return Promise.resolve();
};
