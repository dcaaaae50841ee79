import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../app.js';
import { HealthReply, ReadyReply } from '../schemas.js';

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = (app, { deps }) => {
  const node = deps.config.nodeId;

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: { 200: HealthReply },
      },
    },
    () => ({ status: 'ok', node }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the node takes connections and publishes (load balancers check this)',
        response: { 200: ReadyReply, 503: ReadyReply },
      },
    },
    async (_request, reply) => {
      const reasons = deps.notReadyReasons();
      return reply
        .status(reasons.length === 0 ? 200 : 503)
        .send({ status: reasons.length === 0 ? 'ready' : 'not_ready', node, reasons });
    },
  );

  app.get(
    '/metrics',
    {
      config: { internal: true },
      schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'], hide: false },
    },
    async (_request, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
  return Promise.resolve();
};
