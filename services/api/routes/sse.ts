/**
 * GET /v1/sse: the Server-Sent Events fallback for clients whose network blocks WebSockets. The
 * stream carries the same protocol frames as the WebSocket, one event each, and is served by the
 * gateway as a connection like any other (services/gateway/sse-socket.ts); this route only reads the
 * request and refuses, with a coded 4xx/5xx, what cannot become a stream.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ownStrings, parseChannel } from '../../../shared/protocol/channels.js';
import type { Refusal, StreamRequest } from '../../gateway/gateway.js';
import { MAX_CURSOR_LENGTH, parseStreamCursor } from '../../gateway/sse-socket.js';
import type { ApiDeps } from '../app.js';
import { ApiError, type ApiErrorCode } from '../errors.js';
import { ErrorReply } from '../schemas.js';

/** The gateway side of a stream (Gateway.openStream). */
export interface StreamOpener {
  openStream(req: IncomingMessage, res: ServerResponse, stream: StreamRequest): Refusal | undefined;
}

const REFUSALS: Record<Refusal, ApiErrorCode> = {
  draining: 'draining',
  origin: 'origin_not_allowed',
  unauthenticated: 'server_busy',
  unauthenticated_ip: 'too_many_requests',
};

/** A JWT is three base64url parts; anything longer than this is not one of ours. */
const MAX_TOKEN_LENGTH = 8_192;

const SseQuery = Type.Object({
  channels: Type.String({
    minLength: 1,
    maxLength: 16_384,
    description: 'Comma-separated channels, e.g. user:42,promotions',
  }),
  token: Type.Optional(
    Type.String({ minLength: 1, maxLength: MAX_TOKEN_LENGTH, description: 'Client JWT (or Authorization)' }),
  ),
  lastEventId: Type.Optional(
    Type.String({
      maxLength: MAX_CURSOR_LENGTH,
      description: 'A cursor (an event id) to resume from, where Last-Event-ID cannot be set',
    }),
  ),
});

export const sseRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps; streams: StreamOpener }> = (
  app,
  { deps, streams },
) => {
  app.get(
    '/sse',
    {
      schema: {
        tags: ['clients'],
        summary:
          'Server-Sent Events fallback: the WebSocket protocol frames as events (docs/protocol.md §11)',
        description:
          'Streams the channels named in `channels` with the same authorization, limits and recovery as ' +
          'the WebSocket. `message` and `subscribed` events carry `id:` with every channel position; ' +
          'an EventSource sends it back as Last-Event-ID when it reconnects, and each channel recovers ' +
          'from there. The token comes as `?token=` (redacted in logs) or `Authorization: Bearer`; ' +
          'without one the stream is a guest (WS_ALLOW_GUESTS). Auth failures are `error` events ' +
          'followed by a `close` event with the WebSocket close code, as on the WebSocket.',
        querystring: SseQuery,
        response: { 400: ErrorReply, 403: ErrorReply, 429: ErrorReply, 503: ErrorReply },
      },
    },
    (request, reply) => {
      const { query, headers } = request;
      // Strings of their own: pieces of the URL would keep it (token included) for the stream's life.
      const channels = ownStrings(query.channels.split(',').map((c) => c.trim()));
      const unknown = channels.find((c) => parseChannel(c) === undefined);
      if (unknown !== undefined)
        throw new ApiError('unknown_channel', `Not a channel: ${JSON.stringify(unknown.slice(0, 140))}`);
      if (new Set(channels).size !== channels.length)
        throw new ApiError('validation_failed', 'A channel is named twice');
      const max = deps.config.ws.maxSubscriptions;
      if (channels.length > max)
        throw new ApiError('too_many_subscriptions', `At most ${max} channels per stream`);
      const header = headers.authorization;
      const bearer = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      if (header !== undefined && (bearer === undefined || bearer.length > MAX_TOKEN_LENGTH))
        throw new ApiError('validation_failed', 'Authorization must be "Bearer <token>"');
      if (bearer !== undefined && query.token !== undefined)
        throw new ApiError('validation_failed', 'Send the token once: ?token= or Authorization, not both');
      const lastEventId = headers['last-event-id'] ?? query.lastEventId ?? '';
      const cursor = typeof lastEventId === 'string' ? parseStreamCursor(lastEventId) : undefined;
      if (cursor === undefined) throw new ApiError('bad_last_event_id');
      const refusal = streams.openStream(request.raw, reply.raw, {
        token: bearer ?? query.token,
        channels,
        cursor,
      });
      if (refusal !== undefined) throw new ApiError(REFUSALS[refusal]);
      // The gateway owns the response from now on.
      reply.hijack();
    },
  );
  return Promise.resolve();
};
