/**
 * The Server-Sent Events fallback (GET /v1/sse): the same frames, authorization, limits and recovery
 * as the WebSocket, with Last-Event-ID carrying every channel's position. Real HTTP streams against
 * nodes on the machine's Redis and RabbitMQ.
 */
import { connect } from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { metricValue } from '../helpers/metrics.js';
import { publish } from '../helpers/rest-http.js';
import { SseReader } from '../helpers/sse-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string> = {}, log?: pino.Logger): Promise<TestNode> {
  const t = await startBackedNode(env, log);
  cleanups.push(() => t.stop());
  return t;
}

async function stream(
  t: TestNode,
  query: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  const reader = await SseReader.open(`${t.url}/v1/sse?${new URLSearchParams(query).toString()}`, headers);
  cleanups.push(() => reader.close());
  return reader;
}

/** The last `id:` the stream carried (what an EventSource would send back as Last-Event-ID). */
const lastId = (reader: SseReader): string => reader.events.filter((e) => e.id !== undefined).at(-1)!.id!;

describe('SSE fallback', () => {
  it('streams the WebSocket frames as events: welcome, subscribed and messages, each positioned event with the cursor of every channel as its id', async () => {
    const t = await node();
    const token = await mintToken('alice');
    const s = await stream(t, { channels: 'user:alice,promotions', token });
    expect(s.status).toBe(200);
    expect(s.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.response.headers['x-accel-buffering']).toBe('no');
    expect(await s.frame('welcome')).toMatchObject({ protocol: 'herald.v1', user: 'alice' });
    const user = await s.next((e) => e.json?.type === 'subscribed' && e.json.channel === 'user:alice');
    const promotions = await s.next((e) => e.json?.type === 'subscribed' && e.json.channel === 'promotions');
    const userEpoch = user.json!.epoch as string;
    const promoEpoch = promotions.json!.epoch as string;
    expect(user.id).toBe(`user:alice 0 ${userEpoch}`);
    expect(promotions.id).toBe(`user:alice 0 ${userEpoch},promotions 0 ${promoEpoch}`);
    expect(await metricValue(t.url, 'herald_sse_connections')).toBe(1);

    await publish(t, 'user:alice', { orderId: 'o-1', status: 'shipped' }, { event: 'order.status' });
    await publish(t, 'promotions', { title: 'Flash sale\nnow' }, { event: 'promotion' });
    const order = await s.next((e) => e.json?.type === 'message' && e.json.channel === 'user:alice');
    expect(order.json).toMatchObject({ offset: 1, event: 'order.status', data: { orderId: 'o-1' } });
    expect(order.id).toBe(`user:alice 1 ${userEpoch},promotions 0 ${promoEpoch}`);
    const promo = await s.next((e) => e.json?.type === 'message' && e.json.channel === 'promotions');
    expect(promo.json).toMatchObject({ offset: 1, data: { title: 'Flash sale\nnow' } });
    expect(promo.id).toBe(`user:alice 1 ${userEpoch},promotions 1 ${promoEpoch}`);
    // Frames without a position carry no id: the client's Last-Event-ID stays the last cursor.
    expect(s.events.find((e) => e.json?.type === 'welcome')!.id).toBeUndefined();
  });

  it('when a stream comes back with Last-Event-ID, then every channel recovers what was published meanwhile, once each and in order', async () => {
    const t = await node();
    const token = await mintToken('bob');
    const first = await stream(t, { channels: 'user:bob,promotions', token });
    await first.next((e) => e.json?.type === 'subscribed' && e.json.channel === 'promotions');
    await publish(t, 'user:bob', { n: 1 });
    await first.next((e) => e.json?.type === 'message');
    const cursor = lastId(first);
    first.close();
    await waitFor(async () => (await metricValue(t.url, 'herald_sse_connections')) === 0, 'stream gone');

    for (let n = 2; n <= 4; n++) await publish(t, 'user:bob', { n });
    await publish(t, 'promotions', { title: 'missed' }, { event: 'promotion' });

    // Through the header an EventSource sends, and through the query parameter the SDK uses.
    for (const resume of [{ headers: { 'last-event-id': cursor } }, { query: { lastEventId: cursor } }]) {
      const again = await stream(
        t,
        { channels: 'user:bob,promotions', token, ...resume.query },
        resume.headers,
      );
      const subscribed = await again.next(
        (e) => e.json?.type === 'subscribed' && e.json.channel === 'user:bob',
      );
      expect(subscribed.json).toMatchObject({ recovered: true, offset: 4 });
      const promoSubscribed = await again.next(
        (e) => e.json?.type === 'subscribed' && e.json.channel === 'promotions',
      );
      expect(promoSubscribed.json).toMatchObject({ recovered: true, offset: 1 });
      // The replayed promotion follows its channel's subscribed.
      await again.next((e) => e.json?.type === 'message' && e.json.channel === 'promotions');
      const messages = again.events.filter((e) => e.json?.type === 'message');
      expect(messages.map((e) => [e.json!.channel, (e.json!.data as { n?: number }).n ?? 'promo'])).toEqual([
        ['user:bob', 2],
        ['user:bob', 3],
        ['user:bob', 4],
        ['promotions', 'promo'],
      ]);
      again.close();
    }

    // A position of another epoch cannot be recovered, and the stream says so.
    const stale = await stream(
      t,
      { channels: 'user:bob', token },
      { 'last-event-id': 'user:bob 2 0123456789ab' },
    );
    expect(await stale.frame('subscribed')).toMatchObject({
      channel: 'user:bob',
      recovered: false,
      offset: 4,
    });
  });

  it('never logs the token of a stream URL', async () => {
    const lines: string[] = [];
    const t = await node({}, pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }));
    const token = await mintToken('kim');
    const s = await stream(t, { channels: 'user:kim', token });
    await s.frame('subscribed');
    const opened = await waitFor(() => lines.find((l) => l.includes('connection opened')), 'the log line');
    expect(opened).toContain('token=[redacted]');
    expect(opened).toContain('"transport":"sse"');
    expect(lines.join('')).not.toContain(token);
  });

  it('applies the WebSocket authorization: Bearer or ?token=, a bad token is an error event and close 4001, a channel of another user is refused', async () => {
    const t = await node();
    const token = await mintToken('carol');
    const bearer = await stream(
      t,
      { channels: 'user:carol,user:dave' },
      { authorization: `Bearer ${token}` },
    );
    expect(await bearer.frame('subscribed')).toMatchObject({ channel: 'user:carol' });
    expect(await bearer.frame('error')).toMatchObject({ code: 'permission_denied', channel: 'user:dave' });

    const bad = await stream(t, { channels: 'user:carol', token: `${token}x` });
    expect(await bad.frame('error')).toMatchObject({ code: 'token_invalid' });
    const close = await bad.next((e) => e.event === 'close');
    expect(JSON.parse(close.data)).toMatchObject({ code: 4001 });
    await bad.ends();
    expect(bad.events.some((e) => e.json?.type === 'subscribed')).toBe(false);

    const expired = await stream(t, {
      channels: 'user:carol',
      token: await mintToken('carol', { expiresIn: '-1m' }),
    });
    expect(await expired.frame('error')).toMatchObject({ code: 'token_expired' });
    expect(JSON.parse((await expired.next((e) => e.event === 'close')).data)).toMatchObject({ code: 4003 });
  });

  it('takes guests only where the node does, for promotions only', async () => {
    const open = await node({ WS_ALLOW_GUESTS: 'true' });
    const guest = await stream(open, { channels: 'promotions,user:erin' });
    expect(await guest.frame('welcome')).toMatchObject({ guest: true });
    // In the order of the URL's channels, as a WebSocket's subscribes are answered.
    expect(await guest.frame('subscribed')).toMatchObject({ channel: 'promotions' });
    expect(await guest.frame('error')).toMatchObject({ code: 'permission_denied', channel: 'user:erin' });
    expect(await metricValue(open.url, 'herald_guest_connections')).toBe(1);

    const closed = await node();
    const refused = await stream(closed, { channels: 'promotions' });
    expect(await refused.frame('error')).toMatchObject({ code: 'bad_frame' });
    expect(JSON.parse((await refused.next((e) => e.event === 'close')).data)).toMatchObject({ code: 4001 });
  });

  it('answers a request that cannot become a stream with a coded error, before any stream exists', async () => {
    const t = await node({ WS_MAX_SUBSCRIPTIONS: '2', ALLOWED_ORIGINS: 'https://shop.example' });
    const token = await mintToken('frank');
    const cases: [Record<string, string>, Record<string, string>, number, string][] = [
      [{ channels: 'user:frank,nope' }, {}, 400, 'unknown_channel'],
      [{ channels: '' }, {}, 400, 'validation_failed'],
      [{ channels: 'user:frank,user:frank' }, {}, 400, 'validation_failed'],
      [{ channels: 'user:frank,promotions,order:o-1' }, {}, 400, 'too_many_subscriptions'],
      [{ channels: 'user:frank' }, { 'last-event-id': 'garbage' }, 400, 'bad_last_event_id'],
      [{ channels: 'user:frank' }, { 'last-event-id': 'user:frank -1 abc' }, 400, 'bad_last_event_id'],
      [
        { channels: 'user:frank' },
        { 'last-event-id': 'user:frank 1 abc,user:frank 2 abc' },
        400,
        'bad_last_event_id',
      ],
      [
        { channels: 'user:frank' },
        { 'last-event-id': 'user:frank 99999999999999999 abc' },
        400,
        'bad_last_event_id',
      ],
      [{ channels: 'user:frank', token }, { authorization: `Bearer ${token}` }, 400, 'validation_failed'],
      [{ channels: 'user:frank' }, { authorization: 'Basic abc' }, 400, 'validation_failed'],
      [{ channels: 'user:frank', token }, { origin: 'https://evil.example' }, 403, 'origin_not_allowed'],
    ];
    for (const [query, headers, status, code] of cases) {
      const refused = await stream(t, query, headers);
      expect([JSON.stringify(query), refused.status]).toEqual([JSON.stringify(query), status]);
      expect(await refused.body()).toMatchObject({ statusCode: status, code });
    }
    expect(await metricValue(t.url, 'herald_sse_connections')).toBe(0);

    // An allowed origin gets the CORS header a cross-origin EventSource needs.
    const allowed = await stream(t, { channels: 'user:frank', token }, { origin: 'https://shop.example' });
    expect(allowed.status).toBe(200);
    expect(allowed.response.headers['access-control-allow-origin']).toBe('https://shop.example');
  });

  it('counts streams toward the per-user limit like WebSockets (4008)', async () => {
    const t = await node({ WS_MAX_CONNECTIONS_PER_USER: '1' });
    const token = await mintToken('gina');
    const first = await stream(t, { channels: 'user:gina', token });
    await first.frame('subscribed');
    const second = await stream(t, { channels: 'user:gina', token });
    expect(await second.frame('error')).toMatchObject({ code: 'too_many_connections' });
    expect(JSON.parse((await second.next((e) => e.event === 'close')).data)).toMatchObject({ code: 4008 });
  });

  it('writes a heartbeat event every WS_HEARTBEAT_MS, and a drain asks the stream to reconnect, then closes it 1012', async () => {
    const t = await node({ WS_HEARTBEAT_MS: '200', DRAIN_WINDOW_MS: '300' });
    const token = await mintToken('hank');
    const s = await stream(t, { channels: 'user:hank', token });
    await s.frame('subscribed');
    const ping = await s.next((e) => e.event === 'ping', 3_000);
    expect(Number(ping.data)).toBeGreaterThan(0);
    expect(s.closed).toBe(false);

    const drained = t.node.drain();
    expect(await s.frame('reconnect')).toMatchObject({ type: 'reconnect' });
    expect(JSON.parse((await s.next((e) => e.event === 'close', 10_000)).data)).toMatchObject({ code: 1012 });
    await s.ends();
    await drained;
    const refused = await stream(t, { channels: 'user:hank', token });
    expect(refused.status).toBe(503);
    expect(await refused.body()).toMatchObject({ code: 'draining' });
  });

  it('closes a stream whose reader stops reading once its unsent bytes pass WS_MAX_BUFFERED_BYTES (slow consumer)', async () => {
    const t = await node({ WS_MAX_BUFFERED_BYTES: '65536' });
    const token = await mintToken('iris');
    const port = new URL(t.url).port;
    const socket = connect(Number(port), '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('"type":"subscribed"')) socket.pause(); // from now on, nothing is read
    });
    socket.write(`GET /v1/sse?channels=user:iris&token=${token} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => head.includes('"type":"subscribed"'), 'the stream to subscribe');

    const big = 'x'.repeat(32_000);
    const closes = (): Promise<number> =>
      metricValue(t.url, 'herald_connection_closes_total{reason="slow_consumer"}');
    await waitFor(
      async () => {
        await publish(t, 'user:iris', { big });
        return (await closes()) >= 1;
      },
      'the slow stream to be closed',
      30_000,
    );
    // Its close event cannot reach a peer that does not read: the response is cut after a grace.
    await waitFor(
      async () => (await metricValue(t.url, 'herald_sse_connections')) === 0,
      'the stream gone',
      15_000,
    );
  });
});
