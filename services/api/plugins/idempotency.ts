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
 * The request's fingerprints: hashes of its method, path and body.
 *  - `sent`: the body as sent (key order included), what Herald 0.1.0 as first released compares. It
 *    stays the first fingerprint the store compares, so that during a rolling upgrade nodes of both
 *    versions recognise each other's keys.
 *  - `canonical`: the body with object keys sorted, stored beside it and compared too (`also`): a
 *    retry that serializes the same object in another key order is the same request.
 * Once no node of the earlier version runs (and IDEMPOTENCY_TTL_SECONDS has passed), a later release
 * can make `canonical` the only one.
 */
function fingerprintsOf(request: FastifyRequest): { sent: string; canonical: string } {
  const head = `${request.method} ${request.url.split('?')[0]}\n`;
  const body = request.body ?? null;
  return {
    sent: createHash('sha256')
      .update(`${head}${JSON.stringify(body)}`)
      .digest('base64url'),
    canonical: createHash('sha256').update(head).update(canonicalJson(body)).digest('base64url'),
  };
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
    const { sent: fingerprint, canonical } = fingerprintsOf(request);
    const begun = await store.begin(key, fingerprint, Math.min(claimTtlSeconds, ttlSeconds), canonical);
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
