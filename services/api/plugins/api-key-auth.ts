/**
 * API key authentication: `Authorization: Bearer <key>`, matched in constant time. A route declares
 * the scope it needs in `config.scope`; routes without one are public (health, metrics, docs).
 */
import fp from 'fastify-plugin';
import type { FastifyPluginCallback } from 'fastify';
import { hasScope, type ApiKey, type ApiKeyring } from '../../../shared/auth/api-keys.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that authenticated the request (set on scoped routes only). */
    apiKey?: ApiKey;
  }
}

const plugin: FastifyPluginCallback<{ keyring: ApiKeyring }> = (app, { keyring }, done) => {
  app.decorateRequest('apiKey', undefined);
  app.addHook('onRequest', (request, reply, next) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return next();
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    const key = match?.[1] === undefined ? undefined : keyring.find(match[1]);
    if (key === undefined) {
      void reply.header('WWW-Authenticate', 'Bearer');
      return next(new ApiError('unauthorized'));
    }
    if (!hasScope(key, scope))
      return next(new ApiError('insufficient_scope', `This route needs the ${scope} scope`));
    request.apiKey = key;
    next();
  });
  done();
};

export const apiKeyAuth = fp(plugin, { name: 'herald-api-key-auth', fastify: '5.x' });
