/**
 * A well-behaved client that watches a node under attack: subscribed to `promotions`, it proves the
 * node still serves everyone else by receiving a fresh promotion.
 */
import { publish } from './rest-http.js';
import { TestClient } from './test-client.js';
import type { TestNode } from './test-node.js';
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
      await publish(t, 'promotions', before, { event: 'alive' });
      await client.waitForMessages(before + 1);
    },
  };
}
