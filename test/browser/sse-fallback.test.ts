/**
 * The SSE fallback in Chromium, behind a real nginx (infra/nginx/nginx.conf) in front of two node
 * processes on the machine's Redis and RabbitMQ. The page's WebSockets are blocked (every one is
 * closed before it reaches the network, as a proxy that refuses upgrades would): the SDK falls back to
 * an EventSource on /v1/sse, says so, and receives order events and promotions; the node holding the
 * stream is SIGKILLed and the page comes back over SSE on the other node with every missed event,
 * once. Screenshots: test/browser/artifacts/sse-fallback*.png.
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
  setting = await startBalancedBrowserCluster({
    DEMO_ENABLED: 'true',
    WS_ALLOW_GUESTS: 'true',
    REBALANCE_INTERVAL_MS: '0',
  });
  ({ cluster, lb, browser } = setting);
}, 900_000);
afterAll(() => setting?.stop());

/** A page whose WebSockets never connect; counts the attempts. */
async function blockedPage(): Promise<{ page: Page; attempts: () => number }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 480 } });
  let attempts = 0;
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    attempts++;
    void ws.close({ code: 1006 });
  });
  return { page, attempts: () => attempts };
}

const statuses = async (page: Page, order: string): Promise<(string | null)[]> =>
  Promise.all(
    (await page.locator(`[data-order="${order}"] li`).all()).map((li) => li.getAttribute('data-status')),
  );

describe('SSE fallback in the browser, behind nginx', () => {
  it('when WebSockets are blocked, then the demo falls back to SSE, shows events, and survives the kill of its node with every missed event once', async () => {
    const { page, attempts } = await blockedPage();
    await page.goto(`${lb.url}/demo?user=91`);
    const connected = page.locator(
      '#status[data-state="connected"][data-transport="sse"][data-subscribed="2"]',
    );
    await connected.waitFor({ timeout: 20_000 });
    expect(attempts()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#transport').textContent()).toBe('over SSE (fallback)');

    await postAccepted(lb.url, '/v1/orders/o-91/events', { userId: '91', status: 'paid' });
    await postAccepted(lb.url, '/v1/promotions', {
      promotionId: 'sse-1',
      title: 'Streams work too',
      body: 'Delivered over Server-Sent Events',
    });
    await page.locator('[data-order="o-91"] li[data-status="paid"]').waitFor({ timeout: 10_000 });
    await page.locator('[data-promotion="sse-1"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'sse-fallback.png') });

    const first = await page.locator('#status').getAttribute('data-node');
    const doomed = cluster.nodes.find((n) => n.id === first)!;
    const survivor = cluster.nodes.find((n) => n.id !== first)!;
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    await postAccepted(survivor.url, '/v1/orders/o-91/events', { userId: '91', status: 'packed' });
    await postAccepted(survivor.url, '/v1/orders/o-91/events', { userId: '91', status: 'shipped' });

    await page
      .locator(`#status[data-node="${survivor.id}"][data-transport="sse"]`)
      .waitFor({ timeout: 20_000 });
    await page.locator('[data-order="o-91"] li[data-status="shipped"]').waitFor({ timeout: 10_000 });
    await postAccepted(lb.url, '/v1/orders/o-91/events', { userId: '91', status: 'delivered' });
    await page.locator('[data-order="o-91"] li[data-status="delivered"]').waitFor({ timeout: 10_000 });
    expect(await statuses(page, 'o-91')).toEqual(['paid', 'packed', 'shipped', 'delivered']);
    expect(await page.locator('[data-promotion="sse-1"]').count()).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'sse-fallback-after-kill.png') });
    await page.close();
  });

  it('a guest page with WebSockets blocked receives promotions over SSE', async () => {
    const { page } = await blockedPage();
    await page.goto(`${lb.url}/demo`);
    await page
      .locator('#status[data-state="connected"][data-transport="sse"][data-subscribed="1"]')
      .waitFor({ timeout: 20_000 });
    await postAccepted(lb.url, '/v1/promotions', {
      promotionId: 'sse-guest',
      title: 'For everyone',
      body: 'Guests too',
    });
    await page.locator('[data-promotion="sse-guest"]').waitFor({ timeout: 10_000 });
    await page.close();
  });
});
