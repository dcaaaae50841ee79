import { describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { startTestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

describe('graceful drain', () => {
  it('when a node drains, then readiness fails at once, upgrades get 503, clients get reconnect frames spread over the window, and the rest are closed 1012', async () => {
    const t = await startTestNode({ DRAIN_WINDOW_MS: '1500', RECONNECT_URL: 'wss://push.example.com/ws' });
    try {
      // Connected one after the other: the drain goes through clients in connection order, so the
      // follower's frame comes first and each stubborn client's is awaited before it can arrive.
      const clients: TestClient[] = [];
      for (let i = 0; i < 6; i++) clients.push(await TestClient.open(t.wsUrl, await mintToken(`d${i}`)));
      // One client follows its reconnect frame (closes at once); the others ignore it.
      const [follower, ...stubborn] = clients as [TestClient, ...TestClient[]];
      const started = Date.now();
      const drained = t.node.drain();

      expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
      await expect(TestClient.connect(t.wsUrl, { token: await mintToken('late') })).rejects.toThrow(
        'HTTP 503',
      );

      const frame = await follower.next('reconnect');
      expect(frame).toEqual({ type: 'reconnect', afterMs: 0, url: 'wss://push.example.com/ws' });
      follower.close();
      const arrivals = await Promise.all(
        stubborn.map(async (c) => {
          await c.next('reconnect', () => true, 3_000);
          return Date.now() - started;
        }),
      );
      // Spread over the window, not all at once: the last frame comes well after the first.
      expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeGreaterThan(600);
      for (const c of stubborn) expect(await c.waitClose(4_000)).toBe(1012);
      await drained;
      expect(Date.now() - started).toBeLessThan(1500 + 2_500);
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      expect(metrics).toMatch(/herald_reconnect_requests_total\{reason="drain"\} 6/);
      expect(metrics).toMatch(/herald_draining 1/);
    } finally {
      await t.stop();
    }
  });

  it('when a node with no clients drains, then it finishes at once', async () => {
    const t = await startTestNode({ DRAIN_WINDOW_MS: '60000', SHUTDOWN_TIMEOUT_MS: '120000' });
    try {
      const started = Date.now();
      await t.node.drain();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await t.stop();
    }
  });
});

describe('director: GET /v1/connect', () => {
  it('when several nodes are registered, then the least loaded live one is returned, never a draining one', async () => {
    const t = await startTestNode();
    try {
      const registry = t.node.drivers.state.registry;
      const announce = (id: string, connections: number, draining = false, capacity = 1) =>
        registry.heartbeat(
          { id, url: `http://10.1.0.${id.length}:8080`, connections, capacity, draining, startedAt: 0 },
          60,
        );
      await waitFor(async () => (await registry.list()).length === 1, 'this node in the registry');
      // This node holds no connection; make it look busy by connecting a few clients.
      const clients = await Promise.all(
        [1, 2, 3].map(async (i) => TestClient.open(t.wsUrl, await mintToken(`dir${i}`))),
      );
      await announce(t.config.nodeId, 3);
      await announce('b', 2);
      await announce('cc', 0, true);
      await announce('ddd', 5, false, 4);
      const get = async () => {
        const res = await fetch(`${t.url}/v1/connect`);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(res.headers.get('access-control-allow-origin')).toBe('*'); // the SDK asks from any page
        return (await res.json()) as { url: string; node: string; load: number };
      };
      expect(await get()).toEqual({ url: 'ws://10.1.0.3:8080/ws', node: 'ddd', load: 1.25 });
      await announce('ddd', 40, false, 4);
      expect(await get()).toMatchObject({ node: 'b', url: 'ws://10.1.0.1:8080/ws', load: 2 });
      for (const c of clients) c.close();
    } finally {
      await t.stop();
    }
  });

  it('when the only node drains, then it marks itself draining and the director answers 503 no_node_available', async () => {
    const t = await startTestNode({ DRAIN_WINDOW_MS: '100' });
    try {
      // The drain itself marks this node draining in the registry.
      await t.node.drain();
      const res = await fetch(`${t.url}/v1/connect`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'no_node_available' });
    } finally {
      await t.stop();
    }
  });
});
