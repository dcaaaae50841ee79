/**
 * The operator console: the page at /dashboard and the browser SDK bundle it loads. Both are static;
 * everything the console shows needs an admin API key (POST /v1/cluster/token, GET /v1/cluster). With
 * INTERNAL_PORT they are served there only, like the admin routes and /docs (`internal`).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { loadClientBundle } from '../client-bundle.js';
import { DASHBOARD_CSP, DASHBOARD_PAGE } from '../dashboard/page.js';
import { ApiError } from '../errors.js';

export const dashboardRoutes: FastifyPluginAsyncTypebox = (app) => {
  app.get('/dashboard', { config: { internal: true }, schema: { hide: true } }, (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(DASHBOARD_PAGE),
  );

  app.get(
    '/dashboard/herald-client.js',
    { config: { internal: true }, schema: { hide: true } },
    async (_request, reply) => {
      const text = await loadClientBundle();
      if (text === undefined)
        throw new ApiError('not_found', 'The SDK bundle is not built (npm run build writes dist/client)');
      return reply
        .type('text/javascript; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .send(text);
    },
  );
  return Promise.resolve();
};
