import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../app.js';
import { userChannel } from '../../../shared/protocol/channels.js';
import { readOffset } from '../../../shared/state/read-positions.js';
import { DisconnectReply, ErrorReply, InboxReply, PresenceReply, UserParams } from '../schemas.js';

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 503: ErrorReply };

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  app.get(
    '/users/:userId/presence',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['users'],
        summary: "A user's connections across the cluster",
        security: [{ apiKey: [] }],
        params: UserParams,
        response: { 200: PresenceReply, ...errors },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const presence = await deps.state.presence.get(userId);
      return {
        userId,
        online: presence.connections > 0,
        connections: presence.connections,
        nodes: presence.nodes,
      };
    },
  );

  app.delete(
    '/users/:userId/connections',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Close every connection of a user, on every node (close code 4004)',
        security: [{ apiKey: [] }],
        params: UserParams,
        response: { 202: DisconnectReply, ...errors },
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      const presence = await deps.state.presence.get(userId);
      await deps.publisher.control({ kind: 'disconnect-user', userId, reason: 'disconnected by operator' });
      return reply.status(202).send({ userId, connections: presence.connections });
    },
  );

  app.get(
    '/users/:userId/inbox',
    {
      config: { scope: 'publish' },
      schema: {
        tags: ['users'],
        summary: "A user's unread counts: per channel its newest offset and the user's read position",
        description:
          'The channels a user can mark read (ack frames, docs/protocol.md): its user:{userId} channel. ' +
          'A user nobody has heard of answers zeros, like one who has read everything.',
        security: [{ apiKey: [] }],
        params: UserParams,
        response: { 200: InboxReply, ...errors },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const channel = userChannel(userId);
      const [current, recorded] = await Promise.all([
        deps.state.history.position(channel),
        deps.state.reads.get(userId, channel),
      ]);
      const read = readOffset(recorded, current);
      return {
        userId,
        channels: [
          { channel, epoch: current.epoch, offset: current.offset, read, unread: current.offset - read },
        ],
      };
    },
  );
  return Promise.resolve();
};
