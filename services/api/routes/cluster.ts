import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../app.js';
import { pickNode, webSocketUrl } from '../../node/director.js';
import { ApiError } from '../errors.js';
import { ClusterReply, ConnectReply, ErrorReply } from '../schemas.js';

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
  app.get(
    '/connect',
    {
      schema: {
        tags: ['cluster'],
        summary: 'Where a client should connect: the live, non-draining node with the lowest load',
        description:
          'The director, for deployments where clients reach nodes directly. Load is connections / ' +
          'NODE_CAPACITY, from the node registry (refreshed every NODE_HEARTBEAT_MS). Public: no API key.',
        response: { 200: ConnectReply, 503: ErrorReply },
      },
    },
    async (_request, reply) => {
      const node = pickNode(await deps.state.registry.list());
      if (node === undefined) throw new ApiError('no_node_available');
      void reply.header('cache-control', 'no-store');
      return { url: webSocketUrl(node.url), node: node.id, load: node.connections / node.capacity };
    },
  );
  return Promise.resolve();
};
