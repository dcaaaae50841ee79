/**
 * The REST API (fastify). Built once per node; the gateway shares its HTTP server for `/ws`.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  LogController,
  type FastifyContextConfig,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { ApiKeyring, type Scope } from '../../shared/auth/api-keys.js';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import type { Config } from '../../shared/config/config.js';
import type { Publisher } from '../../shared/core/publisher.js';
import { redactUrlToken, type Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import type { StateDrivers } from '../../shared/state/state.js';
import { ApiError, ApiErrors, MAX_PARAM_LENGTH, type ApiErrorCode } from './errors.js';
import { apiKeyAuth } from './plugins/api-key-auth.js';
import { idempotency } from './plugins/idempotency.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { clusterRoutes } from './routes/cluster.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { demoRoutes } from './routes/demo.js';
import { healthRoutes } from './routes/health.js';
import { historyRoutes } from './routes/history.js';
import { publishRoutes } from './routes/publish.js';
import { sseRoutes, type StreamOpener } from './routes/sse.js';
import { userRoutes } from './routes/users.js';
import { ErrorReply } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API key scope a route needs; routes without one are public. */
    scope?: Scope;
    /** Served on INTERNAL_PORT only, when one is set (admin-scope routes and /docs are too). */
    internal?: boolean;
  }
}

/**
 * Node's HTTP server timeouts, for the public server and the INTERNAL_PORT one: a request's headers
 * (upgrades included) must be complete within HTTP_HEADERS_TIMEOUT_MS and the whole request within
 * HTTP_REQUEST_TIMEOUT_MS, or it is answered 408 and its socket closed; Node checks every
 * connectionsCheckingInterval.
 */
export function httpServerOptions(config: Config): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  const headersTimeout = Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs);
  return {
    headersTimeout,
    requestTimeout: config.http.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, headersTimeout / 2),
  };
}

/** Set on requests that came in on INTERNAL_PORT (internalRequestHandler). */
const INTERNAL = Symbol('herald.internal-port');
type MarkedRequest = IncomingMessage & { [INTERNAL]?: true };

/**
 * The `request` listener of the INTERNAL_PORT server: routes into the same app, marked internal.
 * That port serves the internal routes and the health checks only; everything else is 404 there.
 */
export function internalRequestHandler(app: HeraldApi): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    (req as MarkedRequest)[INTERNAL] = true;
    app.routing(req, res);
  };
}

/**
 * Whether a route belongs on INTERNAL_PORT: metrics, the API docs, every admin route and the operator
 * console (`internal: true`).
 */
function isInternalRoute(config: FastifyContextConfig, url: string | undefined): boolean {
  return (
    config.internal === true ||
    config.scope === 'admin' ||
    url === '/docs' ||
    url?.startsWith('/docs/') === true
  );
}

const HEALTH_ROUTES = new Set(['/healthz', '/readyz']);

export interface ApiDeps {
  config: Config;
  publisher: Publisher;
  state: StateDrivers;
  metrics: Metrics;
  log: Logger;
  /** Reasons the node is not ready (empty = ready). */
  notReadyReasons(): string[];
  /** The gateway's SSE side (GET /v1/sse); without it the route does not exist. */
  streams?: StreamOpener;
}

/** Fastify framework error codes mapped onto the catalogue (anything else 4xx → bad_request). */
const FRAMEWORK_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_VALIDATION: 'validation_failed',
};

