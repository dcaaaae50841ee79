import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../app.js';
import { ClusterReply, ErrorReply } from '../schemas.js';

export const clusterRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  app.get(
    '/cluster',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['cluster'],
        summary: 'Live gateway nodes (node registry) with their connections and last heartbeat',
        security: [{ apiKey: [] }],
        response: { 200: ClusterReply, 401: ErrorReply, 403: ErrorReply, 503: ErrorReply },
      },
    },
    async () => {
      const nodes = await deps.state.registry.list();
      return {
        self: deps.config.nodeId,
        nodes: nodes.map((n) => ({ ...n, load: n.connections / n.capacity })),
      };
    },
  );
  return Promise.resolve();
};
