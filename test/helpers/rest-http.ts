/**
 * REST calls over real HTTP (fetch), for tests that then watch clients receive what was published, and
 * for nodes in other processes. `postPublish` and `postJson` answer the response as it is, for tests
 * that check a refusal or a header; `publish` and `postAccepted` require the 202. Tests of the REST
 * API's answers alone, with no socket, use rest-inject.ts instead.
 */
import { expect } from 'vitest';
import { PUBLISH_ONLY } from './test-node.js';

/** Where to send: a node (TestNode, NodeProcess: anything with its REST base `url`) or that URL. */
export type RestTarget = string | { url: string };

export interface PostOptions {
  /** The Authorization header (default: the publish-only key). */
  auth?: string;
  /** Further headers. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PublishOptions extends Omit<PostOptions, 'headers'> {
  /** The message's event name (default `tick`). */
  event?: string;
  /** Sent as the Idempotency-Key header. */
  idempotencyKey?: string;
}

/** A message the API accepted, as its 202 answer lists it. */
export interface Published {
  id: string;
  channel: string;
  offset: number;
  epoch: string;
}

const baseOf = (target: RestTarget): string => (typeof target === 'string' ? target : target.url);

/** POSTs `body` as JSON to `path` on `target`; resolves with the response as it is. */
export function postJson(
  target: RestTarget,
  path: string,
  body: unknown,
  options: PostOptions = {},
): Promise<Response> {
  return fetch(`${baseOf(target)}${path}`, {
    method: 'POST',
    headers: {
      authorization: options.auth ?? PUBLISH_ONLY,
      'content-type': 'application/json',
      ...options.headers,
    },
    body: JSON.stringify(body),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

/** Like postJson, and expects 202 (a failure shows the answer's body). */
export async function postAccepted(
  target: RestTarget,
  path: string,
  body: unknown,
  options: PostOptions = {},
): Promise<Response> {
  const res = await postJson(target, path, body, options);
  expect(res.status, await res.clone().text()).toBe(202);
  return res;
}

const publishPost = (options: PublishOptions): PostOptions => ({
  ...(options.auth === undefined ? {} : { auth: options.auth }),
  ...(options.signal === undefined ? {} : { signal: options.signal }),
  ...(options.idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': options.idempotencyKey } }),
});

/** Posts `{ channel, event, data }` to `target`'s /v1/publish; resolves with the response as it is. */
export function postPublish(
  target: RestTarget,
  channel: string,
  data: unknown,
  options: PublishOptions = {},
): Promise<Response> {
  return postJson(
    target,
    '/v1/publish',
    { channel, event: options.event ?? 'tick', data },
    publishPost(options),
  );
}

/** Publishes one message, expects 202, and resolves with the accepted message (id, offset, epoch). */
export async function publish(
  target: RestTarget,
  channel: string,
  data: unknown,
  options: PublishOptions = {},
): Promise<Published> {
  const body = { channel, event: options.event ?? 'tick', data };
  const res = await postAccepted(target, '/v1/publish', body, publishPost(options));
  return ((await res.json()) as { messages: Published[] }).messages[0]!;
}
