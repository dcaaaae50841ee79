/**
 * The client SDK (shared/client) against real nodes with memory drivers, in Node with the `ws`
 * package: connecting and receiving, reconnecting after a network cut and after a node shutdown with
 * the missed messages recovered (no duplicate, no gap), token refresh on 4003, heartbeat timeout on a
 * silent link, subscribe retries, and the close codes it must stop on.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { MemoryBroker, MemoryBus } from '../../shared/bus/memory-bus.js';
import { createMemoryDrivers, type Drivers } from '../../services/node/drivers.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import {
  HeraldClient,
  type HeraldClientOptions,
  type HeraldError,
  type MessageFrame,
  type RecoveryEvent,
  type TokenReason,
} from '../../shared/client/index.js';
import { publish } from '../helpers/rest-http.js';
import { ADMIN, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A TCP relay between the SDK and a node that the test steers: `cut` resets live connections,
 * `refuse`/`accept` turn new ones away, `blackhole` silences live connections without closing them
 * (a dead network path), `target` points new connections at another node.
 */
class Relay {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; silent: boolean }>();
  private refusing = false;

  private constructor(
    private readonly server: Server,
    private port: number,
  ) {
    server.on('connection', (client) => this.forward(client));
  }

  static async start(port: number): Promise<Relay> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Relay(server, port);
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/ws`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  target(port: number): void {
    this.port = port;
  }

  cut(): void {
    for (const pair of [...this.pairs]) {
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  refuse(): void {
    this.refusing = true;
  }

  accept(): void {
    this.refusing = false;
  }

  /** Live connections stop carrying bytes either way and never close by themselves. */
  blackhole(): void {
    for (const pair of this.pairs) {
      pair.silent = true;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.refuse();
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    client.on('error', () => undefined);
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.port, '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair = { client, upstream, silent: false };
    this.pairs.add(pair);
    client.on('close', () => {
      this.pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => {
      if (!pair.silent) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string> = {}, drivers?: Drivers): Promise<TestNode> {
  const t = await startTestNode(env, drivers);
  cleanups.push(() => t.stop());
  return t;
}

async function relayTo(t: TestNode): Promise<Relay> {
  const relay = await Relay.start(Number(new URL(t.url).port));
  cleanups.push(() => relay.close());
  return relay;
}

/** Two nodes' worth of drivers over one state store and one broker: a cluster in one process. */
function sharedDrivers(): () => Drivers {
  const base = createMemoryDrivers();
  const broker = new MemoryBroker();
  cleanups.push(() => base.closeState());
  return () => ({ ...base, bus: new MemoryBus(broker), closeState: () => Promise.resolve() });
}

interface Probe {
  client: HeraldClient;
  messages: MessageFrame[];
  recoveries: RecoveryEvent[];
  errors: HeraldError[];
  offsets(channel: string): number[];
}

function sdk(options: Partial<HeraldClientOptions> & Pick<HeraldClientOptions, 'url' | 'token'>): Probe {
  const client = new HeraldClient({
    WebSocket, // the `ws` package as is: its constructor fits the SDK's WebSocket option
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    ...options,
  });
  const probe: Probe = {
    client,
    messages: [],
    recoveries: [],
    errors: [],
    offsets: (channel) => probe.messages.filter((m) => m.channel === channel).map((m) => m.offset),
  };
  client.on('message', (m) => probe.messages.push(m));
  client.on('recovery', (r) => probe.recoveries.push(r));
  client.on('error', (e) => probe.errors.push(e));
  cleanups.push(() => client.close());
  return probe;
}

/** Publishes `{ n }` as a `test.event` message (what these tests' assertions expect). */
const publishN = (t: TestNode, channel: string, n: number) =>
  publish(t, channel, { n }, { event: 'test.event' });

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

const subscribed = (p: Probe, channel: string) => () =>
  p.client.subscription(channel)?.state === 'subscribed';

describe('client SDK against a real node', () => {
  it('when connected with a token, then it subscribes and receives the messages of its channel', async () => {
    const t = await node();
    const p = sdk({ url: t.wsUrl, token: await mintToken('sdk-1') });
    const sub = p.client.subscribe('user:sdk-1');
    const own: number[] = [];
    sub.on('message', (m) => own.push(m.offset));
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-1'), 'subscribed');
    expect(p.client.welcome).toMatchObject({ user: 'sdk-1', protocol: 'herald.v1' });

    for (const n of [1, 2, 3]) await publishN(t, 'user:sdk-1', n);
    await waitFor(() => own.length === 3, 'three messages');
    expect(p.messages.map((m) => [m.offset, m.event, m.data])).toEqual([
      [1, 'test.event', { n: 1 }],
      [2, 'test.event', { n: 2 }],
      [3, 'test.event', { n: 3 }],
    ]);
    expect(p.client.position('user:sdk-1')).toEqual({ offset: 3, epoch: p.messages[0]!.epoch });
    expect(p.recoveries).toEqual([expect.objectContaining({ recovered: false, refetch: false })]);
  });

  it('when the network cuts the connection, then the SDK reconnects, resumes, and gets what it missed once, without a gap', async () => {
    const t = await node();
    const relay = await relayTo(t);
    const p = sdk({ url: relay.wsUrl, token: () => mintToken('sdk-cut') });
    p.client.subscribe('user:sdk-cut');
    p.client.subscribe('promotions');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-cut'), 'subscribed');
    await waitFor(subscribed(p, 'promotions'), 'subscribed to promotions');
    for (const n of [1, 2]) await publishN(t, 'user:sdk-cut', n);
    await waitFor(() => p.messages.length === 2, 'the first two messages');

    relay.refuse();
    relay.cut();
    await waitFor(() => p.client.state !== 'connected', 'the SDK to notice the cut');
    for (const n of [3, 4, 5]) await publishN(t, 'user:sdk-cut', n);
    await publishN(t, 'promotions', 1);
    relay.accept();

    await waitFor(() => p.offsets('user:sdk-cut').length === 5, 'the missed messages');
    await publishN(t, 'user:sdk-cut', 6);
    await waitFor(() => p.offsets('user:sdk-cut').length === 6, 'a live message after the reconnect');
    await waitFor(() => p.offsets('promotions').length === 1, 'the missed promotion');
    expect(p.offsets('user:sdk-cut')).toEqual(range(1, 6));
    expect(p.client.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(p.client.stats).toMatchObject({ resumes: 1, resumeFallbacks: 0, duplicatesDropped: 0 });
    const after = p.recoveries.slice(2);
    expect(after.map((r) => [r.channel, r.recovered, r.refetch]).sort()).toEqual([
      ['promotions', true, false],
      ['user:sdk-cut', true, false],
    ]);
    expect(p.errors).toEqual([]);
  });

  it('when its node shuts down, then the SDK moves to another node of the cluster and recovers there', async () => {
    const drivers = sharedDrivers();
    const a = await startTestNode({ NODE_ID: 'node-a' }, drivers());
    cleanups.push(() => a.stop()); // idempotent: the test stops it itself
    const b = await node({ NODE_ID: 'node-b' }, drivers());
    const relay = await relayTo(a);
    const p = sdk({ url: relay.wsUrl, token: () => mintToken('sdk-move') });
    p.client.subscribe('user:sdk-move');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-move'), 'subscribed');
    expect(p.client.node).toBe('node-a');
    await publishN(a, 'user:sdk-move', 1);
    await waitFor(() => p.messages.length === 1, 'the first message');

    relay.refuse();
    relay.target(Number(new URL(b.url).port));
    const closes: (number | undefined)[] = [];
    p.client.on('state', (s) => closes.push(s.code));
    await a.stop(); // closes its clients with 1001
    await waitFor(() => closes.includes(1001), 'the going-away close');
    for (const n of [2, 3]) await publishN(b, 'user:sdk-move', n);
    relay.accept();

    await waitFor(() => p.client.node === 'node-b', 'the SDK on node-b');
    await publishN(b, 'user:sdk-move', 4);
    await waitFor(() => p.messages.length === 4, 'the missed and the live messages');
    expect(p.offsets('user:sdk-move')).toEqual([1, 2, 3, 4]);
    expect(p.recoveries.at(-1)).toMatchObject({ recovered: true, refetch: false });
    expect(p.client.stats).toMatchObject({ resumes: 1, resumeFallbacks: 0, duplicatesDropped: 0 });
  });

  it('when the token expires while connected (4003), then the SDK gets a fresh one and carries on', async () => {
    const t = await node();
    const reasons: TokenReason[] = [];
    const p = sdk({
      url: t.wsUrl,
      token: ({ reason }) => {
        reasons.push(reason);
        return mintToken('sdk-exp', { expiresIn: reasons.length === 1 ? '1s' : '1h' });
      },
    });
    const codes: (number | undefined)[] = [];
    p.client.on('state', (s) => codes.push(s.code));
    p.client.subscribe('user:sdk-exp');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-exp'), 'subscribed');
    await waitFor(() => codes.includes(4003), 'the expiry close', 5_000);
    await waitFor(() => p.client.state === 'connected' && subscribed(p, 'user:sdk-exp')(), 'reconnected');
    expect(reasons).toEqual(['connect', 'expired']);
    await publishN(t, 'user:sdk-exp', 1);
    await waitFor(() => p.messages.length === 1, 'a message on the new connection');
    expect(p.errors).toEqual([]);
  });

  it('when the link goes silent, then the heartbeat timeout drops it and the SDK reconnects', async () => {
    const t = await node({ WS_HEARTBEAT_MS: '200' });
    const relay = await relayTo(t);
    const p = sdk({ url: relay.wsUrl, token: await mintToken('sdk-hb') });
    p.client.subscribe('user:sdk-hb');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-hb'), 'subscribed');
    expect(p.client.welcome?.heartbeatMs).toBe(200);

    relay.blackhole(); // no bytes, no close: only the heartbeat can tell
    await waitFor(() => p.client.stats.heartbeatTimeouts === 1, 'the heartbeat timeout', 3_000);
    await waitFor(() => p.client.state === 'connected' && subscribed(p, 'user:sdk-hb')(), 'reconnected');
    await publishN(t, 'user:sdk-hb', 1);
    await waitFor(() => p.messages.length === 1, 'a message after the reconnect');
  });

  it('when a subscribe meets an unavailable state store, then it is retried until it succeeds', async () => {
    const drivers = createMemoryDrivers();
    const position = drivers.state.history.position.bind(drivers.state.history);
    let failures = 2;
    drivers.state.history.position = (...args) =>
      failures-- > 0 ? Promise.reject(new StateUnavailableError('redis down')) : position(...args);
    const t = await node({}, drivers);
    const p = sdk({ url: t.wsUrl, token: await mintToken('sdk-retry') });
    p.client.subscribe('user:sdk-retry');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-retry'), 'subscribed after retries');
    expect(p.client.stats.subscribeRetries).toBe(2);
    expect(p.errors).toEqual([]);
  });

  it('when the session to resume is unknown, then the SDK falls back to subscribing with its positions', async () => {
    const t = await node();
    for (const n of [1, 2, 3]) await publishN(t, 'user:sdk-seed', n);
    const probe = sdk({ url: t.wsUrl, token: await mintToken('sdk-seed') });
    probe.client.subscribe('user:sdk-seed');
    probe.client.connect();
    await waitFor(subscribed(probe, 'user:sdk-seed'), 'a first subscription');
    const epoch = probe.client.position('user:sdk-seed')!.epoch;
    probe.client.close();

    // A page reload: positions and session id persisted, the session long gone.
    const p = sdk({ url: t.wsUrl, token: await mintToken('sdk-seed'), session: 'no-such-session' });
    p.client.subscribe('user:sdk-seed', { offset: 1, epoch });
    p.client.connect();
    await waitFor(() => p.messages.length === 2, 'the messages after the persisted position');
    expect(p.offsets('user:sdk-seed')).toEqual([2, 3]);
    expect(p.client.stats.resumeFallbacks).toBe(1);
    expect(p.recoveries).toEqual([expect.objectContaining({ recovered: true, resumed: false })]);
  });

  it('when a channel is refused for good, then its subscription fails with the server error', async () => {
    const t = await node();
    const p = sdk({ url: t.wsUrl, token: await mintToken('sdk-deny') });
    const sub = p.client.subscribe('user:someone-else');
    p.client.connect();
    await waitFor(() => sub.state === 'failed', 'the subscription to fail');
    expect(p.errors.map((e) => [e.code, e.channel])).toEqual([['permission_denied', 'user:someone-else']]);
    expect(p.client.state).toBe('connected');
  });

  it('when an operator disconnects the user (4004), then the SDK stops and does not reconnect', async () => {
    const t = await node();
    const p = sdk({ url: t.wsUrl, token: await mintToken('sdk-op') });
    p.client.subscribe('user:sdk-op');
    p.client.connect();
    await waitFor(subscribed(p, 'user:sdk-op'), 'subscribed');
    const response = await fetch(`${t.url}/v1/users/sdk-op/connections`, {
      method: 'DELETE',
      headers: { authorization: ADMIN },
    });
    expect(response.status).toBe(202);
    await waitFor(() => p.client.state === 'closed', 'the SDK to stop');
    expect(p.errors.map((e) => [e.code, e.closeCode])).toEqual([['disconnected', 4004]]);
    expect(p.client.stats.reconnects).toBe(0);
  });

  it('when the token is invalid (4001), then the SDK stops and reports token_invalid', async () => {
    const t = await node();
    const p = sdk({
      url: t.wsUrl,
      token: await mintToken('sdk-bad', { secret: 'another-secret-long-enough-for-hs256!!' }),
    });
    p.client.connect();
    await waitFor(() => p.client.state === 'closed', 'the SDK to stop');
    expect(p.errors.map((e) => [e.code, e.closeCode])).toEqual([['token_invalid', 4001]]);
  });
});
