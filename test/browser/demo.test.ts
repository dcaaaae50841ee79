/**
 * The storefront demo in a real browser (Debian's Chromium through playwright-core), against a node on
 * the machine's Redis and RabbitMQ: a signed-in page shows an order's status timeline and a promotion
 * toast posted over REST; a guest page shows the promotion. Screenshots: test/browser/artifacts/.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, buildBrowserBundle, launchBrowser } from '../helpers/browser.js';
import { postAccepted } from '../helpers/rest-http.js';
import { PUBLISH_ONLY, startBackedNode, type TestNode } from '../helpers/test-node.js';

let node: TestNode;
let browser: Browser;

beforeAll(async () => {
  buildBrowserBundle(); // the page runs the SDK as it is now
  node = await startBackedNode({ DEMO_ENABLED: 'true', WS_ALLOW_GUESTS: 'true' });
  browser = await launchBrowser();
}, 900_000); // a first run may install Chromium
afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

async function open(query: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${node.url}/demo${query}`);
  // Connected, and every channel of the page subscribed (user:{id} and promotions, a guest the latter).
  const channels = query.includes('user=') ? 2 : 1;
  await page
    .locator(`#status[data-state="connected"][data-subscribed="${channels}"]`)
    .waitFor({ timeout: 10_000 });
  expect(errors).toEqual([]);
  return page;
}

describe('storefront demo in Chromium', () => {
  it('when an order event and a promotion are posted over REST, then the signed-in page shows the order timeline and a toast', async () => {
    const page = await open('?user=42');
    expect(await page.locator('#who').textContent()).toBe('user 42');

    await postAccepted(node, '/v1/orders/o-1042/events', { userId: '42', status: 'paid' });
    await postAccepted(node, '/v1/orders/o-1042/events', { userId: '42', status: 'shipped' });
    const order = page.locator('[data-order="o-1042"]');
    await order.locator('li[data-status="shipped"].current').waitFor({ timeout: 10_000 });
    expect(await order.locator('h3').textContent()).toBe('Order o-1042');
    const statuses = await Promise.all(
      (await order.locator('li').all()).map((li) => li.getAttribute('data-status')),
    );
    expect(statuses).toEqual(['paid', 'shipped']);

    await postAccepted(node, '/v1/promotions', {
      promotionId: 'p-flash',
      title: 'Flash sale: 30 % off',
      body: 'Today only.',
    });
    await page.locator('.toast[data-promotion="p-flash"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('.toast[data-promotion="p-flash"] strong').textContent()).toBe(
      'Flash sale: 30 % off',
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-user-42.png') });
    await page.close();
  });

  it('when order events arrive, then both tabs of the user show an unread badge, and marking them read in one clears it in both', async () => {
    const tab = await open('?user=77');
    const other = await open('?user=77');
    await postAccepted(node, '/v1/orders/o-1077/events', { userId: '77', status: 'paid' });
    await postAccepted(node, '/v1/orders/o-1077/events', { userId: '77', status: 'packed' });
    for (const page of [tab, other]) {
      await page.locator('#unread[data-count="2"]').waitFor({ timeout: 10_000 });
      expect(await page.locator('#unread').textContent()).toBe('2 unread');
    }
    await tab.screenshot({ path: path.join(ARTIFACTS, 'demo-unread.png') });

    await tab.locator('#mark-read').click();
    for (const page of [tab, other]) {
      await page.locator('#unread[data-count="0"]').waitFor({ state: 'attached', timeout: 10_000 });
      expect(await page.locator('#unread').isHidden()).toBe(true);
    }
    const res = await fetch(`${node.url}/v1/users/77/inbox`, { headers: { authorization: PUBLISH_ONLY } });
    expect(((await res.json()) as { channels: unknown[] }).channels).toMatchObject([
      { channel: 'user:77', offset: 2, read: 2, unread: 0 },
    ]);
    await tab.close();
    await other.close();
  });

  it('when a guest opens the demo, then it shows promotions and no orders', async () => {
    const page = await open('');
    expect(await page.locator('#who').textContent()).toBe('guest');
    await postAccepted(node, '/v1/promotions', {
      promotionId: 'p-guest',
      title: 'Free shipping this weekend',
      body: 'On every order.',
    });
    await page.locator('.toast[data-promotion="p-guest"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#orders').isVisible()).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-guest.png') });
    await page.close();
  });

  it('when the node takes no guests, then the guest page says so and how to sign in', async () => {
    const closed = await startBackedNode({ DEMO_ENABLED: 'true' });
    try {
      const page = await browser.newPage();
      await page.goto(`${closed.url}/demo`);
      const notice = page.locator('#notice');
      await notice.waitFor({ state: 'visible', timeout: 10_000 });
      expect(await notice.textContent()).toContain('WS_ALLOW_GUESTS=true');
      expect(await page.locator('#status').getAttribute('data-state')).toBe('closed');
      await page.close();
    } finally {
      await closed.stop();
    }
  });
});
