/**
 * The operator console in a real browser (Debian's Chromium through playwright-core) against two node
 * processes on the machine's Redis and RabbitMQ: the page takes the admin key, shows both nodes with
 * their connection counts, follows them live as clients come and go, sends a test order event that a
 * connected client receives, and shows a killed node as gone. Screenshots: test/browser/artifacts/.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, buildBrowserBundle, launchBrowser } from '../helpers/browser.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN_KEY } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let cluster: TestCluster;
let browser: Browser;
const clients: TestClient[] = [];

beforeAll(async () => {
  buildBrowserBundle(); // the page runs the SDK as it is now
  // Rebalancing off: the counts asserted are the ones the test makes.
  cluster = await startCluster(2, { CLUSTER_STATS_INTERVAL_MS: '300', REBALANCE_INTERVAL_MS: '0' });
  browser = await launchBrowser();
}, 900_000); // a first run may install Chromium
afterAll(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await cluster?.stop();
});

async function openConsole(base: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(`${base}/dashboard`);
  return { page, errors };
}

const bar = (page: Page, node: string, connections: number) =>
  page.locator(`#chart g[data-node="${node}"][data-connections="${connections}"]`);

describe('operator console in Chromium', () => {
  it('when a wrong key is entered, then the page says it was refused and keeps nothing', async () => {
    const { page } = await openConsole(cluster.nodes[0]!.url);
    await page.locator('#key').fill('not-a-key');
    await page.locator('#key-form button').click();
    await page.locator('#notice').filter({ hasText: 'refused' }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-sign-in.png') });
    expect(await page.locator('#console').isVisible()).toBe(false);
    expect(await page.evaluate('[sessionStorage.length, localStorage.length]')).toEqual([0, 0]);
    await page.close();
  });

  it('when the admin key is entered, then both nodes show with their live connection counts, and a test order event reaches a connected client', async () => {
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const { page, errors } = await openConsole(a.url);
    await page.locator('#key').fill(ADMIN_KEY);
    await page.locator('#key-form button').click();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#via').textContent()).toBe(`via ${a.id}`);
    // The key is in this tab's sessionStorage only.
    expect(await page.evaluate('[Object.keys(sessionStorage), localStorage.length]')).toEqual([
      ['herald.console.adminKey'],
      0,
    ]);
    expect(await page.evaluate('document.cookie')).toBe('');

    // The console's own connection is on node a; three shoppers on b, then one on a.
    await bar(page, a.id, 1).waitFor({ timeout: 10_000 });
    await bar(page, b.id, 0).waitFor({ timeout: 10_000 });
    for (let i = 0; i < 3; i++) clients.push(await TestClient.open(b.wsUrl, await mintToken(`shopper-${i}`)));
    const buyer = await TestClient.open(a.wsUrl, await mintToken('42'));
    clients.push(buyer);
    expect(await buyer.subscribe('user:42')).toMatchObject({ type: 'subscribed' });
    await bar(page, b.id, 3).waitFor({ timeout: 10_000 });
    await bar(page, a.id, 2).waitFor({ timeout: 10_000 });
    expect(await page.locator(`tr[data-node="${b.id}"] td[data-field="connections"]`).textContent()).toBe(
      '3',
    );
    expect(await page.locator('#total-connections').textContent()).toBe('5');

    // Two shoppers leave: the count follows.
    clients[0]!.close();
    clients[1]!.close();
    await bar(page, b.id, 1).waitFor({ timeout: 10_000 });

    // The form: an order event for user 42, published through the REST API with the admin key.
    await page.locator('#send input[name="order-id"]').fill('o-console-1');
    await page.locator('#send select[name="status"]').selectOption('shipped');
    await page.locator('#send button[type="submit"]').click();
    await page.locator('#sent[data-ok="true"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#sent').textContent()).toMatch(/user:42 #\d+, order:o-console-1 #\d+/);
    const [event] = await buyer.waitForMessages(1, 'user:42', 10_000);
    expect(event).toMatchObject({
      event: 'order.status',
      data: { orderId: 'o-console-1', userId: '42', status: 'shipped' },
    });
    // The publishing node reports it in its messages per second for one interval.
    const messages = page.locator(`tr[data-node="${a.id}"] td[data-field="messages"]`);
    await waitFor(async () => (await messages.textContent()) !== '0', 'messages/s of node a', 10_000, 20);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png') });

    // A reload keeps the console open (sessionStorage), without asking for the key again.
    await page.reload();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 10_000 });
    await bar(page, b.id, 1).waitFor({ timeout: 10_000 });
    expect(await page.locator('#sign-in').isVisible()).toBe(false);

    // A node that dies stops reporting: after a few intervals it is shown as gone.
    b.child.kill('SIGKILL');
    await b.exited;
    await page.locator(`#chart g[data-node="${b.id}"][data-state="gone"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator('#total-nodes').textContent()).toBe('1');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-node-gone.png') });
    expect(errors).toEqual([]);
    await page.close();
  });
});
