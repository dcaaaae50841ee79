import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OPERATOR_CLAIM } from '../../../shared/auth/jwt.js';
import type { ApiDeps } from '../app.js';
import { announcedUrl, pickNode, webSocketUrl } from '../../node/director.js';
import { canMint, mintClientToken } from '../client-tokens.js';
import { ApiError } from '../errors.js';
import { ClusterReply, ConnectReply, ErrorReply, OperatorTokenReply } from '../schemas.js';

/** An operator token's lifetime: the console asks for a new one when it expires (close 4003). */
export const OPERATOR_TOKEN_SECONDS = 900;

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
  app.post(
    '/cluster/token',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['cluster'],
        summary: 'Mint an operator token for the operator console (/dashboard)',
        description:
          'A short-lived client token (HS256 with JWT_SECRET) carrying herald_operator: true: it may subscribe ' +
          'to the cluster channel, where every node publishes its stats, and to nothing else. 409 ' +
          'operator_token_unavailable on a node that verifies with JWT_PUBLIC_KEY only. No request body.',
        security: [{ apiKey: [] }],
        response: {
          200: OperatorTokenReply,
          400: ErrorReply,
          401: ErrorReply,
          403: ErrorReply,
          409: ErrorReply,
          415: ErrorReply,
        },
      },
    },
    async (request, reply) => {
      const { config } = deps;
      const body: unknown = request.body;
      if (body !== undefined && (typeof body !== 'object' || body === null || Object.keys(body).length > 0))
        throw new ApiError('validation_failed', 'This route takes no body (or an empty JSON object)');
      if (!canMint(config.jwt)) throw new ApiError('operator_token_unavailable');
      // A subject of its own: no user's channel or connection limit is shared with a console.
      const subject = `operator.${randomBytes(8).toString('hex')}`;
      const token = await mintClientToken(config.jwt, {
        subject,
        ttlSeconds: OPERATOR_TOKEN_SECONDS,
        claims: { [OPERATOR_CLAIM]: true },
      });
      request.log.info({ key: request.apiKey?.name, operator: subject }, 'operator token minted');
      const internalPort = config.internal !== undefined;
      const { port } = app.server.address() as AddressInfo;
      void reply.header('cache-control', 'no-store');
      return {
        token,
        expiresIn: OPERATOR_TOKEN_SECONDS,
        node: config.nodeId,
        // On INTERNAL_PORT the console's origin has no /ws: it connects to this node's public side.
        ...(internalPort ? { url: webSocketUrl(announcedUrl(config, port)) } : {}),
        internalPort,
        statsIntervalMs: config.clusterStatsIntervalMs,
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
          'NODE_CAPACITY, from the node registry (refreshed every NODE_HEARTBEAT_MS). Public: no API key, ' +
          "and readable by pages of any origin (the client SDK asks it from the shop's page).",
        response: { 200: ConnectReply, 503: ErrorReply },
      },
    },
    async (_request, reply) => {
      const node = pickNode(await deps.state.registry.list());
      if (node === undefined) throw new ApiError('no_node_available');
      void reply.header('cache-control', 'no-store');
      // Public and without credentials: any page may read where to connect (ALLOWED_ORIGINS still
      // decides who may open the WebSocket there).
      void reply.header('access-control-allow-origin', '*');
      return { url: webSocketUrl(node.url), node: node.id, load: node.connections / node.capacity };
    },
  );
  return Promise.resolve();
};
