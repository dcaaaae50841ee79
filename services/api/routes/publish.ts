/**
 * Publishing routes. Each answers 202 with the id, offset and epoch of every message it published.
 * Inputs are validated completely before anything is published, so a rejected request publishes
 * nothing (a batch is all-or-nothing at validation time).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { PublishInput, PublishedMessage } from '../../../shared/core/publisher.js';
import { orderChannel, promotionsChannel, userChannel } from '../../../shared/protocol/channels.js';
import {
  ORDER_STATUS_EVENT,
  PROMOTION_EVENT,
  type OrderStatusData,
  type PromotionData,
} from '../../../shared/protocol/events.js';
import type { ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import {
  ErrorReply,
  OrderEventBody,
  OrderParams,
  PromotionBody,
  PublishBody,
  PublishReply,
  batchBody,
} from '../schemas.js';

const errors = {
  400: ErrorReply,
  401: ErrorReply,
  403: ErrorReply,
  409: ErrorReply,
  413: ErrorReply,
  415: ErrorReply,
  422: ErrorReply,
  503: ErrorReply,
};

export const publishRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  const { publisher, config } = deps;
  const maxDataBytes = config.api.maxDataBytes;

  /** Serializes `data` once and checks its size; the publisher reuses the text. */
  const prepare = (channel: string, event: string, data: unknown, index?: number): PublishInput => {
    const dataJson = JSON.stringify(data) ?? 'null';
    if (Buffer.byteLength(dataJson, 'utf8') > maxDataBytes) {
      const where = index === undefined ? '' : ` (message ${index})`;
      throw new ApiError('data_too_large', `data must serialize to at most ${maxDataBytes} bytes${where}`);
    }
    return { channel, event, dataJson };
  };
  /**
   * Publishes a request's messages. A request with an Idempotency-Key (`request.idempotency`, set by
   * the idempotency plugin) publishes with a dedupe key, so that a retry after its first attempt died
   * mid-request (claim lapsed, answer never recorded) does not store the messages a second time. The
   * key carries the request's fingerprint: the same key with another request, once the first is
   * forgotten, publishes its own messages.
   */
  const publishAll = (
    idempotency: FastifyRequest['idempotency'],
    inputs: PublishInput[],
  ): Promise<PublishedMessage[]> =>
    publisher.publishMany(
      inputs,
      idempotency === undefined
        ? {}
        : {
            dedupeKey: `${idempotency.key}#${idempotency.fingerprint}`,
            dedupeTtlSeconds: config.idempotencyTtlSeconds,
          },
    );

  app.post(
    '/orders/:orderId/events',
    {
      config: { scope: 'publish', idempotent: true },
      schema: {
        tags: ['publish'],
        summary: 'Order status event → user:{userId} and order:{orderId} (event "order.status")',
        security: [{ apiKey: [] }],
        params: OrderParams,
        body: OrderEventBody,
        response: { 202: PublishReply, ...errors },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      const { userId, status, details, occurredAt } = request.body;
      const data: OrderStatusData = {
        orderId,
        userId,
        status,
        occurredAt: occurredAt ?? new Date().toISOString(),
        // The schema's free-form object: any JSON object.
        ...(details ? { details: details as Record<string, unknown> } : {}),
      };
      // One event on two channels: both messages carry the same id, so a client on both can dedupe.
      const forUser = { ...prepare(userChannel(userId), ORDER_STATUS_EVENT, data), id: randomUUID() };
      // The order's channel is routed to its owner's nodes, claimed just below (router.ts).
      const inputs = [forUser, { ...forUser, channel: orderChannel(orderId), routeUser: userId }];
      const owner = await deps.state.orderOwners.claim(orderId, userId, config.orderOwnerTtlSeconds);
      if (owner !== userId)
        throw new ApiError('order_owner_conflict', `Order ${orderId} belongs to another user`);
      return reply.status(202).send({ messages: await publishAll(request.idempotency, inputs) });
    },
  );

  app.post(
    '/promotions',
    {
      config: { scope: 'publish', idempotent: true },
      schema: {
        tags: ['publish'],
        summary:
          'Promotion → promotions, or promotions:{segment} when a segment is given (event "promotion")',
        security: [{ apiKey: [] }],
        body: PromotionBody,
        response: { 202: PublishReply, ...errors },
      },
    },
    async (request, reply) => {
      const promotion = request.body;
      if (promotion.expiresAt !== undefined && Date.parse(promotion.expiresAt) <= Date.now()) {
        throw new ApiError('promotion_expired');
      }
      // As posted; typed here so that the SDK's PromotionData cannot drift from the schema.
      const { data: extra, ...fields } = promotion;
      const data: PromotionData = { ...fields, ...(extra ? { data: extra as Record<string, unknown> } : {}) };
      const input = prepare(promotionsChannel(promotion.segment), PROMOTION_EVENT, data);
      return reply.status(202).send({ messages: await publishAll(request.idempotency, [input]) });
    },
  );

  app.post(
    '/publish',
    {
      config: { scope: 'publish', idempotent: true },
      schema: {
        tags: ['publish'],
        summary: 'Publish any event to any channel',
        security: [{ apiKey: [] }],
        body: PublishBody,
        response: { 202: PublishReply, ...errors },
      },
    },
    async (request, reply) => {
      const { channel, event, data } = request.body;
      return reply
        .status(202)
        .send({ messages: await publishAll(request.idempotency, [prepare(channel, event, data)]) });
    },
  );

  app.post(
    '/publish/batch',
    {
      config: { scope: 'publish', idempotent: true },
      schema: {
        tags: ['publish'],
        summary: `Publish up to ${config.api.maxBatch} messages in order`,
        security: [{ apiKey: [] }],
        body: batchBody(config.api.maxBatch),
        response: { 202: PublishReply, ...errors },
      },
    },
    async (request, reply) => {
      const inputs = request.body.messages.map((m, i) => prepare(m.channel, m.event, m.data, i));
      return reply.status(202).send({ messages: await publishAll(request.idempotency, inputs) });
    },
  );
  return Promise.resolve();
};
