/**
 * Webhooks (WEBHOOK_URL) against a real HTTP receiver in the test, with nodes on the machine's Redis
 * and RabbitMQ: signed events, online/offline with the grace, undelivered messages, retries with
 * backoff, giving up, a slow endpoint that delays nothing else, and a node killed with events pending.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { metricValue } from '../helpers/metrics.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { publish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { WebhookReceiver, type ReceivedWebhook } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-secret-for-tests-0123456789abcdef';

const cleanups = cleanupAfterEach();

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start(SECRET);
  cleanups.push(() => r.stop());
  return r;
}

async function node(r: WebhookReceiver, env: Record<string, string> = {}): Promise<TestNode> {
  const t = await startBackedNode({
    WEBHOOK_URL: r.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_OFFLINE_GRACE_MS: '400',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_POLL_MS: '20',
    CLUSTER_STATS_INTERVAL_MS: '0',
    ...env,
  });
  cleanups.push(() => t.stop());
  return t;
}

async function client(t: TestNode, userId: string): Promise<TestClient> {
  const c = await TestClient.open(t.wsUrl, await mintToken(userId));
  cleanups.push(() => c.close());
  return c;
}

/** Waits for `count` events of `type` (about `userId` when given). */
function events(r: WebhookReceiver, type: string, count: number, userId?: string, timeoutMs = 5_000) {
  const matching = (): ReceivedWebhook[] =>
    r.of(type).filter((e) => userId === undefined || e.data.userId === userId);
  return waitFor(() => (matching().length >= count ? matching() : undefined), `${count} ${type}`, timeoutMs);
}