export async function buildApi(deps: ApiDeps) {
  const { config, log } = deps;
  const app = Fastify({
    loggerInstance: log,
    // Per-request lines are debug-level, written by the onResponse hook below (never info per message).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.api.bodyLimitBytes,
    // Slow clients (slowloris), see httpServerOptions.
    requestTimeout: config.http.requestTimeoutMs,
    http: httpServerOptions(config),
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route runs (a path segment too long, a malformed URL):
    // answered in the catalogue's shape too.
    frameworkErrors: (error, _request, reply) => {
      const answer =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError('uri_too_long')
          : new ApiError('bad_request', error.message);
      void (reply as FastifyReply)
        .status(answer.statusCode)
        .send({ statusCode: answer.statusCode, code: answer.code, message: answer.message });
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorReply);
  // Fastify's JSON parser (prototype-poisoning checks kept), after a depth check: a body nested
  // deeper than MAX_JSON_DEPTH is refused (400) instead of overflowing the stack later (json-depth.ts).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string; // parseAs: 'string'
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      done(
        new ApiError('invalid_json', `Request body nests deeper than ${MAX_JSON_DEPTH} levels`),
        undefined,
      );
      return;
    }
    void parseJson(request, text, (err, value) => {
      if (err === null) return done(null, value);
      // secure-json-parse refuses `__proto__` and `constructor.prototype` keys, and fastify reports
      // that as invalid JSON: valid JSON with such a key gets its own code.
      done(isJson(text) ? new ApiError('forbidden_key') : err, undefined);
    });
  });
  // JSON only: a text/plain body is answered 415 rather than validated as a string.
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Herald REST API',
        version: '1',
        description:
          'Publish order events and promotions to browsers connected over WebSocket (see docs/protocol.md).',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API key' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      {
        method: request.method,
        url: redactUrlToken(request.url),
        status: reply.statusCode,
        ms: reply.elapsedTime,
      },
      'request',
    );
    done();
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    const answer = toApiError(error);
    if (
      answer.statusCode >= 500 &&
      !(error instanceof BusUnavailableError) &&
      !(error instanceof StateUnavailableError)
    ) {
      request.log.error({ err: error, url: redactUrlToken(request.url) }, 'request failed');
    }
    return reply.status(answer.statusCode).send({
      statusCode: answer.statusCode,
      code: answer.code,
      message: answer.message,
      ...(answer.details === undefined ? {} : { details: answer.details }),
    });
  });
  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    reply.status(404).send({
      statusCode: 404,
      code: 'not_found',
      message: `No route ${request.method} ${request.url.split('?')[0]}`,
    });
  app.setNotFoundHandler(notFound);
  if (config.internal !== undefined) {
    // With INTERNAL_PORT, the public port answers internal routes exactly as routes it does not have,
    // and the internal port serves nothing else but the health checks. (A path segment longer than
    // MAX_PARAM_LENGTH is answered 414 by the router before this hook runs, on either port.)
    app.addHook('onRequest', (request, reply, done) => {
      const url = request.routeOptions.url;
      if (url === undefined) return done(); // no route: the not-found handler answers
      const internalRoute = isInternalRoute(request.routeOptions.config, url);
      const onInternalPort = (request.raw as MarkedRequest)[INTERNAL] === true;
      if (internalRoute === onInternalPort || HEALTH_ROUTES.has(url)) return done();
      void notFound(request, reply);
    });
  }

  await app.register(apiKeyAuth, { keyring: new ApiKeyring(config.apiKeys) });
  await app.register(idempotency, {
    store: deps.state.idempotency,
    ttlSeconds: config.idempotencyTtlSeconds,
    // The slowest publish: a few state calls and one bus publish, each bounded by its timeout.
    claimTtlSeconds: Math.ceil((config.amqp.publishTimeoutMs + 4 * config.redis.commandTimeoutMs) / 1000) + 2,
  });
  await app.register(healthRoutes, { deps });
  await app.register(publishRoutes, { deps, prefix: '/v1' });
  await app.register(userRoutes, { deps, prefix: '/v1' });
  await app.register(clusterRoutes, { deps, prefix: '/v1' });
  await app.register(historyRoutes, { deps, prefix: '/v1' });
  if (deps.streams !== undefined)
    await app.register(sseRoutes, { deps, streams: deps.streams, prefix: '/v1' });
  if (config.demoEnabled) await app.register(demoRoutes, { deps });
  await app.register(dashboardRoutes);
  return app;
}

export type HeraldApi = Awaited<ReturnType<typeof buildApi>>;

function toApiError(error: FastifyError | ApiError | Error): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof BusUnavailableError) return new ApiError('bus_unavailable');
  if (error instanceof StateUnavailableError) return new ApiError('state_unavailable');
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    const where = fastifyError.validationContext ?? 'request';
    return new ApiError(
      'validation_failed',
      `${where}${fastifyError.message.replace(/^[a-z]+/, '')}`,
      fastifyError.validation,
    );
  }
  const mapped = fastifyError.code === undefined ? undefined : FRAMEWORK_CODES[fastifyError.code];
  if (mapped !== undefined)
    return new ApiError(mapped, mapped === 'invalid_json' ? undefined : fastifyError.message);
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new ApiError('bad_request', fastifyError.message, undefined, status);
  }
  return new ApiError('internal', ApiErrors.internal.message);
}

/** Whether `text` is valid JSON (only asked of a body the safe parser refused). */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
