/**
 * A message the bus refused after history stored it: the publish still answers 202 (the message is
 * stored), the publisher sends it again, and subscribers get it by gap repair or by that resend.
 * A node on memory drivers whose bus the test makes refuse; the bus down before anything is stored
 * (503 bus_unavailable) is in rest-api.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startTestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

describe('a message the bus refused after it was stored', () => {
  // Broadcast routing: the node's own subscriber gets each message from the bus (presence routing
  // would deliver it here without the bus, which these tests refuse). The node's own stats (cluster
  // channel) are off: they would meet the refusing bus too.
  const BROADCAST = { BUS_ROUTING: 'broadcast', CLUSTER_STATS_INTERVAL_MS: '0' };

  it('when the bus refuses a stored message, then the publish still answers 202 and subscribers get it by gap repair', async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode(BROADCAST, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('g1'));
      await c.subscribe('user:g1');
      const post = (data: unknown) => publish(node, 'user:g1', data);
      await post(1);
      await c.waitForMessages(1);
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      drivers.bus.publish = () => Promise.reject(new BusUnavailableError('link dropped mid-publish'));
      await post(2); // still 202
      drivers.bus.publish = realPublish;
      await post(3);
      const messages = await c.waitForMessages(3);
      expect(messages.map((m) => [m.offset, m.data])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
      c.close();
    } finally {
      await node.stop();
    }
  });

  it("when the bus refuses a channel's last message, then it is sent again and reaches subscribers without a next message", async () => {
    const drivers = createMemoryDrivers();
    const node = await startTestNode(BROADCAST, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('g2'));
      await c.subscribe('user:g2');
      const realPublish = drivers.bus.publish.bind(drivers.bus);
      let refused = 0;
      drivers.bus.publish = (payload) => {
        // Refuse the first attempt only: the bus is back for the resend.
        if (refused++ === 0) return Promise.reject(new BusUnavailableError('link dropped mid-publish'));
        return realPublish(payload);
      };
      await publish(node, 'user:g2', 'last'); // 202
      const [message] = await c.waitForMessages(1, undefined, 5_000);
      expect(message).toMatchObject({ offset: 1, data: 'last' });
      expect(refused).toBe(2);
      c.close();
    } finally {
      await node.stop();
    }
  });
});
