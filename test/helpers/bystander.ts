/**
 * A well-behaved client that watches a node under attack: subscribed to `promotions`, it proves the
 * node still serves everyone else by receiving a fresh promotion.
 */
import { expect } from 'vitest';
import { TestClient } from './test-client.js';
import { PUBLISH_ONLY, type TestNode } from './test-node.js';
import { mintToken } from './tokens.js';

export interface Bystander {
  client: TestClient;
  /** Publishes a promotion and waits until the bystander has it. */
  expectServed(): Promise<void>;
}

export async function bystanderOn(t: TestNode): Promise<Bystander> {
  const client = await TestClient.open(t.wsUrl, await mintToken('bystander'));
  await client.subscribe('promotions');
  return {
    client,
    async expectServed() {
      const before = client.messages().length;
      const res = await fetch(`${t.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'promotions', event: 'alive', data: before }),
      });
      expect(res.status).toBe(202);
      await client.waitForMessages(before + 1);
    },
  };
}