describe('webhooks', () => {
  it('signs every event; user.online for the first connection, user.offline after the grace, nothing for a reconnect within it', async () => {
    const r = await receiver();
    const t = await node(r);
    const a = await client(t, 'wanda');
    const [online] = await events(r, 'user.online', 1, 'wanda');
    expect(online).toMatchObject({ type: 'user.online', data: { userId: 'wanda' }, signed: true });
    expect(online!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(online!.t - Date.now() / 1000)).toBeLessThan(60);
    expect(online!.ts).toBeLessThanOrEqual(Date.now());
    expect(online!.headers['content-type']).toBe('application/json');

    // A second tab: no event. The first closes and the second stays: no event either.
    const b = await client(t, 'wanda');
    a.close();
    await a.waitClose();
    // Both gone, and back within the grace: nothing.
    b.close();
    await b.waitClose();
    const c = await client(t, 'wanda');
    // Gone for good: offline once the grace has passed.
    c.close();
    await c.waitClose();
    const [offline] = await events(r, 'user.offline', 1, 'wanda');
    expect(offline).toMatchObject({ data: { userId: 'wanda' }, signed: true });
    // Back later: online again. Nothing else came meanwhile.
    await client(t, 'wanda');
    await events(r, 'user.online', 2, 'wanda');
    expect(r.requests.map((e) => e.type)).toEqual(['user.online', 'user.offline', 'user.online']);
    expect(await metricValue(t.url, 'herald_webhook_attempts_total{outcome="ok"}')).toBe(3);
  });

  it('message.undelivered for a user with no connection, once per message even when the publish is retried; never for a connected user', async () => {
    const r = await receiver();
    const t = await node(r);
    const { id } = await publish(t, 'user:ghost', { n: 1 }, { idempotencyKey: 'retry-me' });
    expect((await publish(t, 'user:ghost', { n: 1 }, { idempotencyKey: 'retry-me' })).id).toBe(id); // replayed
    const [undelivered] = await events(r, 'message.undelivered', 1);
    expect(undelivered).toMatchObject({
      data: { userId: 'ghost', channel: 'user:ghost', id, offset: 1 },
      signed: true,
    });

    const here = await client(t, 'present');
    await here.subscribe('user:present');
    await publish(t, 'user:present', { n: 2 });
    await here.next('message');
    await publish(t, 'user:ghost', { n: 3 }); // a barrier: events go out in order
    await events(r, 'message.undelivered', 2);
    expect(r.of('message.undelivered').map((e) => e.data.userId)).toEqual(['ghost', 'ghost']);
  });

  it('message.read when a client moves its read position, not when an ack moves nothing', async () => {
    const r = await receiver();
    const t = await node(r);
    const c = await client(t, 'rita');
    await c.subscribe('user:rita');
    await publish(t, 'user:rita', { n: 1 });
    await publish(t, 'user:rita', { n: 2 });
    await c.next('message');
    c.send({ type: 'ack', channel: 'user:rita', offset: 2, ref: 'a1' });
    await c.next('read');
    c.send({ type: 'ack', channel: 'user:rita', offset: 1, ref: 'a2' }); // behind: moves nothing
    await c.next('read');
    const [read] = await events(r, 'message.read', 1, 'rita');
    expect(read).toMatchObject({ data: { userId: 'rita', channel: 'user:rita', offset: 2 }, signed: true });
    c.close();
    await c.waitClose();
    await events(r, 'user.offline', 1, 'rita'); // a barrier: later than any second read event
    expect(r.of('message.read')).toHaveLength(1);
  });

  it('retries a failing endpoint with growing waits and delivers once it answers 2xx; gives up after WEBHOOK_MAX_ATTEMPTS', async () => {
    const r = await receiver();
    r.script.push(500, 503, 500);
    const t = await node(r, { WEBHOOK_MAX_ATTEMPTS: '4' });
    const { id } = await publish(t, 'user:later', { n: 1 });
    const attempts = await waitFor(() => (r.requests.length >= 4 ? r.requests : undefined), 'four attempts');
    expect(attempts.map((e) => e.id)).toEqual(Array(4).fill(attempts[0]!.id));
    expect(attempts[0]!.data).toMatchObject({ id });
    expect(attempts.every((e) => e.signed)).toBe(true);
    // Waits of 25-50, 50-100 and 100-200 ms (WEBHOOK_RETRY_BASE_MS 50, doubling, jittered).
    const gaps = attempts.slice(1).map((e, i) => e.at - attempts[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(20);
    expect(gaps[2]).toBeGreaterThanOrEqual(95);
    expect(gaps[2]).toBeGreaterThan(gaps[0]!);
    await waitFor(
      async () => (await metricValue(t.url, 'herald_webhook_attempts_total{outcome="ok"}')) === 1,
      'the success counted',
    );
    expect(await metricValue(t.url, 'herald_webhook_attempts_total{outcome="failed"}')).toBe(3);
    expect(await t.node.drivers.state.webhooks.pending()).toBe(0);

    const stubborn = await receiver();
    stubborn.fallback = 500;
    const u = await node(stubborn, { WEBHOOK_MAX_ATTEMPTS: '2' });
    await publish(u, 'user:never', { n: 1 });
    await waitFor(
      async () => (await metricValue(u.url, 'herald_webhook_attempts_total{outcome="gave_up"}')) === 1,
      'giving up',
    );
    // Gone from the outbox: it is never sent again.
    expect(await u.node.drivers.state.webhooks.pending()).toBe(0);
    expect(stubborn.requests).toHaveLength(2);
  });

  it('a hanging endpoint delays no message to clients, holds at most WEBHOOK_CONCURRENCY requests, and the outbox refuses beyond WEBHOOK_MAX_PENDING', async () => {
    const r = await receiver();
    r.fallback = 'hang';
    const t = await node(r, {
      WEBHOOK_TIMEOUT_MS: '300',
      WEBHOOK_CONCURRENCY: '2',
      WEBHOOK_MAX_PENDING: '10',
      WEBHOOK_RETRY_BASE_MS: '1000',
    });
    const reader = await client(t, 'reader');
    await reader.subscribe('user:reader');
    // The reader's user.online and 9 of these 15 fill the 10 places: 6 are refused.
    for (let i = 0; i < 15; i++) await publish(t, `user:away-${i}`, { i });
    // Clients are served meanwhile, at once.
    const started = Date.now();
    await publish(t, 'user:reader', { hello: true });
    await reader.next('message');
    expect(Date.now() - started).toBeLessThan(1_000);
    await waitFor(
      async () =>
        (await metricValue(
          t.url,
          'herald_webhook_events_total{type="message.undelivered",outcome="refused"}',
        )) === 6,
      'six refused',
    );
    expect(await t.node.drivers.state.webhooks.pending()).toBe(10);
    // Timeouts are failures, tried again later; never more than two POSTs at once.
    await waitFor(
      async () => (await metricValue(t.url, 'herald_webhook_attempts_total{outcome="failed"}')) >= 2,
      'timeouts counted as failures',
    );
    expect(r.maxOpen).toBeLessThanOrEqual(2);
  });
});

describe('webhooks across a node failure', () => {
  let cluster: TestCluster | undefined;
  /** Node processes whose crashed users are decided within seconds (short presence TTL and grace). */
  const crashEnv = (r: WebhookReceiver): Record<string, string> => ({
    WEBHOOK_URL: r.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_OFFLINE_GRACE_MS: '300',
    WEBHOOK_POLL_MS: '50',
    PRESENCE_TTL_SECONDS: '3',
    CLUSTER_STATS_INTERVAL_MS: '0',
  });
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('when a node dies holding a user, then another node sends user.offline once its presence lapsed, and none for a user still connected elsewhere', async () => {
    const r = await receiver();
    cluster = await startCluster(2, crashEnv(r));
    const [doomed, survivor] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const lone = await TestClient.open(doomed.wsUrl, await mintToken('lone'));
    const both = await TestClient.open(doomed.wsUrl, await mintToken('both'));
    const elsewhere = await TestClient.open(survivor.wsUrl, await mintToken('both'));
    cleanups.push(() => {
      for (const c of [lone, both, elsewhere]) c.close();
    });
    await events(r, 'user.online', 1, 'lone');
    await events(r, 'user.online', 1, 'both');
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const [offline] = await events(r, 'user.offline', 1, 'lone', 20_000);
    expect(offline).toMatchObject({ data: { userId: 'lone' }, signed: true });
    expect(r.of('user.offline').map((e) => e.data.userId)).toEqual(['lone']);
  });

  it('when a node dies holding a user and comes back under the same NODE_ID, then it sends user.offline for that user itself', async () => {
    const r = await receiver();
    cluster = await startCluster(1, crashEnv(r));
    const [doomed] = cluster.nodes as [(typeof cluster.nodes)[0]];
    const lone = await TestClient.open(doomed.wsUrl, await mintToken('lone'));
    cleanups.push(() => lone.close());
    await events(r, 'user.online', 1, 'lone');
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    // Its registry entry never lapses (the new run announces the same id), so no other node would
    // ever adopt what the dead run held: the new run adopts it when it starts.
    const reborn = await cluster.start(doomed.id);
    const [offline] = await events(r, 'user.offline', 1, 'lone', 20_000);
    expect(offline).toMatchObject({ data: { userId: 'lone' }, signed: true });

    // A user connected to the new run is held again, and stays online.
    const back = await TestClient.open(reborn.wsUrl, await mintToken('back'));
    cleanups.push(() => back.close());
    await events(r, 'user.online', 1, 'back');
    expect(r.of('user.offline').map((e) => e.data.userId)).toEqual(['lone']);
  });

  it('when the node sending webhooks is SIGKILLed mid-request, then another node sends every pending event', async () => {
    const r = await receiver();
    r.fallback = 'hang';
    cluster = await startCluster(1, {
      WEBHOOK_URL: r.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_POLL_MS: '50',
      CLUSTER_STATS_INTERVAL_MS: '0',
    });
    const [doomed] = cluster.nodes as [(typeof cluster.nodes)[0]];
    for (let i = 0; i < 3; i++) await publish(doomed, `user:gone-${i}`, { i });
    // The node holds all three in flight (the endpoint does not answer yet).
    const inFlight = await waitFor(
      () => (r.requests.length >= 3 ? [...new Set(r.requests.map((e) => e.id))] : undefined),
      'three POSTs',
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    r.fallback = 200;
    const survivor = await cluster.start(`${doomed.id}-b`);
    // Their leases run out (2 × WEBHOOK_TIMEOUT_MS + 5 s), then the survivor sends each.
    await waitFor(
      () =>
        inFlight.every((id) =>
          r.requests.some((e) => e.id === id && e.signed && (e as { status?: unknown }).status === 200),
        ),
      'every pending event delivered by the survivor',
      20_000,
    );
    expect(await metricValue(survivor.url, 'herald_webhook_attempts_total{outcome="ok"}')).toBe(3);
  });
});
