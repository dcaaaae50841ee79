/**
 * The demo page behind a real nginx (infra/nginx/nginx.conf) in front of two node processes on the
 * machine's Redis and RabbitMQ: the node holding the page's connection is SIGKILLed while order events
 * keep coming; the page reconnects through nginx to the other node and shows every event it missed,
 * each once, and the live ones after. Screenshot: test/browser/artifacts/failover.png.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, startBalancedBrowserCluster, type BalancedBrowserCluster } from '../helpers/browser.js';
import type { NginxProcess } from '../helpers/nginx.js';
import type { TestCluster } from '../helpers/node-process.js';
import { postAccepted } from '../helpers/rest-http.js';

let cluster: TestCluster;
let lb: NginxProcess;
let browser: Browser;
let setting: BalancedBrowserCluster | undefined;

beforeAll(async () => {
  // Moves by the rebalancer would be a second reconnect: off, so the one measured is the kill's.
  setting = await startBalancedBrowserCluster({ DEMO_ENABLED: 'true', REBALANCE_INTERVAL_MS: '0' });
  ({ cluster, lb, browser } = setting);
}, 900_000);
afterAll(() => setting?.stop());

async function orderEvent(base: string, status: string): Promise<void> {
  await postAccepted(base, '/v1/orders/o-77/events', { userId: '77', status });
}

const statuses = async (page: Page): Promise<(string | null)[]> =>
  Promise.all(
    (await page.locator('[data-order="o-77"] li').all()).map((li) => li.getAttribute('data-status')),
  );

describe('demo page across a node failure, behind nginx', () => {
  it('when the node holding the page is killed, then the page reconnects and shows every missed event once', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 480 } });
    await page.goto(`${lb.url}/demo?user=77`);
    // Connected, with user:77 and promotions subscribed (an event before that is not the page's).
    const status = page.locator('#status[data-state="connected"][data-subscribed="2"]');
    await status.waitFor({ timeout: 10_000 });
    const first = await status.getAttribute('data-node');
    const doomed = cluster.nodes.find((n) => n.id === first)!;
    const survivor = cluster.nodes.find((n) => n.id !== first)!;

    await orderEvent(lb.url, 'paid');
    await page.locator('[data-order="o-77"] li[data-status="paid"]').waitFor({ timeout: 10_000 });

    doomed.child.kill('SIGKILL');
    await doomed.exited;
    // While the page is away, straight to the surviving node (the backend's retry would go there).
    await orderEvent(survivor.url, 'packed');
    await orderEvent(survivor.url, 'shipped');

    await page.locator(`#status[data-node="${survivor.id}"]`).waitFor({ timeout: 20_000 });
    await page.locator('[data-order="o-77"] li[data-status="shipped"]').waitFor({ timeout: 10_000 });
    await orderEvent(lb.url, 'delivered');
    await page.locator('[data-order="o-77"] li[data-status="delivered"]').waitFor({ timeout: 10_000 });
    // A channel's messages arrive in order: an event shown twice would have come before `delivered`.
    expect(await statuses(page)).toEqual(['paid', 'packed', 'shipped', 'delivered']);
    await page.screenshot({ path: path.join(ARTIFACTS, 'failover.png') });
    await page.close();
  });
});
