/**
 * GET /v1/channels/{channel}/history: the retained messages after an offset, the channel's position,
 * the complete flag, the admin scope and validation. REST answers only: through fastify's `inject`,
 * on a node with memory drivers that keeps 5 messages of a user channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injector } from '../helpers/rest-inject.js';
import { ADMIN, PUBLISH_ONLY, startTestNode, type TestNode } from '../helpers/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ HISTORY_USER_MAX_MESSAGES: '5' });
});
afterAll(() => t.stop());

const call = (...args: Parameters<ReturnType<typeof injector>>) => injector(t)(...args);

describe('GET /v1/channels/{channel}/history', () => {
  it('answers the retained messages after an offset, with the position and a complete flag (admin only)', async () => {
    for (let i = 1; i <= 7; i++) {
      const published = await call('POST', '/v1/publish', {
        auth: PUBLISH_ONLY,
        body: { channel: 'user:h1', event: 'tick', data: { i } },
      });
      expect(published.status).toBe(202);
    }
    const forbidden = await call('GET', '/v1/channels/user:h1/history', { auth: PUBLISH_ONLY });
    expect(forbidden.status).toBe(403);
    const res = await call('GET', '/v1/channels/user:h1/history?since=4&limit=2', { auth: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ channel: 'user:h1', offset: 7, complete: true });
    expect(res.body.messages?.map((m) => [m.offset, m.data])).toEqual([
      [5, { i: 5 }],
      [6, { i: 6 }],
    ]);
    const trimmed = (await call('GET', '/v1/channels/user:h1/history?since=0', { auth: ADMIN })).body;
    expect(trimmed).toMatchObject({ complete: false });
    expect(trimmed.messages).toHaveLength(5);
    const bad = await call('GET', '/v1/channels/news/history', { auth: ADMIN });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed' });
  });
});
