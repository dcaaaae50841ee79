/**
 * Idempotent publishing. A route with `config.idempotent` honours an `Idempotency-Key` header:
 *  - the first request with a key runs and its 2xx answer is recorded for IDEMPOTENCY_TTL_SECONDS;
 *  - a retry with the same key and the same request (method, path, body) gets the recorded answer
 *    again, with `Idempotent-Replayed: true`, and publishes nothing;
 *  - the same key with a different request is `409 idempotency_key_reused`; a retry while the first
 *    is still running is `409 idempotency_in_progress` (retryable);
 *  - a request that failed (4xx/5xx) is forgotten, so its retry runs again.
 * Keys are scoped to the API key that sent them, so two backends cannot collide.
 */
import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { IdempotencyStore } from '../../../shared/state/idempotency.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route honours Idempotency-Key. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency?: { key: string; fingerprint: string };
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

interface RecordedAnswer {
  status: number;
  body: string;
}

/**
 * The request's fingerprint: a hash of its method, path and body, the body with object keys sorted
 * so that a retry serializing the same object in another key order is the same request.
 */
function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url.split('?')[0]}\n`)
    .update(canonicalJson(request.body ?? null))
    .digest('base64url');
}

/**
 * The fingerprint versions up to 0.1.0 computed (body keys in the order sent). Passed to the store as
 * `also` so that, during a rolling upgrade, a retry reaching an upgraded node of a request an older
 * node claimed is still recognised. Keys live at most IDEMPOTENCY_TTL_SECONDS, so this can go in the
 * release after next.
 */
function legacyFingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url.split('?')[0]}\n${JSON.stringify(request.body ?? null)}`)
    .digest('base64url');
}

/** JSON text of `value` with every object's keys in sorted order (the body is at most 100 deep). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] === undefined) continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(record[key])}`);
  }
  return `{${members.join(',')}}`;
}

/**
 * `claimTtlSeconds`: how long a running first attempt holds its key. It must outlast the slowest
 * publish (state and bus timeouts), and is kept that short so that a retry on another node, after the
 * node holding the claim died mid-request, gets through within seconds instead of `409` for a minute.
 * The answer itself is kept `ttlSeconds` (IDEMPOTENCY_TTL_SECONDS).
 */
const plugin: FastifyPluginCallback<{
  store: IdempotencyStore;
  ttlSeconds: number;
  claimTtlSeconds: number;
}> = (app, { store, ttlSeconds, claimTtlSeconds }, done) => {
  app.decorateRequest('idempotency', undefined);

  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config.idempotent !== true) return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
      throw new ApiError('invalid_idempotency_key');
    }
    const key = `${request.apiKey?.name ?? '-'}:${header}`;
    const fingerprint = fingerprintOf(request);
    const begun = await store.begin(
      key,
      fingerprint,
      Math.min(claimTtlSeconds, ttlSeconds),
      legacyFingerprintOf(request),
    );
    switch (begun.state) {
      case 'new':
        request.idempotency = { key, fingerprint };
        return;
      case 'pending':
        throw new ApiError('idempotency_in_progress');
      case 'conflict':
        throw new ApiError('idempotency_key_reused');
      case 'done': {
        const answer = JSON.parse(begun.answer) as RecordedAnswer;
        return reply
          .status(answer.status)
          .header('content-type', 'application/json; charset=utf-8')
          .header('idempotent-replayed', 'true')
          .send(answer.body);
      }
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency;
    if (claim === undefined) return payload;
    request.idempotency = undefined;
    try {
      if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string') {
        const answer: RecordedAnswer = { status: reply.statusCode, body: payload };
        await store.complete(claim.key, claim.fingerprint, JSON.stringify(answer), ttlSeconds);
      } else {
        await store.abandon(claim.key, claim.fingerprint);
      }
    } catch (err) {
      // The publish happened; failing to record it only weakens a later retry, so the answer stands.
      request.log.warn({ err }, 'could not record the idempotent answer');
    }
    return payload;
  });
  done();
};

export const idempotency = fp(plugin, {
  name: 'herald-idempotency',
  fastify: '5.x',
  dependencies: ['herald-api-key-auth'],
});
