import { describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { startTestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

describe('sessions', () => {
  it('when a connection outlives the session TTL, then its session and subscriptions are kept; after close they expire', async () => {
    const t = await startTestNode({ SESSION_TTL_SECONDS: '1' });
    try {
      const client = await TestClient.connect(t.wsUrl, { token: await mintToken('s-user') });
      const welcome = await client.next('welcome');
      await client.subscribe('user:s-user');
      const id = welcome.session as string;
      const sessions = t.node.drivers.state.sessions;
      await waitFor(
        async () => (await sessions.get(id))?.channels.includes('user:s-user'),
        'the subscription in the session',
      );

      // Watch the session across 2.5 TTLs: it must be there at every look.
      const until = Date.now() + 2_500;
      await waitFor(
        async () => {
          expect(await sessions.get(id)).toMatchObject({
            userId: 's-user',
            nodeId: t.config.nodeId,
            channels: ['user:s-user'],
          });
          return Date.now() > until;
        },
        'two and a half session TTLs',
        5_000,
        100,
      );

      client.close();
      await waitFor(
        async () => (await sessions.get(id)) === undefined,
        'the detached session to expire',
        4_000,
        100,
      );
    } finally {
      await t.stop();
    }
  });
});
