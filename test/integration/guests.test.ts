/**
 * Guest visitors (WS_ALLOW_GUESTS): storefront visitors who have not signed in connect without a
 * token and receive promotions, and nothing else; each client address holds at most
 * WS_MAX_GUESTS_PER_IP guests. On the machine's Redis and RabbitMQ.
 */
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { HeraldClient, type MessageFrame } from '../../shared/client/index.js';
import { metricValue } from '../helpers/metrics.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string>): Promise<TestNode> {
  const t = await startBackedNode(env);
  cleanups.push(() => t.stop());
  return t;
}

async function guest(t: TestNode, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(t.wsUrl, { headers });
  cleanups.push(() => client.close());
  client.send({ type: 'auth', ref: 'g' });
  return client;
}

const guestGauge = (t: TestNode): Promise<number> => metricValue(t.url, 'herald_guest_connections');

describe('guest visitors', () => {
  it('when a node takes guests, then an auth frame without a token opens a guest that receives promotions and may subscribe to nothing else', async () => {
    const t = await node({ WS_ALLOW_GUESTS: 'true' });
    const g = await guest(t);
    const welcome = await g.next('welcome');
    expect(welcome).toMatchObject({ guest: true, ref: 'g', protocol: 'herald.v1' });
    expect(welcome.user).toMatch(/^guest-/);
    expect(await guestGauge(t)).toBe(1);

    expect(await g.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
    for (const channel of [
      'promotions:vip',
      'user:alice',
      `user:${welcome.user as string}`,
      'order:o-1',
      'cluster',
    ])
      expect(await g.subscribe(channel)).toMatchObject({ type: 'error', code: 'permission_denied', channel });
    await publish(t, 'promotions', { title: 'Flash sale' });
    expect((await g.waitForMessages(1, 'promotions'))[0]).toMatchObject({ data: { title: 'Flash sale' } });

    // No session to resume; the connection stays.
    g.send({ type: 'resume', session: welcome.session, ref: 'r' });
    expect(await g.next('error', (f) => f.ref === 'r')).toMatchObject({ code: 'session_not_found' });
    g.close();
    await waitFor(async () => (await guestGauge(t)) === 0, 'the guest gauge to drop');
  });

  it('when a node takes no guests (the default), then an auth frame without a token is bad_frame and close 4001', async () => {
    const t = await node({});
    const g = await guest(t);
    expect(await g.next('error')).toMatchObject({ code: 'bad_frame', ref: 'g' });
    expect(await g.waitClose()).toBe(4001);
  });

  it('when one address holds WS_MAX_GUESTS_PER_IP guests, then its next guest gets too_many_connections (4008), signed-in users still connect, and a place frees when a guest leaves', async () => {
    const t = await node({ WS_ALLOW_GUESTS: 'true', WS_MAX_GUESTS_PER_IP: '2' });
    const first = await guest(t);
    await first.next('welcome');
    await (await guest(t)).next('welcome');
    const third = await guest(t);
    expect(await third.next('error')).toMatchObject({ code: 'too_many_connections', ref: 'g' });
    expect(await third.waitClose()).toBe(4008);

    const user = await TestClient.open(t.wsUrl, await mintToken('signed-in'));
    cleanups.push(() => user.close());
    first.close();
    await first.waitClose();
    await waitFor(async () => {
      const next = await guest(t);
      await waitFor(() => next.frames.length > 0, 'an answer');
      return next.frames[0]!.type === 'welcome';
    }, 'a guest place to free up');
  });

  it('when guests come through a trusted proxy, then the client it names is counted, not the proxy', async () => {
    const t = await node({
      WS_ALLOW_GUESTS: 'true',
      WS_MAX_GUESTS_PER_IP: '1',
      TRUSTED_PROXIES: '127.0.0.1',
    });
    await (await guest(t, { 'x-forwarded-for': '203.0.113.7' })).next('welcome');
    await (await guest(t, { 'x-forwarded-for': '198.51.100.9' })).next('welcome');
    const again = await guest(t, { 'x-forwarded-for': '203.0.113.7' });
    expect(await again.next('error')).toMatchObject({ code: 'too_many_connections' });
  });

  it('when the SDK has no token, then it connects as a guest, receives promotions, and after a reconnect subscribes again without a resume', async () => {
    const t = await node({ WS_ALLOW_GUESTS: 'true' });
    const client = new HeraldClient({
      guest: true,
      url: t.wsUrl,
      WebSocket,
      minReconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
    });
    cleanups.push(() => client.close());
    const messages: MessageFrame[] = [];
    client.on('message', (m) => messages.push(m));
    client.subscribe('promotions');
    client.connect();
    await waitFor(() => client.state === 'connected' && client.welcome?.guest === true, 'a guest welcome');
    await waitFor(async () => {
      await publish(t, 'promotions', { n: messages.length });
      return messages.length > 0;
    }, 'a first promotion');

    // The node drops every connection (an operator restart): the SDK reconnects as a guest.
    for (const c of [
      ...(t.node.gateway as unknown as { connections: Set<{ terminate(): void }> }).connections,
    ])
      c.terminate();
    await waitFor(() => client.stats.reconnects >= 1 && client.state === 'connected', 'the reconnect');
    const before = messages.length;
    await publish(t, 'promotions', { after: 'reconnect' });
    await waitFor(() => messages.length > before, 'a promotion after the reconnect');
    expect(client.stats.resumes).toBe(0);
  });
});
