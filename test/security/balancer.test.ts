/**
 * Security suite, balancer rules: the shipped infra/nginx/nginx.conf and infra/haproxy/haproxy.cfg,
 * run for real (Debian's nginx and HAProxy, installed when missing) in front of a node on the
 * machine's Redis and RabbitMQ. /metrics is refused from outside the allowed network however its path
 * is spelled, and the node's own answers to hostile upgrades pass through unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureLoadBalancers,
  startHaproxy,
  startNginx,
  type HaproxyProcess,
  type NginxProcess,
} from '../helpers/nginx.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let node: TestNode;
let balancers: (NginxProcess | HaproxyProcess)[] = [];

beforeAll(async () => {
  ensureLoadBalancers();
  node = await startBackedNode({ ALLOWED_ORIGINS: 'https://shop.example.com' });
  const upstreams = [Number(new URL(node.url).port)];
  // Loopback counts as outside here: /metrics is allowed from 10.0.0.0/8 only.
  balancers = [
    await startNginx(upstreams, { metricsAllowedFrom: '10.0.0.0/8' }),
    await startHaproxy(upstreams, { metricsAllowedFrom: '10.0.0.0/8' }),
  ];
}, 120_000);
afterAll(async () => {
  for (const balancer of balancers) await balancer.stop();
  await node?.stop();
});

const name = (balancer: NginxProcess | HaproxyProcess): string => ('dir' in balancer ? 'nginx' : 'HAProxy');

describe('balancer rules (real nginx and HAProxy)', () => {
  it('when /metrics is asked for from outside the allowed network, however spelled, then it is refused while the rest passes', async () => {
    const spellings = ['/metrics', '/%6detrics', '/%6D%65trics', '/metrics?x=1', '/metrics%3Fx', '//metrics'];
    for (const balancer of balancers) {
      for (const path of spellings) {
        const res = await fetch(`${balancer.url}${path}`);
        // Refused by the balancer (403), or a path the node does not serve (404): never the metrics.
        expect([403, 404], `${name(balancer)} ${path}`).toContain(res.status);
        expect(await res.text()).not.toContain('herald_');
      }
      expect((await fetch(`${balancer.url}/healthz`)).status).toBe(200);
    }
    // Straight to the node (where the balancer rule does not apply) the decoded path is /metrics.
    expect((await fetch(`${node.url}/%6detrics`)).status).toBe(200);
  });

  it('when an upgrade comes from a foreign Origin through the balancer, then the node refuses it 403; from the shop it opens', async () => {
    for (const balancer of balancers) {
      await expect(
        TestClient.connect(balancer.wsUrl, {
          token: await mintToken('lb-evil'),
          headers: { origin: 'https://evil.example' },
        }),
      ).rejects.toThrow('HTTP 403');
      const ok = await TestClient.connect(balancer.wsUrl, {
        token: await mintToken('lb-shop'),
        headers: { origin: 'https://shop.example.com' },
      });
      await ok.next('welcome');
      ok.close();
    }
  });

  it('when a request carries oversized headers, then the balancer answers 4xx and the node sees nothing', async () => {
    for (const balancer of balancers) {
      const res = await fetch(`${balancer.url}/healthz`, { headers: { 'x-big': 'b'.repeat(64 * 1024) } });
      expect(res.status, name(balancer)).toBeGreaterThanOrEqual(400);
      expect(res.status, name(balancer)).toBeLessThan(500);
    }
  });
});
