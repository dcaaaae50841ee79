/**
 * The storefront demo (DEMO_ENABLED; default on outside production): the page at /demo, the browser
 * SDK bundle it loads, and /demo/token, which mints a one-hour client token for any user id. The
 * token route is why the demo must never run in front of real users.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { isValidId } from '../../../shared/protocol/channels.js';
import type { ApiDeps } from '../app.js';
import { loadClientBundle } from '../client-bundle.js';
import { canMint, mintClientToken } from '../client-tokens.js';
import { DEMO_PAGE } from '../demo/page.js';
import { ApiError } from '../errors.js';

const DEMO_TOKEN_SECONDS = 3_600;

export const demoRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  app.get('/demo', { schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(DEMO_PAGE),
  );

  app.get('/demo/herald-client.js', { schema: { hide: true } }, async (_request, reply) => {
    const text = await loadClientBundle();
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
      if (!canMint(deps.config.jwt))
        throw new ApiError('not_found', 'Demo tokens need JWT_SECRET (this node verifies with a public key)');
      const token = await mintClientToken(deps.config.jwt, { subject: user, ttlSeconds: DEMO_TOKEN_SECONDS });
      return reply.header('cache-control', 'no-store').send({ token, expiresIn: DEMO_TOKEN_SECONDS });
    },
  );
  return Promise.resolve();
};
