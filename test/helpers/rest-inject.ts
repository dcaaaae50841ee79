/**
 * REST calls through fastify's `inject` (no socket): the answer's status, headers and JSON body, for
 * tests of the REST API's answers.
 */
import type { TestNode } from './test-node.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: {
    statusCode?: number;
    code?: string;
    message?: string;
    /** A publish's accepted messages; a history's retained ones (with their `data`). */
    messages?: { channel: string; offset: number; id: string; epoch: string; data?: unknown }[];
    /** A channel's history: its position and whether every message after `since` is retained. */
    channel?: string;
    offset?: number;
    epoch?: string;
    complete?: boolean;
  };
}

export interface CallOptions {
  auth?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (with `type`, default application/json). */
  raw?: string;
  type?: string;
  headers?: Record<string, string>;
}

/** Calls on `t`'s REST API. */
export function injector(
  t: TestNode,
): (method: 'GET' | 'POST' | 'DELETE', url: string, options?: CallOptions) => Promise<Reply> {
  return async (method, url, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== undefined) headers.authorization = options.auth;
    if (options.body !== undefined || options.raw !== undefined)
      headers['content-type'] = options.type ?? 'application/json';
    const res = await t.node.app.inject({
      method,
      url,
      headers,
      ...(options.raw !== undefined
        ? { payload: options.raw }
        : options.body !== undefined
          ? { payload: JSON.stringify(options.body) }
          : {}),
    });
    const text = res.body;
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text.startsWith('{') ? (JSON.parse(text) as Reply['body']) : {},
    };
  };
}
