import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../app.js';
import { ChannelParams, ErrorReply, HistoryQuery, HistoryReply } from '../schemas.js';

export const historyRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  app.get(
    '/channels/:channel/history',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['history'],
        summary: "A channel's retained messages after an offset (what a recovering client would get)",
        security: [{ apiKey: [] }],
        params: ChannelParams,
        querystring: HistoryQuery,
        response: { 200: HistoryReply, 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 503: ErrorReply },
      },
    },
    async (request) => {
      const { channel } = request.params;
      const { since = 0, limit = 100 } = request.query;
      const range = await deps.state.history.read(channel, since, limit);
      return {
        channel,
        epoch: range.epoch,
        offset: range.offset,
        complete: range.complete,
        messages: range.messages.map((m) => ({
          offset: m.offset,
          id: m.id,
          event: m.event,
          data: JSON.parse(m.dataJson) as unknown,
          ts: m.ts,
        })),
      };
    },
  );
  return Promise.resolve();
};
